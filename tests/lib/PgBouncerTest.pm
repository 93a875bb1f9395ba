package PgBouncerTest;

# A real PgBouncer (the Debian package's /usr/sbin/pgbouncer, or
# $PGBOUNCER) in front of a PgRotateTest cluster, for the tests of the
# `poolers` key and the `pgbouncer` sink format.
#
#   my $pgb = PgBouncerTest->new(node => $primary,  # auth_file => $path
#       admin_user => 'pgrotate_admin', admin_password => $pw,
#       databases => { appdb => 'dbname=appdb',
#                      appdb_tx => 'dbname=appdb pool_mode=transaction' });
#   $pgb->start;
#
# It listens only on a private Unix socket folder and a port of its own,
# authenticates clients with auth_type scram-sha-256 against auth_file, and
# logs in to the server with the client's SCRAM keys (so the auth_file must
# carry the verifiers exactly as stored on the server).  When the tests run
# as root it runs as user postgres (pgbouncer -u), and the auth_file must be
# readable by postgres.  By default it is userlist.txt in a folder of its
# own, owned by the user running the tests and not writable by others
# (pgrotate, run as root, refuses a sink folder that another user such as
# postgres could write).  It is stopped, and its folders removed, at the
# end of the test.

use strict;
use warnings;

use Carp;
use File::Path qw(remove_tree);
use File::Temp qw(tempdir);
use IPC::Run;
use Test::More;
use PgRotateTest qw(is_root keep_tmp);

my @ALL;    # every instance, stopped at exit

sub binary
{
	return $ENV{PGBOUNCER} // '/usr/sbin/pgbouncer';
}

