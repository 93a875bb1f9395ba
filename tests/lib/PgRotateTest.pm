package PgRotateTest;

# Test harness for pgrotate's integration tests (tests/t/NNN_*.pl).
#
# Starts throw-away PostgreSQL clusters (initdb, private Unix socket
# directory, SCRAM authentication, log_statement=all), runs the pgrotate
# binary with a deadline, and offers the helpers the tests share.  Every
# cluster and temporary directory is stopped and removed at the end of the
# test, also when it dies or gets SIGINT/SIGTERM/SIGHUP (set
# PGROTATE_KEEP_TMP=1 to keep the directories for a post-mortem).
#
# Environment:
#   PGROTATE_BIN       the pgrotate binary (run_pgrotate, start_pgrotate)
#   PG_BINDIR          PostgreSQL server binaries (else pg_config --bindir,
#                      else /usr/lib/postgresql/15/bin): initdb, pg_ctl
#                      and postgres are all it needs, of any version 14-18
#   PG_CLIENT_BINDIR   psql (else PG_BINDIR's, else Debian's 15)
#   PGROTATE_SRCDIR    the source tree (exposed as PgRotateTest::srcdir())
#   PGROTATE_TEST_TMP  scratch folder (created); else the system temp dir
#   PGROTATE_KEEP_TMP  keep every temporary directory
#
# PostgreSQL refuses to run as root: when the tests run as root, initdb,
# pg_ctl and postgres run through `runuser -u postgres --` and the
# cluster's own directories are chowned to postgres.  psql and pgrotate run
# as the calling user.

use strict;
use warnings;

use Carp;
use Config;
use Exporter 'import';
use Fcntl qw(O_WRONLY O_CREAT O_EXCL O_TRUNC O_APPEND);
use File::Basename qw(basename);
use File::Path qw(make_path remove_tree);
use File::Spec;
use Cwd ();
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IPC::Run;
use POSIX ();
use Scalar::Util qw(blessed);
use Time::HiRes qw(time);
use Test::More;

our @EXPORT = qw(
  poll_until
  run_pgrotate
  start_pgrotate
  write_config
  target_config
  target_block
  assert_no_secret_in
  test_dir
  slurp_file
  random_password
);
our @EXPORT_OK = qw(
  pg_bindir
  pg_client_bindir
  pg_major_version
  srcdir
  secrets_found_in
  quote_ident
  quote_literal
  conninfo_quote
  cfg_quote
  is_root
  keep_tmp
);

my $MAIN_PID = $$;
my @CLUSTERS;       # every Cluster not yet torn down, in creation order
my %HARNESSES;      # background IPC::Run processes to kill at exit
my $HARNESS_SEQ = 0;
my $TEST_DIR;       # per-test scratch folder
my @EXTRA_DIRS;     # other folders to remove at exit
my %PORTS_TAKEN;    # port => lock file
my $BINDIR;
my %SIGNO;
@SIGNO{ split ' ', $Config{sig_name} } = split ' ', $Config{sig_num};

# ---------------------------------------------------------------------------
# Small utilities
# ---------------------------------------------------------------------------

sub is_root { return $> == 0; }

sub keep_tmp { return !!$ENV{PGROTATE_KEEP_TMP}; }

sub srcdir { return $ENV{PGROTATE_SRCDIR}; }

# Random [A-Za-z0-9] string (test secrets, not the product's CSPRNG).
sub random_password
{
	my ($len) = @_;
	$len //= 24;
	my @c = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
	return join '', map { $c[ int(rand(@c)) ] } 1 .. $len;
}

sub slurp_file
{
	my ($path) = @_;
	open my $fh, '<', $path or croak "could not open \"$path\": $!";
	local $/;
	my $c = <$fh>;
	close $fh;
	return $c // '';
}

sub _write_file
{
	my ($path, $text, $mode, $append) = @_;
	my $flags = O_WRONLY | O_CREAT | ($append ? O_APPEND : O_TRUNC);
	sysopen(my $fh, $path, $flags, $mode)
	  or croak "could not open \"$path\" for writing: $!";
	print $fh $text or croak "could not write \"$path\": $!";
	close $fh or croak "could not close \"$path\": $!";
	chmod($mode, $path) or croak "could not chmod \"$path\": $!";
	return $path;
}

sub quote_ident
{
	my ($s) = @_;
	$s =~ s/"/""/g;
	return qq("$s");
}

sub quote_literal
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'" unless $s =~ /\\/;
	$s =~ s/\\/\\\\/g;
	return "E'$s'";
}

