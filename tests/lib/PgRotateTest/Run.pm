# PgRotateTest::Run: a pgrotate run in the background (split out of
# PgRotateTest.pm; loaded by it).
# ===========================================================================
package PgRotateTest::Run;
# ===========================================================================
# A pgrotate process running in the background (start_pgrotate).

use strict;
use warnings;
use Carp;
use IPC::Run;
use Time::HiRes qw(time);
use Test::More;

sub _new
{
	my ($class, $cmd, %o) = @_;
	my $self = bless {
		cmd => $cmd,
		args => $o{args} || [],
		in => $o{stdin} // '',
		out => '',
		err => '',
		timeout => $o{timeout} // 120,
		t0 => time,
	}, $class;
	my $env = $o{env};
	$self->{timer} = IPC::Run::timer($self->{timeout});
	$self->{h} = IPC::Run::start($cmd, init => sub { PgRotateTest::_apply_env($env); },
		'<', \$self->{in}, '>', \$self->{out}, '2>', \$self->{err}, $self->{timer});
	$self->{pid} = $self->{h}{KIDS}[0]{PID};
	$self->{reg} = PgRotateTest::_register_harness($self);
	note('started pgrotate ' . join(' ', @{ $self->{args} }) . " (pid $self->{pid})");
	return $self;
}

sub pid { $_[0]{pid} }

sub _pump
{
	my ($self) = @_;
	return if $self->{result};
	local $SIG{PIPE} = 'IGNORE';
	$self->{h}->pump_nb if $self->{h}->pumpable;
}

# Output so far.
sub stdout { my ($self) = @_; $self->_pump; return $self->{out}; }
sub stderr { my ($self) = @_; $self->_pump; return $self->{err}; }

sub is_running
{
	my ($self) = @_;
	return 0 if $self->{result};
	$self->_pump;
	return PgRotateTest::Cluster::_pid_alive($self->{pid});
}

# wait_for(qr/.../, stream => 'stderr'|'stdout'|'any', timeout => 30):
# true once the output matches; fails a test on timeout or early exit
# (on_timeout => 'return' to only return false).
sub wait_for
{
	my ($self, $re, %o) = @_;
	my $stream = $o{stream} // 'any';
	my $timeout = $o{timeout} // 30;
	my $match = sub {
		return $self->{out} =~ $re if $stream eq 'stdout';
		return $self->{err} =~ $re if $stream eq 'stderr';
		return $self->{out} =~ $re || $self->{err} =~ $re;
	};
	my $ok;
	if ($self->{result})
	{
		$ok = $match->();
	}
	else
	{
		$self->{timer}->start($timeout);
		$ok = PgRotateTest::_pump_until($self->{h}, $self->{timer}, $match);
		$ok ||= $match->();
	}
	return 1 if $ok;
	my $msg = "pgrotate (pid $self->{pid}) output ($stream) to match $re within ${timeout}s";
	if (($o{on_timeout} // 'fail') eq 'fail')
	{
		local $Test::Builder::Level = $Test::Builder::Level + 1;
		fail("timed out waiting for: $msg");
		diag("stdout so far:\n$self->{out}\nstderr so far:\n$self->{err}");
	}
	return 0;
}

# signal('TERM'|'INT'|'KILL'|...): sends a signal, does not wait.
sub signal
{
	my ($self, $sig) = @_;
	return 0 if $self->{result};
	return CORE::kill($sig // 'TERM', $self->{pid});
}

# kill: SIGKILL and reap; returns the result (see finish).
sub kill
{
	my ($self) = @_;
	$self->signal('KILL');
	return $self->finish(timeout => 30);
}

# finish(timeout => the start timeout): waits for the exit and returns the
# result hashref of run_pgrotate (killed, exit -1, when the deadline passes).
sub finish
{
	my ($self, %o) = @_;
	return $self->{result} if $self->{result};
	my $h = $self->{h};
	$self->{timer}->start($o{timeout} // $self->{timeout});
	PgRotateTest::_pump_until($h, $self->{timer}, sub { 0 });
	my $timed_out = 0;
	if ($h->pumpable)
	{
		$timed_out = 1;
		eval { $h->kill_kill(grace => 5) };
	}
	else
	{
		local $SIG{PIPE} = 'IGNORE';
		eval { $h->finish };
	}
	PgRotateTest::_unregister_harness($self->{reg});
	my $r = PgRotateTest::_result_of($h, \$self->{out}, \$self->{err}, $self->{pid},
		$self->{t0}, $timed_out);
	note(sprintf('background pgrotate %s (pid %d) => exit %d%s', join(' ', @{ $self->{args} }),
			$self->{pid}, $r->{exit}, $timed_out ? ' (timed out, killed)' : ''));
	return $self->{result} = $r;
}

1;