# The installed version as a number (1.18.0 => 11800), or undef.
sub version
{
	my $v = `${\ binary()} --version 2>/dev/null`;
	return undef unless defined $v && $v =~ /PgBouncer (\d+)\.(\d+)(?:\.(\d+))?/;
	return $1 * 10000 + $2 * 100 + ($3 // 0);
}

sub _chown_postgres
{
	return unless is_root();
	my @pw = getpwnam('postgres') or croak 'no user "postgres" to run pgbouncer';
	chown($pw[2], $pw[3], @_) == @_ or croak "could not chown @_ to postgres: $!";
}

sub new
{
	my ($class, %o) = @_;
	my $node = $o{node} or croak 'PgBouncerTest->new needs node => $cluster';
	my $self = bless {
		node => $node,
		auth_file => $o{auth_file},
		admin_user => $o{admin_user} // 'pgrotate_admin',
		admin_password => $o{admin_password},
		databases => $o{databases} // { appdb => 'dbname=appdb' },
		extra => $o{extra} // '',
		sessions => {},
	}, $class;
	$self->{base_dir} = tempdir('pgbouncer_XXXXXX', DIR => PgRotateTest::_cluster_parent(), CLEANUP => 0);
	$self->{host} = tempdir('pgb_sock_XXXXXX', DIR => '/tmp', CLEANUP => 0);
	chmod 0755, $self->{base_dir}, $self->{host};
	_chown_postgres($self->{base_dir}, $self->{host});
	$self->{port} = PgRotateTest::_allocate_port();
	$self->{ini} = "$self->{base_dir}/pgbouncer.ini";
	$self->{log_file} = "$self->{base_dir}/pgbouncer.log";
	if (!defined $self->{auth_file})
	{
		$self->{auth_dir} = tempdir('pgb_auth_XXXXXX', DIR => PgRotateTest::_cluster_parent(), CLEANUP => 0);
		chmod 0755, $self->{auth_dir};
		$self->{auth_file} = "$self->{auth_dir}/userlist.txt";
	}
	$self->_write_ini;
	push @ALL, $self;
	return $self;
}

sub host { $_[0]{host} }
sub auth_file { $_[0]{auth_file} }
sub port { $_[0]{port} }
sub log_file { $_[0]{log_file} }
sub log_content { -e $_[0]{log_file} ? PgRotateTest::slurp_file($_[0]{log_file}) : '' }

sub _write_ini
{
	my ($self) = @_;
	my $n = $self->{node};
	my $ini = "[databases]\n";
	for my $db (sort keys %{ $self->{databases} })
	{
		$ini .= "$db = host=$n->{host} port=$n->{port} $self->{databases}{$db}\n";
	}
	$ini .= "\n[pgbouncer]\n";
	$ini .= "listen_addr =\n";
	$ini .= "listen_port = $self->{port}\n";
	$ini .= "unix_socket_dir = $self->{host}\n";
	$ini .= "auth_type = scram-sha-256\n";
	$ini .= "auth_file = $self->{auth_file}\n";
	$ini .= "admin_users = $self->{admin_user}\n";
	$ini .= "pool_mode = session\n";
	$ini .= "logfile = $self->{log_file}\n";
	$ini .= "pidfile = $self->{base_dir}/pgbouncer.pid\n";
	$ini .= "server_idle_timeout = 600\n";
	$ini .= "$self->{extra}\n";
	open my $fh, '>', $self->{ini} or croak "could not write $self->{ini}: $!";
	print $fh $ini;
	close $fh;
	chmod 0644, $self->{ini};
}

# start: runs pgbouncer in the foreground (a child of the test) and waits
# until its console answers SHOW VERSION.
sub start
{
	my ($self) = @_;
	croak 'pgbouncer already running' if $self->{h};
	my @cmd = (binary());
	push @cmd, '-u', 'postgres' if is_root();
	push @cmd, $self->{ini};
	# Its stdout and stderr go to a file: a pipe that nobody reads while a
	# test runs fills up with log lines, and PgBouncer then blocks on it.
	my $out = "$self->{base_dir}/pgbouncer.out";
	$self->{h} = IPC::Run::start(\@cmd, '<', '/dev/null', '>', $out, '2>&1');
	$self->{reg} = PgRotateTest::_register_harness($self);
	my $up = PgRotateTest::poll_until(sub {
			return 0 unless $self->{h}->pumpable;
			my ($rc) = $self->console('SHOW VERSION');
			$rc == 0;
		}, timeout => 30, what => 'pgbouncer to accept console logins', on_timeout => 'return');
	croak "pgbouncer did not start:\n" . (-e $out ? PgRotateTest::slurp_file($out) : '') . "\n"
	  . $self->log_content unless $up;
	return 1;
}

sub stop
{
	my ($self) = @_;
	return unless $self->{h};
	for my $c (values %{ $self->{sessions} })
	{
		eval { $c->kill(no_wait => 1) };
	}
	eval { $self->{h}->kill_kill(grace => 5) };
	PgRotateTest::_unregister_harness($self->{reg});
	delete $self->{h};
}

sub teardown
{
	my ($self) = @_;
	return if $self->{torn_down}++;
	$self->stop;
	unless (keep_tmp())
	{
		remove_tree($self->{host}) if -d $self->{host};
		remove_tree($self->{base_dir}) if -d $self->{base_dir};
		remove_tree($self->{auth_dir}) if $self->{auth_dir} && -d $self->{auth_dir};
	}
	PgRotateTest::_release_port($self->{port});
}

END
{
	my $exit = $?;
	$_->teardown for reverse @ALL;
	$? = $exit;
}

# connstr(dbname => 'appdb', user => ..., key => value...): a conninfo
# through this pooler.
sub connstr
{
	my ($self, %o) = @_;
	my @kv = (host => $self->{host}, port => $self->{port}, dbname => delete $o{dbname} // 'appdb');
	my $user = delete $o{user};
	push @kv, user => $user if defined $user;
	push @kv, map { ($_ => $o{$_}) } sort keys %o;
	my @parts;
	while (my ($k, $v) = splice(@kv, 0, 2))
	{
		push @parts, "$k=" . PgRotateTest::conninfo_quote($v);
	}
	return join ' ', @parts;
}

# The console's conninfo for pgrotate's `poolers` (password from .pgpass).
sub console_conninfo
{
	my ($self) = @_;
	return $self->connstr(dbname => 'pgbouncer', user => $self->{admin_user});
}

# psql($sql, user =>, password =>, dbname => 'appdb'): one connection
# through the pooler. Returns (exit, stdout, stderr).
sub psql
{
	my ($self, $sql, %o) = @_;
	my @cmd = (PgRotateTest::_pgbin('psql'), '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1',
		'-d', $self->connstr(dbname => $o{dbname} // 'appdb', user => $o{user},
			%{ $o{conn} || {} }));
	my ($rc, $out, $err) = PgRotateTest::_run(\@cmd, stdin => $sql,
		env => { PGPASSWORD => $o{password} }, timeout => $o{timeout} // 60);
	chomp $out;
	chomp $err;
	return ($rc, $out, $err);
}

# console($command): runs a console command as the admin user. Returns
# (exit, stdout with a header line, tab-separated, stderr).
sub console
{
	my ($self, $command) = @_;
	my @cmd = (PgRotateTest::_pgbin('psql'), '-X', '-A', '-F', "\t", '-P', 'footer=off',
		'-d', $self->console_conninfo, '-c', $command);
	my ($rc, $out, $err) = PgRotateTest::_run(\@cmd,
		env => { PGPASSWORD => $self->{admin_password} }, timeout => 30);
	chomp $out;
	return ($rc, $out, $err);
}

# show('CLIENTS'): the rows of SHOW CLIENTS as hashes (croaks on failure).
sub show
{
	my ($self, $what) = @_;
	my ($rc, $out, $err) = $self->console("SHOW $what");
	croak "SHOW $what failed: $err" if $rc != 0;
	my ($head, @lines) = split /\n/, $out;
	my @cols = split /\t/, $head // '', -1;
	my @rows;
	for my $l (@lines)
	{
		my @v = split /\t/, $l, -1;
		push @rows, { map { ($cols[$_] => $v[$_]) } 0 .. $#cols };
	}
	return \@rows;
}

# Clients (or servers) of user, optionally of one database.
sub clients_of
{
	my ($self, $user, $db) = @_;
	return [ grep { $_->{user} eq $user && (!defined $db || $_->{database} eq $db) }
		  @{ $self->show('CLIENTS') } ];
}

sub servers_of
{
	my ($self, $user, $db) = @_;
	return [ grep { $_->{user} eq $user && (!defined $db || $_->{database} eq $db) }
		  @{ $self->show('SERVERS') } ];
}

# client(user =>, password =>, dbname => 'appdb', application_name =>):
# a long-lived psql through the pooler (a PgRotateTest::Session: query,
# query_safe, send, quit, kill), returned once logged in.
sub client
{
	my ($self, %o) = @_;
	my $c = PgBouncerTest::Client->_new($self, %o);
	$self->{sessions}{ $c->{id} } = $c;
	return $c;
}

# ===========================================================================
package PgBouncerTest::Client;
# ===========================================================================

use strict;
use warnings;
use Carp;
use IPC::Run;

our @ISA = ('PgRotateTest::Session');

my $SEQ = 0;

sub _new
{
	my ($class, $pgb, %o) = @_;
	my $id = 'pgb' . ++$SEQ;
	my $app = $o{application_name} // "pgb_client_${$}_$SEQ";
	my $self = bless {
		id => $id,
		node => $pgb,
		user => $o{user},
		dbname => $o{dbname} // 'appdb',
		application_name => $app,
		timeout => $o{timeout} // 60,
		in => '',
		out => '',
		err => '',
		seq => 0,
	}, $class;
	my @cmd = (PgRotateTest::_pgbin('psql'), '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=0',
		'-d', $pgb->connstr(dbname => $self->{dbname}, user => $o{user}, application_name => $app));
	my $env = { PGPASSWORD => $o{password} };
	$self->{timer} = IPC::Run::timer($self->{timeout});
	$self->{h} = IPC::Run::start(\@cmd, init => sub { PgRotateTest::_apply_env($env); },
		'<', \$self->{in}, '>', \$self->{out}, '2>', \$self->{err}, $self->{timer});
	$self->{pid} = $self->{h}{KIDS}[0]{PID};
	$self->{reg} = PgRotateTest::_register_harness($self);
	my $who = eval { $self->query('SELECT session_user') };
	if (!defined $who || $who ne $o{user})
	{
		my $e = $@ || "unexpected output \"" . ($who // '') . "\": $self->{err}";
		$self->kill(no_wait => 1);
		croak "pooler client ($o{user}\@$self->{dbname}) did not log in: $e";
	}
	return $self;
}

# Gone from SHOW CLIENTS.
sub _wait_gone
{
	my ($self) = @_;
	my $pgb = $self->{node};
	return 1 unless $pgb->{h};
	PgRotateTest::poll_until(sub {
			!grep { ($_->{application_name} // '') eq $self->{application_name} }
			  @{ $pgb->show('CLIENTS') };
		}, timeout => 30, what => "pooler client $self->{application_name} to leave SHOW CLIENTS");
}

1;
