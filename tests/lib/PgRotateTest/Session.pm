# PgRotateTest::Session: a long-lived psql session (split out of
# PgRotateTest.pm; loaded by it).
# ===========================================================================
package PgRotateTest::Session;
# ===========================================================================
# A long-lived psql connection (e.g. an application session that a drain
# must wait for).

use strict;
use warnings;
use Carp;
use IPC::Run;
use Test::More;

my $SESSION_SEQ = 0;

sub _new
{
	my ($class, $node, %o) = @_;
	my $id = ++$SESSION_SEQ;
	my $user = $o{user} // $node->{superuser};
	my $pw = exists $o{password} ? $o{password} : $node->_default_password($user);
	my $app = $o{application_name} // "pgr_bg_${$}_$id";
	my $self = bless {
		id => $id,
		node => $node,
		user => $user,
		dbname => $o{dbname} // 'postgres',
		application_name => $app,
		timeout => $o{timeout} // 60,
		in => '',
		out => '',
		err => '',
		seq => 0,
	}, $class;
	my $connstr = $node->connstr(dbname => $self->{dbname}, user => $user,
		application_name => $app, %{ $o{conn} || {} });
	my @cmd = (PgRotateTest::_pgbin('psql'), '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=0',
		'-d', $connstr);
	my $env = { PGPASSWORD => $pw, %{ $o{env} || {} } };
	$self->{timer} = IPC::Run::timer($self->{timeout});
	$self->{h} = IPC::Run::start(\@cmd, init => sub { PgRotateTest::_apply_env($env); },
		'<', \$self->{in}, '>', \$self->{out}, '2>', \$self->{err}, $self->{timer});
	$self->{pid} = $self->{h}{KIDS}[0]{PID};
	$self->{reg} = PgRotateTest::_register_harness($self);

	my $bpid = eval { $self->query('SELECT pg_backend_pid()') };
	if (!defined $bpid || $bpid !~ /^\d+$/)
	{
		my $e = $@ || "unexpected output \"" . ($bpid // '') . '"';
		$self->kill(no_wait => 1);
		croak "background session ($user\@$self->{dbname}, $app) did not start: $e";
	}
	$self->{backend_pid} = $bpid;
	my $qapp = PgRotateTest::quote_literal($app);
	PgRotateTest::poll_until(sub {
			$node->safe_psql("SELECT count(*) FROM pg_stat_activity WHERE pid = $bpid "
				  . "AND application_name = $qapp") eq '1';
		}, timeout => 30, what => "session $app to appear in pg_stat_activity",
		on_timeout => 'die');
	return $self;
}

sub pid { $_[0]{pid} }                           # the psql client process
sub backend_pid { $_[0]{backend_pid} }           # its server backend
sub application_name { $_[0]{application_name} }
sub user { $_[0]{user} }
sub stderr { $_[0]{last_stderr} }                # stderr of the last query

# query($sql, timeout => 60): sends $sql and waits for its output.  Returns
# stdout (chomped); in list context (stdout, stderr).  Croaks if psql exits
# or the deadline passes.  SQL errors do not croak (see query_safe).
sub query
{
	my ($self, $sql, %o) = @_;
	croak 'background session already ended' if $self->{done};
	my $banner = 'PGR_QUERY_DONE_' . ++$self->{seq} . "_$$";
	$self->{out} = '';
	$self->{err} = '';
	# A statement not ended by ';' is ended on a line of its own (the
	# text may end with a -- comment).
	my $stmt = $sql =~ /;\s*\z/ ? "$sql\n" : "$sql\n;\n";
	$self->{in} .= "$stmt\\echo $banner\n\\warn $banner\n";
	$self->{timer}->start($o{timeout} // $self->{timeout});
	my $ok = PgRotateTest::_pump_until($self->{h}, $self->{timer}, sub {
			$self->{out} =~ /\Q$banner\E/ && $self->{err} =~ /\Q$banner\E/;
		});
	if (!$ok)
	{
		my $why = $self->{timer}->is_expired ? 'timed out' : 'psql exited';
		croak "background session $self->{application_name}: $why during \"$sql\"\n"
		  . "stdout: $self->{out}\nstderr: $self->{err}";
	}
	my ($out) = $self->{out} =~ /\A(.*?)\Q$banner\E/s;
	my ($err) = $self->{err} =~ /\A(.*?)\Q$banner\E/s;
	chomp $out;
	chomp $err;
	$self->{last_stderr} = $err;
	return wantarray ? ($out, $err) : $out;
}

# query_safe($sql): like query, but croaks when psql reports an error.
sub query_safe
{
	my ($self, $sql, %o) = @_;
	my ($out, $err) = $self->query($sql, %o);
	croak "background session $self->{application_name}: \"$sql\" failed: $err"
	  if $err =~ /\b(ERROR|FATAL|PANIC):/;
	return $out;
}

# send($sql): sends without waiting (e.g. a statement that blocks).
sub send
{
	my ($self, $sql) = @_;
	croak 'background session already ended' if $self->{done};
	$self->{in} .= "$sql\n";
	local $SIG{PIPE} = 'IGNORE';
	$self->{h}->pump_nb if $self->{h}->pumpable;
	return 1;
}

sub _wait_gone
{
	my ($self) = @_;
	my $node = $self->{node};
	return 1 unless $node->{running} && $self->{backend_pid};
	PgRotateTest::poll_until(sub {
			$node->safe_psql("SELECT count(*) FROM pg_stat_activity WHERE pid = $self->{backend_pid}") eq '0';
		}, timeout => 30,
		what => "session $self->{application_name} to leave pg_stat_activity");
}

sub _finish
{
	my ($self) = @_;
	$self->{done} = 1;
	PgRotateTest::_unregister_harness($self->{reg});
	delete $self->{node}{sessions}{ $self->{id} };
}

# quit: \q, wait for psql to exit and the backend to leave pg_stat_activity.
sub quit
{
	my ($self) = @_;
	return 1 if $self->{done};
	$self->{in} .= "\\q\n";
	$self->{timer}->start(30);
	PgRotateTest::_pump_until($self->{h}, $self->{timer}, sub { 0 });
	if ($self->{h}->pumpable)
	{
		eval { $self->{h}->kill_kill(grace => 5) };
	}
	else
	{
		local $SIG{PIPE} = 'IGNORE';
		eval { $self->{h}->finish };
	}
	$self->_finish;
	return $self->_wait_gone;
}

# kill(no_wait => 0): kill the psql client abruptly (the backend sees the
# connection drop); waits until the backend is gone unless no_wait.
sub kill
{
	my ($self, %o) = @_;
	return 1 if $self->{done};
	eval { $self->{h}->kill_kill(grace => 5) };
	$self->_finish;
	return 1 if $o{no_wait};
	return $self->_wait_gone;
}

1;
