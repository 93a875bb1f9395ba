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
#   PGROTATE_PG_CACHE  the CI's servers (/var/cache/pgrotate-ci): libpq_dir
#                      finds a newer libpq there
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
  libpq_dir
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

# A folder with a libpq.so.5 of major version $min or later, for running
# pgrotate with it (LD_LIBRARY_PATH) where it links an older one (Debian
# 12's 15): the server's own (pg_bindir()/../lib), else one of the CI's
# servers (PGROTATE_PG_CACHE, else /var/cache/pgrotate-ci: pg-NN/lib, as
# .ci/install-deps unpacks them), newest first. The version is the one the
# file is named for (libpq.so.5.NN). undef when there is none.
sub libpq_dir
{
	my ($min) = @_;
	my $cache = $ENV{PGROTATE_PG_CACHE} // '/var/cache/pgrotate-ci';
	my @cand = (pg_bindir() . '/../lib', reverse sort glob("$cache/pg-*/lib"));
	for my $d (@cand)
	{
		my $real = Cwd::abs_path("$d/libpq.so.5");
		next unless defined $real && -f $real;
		my ($major) = $real =~ /libpq\.so\.5\.(\d+)$/;
		return Cwd::abs_path($d) if defined $major && $major >= $min;
	}
	return undef;
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

sub _register_cluster { push @CLUSTERS, $_[0]; }

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

# The classes, one file each.
require PgRotateTest::Cluster;
require PgRotateTest::Session;
require PgRotateTest::Run;

1;