# A value in a libpq keyword/value conninfo string.
sub conninfo_quote
{
	my ($v) = @_;
	$v = '' unless defined $v;
	return $v if $v =~ /^[^\s'\\]+$/;
	$v =~ s/([\\'])/\\$1/g;
	return "'$v'";
}

# A libconfig string literal.
sub cfg_quote
{
	my ($v) = @_;
	$v = '' unless defined $v;
	$v =~ s/([\\"])/\\$1/g;
	$v =~ s/\n/\\n/g;
	$v =~ s/\t/\\t/g;
	return qq("$v");
}

# The server binaries: the first of PG_BINDIR, pg_config --bindir,
# /usr/lib/postgresql/15/bin with initdb, pg_ctl and postgres.  A server
# build may ship nothing else (the CI's 14, 16, 17 and 18 do not).
sub pg_bindir
{
	return $BINDIR if defined $BINDIR;
	my @cand;
	push @cand, $ENV{PG_BINDIR} if $ENV{PG_BINDIR};
	my $pc = `pg_config --bindir 2>/dev/null`;
	if (defined $pc && $? == 0)
	{
		chomp $pc;
		push @cand, $pc if $pc ne '';
	}
	push @cand, '/usr/lib/postgresql/15/bin';
	for my $d (@cand)
	{
		return $BINDIR = $d if -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres";
	}
	croak "no PostgreSQL server binaries (initdb, pg_ctl, postgres) in: @cand; "
	  . "set PG_BINDIR or install postgresql-15";
}

# The client tools (psql, pg_isready): PG_CLIENT_BINDIR, else the server's
# folder when it has psql, else Debian's 15 (libpq is compatible with every
# supported server).
my $CLIENT_BINDIR;

sub pg_client_bindir
{
	return $CLIENT_BINDIR if defined $CLIENT_BINDIR;
	my @cand = grep { defined && $_ ne '' } $ENV{PG_CLIENT_BINDIR}, pg_bindir(),
	  '/usr/lib/postgresql/15/bin';
	for my $d (@cand)
	{
		return $CLIENT_BINDIR = $d if -x "$d/psql";
	}
	croak "no psql in: @cand; set PG_CLIENT_BINDIR or install postgresql-client-15";
}

my %CLIENT_TOOL = map { $_ => 1 } qw(psql pg_isready);

sub _pgbin
{
	my ($tool) = @_;
	return ($CLIENT_TOOL{$tool} ? pg_client_bindir() : pg_bindir()) . "/$tool";
}

# The server's major version (of pg_bindir()'s postgres), e.g. 17.
my $SERVER_MAJOR;

sub pg_major_version
{
	return $SERVER_MAJOR if defined $SERVER_MAJOR;
	my ($rc, $out, $err) = _run([ _pgbin('postgres'), '--version' ], as_postgres => 1, timeout => 30);
	croak "postgres --version failed (exit $rc): $err" if $rc != 0;
	($SERVER_MAJOR) = $out =~ /\(PostgreSQL\)\s+(\d+)/
	  or croak "cannot read the version in \"$out\"";
	return $SERVER_MAJOR;
}

# Per-test scratch folder (root-owned; traversable by postgres when root).
sub test_dir
{
	return $TEST_DIR if defined $TEST_DIR;
	my $base = $ENV{PGROTATE_TEST_TMP} || File::Spec->tmpdir;
	make_path($base) unless -d $base;
	# run as root, pgrotate refuses sinks below a folder another user can
	# write (a build tree in a user's home): then work in /tmp
	$base = File::Spec->tmpdir if is_root() && !_root_only_path($base);
	my $name = basename($0);
	$name =~ s/\.[^.]*$//;
	$name =~ s/[^A-Za-z0-9_-]/_/g;
	$name = 'test' if $name eq '';
	$TEST_DIR = tempdir("${name}_XXXXXX", DIR => $base, CLEANUP => 0);
	chmod(0755, $TEST_DIR) if is_root();
	return $TEST_DIR;
}

# Whether no folder from / to $dir can be changed by a user other than
# root (a sticky folder counts as safe: its entries are checked in turn).
sub _root_only_path
{
	my ($dir) = @_;
	my $path = '';
	for my $c ('', grep { $_ ne '' } split m{/}, Cwd::abs_path($dir))
	{
		$path .= "/$c" unless $c eq '';
		my @st = lstat($path eq '' ? '/' : $path) or return 0;
		return 0 if $st[4] != 0 || (($st[2] & 022) && !($st[2] & 01000));
	}
	return 1;
}

# Where cluster folders go: the test folder, unless user postgres cannot
# reach it (e.g. a build tree under /root); then a folder in /tmp.
my $CLUSTER_PARENT;

sub _cluster_parent
{
	return $CLUSTER_PARENT if defined $CLUSTER_PARENT;
	my $dir = test_dir();
	if (is_root())
	{
		my ($rc) = _run([ 'test', '-x', $dir ], as_postgres => 1, timeout => 30);
		if ($rc != 0)
		{
			$dir = tempdir('pgr_clusters_XXXXXX', DIR => File::Spec->tmpdir, CLEANUP => 0);
			chmod 0755, $dir;
			push @EXTRA_DIRS, $dir;
		}
	}
	return $CLUSTER_PARENT = $dir;
}

sub _postgres_ids
{
	my @pw = getpwnam('postgres')
	  or croak "running as root but there is no user \"postgres\" to run the server";
	return ($pw[2], $pw[3]);
}

sub _chown_postgres
{
	return unless is_root();
	my ($uid, $gid) = _postgres_ids();
	chown($uid, $gid, @_) == @_ or croak "could not chown @_ to postgres: $!";
}

sub _apply_env
{
	my ($env) = @_;
	return unless $env;
	for my $k (keys %$env)
	{
		if (defined $env->{$k}) { $ENV{$k} = $env->{$k}; }
		else { delete $ENV{$k}; }
	}
}

# Runs a command to completion; returns (exit, stdout, stderr, wait status).
# Options: stdin, env (undef value = unset), timeout (s), as_postgres, cwd.
# A timeout kills the command and returns exit -1.
sub _run
{
	my ($cmd, %o) = @_;
	my @cmd = @$cmd;
	unshift @cmd, 'runuser', '-u', 'postgres', '--' if $o{as_postgres} && is_root();
	my ($in, $out, $err) = ($o{stdin} // '', '', '');
	my $env = $o{env};
	my $cwd = $o{cwd} // '/';
	my $t = IPC::Run::timeout($o{timeout} // 180);
	my $h = IPC::Run::start(\@cmd,
		init => sub { chdir $cwd; _apply_env($env); },
		'<', \$in, '>', \$out, '2>', \$err, $t);
	my ($status, $ok);
	{
		local $SIG{PIPE} = 'IGNORE';
		$ok = eval { $h->finish; 1 };
	}
	if (!$ok)
	{
		my $e = $@;
		eval { $h->kill_kill(grace => 5) };
		return (-1, $out, "$err\n[harness: $e]", -1) if $t->is_expired;
		die $e;
	}
	$status = $h->full_result(0);
	my $rc = ($status & 127) ? 128 + ($status & 127) : $status >> 8;
	return ($rc, $out, $err, $status);
}

# initdb of $data (in $dir, owned by postgres when root) with superuser
# postgres and password $pw.
sub _run_initdb
{
	my ($dir, $data, $pw, @extra) = @_;
	my $pwfile = "$dir/pwfile";
	_write_file($pwfile, "$pw\n", 0600);
	_chown_postgres($pwfile);
	my ($rc, $out, $err) = _run([
		_pgbin('initdb'), '-D', $data, '-U', 'postgres', "--pwfile=$pwfile",
		'--auth=scram-sha-256', '-E', 'UTF8', '--locale=C',
		'--no-sync', '--no-instructions', @extra ], as_postgres => 1, timeout => 120);
	unlink $pwfile;
	croak "initdb of $data failed (exit $rc):\n$err$out" if $rc != 0;
}

my ($TEMPLATE_DIR, $TEMPLATE_PW);

# (dir, superuser password) of the initdb template: dir/data is a data
# directory nobody starts.  Made once, atomically (rename), in
# PGROTATE_TEST_TMP when set and reachable by the server's user, else in
# this test's cluster folder.
sub _initdb_template
{
	return ($TEMPLATE_DIR, $TEMPLATE_PW) if defined $TEMPLATE_DIR;
	my $parent = _cluster_parent();
	my $shared = $ENV{PGROTATE_TEST_TMP};
	my $final;
	if ($shared && -d $shared && index($parent, test_dir()) == 0)
	{
		my ($rc, $ver) = _run([ _pgbin('initdb'), '--version' ], timeout => 30);
		require Digest::MD5;
		my $key = substr(Digest::MD5::md5_hex(pg_bindir() . "|$ver|$>"), 0, 12);
		$final = "$shared/initdb-template-$key";
	}
	else
	{
		$final = "$parent/initdb-template";
	}
	unless (-d "$final/data" && -s "$final/superuser_password")
	{
		my $tmp = tempdir('initdb-template-tmp-XXXXXX', DIR => File::Basename::dirname($final), CLEANUP => 0);
		chmod 0755, $tmp;
		_chown_postgres($tmp);
		my $pw = random_password(24);
		my $ok = eval {
			_run_initdb($tmp, "$tmp/data", $pw);
			_write_file("$tmp/superuser_password", "$pw\n", 0600);
			1;
		};
		my $e = $@;
		if (!$ok || !rename($tmp, $final))
		{
			remove_tree($tmp);
			die $e unless $ok;
			# another test made it first
			croak "could not create the initdb template $final" unless -d "$final/data";
		}
	}
	my $pw = slurp_file("$final/superuser_password");
	chomp $pw;
	($TEMPLATE_DIR, $TEMPLATE_PW) = ($final, $pw);
	return ($TEMPLATE_DIR, $TEMPLATE_PW);
}

# ---------------------------------------------------------------------------
# Waiting
# ---------------------------------------------------------------------------

# poll_until(sub { COND }, timeout => 30, what => 'description',
#            on_timeout => 'fail'|'die'|'return', interval => 0.2)
# Calls COND until it returns true, with short select() waits (10 ms,
# doubling up to `interval`).  Returns COND's true value; on timeout
# returns 0 after failing a test named "timed out after Ns waiting for:
# description" (on_timeout 'fail', the default), croaking ('die'), or
# silently ('return').
sub poll_until
{
	my ($cond, %o) = @_;
	croak 'poll_until needs a code reference' unless ref $cond eq 'CODE';
	my $timeout = $o{timeout} // 30;
	my $what = $o{what} // 'a condition';
	my $on_timeout = $o{on_timeout} // 'fail';
	my $max_wait = $o{interval} // 0.2;
	my $deadline = time + $timeout;
	my $wait = 0.01;
	while (1)
	{
		my $v = $cond->();
		return $v if $v;
		my $left = $deadline - time;
		last if $left <= 0;
		select(undef, undef, undef, $wait < $left ? $wait : $left);
		$wait *= 2;
		$wait = $max_wait if $wait > $max_wait;
	}
	my $msg = "timed out after ${timeout}s waiting for: $what";
	if ($on_timeout eq 'die')
	{
		croak $msg;
	}
	elsif ($on_timeout eq 'fail')
	{
		local $Test::Builder::Level = $Test::Builder::Level + 1;
		fail($msg);
	}
	return 0;
}

# Pumps an IPC::Run harness until COND is true, the timer expires or the
# process closes its pipes.  Returns 1 when COND held.
sub _pump_until
{
	my ($h, $timer, $cond) = @_;
	local $SIG{PIPE} = 'IGNORE';
	$h->pump_nb if $h->pumpable;
	while (1)
	{
		return 1 if $cond->();
		return 0 if $timer->is_expired;
		return 0 unless $h->pumpable;
		$h->pump;
	}
}

# ---------------------------------------------------------------------------
# Ports
# ---------------------------------------------------------------------------

sub _port_lock_dir
{
	my $d = File::Spec->tmpdir . "/pgrotate-portlock-$>";
	make_path($d, { mode => 0700 }) unless -d $d;
	return $d;
}

sub _port_in_use
{
	my ($port) = @_;
	for my $dir ('/tmp', '/var/run/postgresql', '/run/postgresql', File::Spec->tmpdir)
	{
		return 1 if -e "$dir/.s.PGSQL.$port" || -e "$dir/.s.PGSQL.$port.lock";
	}
	for my $c (@CLUSTERS)
	{
		return 1 if $c->{port} == $port;
	}
	my $s = IO::Socket::INET->new(
		LocalAddr => '127.0.0.1',
		LocalPort => $port,
		Proto => 'tcp',
		ReuseAddr => 1,
		Listen => 1);
	return 1 unless $s;
	close $s;
	return 0;
}

# A free port in 20000-40000, reserved with a lock file (shared by the tests
# running in parallel) until the cluster using it is torn down.
sub _allocate_port
{
	my $lockdir = _port_lock_dir();
	for (1 .. 2000)
	{
		my $port = 20000 + int(rand(20001));
		next if $PORTS_TAKEN{$port};
		next if _port_in_use($port);
		my $lf = "$lockdir/$port.lock";
		if (sysopen(my $fh, $lf, O_WRONLY | O_CREAT | O_EXCL, 0600))
		{
			print $fh "$$\n";
			close $fh;
			$PORTS_TAKEN{$port} = $lf;
			return $port;
		}
		# A lock left behind by a process that is gone is stale.
		if (open my $fh, '<', $lf)
		{
			my $pid = <$fh> // '';
			close $fh;
			chomp $pid;
			if ($pid =~ /^\d+$/ && !kill(0, $pid) && $!{ESRCH})
			{
				unlink $lf;
				redo;
			}
		}
	}
	croak 'could not find a free port in 20000-40000';
}

sub _release_port
{
	my ($port) = @_;
	my $lf = delete $PORTS_TAKEN{$port};
	unlink $lf if defined $lf;
}

# ---------------------------------------------------------------------------
# Running pgrotate
# ---------------------------------------------------------------------------

sub _pgrotate_cmd
{
	my (%o) = @_;
	my $bin = $o{bin} // $ENV{PGROTATE_BIN};
	croak 'PGROTATE_BIN is not set (path of the pgrotate binary)' unless $bin;
	croak "PGROTATE_BIN \"$bin\" is not executable" unless -x $bin;
	my @cmd = ($bin);
	push @cmd, '-c', $o{config} if defined $o{config};
	push @cmd, @{ $o{args} || [] };
	return @cmd;
}

sub _result_of
{
	my ($h, $out, $err, $pid, $t0, $timed_out) = @_;
	my $status = eval { $h->full_result(0) };
	$status = -1 unless defined $status;
	my ($exit, $signal) = (undef, 0);
	if ($status == -1) { $exit = -1; }
	elsif ($status & 127) { $signal = $status & 127; $exit = 128 + $signal; }
	else { $exit = $status >> 8; }
	$exit = -1 if $timed_out;
	return {
		exit => $exit,
		signal => $signal,
		status => $status,
		stdout => $$out,
		stderr => $$err,
		pid => $pid,
		timed_out => $timed_out ? 1 : 0,
		elapsed => time - $t0,
	};
}

# run_pgrotate(args => [...], env => {...}, config => $file, stdin => $text,
#              timeout => 120)
# Runs $PGROTATE_BIN [-c config] args... to completion.  env adds to (undef:
# removes from) the current environment.  Returns
# { exit, signal, status, stdout, stderr, pid, timed_out, elapsed }: exit is
# 128+N when killed by signal N, -1 on timeout (the process is then killed).
sub run_pgrotate
{
	my (%o) = @_;
	my @cmd = _pgrotate_cmd(%o);
	my ($in, $out, $err) = ($o{stdin} // '', '', '');
	my $env = $o{env};
	my $timeout = $o{timeout} // 120;
	my $t = IPC::Run::timeout($timeout);
	my $t0 = time;
	my $h = IPC::Run::start(\@cmd, init => sub { _apply_env($env); },
		'<', \$in, '>', \$out, '2>', \$err, $t);
	my $pid = $h->{KIDS}[0]{PID};
	my $timed_out = 0;
	{
		local $SIG{PIPE} = 'IGNORE';
		if (!eval { $h->finish; 1 })
		{
			my $e = $@;
			die $e unless $t->is_expired;
			$timed_out = 1;
			eval { $h->kill_kill(grace => 5) };
		}
	}
	my $r = _result_of($h, \$out, \$err, $pid, $t0, $timed_out);
	note(sprintf('pgrotate %s => exit %d%s (%.1fs)', join(' ', @{ $o{args} || [] }),
			$r->{exit}, $timed_out ? " (timed out after ${timeout}s)" : '', $r->{elapsed}));
	diag("pgrotate timed out after ${timeout}s; stderr:\n$err") if $timed_out;
	return $r;
}

# start_pgrotate(same options as run_pgrotate): a PgRotateTest::Run handle of
# a background run.
sub start_pgrotate
{
	my (%o) = @_;
	return PgRotateTest::Run->_new([ _pgrotate_cmd(%o) ], %o);
}

# ---------------------------------------------------------------------------
# Configuration files
# ---------------------------------------------------------------------------

# write_config($path, $text): writes a 0600 file, returns $path.
sub write_config
{
	my ($path, $text) = @_;
	return _write_file($path, $text, 0600);
}

my @DEFAULT_KEYS = qw(rotation_interval warn_before min_overlap drain_timeout
  poll_interval on_drain_timeout emergency_grace password_length password_expiry
  verify_query);
my %DEFAULTS = (
	rotation_interval => '30d',
	warn_before => '3d',
	min_overlap => '0',
	drain_timeout => '30s',
	poll_interval => '100ms',
	on_drain_timeout => 'fail',
	emergency_grace => '5s',
	password_length => 32,
	verify_query => 'SELECT 1',
);

# A libconfig value: \'raw text' is inserted as is, an array ref becomes a
# list of strings, password_length digits an integer, anything else a string.
sub _cfg_value
{
	my ($key, $v) = @_;
	return $$v if ref $v eq 'SCALAR';
	return '[ ' . join(', ', map { cfg_quote($_) } @$v) . ' ]' if ref $v eq 'ARRAY';
	return $v if $key eq 'password_length' && $v =~ /^\d+$/;
	return cfg_quote($v);
}

sub _cfg_settings
{
	my ($indent, $h, @order) = @_;
	my %seen;
	my $text = '';
	for my $k (@order, sort keys %$h)
	{
		next if $seen{$k}++ || !exists $h->{$k} || !defined $h->{$k};
		$text .= "$indent$k = " . _cfg_value($k, $h->{$k}) . ";\n";
	}
	return $text;
}

# target_block(node => $node, %opts): the text "appdb = { ... };" of one
# target, for target_config's `extra_targets`.  Options:
#   target ('appdb'), dbname ('appdb'), admin_user ('pgrotate_admin'),
#   admin / app (conninfo strings; default on node's socket),
#   group_role ('app'), roles (['app_user_a', 'app_user_b']),
#   replicas ([Cluster or conninfo, ...]), poolers ([conninfo, ...]),
#   sink_path (test_dir()/<target>.env), sink_format ('env'),
#   sinks (raw text of the list's elements, replaces the file sink),
#   extra_sinks (raw text appended to the list), keys ({key => value} set
#   in the target, see _cfg_value), extra (raw text in the block).
sub target_block
{
	my (%o) = @_;
	my $node = $o{node} or croak 'target_block: node => $cluster is required';
	my $name = $o{target} // 'appdb';
	my $db = $o{dbname} // 'appdb';
	my $admin_user = $o{admin_user} // 'pgrotate_admin';
	my $admin = $o{admin} // $node->connstr(dbname => $db, user => $admin_user);
	my $app = $o{app} // $node->connstr(dbname => $db);
	my @roles = @{ $o{roles} // [ 'app_user_a', 'app_user_b' ] };
	my $sink_path = $o{sink_path} // test_dir() . "/$name.env";
	my $fmt = $o{sink_format} // 'env';
	my $sinks = $o{sinks}
	  // sprintf('{ type = "file"; path = %s; format = %s; }', cfg_quote($sink_path), cfg_quote($fmt));
	$sinks .= ",\n      $o{extra_sinks}" if defined $o{extra_sinks} && $o{extra_sinks} ne '';

	my $t = "  $name = {\n";
	$t .= '    admin = ' . cfg_quote($admin) . ";\n";
	$t .= '    app = ' . cfg_quote($app) . ";\n";
	$t .= '    group_role = ' . cfg_quote($o{group_role} // 'app') . ";\n";
	$t .= '    roles = [ ' . join(', ', map { cfg_quote($_) } @roles) . " ];\n";
	if ($o{replicas})
	{
		my @r = map {
			blessed($_) ? $_->connstr(dbname => $db, user => $admin_user) : $_
		} @{ $o{replicas} };
		$t .= '    replicas = [ ' . join(', ', map { cfg_quote($_) } @r) . " ];\n";
	}
	if ($o{poolers})
	{
		$t .= '    poolers = [ ' . join(', ', map { cfg_quote($_) } @{ $o{poolers} }) . " ];\n";
	}
	$t .= "    sinks = (\n      $sinks\n    );\n";
	$t .= _cfg_settings('    ', $o{keys} || {});
	$t .= "    $o{extra}\n" if defined $o{extra} && $o{extra} ne '';
	$t .= "  };\n";
	return $t;
}

# target_config(node => $node, %opts): a whole configuration file with one
# target (see target_block for its options) plus:
#   state_dir (test_dir()/state), defaults ({key => value} merged over the
#   test defaults: min_overlap "0", drain_timeout "30s", poll_interval
#   "100ms", emergency_grace "5s", ...; undef removes a key),
#   no_defaults (omit the defaults block), extra_targets (raw text of more
#   targets, e.g. from target_block), extra (raw text at the top level).
sub target_config
{
	my (%o) = @_;
	my $state_dir = $o{state_dir} // test_dir() . '/state';
	my %d = (%DEFAULTS, %{ $o{defaults} || {} });
	my $t = "# generated by PgRotateTest\n";
	$t .= 'state_dir = ' . cfg_quote($state_dir) . ";\n\n";
	unless ($o{no_defaults})
	{
		$t .= "defaults = {\n" . _cfg_settings('  ', \%d, @DEFAULT_KEYS) . "};\n\n";
	}
	$t .= "targets = {\n";
	$t .= target_block(%o) unless $o{no_target};
	$t .= $o{extra_targets} if defined $o{extra_targets};
	$t .= "};\n";
	$t .= "$o{extra}\n" if defined $o{extra} && $o{extra} ne '';
	return $t;
}

# ---------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------

# Indexes of the secrets that occur in $text.
sub secrets_found_in
{
	my ($secrets, $text) = @_;
	$text //= '';
	my @found;
	for my $i (0 .. $#$secrets)
	{
		my $s = $secrets->[$i];
		croak "secrets_found_in: secret #$i is empty" unless defined $s && $s ne '';
		push @found, $i if index($text, $s) >= 0;
	}
	return @found;
}

# assert_no_secret_in(\@plaintexts, { place_name => $text, ... }): one ok()
# per place (sorted by name) asserting that no plaintext occurs in it.
sub assert_no_secret_in
{
	my ($secrets, $places) = @_;
	croak 'assert_no_secret_in: no secrets given' unless $secrets && @$secrets;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $all = 1;
	for my $place (sort keys %$places)
	{
		my @found = secrets_found_in($secrets, $places->{$place});
		$all = 0 if @found;
		ok(!@found, "no secret in $place")
		  or diag("$place contains secret(s) #@found ("
			  . join(', ', map { substr($secrets->[$_], 0, 4) . '...' } @found) . ')');
	}
	return $all;
}

# ---------------------------------------------------------------------------
# Background process registry and cleanup
# ---------------------------------------------------------------------------

sub _register_harness
{
	my ($obj) = @_;
	my $id = ++$HARNESS_SEQ;
	$HARNESSES{$id} = $obj;
	return $id;
}

sub _unregister_harness { delete $HARNESSES{ $_[0] }; }

sub _unregister_cluster
{
	my ($c) = @_;
	@CLUSTERS = grep { $_ != $c } @CLUSTERS;
}

sub _cleanup_all
{
	my ($failed) = @_;
	for my $id (sort { $b <=> $a } keys %HARNESSES)
	{
		my $obj = delete $HARNESSES{$id};
		eval { $obj->{h}->kill_kill(grace => 3) if $obj && $obj->{h} };
	}
	if ($failed)
	{
		for my $c (@CLUSTERS)
		{
			eval { $c->_diag_log_tail(40) };
		}
	}
	my @all = reverse @CLUSTERS;    # teardown() edits @CLUSTERS
	for my $c (@all)
	{
		eval { $c->teardown; 1 } or warn "teardown of cluster $c->{name} failed: $@";
	}
	if (keep_tmp())
	{
		diag("PGROTATE_KEEP_TMP: kept $_") for grep { defined } $TEST_DIR, @EXTRA_DIRS;
	}
	else
	{
		for my $d (grep { defined && -d } $TEST_DIR, @EXTRA_DIRS)
		{
			eval { remove_tree($d); 1 } or warn "could not remove $d: $@";
		}
	}
	_release_port($_) for keys %PORTS_TAKEN;
}

my $IN_SIGNAL = 0;
for my $sig (qw(INT TERM HUP))
{
	$SIG{$sig} = sub {
		exit(128 + $SIGNO{$sig}) if $IN_SIGNAL++;
		diag("caught SIG$sig, stopping clusters and removing temporary directories");
		exit(128 + $SIGNO{$sig});
	};
}

END
{
	# Keep the script's exit status; only the main process cleans up.
	my $exit = $?;
	if ($$ == $MAIN_PID)
	{
		my $failed = $exit != 0 || !Test::More->builder->is_passing;
		eval { _cleanup_all($failed); 1 } or warn "PgRotateTest cleanup failed: $@";
	}
	$? = $exit;
}

# ===========================================================================
package PgRotateTest::Cluster;
# ===========================================================================

use strict;
use warnings;
use Carp;
use File::Path qw(make_path remove_tree);
use File::Spec;
use File::Temp qw(tempdir);
use Test::More;

# PgRotateTest::Cluster->new($name, %opts): initdb a new cluster (not
# started).  Options: tcp (also listen on 127.0.0.1), max_connections (50),
# log_min_error_statement, extra_conf (raw postgresql.conf text),
# extra_hba (raw pg_hba.conf lines, put first).
sub new
{
	my ($class, $name, %opts) = @_;
	croak 'Cluster->new needs a name' unless defined $name && $name =~ /^\w+$/;
	my $self = bless {
		name => $name,
		opts => \%opts,
		tcp => $opts{tcp} ? 1 : 0,
		running => 0,
		superuser => 'postgres',
		superuser_password => PgRotateTest::random_password(24),
		role_passwords => {},
		sessions => {},
	}, $class;

	$self->{base_dir} = tempdir("${name}_XXXXXX", DIR => PgRotateTest::_cluster_parent(), CLEANUP => 0);
	$self->{data_dir} = "$self->{base_dir}/data";
	$self->{log_file} = "$self->{base_dir}/server.log";
	# Unix socket paths are limited to ~107 bytes: keep the folder short.
	$self->{host} = tempdir('pgr_sock_XXXXXX', DIR => '/tmp', CLEANUP => 0);
	chmod 0755, $self->{host};
	PgRotateTest::_chown_postgres($self->{base_dir}, $self->{host});
	$self->{port} = PgRotateTest::_allocate_port();
	push @CLUSTERS, $self;

	$self->_initdb unless $opts{_no_init};
	return $self;
}

sub name { $_[0]{name} }
sub host { $_[0]{host} }
sub port { $_[0]{port} }
sub data_dir { $_[0]{data_dir} }
sub base_dir { $_[0]{base_dir} }
sub log_file { $_[0]{log_file} }
sub superuser { $_[0]{superuser} }
sub superuser_password { $_[0]{superuser_password} }
sub tcp { $_[0]{tcp} }
sub primary { $_[0]{primary} }

sub _pgrun
{
	my ($self, $what, $cmd, %o) = @_;
	my ($rc, $out, $err) = PgRotateTest::_run($cmd, as_postgres => 1, timeout => 120, %o);
	croak "$what failed for cluster $self->{name} (exit $rc):\n$err$out" if $rc != 0;
	return $out;
}

# A fresh initdb costs seconds, so clusters are copies of one template
# made by initdb (shared by the tests of one PGROTATE_TEST_TMP, keyed by the
# PostgreSQL binaries); they then share the superuser password.  Options
# initdb_extra => [...] or no_template => 1 run initdb for this cluster.
sub _initdb
{
	my ($self) = @_;
	my $o = $self->{opts};
	if ($o->{initdb_extra} || $o->{no_template})
	{
		PgRotateTest::_run_initdb($self->{base_dir}, $self->{data_dir},
			$self->{superuser_password}, @{ $o->{initdb_extra} || [] });
	}
	else
	{
		my ($tmpl, $pw) = PgRotateTest::_initdb_template();
		$self->_pgrun('copy of the initdb template', [ 'cp', '-a', "$tmpl/data", $self->{data_dir} ]);
		$self->{superuser_password} = $pw;
	}
	$self->_write_conf;
	$self->_write_hba;
}

sub _write_conf
{
	my ($self) = @_;
	my $o = $self->{opts};
	my $conf = "\n# ---- PgRotateTest ----\n";
	$conf .= "listen_addresses = '" . ($self->{tcp} ? '127.0.0.1' : '') . "'\n";
	$conf .= "unix_socket_directories = '$self->{host}'\n";
	$conf .= "port = $self->{port}\n";
	$conf .= "fsync = off\n";
	$conf .= "log_statement = 'all'\n";
	$conf .= "log_line_prefix = '%m [%p] %q%u\@%d '\n";
	$conf .= "logging_collector = off\n";
	$conf .= "log_connections = on\n";
	$conf .= "log_disconnections = on\n";
	$conf .= "lc_messages = 'C'\n";
	$conf .= "password_encryption = 'scram-sha-256'\n";
	$conf .= 'max_connections = ' . ($o->{max_connections} // 50) . "\n";
	$conf .= "wal_level = replica\n";
	$conf .= "hot_standby = on\n";
	$conf .= "max_wal_senders = 5\n";
	$conf .= "shared_buffers = '16MB'\n";
	$conf .= "log_min_error_statement = '$o->{log_min_error_statement}'\n"
	  if defined $o->{log_min_error_statement};
	$conf .= "$o->{extra_conf}\n" if defined $o->{extra_conf};
	PgRotateTest::_write_file("$self->{data_dir}/postgresql.conf", $conf, 0600, 1);
}

sub _write_hba
{
	my ($self) = @_;
	my $hba = "# PgRotateTest\n";
	$hba .= "$self->{opts}{extra_hba}\n" if defined $self->{opts}{extra_hba};
	$hba .= "local all all scram-sha-256\n";
	$hba .= "local replication all scram-sha-256\n";
	if ($self->{tcp})
	{
		$hba .= "host all all 127.0.0.1/32 scram-sha-256\n";
		$hba .= "host replication all 127.0.0.1/32 scram-sha-256\n";
	}
	PgRotateTest::_write_file("$self->{data_dir}/pg_hba.conf", $hba, 0600);
}

# Appends raw text to postgresql.conf (takes effect at the next start/reload).
sub append_conf
{
	my ($self, $text) = @_;
	PgRotateTest::_write_file("$self->{data_dir}/postgresql.conf", "$text\n", 0600, 1);
}

sub start
{
	my ($self) = @_;
	croak "cluster $self->{name} is already running" if $self->{running};
	my ($rc, $out, $err) = PgRotateTest::_run([
		PgRotateTest::_pgbin('pg_ctl'), '-D', $self->{data_dir}, '-l', $self->{log_file},
		'-w', '-t', '60', 'start' ], as_postgres => 1, timeout => 90);
	if ($rc != 0)
	{
		my $log = -e $self->{log_file} ? PgRotateTest::slurp_file($self->{log_file}) : '';
		croak "could not start cluster $self->{name} (exit $rc):\n$err$out\nserver log:\n$log";
	}
	$self->{running} = 1;
	$self->{postmaster_pid} = $self->_read_postmaster_pid;
	return 1;
}

sub _read_postmaster_pid
{
	my ($self) = @_;
	open my $fh, '<', "$self->{data_dir}/postmaster.pid" or return undef;
	my $pid = <$fh>;
	close $fh;
	chomp $pid if defined $pid;
	return (defined $pid && $pid =~ /^\d+$/) ? $pid : undef;
}

sub postmaster_pid { $_[0]{postmaster_pid} }

# True while the postmaster process exists (and is not a zombie).
sub is_running
{
	my ($self) = @_;
	my $pid = $self->{postmaster_pid};
	return 0 unless $self->{running} && $pid;
	return _pid_alive($pid);
}

sub _pid_alive
{
	my ($pid) = @_;
	open my $fh, '<', "/proc/$pid/stat" or return kill(0, $pid) ? 1 : 0;
	my $stat = <$fh> // '';
	close $fh;
	return ($stat =~ /\)\s+([A-Za-z])\s/ && $1 ne 'Z') ? 1 : 0;
}

# stop(mode => 'fast'): pg_ctl stop -w; falls back to immediate, then
# SIGKILL of the postmaster.  Croaks if the server survives all of them.
sub stop
{
	my ($self, %o) = @_;
	return 1 unless $self->{running};
	my $mode = $o{mode} // 'fast';
	$self->_end_sessions;
	for my $m ($mode eq 'immediate' ? ('immediate') : ($mode, 'immediate'))
	{
		my ($rc, $out, $err) = PgRotateTest::_run([
			PgRotateTest::_pgbin('pg_ctl'), '-D', $self->{data_dir}, '-m', $m,
			'-w', '-t', '60', 'stop' ], as_postgres => 1, timeout => 90);
		if ($rc == 0)
		{
			$self->{running} = 0;
			return 1;
		}
		diag("pg_ctl stop -m $m of cluster $self->{name} failed (exit $rc): $err");
	}
	my $pid = $self->{postmaster_pid};
	if ($pid && _pid_alive($pid))
	{
		kill 'KILL', $pid;
		PgRotateTest::poll_until(sub { !_pid_alive($pid) }, timeout => 10,
			what => "postmaster $pid of $self->{name} to exit", on_timeout => 'return');
	}
	$self->{running} = 0;
	croak "could not stop cluster $self->{name}" if $pid && _pid_alive($pid);
	return 1;
}

sub restart
{
	my ($self, %o) = @_;
	$self->stop(%o);
	return $self->start;
}

# reload: pg_ctl reload (postgresql.conf/pg_hba.conf changes).
sub reload
{
	my ($self) = @_;
	$self->_pgrun('pg_ctl reload', [ PgRotateTest::_pgbin('pg_ctl'), '-D', $self->{data_dir}, 'reload' ]);
	return 1;
}

# teardown: stop the server (if running), remove its folders (unless
# PGROTATE_KEEP_TMP), release its port.  Idempotent.
sub teardown
{
	my ($self) = @_;
	return if $self->{torn_down};
	$self->{torn_down} = 1;
	my $ok = eval { $self->stop; 1 };
	my $e = $@;
	if (PgRotateTest::keep_tmp())
	{
		diag("PGROTATE_KEEP_TMP: kept cluster $self->{name} in $self->{base_dir}");
	}
	else
	{
		remove_tree($self->{base_dir}) if -d $self->{base_dir};
	}
	remove_tree($self->{host}) if -d $self->{host};    # only the socket
	PgRotateTest::_release_port($self->{port});
	PgRotateTest::_unregister_cluster($self);
	die $e unless $ok;
	return 1;
}

# connstr(dbname => 'postgres', user => ..., tcp => 0, key => value...):
# "host=<socket dir> port=N dbname=... [user=...] [other keys, sorted]";
# tcp => 1 (or host => ...) replaces the socket folder.
sub connstr
{
	my ($self, %o) = @_;
	my $tcp = delete $o{tcp};
	croak "cluster $self->{name} does not listen on TCP" if $tcp && !$self->{tcp};
	my $host = delete $o{host} // ($tcp ? '127.0.0.1' : $self->{host});
	my $port = delete $o{port} // $self->{port};
	my $dbname = delete $o{dbname} // 'postgres';
	my $user = delete $o{user};
	my @kv = (host => $host, port => $port, dbname => $dbname);
	push @kv, user => $user if defined $user;
	push @kv, map { ($_ => $o{$_}) } sort keys %o;
	my @parts;
	while (my ($k, $v) = splice(@kv, 0, 2))
	{
		push @parts, "$k=" . PgRotateTest::conninfo_quote($v);
	}
	return join ' ', @parts;
}

sub log_content
{
	my ($self) = @_;
	return -e $self->{log_file} ? PgRotateTest::slurp_file($self->{log_file}) : '';
}

# Current size of the server log: pass it to log_since/wait_for_log.
sub log_position
{
	my ($self) = @_;
	return (-s $self->{log_file}) || 0;
}

sub log_since
{
	my ($self, $pos) = @_;
	return substr($self->log_content, $pos // 0);
}

# wait_for_log(qr/.../, offset => $pos, timeout => 30): true once the log
# (after offset) matches; fails a test on timeout (see poll_until).
sub wait_for_log
{
	my ($self, $re, %o) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	return PgRotateTest::poll_until(sub { $self->log_since($o{offset}) =~ $re },
		timeout => $o{timeout} // 30, what => "server log of $self->{name} to match $re",
		on_timeout => $o{on_timeout} // 'fail');
}

sub _diag_log_tail
{
	my ($self, $n) = @_;
	my @lines = split /\n/, $self->log_content;
	@lines = @lines[ -$n .. -1 ] if @lines > $n;
	diag("---- last lines of the server log of $self->{name} ($self->{log_file}) ----");
	diag($_) for @lines;
}

sub _default_password
{
	my ($self, $user) = @_;
	return $self->{superuser_password} if $user eq $self->{superuser};
	return $self->{role_passwords}{$user};
}

# psql($sql, dbname =>, user =>, password =>, timeout =>, conn => {k => v},
#      extra_params => [...]): runs psql -X -A -t -q -v ON_ERROR_STOP=1 with
# $sql on stdin.  The password defaults to the superuser's (or to the one
# given to create_admin/set_password for that role); password => undef
# leaves libpq to .pgpass/PGPASSFILE.  Returns (exit, stdout, stderr),
# both chomped.
sub psql
{
	my ($self, $sql, %o) = @_;
	my $user = $o{user} // $self->{superuser};
	my $pw = exists $o{password} ? $o{password} : $self->_default_password($user);
	my $connstr = $self->connstr(dbname => $o{dbname} // 'postgres', user => $user,
		%{ $o{conn} || {} });
	my @cmd = (PgRotateTest::_pgbin('psql'), '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1',
		'-d', $connstr, @{ $o{extra_params} || [] });
	my ($rc, $out, $err) = PgRotateTest::_run(\@cmd, stdin => $sql,
		env => { PGPASSWORD => $pw, %{ $o{env} || {} } }, timeout => $o{timeout} // 180);
	chomp $out;
	chomp $err;
	return ($rc, $out, $err);
}

# safe_psql($sql, %opts as psql): returns stdout, croaks with stderr on failure.
sub safe_psql
{
	my ($self, $sql, %o) = @_;
	my ($rc, $out, $err) = $self->psql($sql, %o);
	croak "psql failed on cluster $self->{name} (exit $rc):\n$err\nSQL: $sql\n" if $rc != 0;
	return $out;
}

# poll_query_until($sql, $expected = 't', %opts): polls safe_psql until its
# output equals $expected (see poll_until; `what` defaults to the SQL).
sub poll_query_until
{
	my ($self, $sql, $expected, %o) = @_;
	$expected //= 't';
	my %p = map { exists $o{$_} ? ($_ => delete $o{$_}) : () } qw(timeout what on_timeout interval);
	$p{what} //= "\"$sql\" to return \"$expected\" on $self->{name}";
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $last;
	my $r = PgRotateTest::poll_until(sub {
			$last = $self->safe_psql($sql, %o);
			$last eq $expected;
		}, %p);
	diag("last result: \"" . ($last // '') . '"') unless $r;
	return $r;
}

# Runs SQL as superuser with log_statement off, so that the passwords in it
# never reach the server log.
sub _safe_psql_unlogged
{
	my ($self, $sql, %o) = @_;
	return $self->safe_psql("SET log_statement = 'none';\n$sql", %o);
}

# create_admin($name = 'pgrotate_admin', password => random, createrole => 1,
#              attrs => [...], extra_grants => [...]): CREATE ROLE name LOGIN
# [CREATEROLE] attrs... PASSWORD, then "GRANT <g> TO name" for each
# extra grant (e.g. 'pg_signal_backend', 'CREATE ON DATABASE appdb').
# The password never reaches the server log.  Returns the password.
sub create_admin
{
	my ($self, $name, %o) = @_;
	$name //= 'pgrotate_admin';
	my $pw = $o{password} // PgRotateTest::random_password(24);
	my @attrs = ('LOGIN');
	push @attrs, 'CREATEROLE' if $o{createrole} // 1;
	push @attrs, @{ $o{attrs} || [] };
	my $q = PgRotateTest::quote_ident($name);
	my $sql = "CREATE ROLE $q @attrs PASSWORD " . PgRotateTest::quote_literal($pw) . ";\n";
	$sql .= "GRANT $_ TO $q;\n" for @{ $o{extra_grants} || [] };
	$self->_safe_psql_unlogged($sql);
	$self->{role_passwords}{$name} = $pw;
	$self->{primary}{role_passwords}{$name} = $pw if $self->{primary};
	return $pw;
}

# grant_admin_option($admin, @roles): what a DBA gives the admin for roles
# someone else created (pgrotate check prints it): from PostgreSQL 16,
# "GRANT roles TO admin WITH ADMIN OPTION, INHERIT FALSE, SET FALSE"; before
# 16, CREATEROLE is enough and nothing is run.  Returns whether it granted.
sub grant_admin_option
{
	my ($self, $admin, @roles) = @_;
	croak 'grant_admin_option needs roles' unless @roles;
	return 0 if $self->server_version_num < 160000;
	$self->safe_psql('GRANT ' . join(', ', map { PgRotateTest::quote_ident($_) } @roles)
		  . ' TO ' . PgRotateTest::quote_ident($admin)
		  . ' WITH ADMIN OPTION, INHERIT FALSE, SET FALSE');
	return 1;
}

# set_password($role, $password): ALTER ROLE ... PASSWORD, unlogged;
# remembered as the psql default for that role.
sub set_password
{
	my ($self, $role, $pw) = @_;
	$self->_safe_psql_unlogged('ALTER ROLE ' . PgRotateTest::quote_ident($role)
		  . ' PASSWORD ' . PgRotateTest::quote_literal($pw) . ";\n");
	$self->{role_passwords}{$role} = $pw;
	return $pw;
}

# create_database($name, owner => role, grant_create => [roles]).
sub create_database
{
	my ($self, $db, %o) = @_;
	my $q = PgRotateTest::quote_ident($db);
	my $sql = "CREATE DATABASE $q";
	$sql .= ' OWNER ' . PgRotateTest::quote_ident($o{owner}) if defined $o{owner};
	$sql .= ";\n";
	$sql .= "GRANT CREATE ON DATABASE $q TO " . PgRotateTest::quote_ident($_) . ";\n"
	  for @{ $o{grant_create} || [] };
	$self->safe_psql($sql);
	return $db;
}

# write_pgpass($file, [ [user, password, dbname = '*'], ... ], append => 0):
# a 0600 password file matching this node's socket folder (and 127.0.0.1
# with tcp) and port.  Use append => 1 to add another node's lines.
sub write_pgpass
{
	my ($self, $file, $entries, %o) = @_;
	my $esc = sub { my $v = shift; $v =~ s/([\\:])/\\$1/g; $v };
	my $text = '';
	for my $e (@$entries)
	{
		my ($user, $pw, $db) = @$e;
		$db = defined $db ? $esc->($db) : '*';
		for my $host ($self->{host}, $self->{tcp} ? ('127.0.0.1') : ())
		{
			$text .= join(':', $esc->($host), $self->{port}, $db, $esc->($user), $esc->($pw)) . "\n";
		}
	}
	PgRotateTest::_write_file($file, $text, 0600, $o{append});
	return $file;
}

# background_session(user =>, password =>, dbname =>, application_name =>,
#                    timeout => 60): a long-lived psql, returned once visible
# in pg_stat_activity.  See PgRotateTest::Session.
sub background_session
{
	my ($self, %o) = @_;
	my $s = PgRotateTest::Session->_new($self, %o);
	$self->{sessions}{ $s->{id} } = $s;
	return $s;
}

sub _end_sessions
{
	my ($self) = @_;
	my @sessions = values %{ $self->{sessions} };
	for my $s (@sessions)
	{
		eval { $s->kill(no_wait => 1) };
	}
	$self->{sessions} = {};
}

# server_version_num: SHOW server_version_num of this (running) node, e.g. 170010.
sub server_version_num
{
	my ($self) = @_;
	$self->{version_num} //= $self->safe_psql('SHOW server_version_num');
	return $self->{version_num};
}

# backup_replica($name, %opts as new): a streaming hot standby of this
# (running) node, not started.  Made without pg_basebackup (a server build
# may not ship it): a low-level non-exclusive backup (pg_backup_start /
# pg_backup_stop, pg_start_backup / pg_stop_backup on 14) held by one
# session while the data directory is copied, its backup_label, then
# standby.signal and primary_conninfo.  Shares the superuser password and
# remembered role passwords.
sub backup_replica
{
	my ($self, $name, %opts) = @_;
	croak "cluster $self->{name} must be running to take a base backup" unless $self->{running};
	my $r = PgRotateTest::Cluster->new($name, tcp => $self->{tcp}, max_connections =>
		  $self->{opts}{max_connections}, %opts, _no_init => 1);
	$r->{superuser_password} = $self->{superuser_password};
	$r->{role_passwords} = $self->{role_passwords};    # shared: roles replicate
	$r->{primary} = $self;
	my $pre15 = $self->server_version_num < 150000;
	my $s = $self->background_session(application_name => "pgr_backup_$name");
	$s->query_safe($pre15 ? "SELECT pg_start_backup('pgrotate-test $name', true, false)"
		: "SELECT pg_backup_start('pgrotate-test $name', true)");
	$self->_copy_data_dir($r->{data_dir});
	my $label = $s->query_safe("SELECT encode(convert_to(labelfile, 'UTF8'), 'base64') FROM "
		  . ($pre15 ? 'pg_stop_backup(false, false)' : 'pg_backup_stop(false)'));
	$s->quit;
	require MIME::Base64;
	$label = MIME::Base64::decode_base64($label);
	croak "pg_backup_stop gave no backup label: \"$label\"" unless $label =~ /^START WAL LOCATION:/m;
	my $primary_conninfo = $self->connstr(user => $self->{superuser},
		password => $self->{superuser_password});
	my $d = $r->{data_dir};
	PgRotateTest::_write_file("$d/backup_label", $label, 0600);
	PgRotateTest::_write_file("$d/standby.signal", '', 0600);
	PgRotateTest::_write_file("$d/postgresql.auto.conf",
		'primary_conninfo = ' . PgRotateTest::quote_literal($primary_conninfo) . "\n", 0600, 1);
	PgRotateTest::_chown_postgres("$d/backup_label", "$d/standby.signal", "$d/postgresql.auto.conf");
	$r->_write_conf;
	return $r;
}

# Copies this node's data directory to $dest (as the server's user) while
# a backup is in progress: files may change or vanish as they are read
# (tar's exit 1); what the standby must not take is left out.
sub _copy_data_dir
{
	my ($self, $dest) = @_;
	my @exclude = map { "--exclude=./$_" } qw(postmaster.pid postmaster.opts
	  pg_replslot/* pg_dynshmem/* pg_notify/* pg_serial/* pg_snapshots/* pg_stat_tmp/*
	  pg_subtrans/* pgsql_tmp* pg_internal.init);
	my $sh = 'set -u; src=$1; dst=$2; shift 2; mkdir -m 0700 "$dst" || exit 2; '
	  . '{ tar -C "$src" --warning=no-file-changed --warning=no-file-removed --warning=no-file-ignored '
	  . '"$@" -cf - . ; echo $? >"$dst/.tar-rc"; } | tar -C "$dst" -xf - || exit 3; '
	  . 'rc=$(cat "$dst/.tar-rc"); rm -f "$dst/.tar-rc"; [ "$rc" -le 1 ]';
	my ($rc, $out, $err) = PgRotateTest::_run([ 'bash', '-c', $sh, 'copy', $self->{data_dir}, $dest, @exclude ],
		as_postgres => 1, timeout => 120);
	croak "copy of $self->{name}'s data directory to $dest failed (exit $rc):\n$err$out" if $rc != 0;
}

# wait_for_catchup($replica, timeout => 60): polls until the replica has
# replayed the primary's current WAL position.
sub wait_for_catchup
{
	my ($self, $replica, %o) = @_;
	my $lsn = $self->safe_psql('SELECT pg_current_wal_lsn()');
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	return PgRotateTest::poll_until(sub {
			$replica->safe_psql("SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn") eq 't';
		}, timeout => $o{timeout} // 60,
		what => "$replica->{name} to replay $self->{name}'s WAL up to $lsn",
		on_timeout => $o{on_timeout} // 'fail');
}

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
