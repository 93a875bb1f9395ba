# PgRotateTest::Cluster: a temporary PostgreSQL cluster of the version under
# test (split out of PgRotateTest.pm; loaded by it).
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
	PgRotateTest::_register_cluster($self);

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

1;
