# The test harness itself (tests/lib/PgRotateTest.pm), against real
# PostgreSQL clusters.  Needs no pgrotate binary: the process runner is
# exercised with a stand-in script.
use strict;
use warnings;
use Test::More;
use Test::Builder::Tester;
use Time::HiRes qw(time);
use PgRotateTest qw(:DEFAULT secrets_found_in quote_literal pg_bindir pg_client_bindir pg_major_version);

# ---- pure helpers ---------------------------------------------------------

is(PgRotateTest::conninfo_quote('abc'), 'abc', 'conninfo: plain value unquoted');
is(PgRotateTest::conninfo_quote("a b'c\\"), q('a b\\'c\\\\'), 'conninfo: quoted and escaped');
is(PgRotateTest::conninfo_quote(''), q(''), 'conninfo: empty value quoted');
is(PgRotateTest::cfg_quote('a"b\\c'), q("a\\"b\\\\c"), 'libconfig string escaped');
is(quote_literal("it's"), q('it''s'), 'SQL literal quoted');
like(random_password(20), qr/^[A-Za-z0-9]{20}$/, 'random_password is alphanumeric, of the length asked');
is_deeply([ secrets_found_in([ 'alpha', 'beta' ], 'xx beta yy') ], [1], 'secrets_found_in finds the secret');
is_deeply([ secrets_found_in([ 'alpha' ], undef) ], [], 'secrets_found_in on undef text');
ok(!eval { secrets_found_in([''], 'x'); 1 }, 'an empty secret is refused');

# ---- poll_until -----------------------------------------------------------

{
	my $n = 0;
	is(poll_until(sub { ++$n >= 3 ? 'value' : 0 }, timeout => 5, what => 'n to reach 3'),
		'value', 'poll_until returns the true value of the condition');
	is($n, 3, 'the condition was evaluated until it held');

	my $t0 = time;
	my $r = poll_until(sub { 0 }, timeout => 0.5, what => 'never', on_timeout => 'return');
	my $el = time - $t0;
	is($r, 0, 'poll_until returns false on timeout');
	ok($el >= 0.5 && $el < 3, "it waited for the timeout (${el}s)");

	ok(!eval { poll_until(sub { 0 }, timeout => 0.2, what => 'dying', on_timeout => 'die'); 1 },
		'on_timeout => die croaks');
	like($@, qr/timed out after 0\.2s waiting for: dying/, 'the message names what was awaited');

	# The default fails a test point named after the description.
	test_out('not ok 1 - timed out after 0.2s waiting for: a false condition');
	my $r2 = poll_until(sub { 0 }, timeout => 0.2, what => 'a false condition');
	test_test(title => 'default on_timeout fails a test named after the description', skip_err => 1);
	is($r2, 0, 'and returns false');
}

# ---- the primary cluster --------------------------------------------------

# ---- the binaries ------------------------------------------------------------

ok(-x pg_bindir() . "/$_", "server binary $_ in " . pg_bindir()) for qw(initdb pg_ctl postgres);
ok(-x pg_client_bindir() . '/psql', 'psql in ' . pg_client_bindir());
like(pg_major_version(), qr/^1[4-8]$/, 'a supported server major (' . pg_major_version() . ')');

my $node = PgRotateTest::Cluster->new('primary', log_min_error_statement => 'debug5');
ok(-d $node->data_dir, 'initdb created the data directory');
ok(-d $node->host && length($node->host . '/.s.PGSQL.' . $node->port) < 100,
	'private socket directory with a short path');
ok($node->port >= 20000 && $node->port <= 40000, 'port in 20000-40000');
$node->start;
ok($node->is_running, 'cluster started');
is(int($node->server_version_num / 10000), pg_major_version(), 'server_version_num of the running server');
is($node->safe_psql('SELECT 1'), '1', 'superuser connects with its password');
{
	my @names = qw(listen_addresses fsync log_statement max_connections wal_level
	  server_encoding log_min_error_statement hot_standby);
	my %set;
	@set{@names} = split /\|/, $node->safe_psql(
		'SELECT ' . join(" || '|' || ", map { "current_setting('$_')" } @names)), -1;
	is($set{listen_addresses}, '', 'Unix socket only');
	is($set{fsync}, 'off', 'fsync off');
	is($set{log_statement}, 'all', 'log_statement = all');
	is($set{max_connections}, '50', 'max_connections default 50');
	is($set{wal_level}, 'replica', 'wal_level replica');
	is($set{server_encoding}, 'UTF8', 'UTF8 encoding');
	is($set{log_min_error_statement}, 'debug5', 'log_min_error_statement option');
	is($set{hot_standby}, 'on', 'hot_standby on');
}
is($node->safe_psql("SELECT (SELECT rolsuper FROM pg_authid WHERE rolname = 'postgres') || '|' || "
		  . "(SELECT count(*) FROM pg_hba_file_rules WHERE auth_method <> 'scram-sha-256')"),
	'true|0', 'superuser postgres; every pg_hba rule requires scram-sha-256');

# The connstr is a conninfo psql (libpq) accepts.
like($node->connstr(user => 'x'), qr/^host=\S+ port=\d+ dbname=postgres user=x$/, 'connstr shape');
is($node->safe_psql('SELECT current_database()', dbname => 'template1'), 'template1', 'dbname option');

# Wrong and missing passwords fail.
my ($rc, $out, $err) = $node->psql('SELECT 1', password => 'wrong-password');
isnt($rc, 0, 'a wrong password is refused');
like($err, qr/password authentication failed for user "postgres"/, 'with the server\'s message');
($rc, $out, $err) = $node->psql('SELECT 1', password => undef, env => { PGPASSFILE => '/dev/null' });
isnt($rc, 0, 'no password at all is refused');
ok(!eval { $node->safe_psql('SELECT 1', password => 'wrong-password'); 1 }, 'safe_psql dies on failure');
like($@, qr/password authentication failed/, 'with psql\'s stderr');
ok(!eval { $node->safe_psql('SELECT * FROM no_such_table'); 1 }, 'safe_psql dies on an SQL error');
like($@, qr/relation "no_such_table" does not exist/, 'naming the error');
is($node->safe_psql("SELECT 1;\nSELECT 2"), "1\n2", 'several statements, tuples only, unaligned');

# The server log receives every statement, with the configured prefix.
my $pos = $node->log_position;
my $marker = 'harness_marker_' . random_password(8);
$node->safe_psql("SELECT '$marker'");
ok($node->wait_for_log(qr/\Q$marker\E/, offset => $pos, timeout => 10), 'log_statement reaches the log file');
like($node->log_since($pos), qr/^\S+ \S+ \S+ \[\d+\] postgres\@postgres LOG:  statement: SELECT '\Q$marker\E'/m,
	'log_line_prefix "%m [%p] %q%u@%d "');
like($node->log_content, qr/database system is ready to accept connections/, 'log_content is the whole log');

# ---- create_admin and .pgpass ---------------------------------------------

my $pos_admin = $node->log_position;
my $admin_pw = $node->create_admin('pgrotate_admin', extra_grants => ['pg_signal_backend']);
like($admin_pw, qr/^[A-Za-z0-9]{16,}$/, 'create_admin returns a generated password');
is($node->safe_psql(
		"SELECT rolsuper, rolcreaterole, rolcanlogin, rolreplication, rolbypassrls, "
		  . "rolpassword LIKE 'SCRAM-SHA-256\$%' FROM pg_authid WHERE rolname = 'pgrotate_admin'"),
	'f|t|t|f|f|t', 'the admin is a non-superuser LOGIN CREATEROLE role with a SCRAM password');
is($node->safe_psql("SELECT pg_has_role('pgrotate_admin', 'pg_signal_backend', 'MEMBER')"), 't',
	'extra_grants were granted');
is($node->safe_psql('SELECT session_user', user => 'pgrotate_admin', password => $admin_pw),
	'pgrotate_admin', 'the admin logs in with its password');
my $other_pw = $node->create_admin('plain_admin', createrole => 0, password => 'Given-pw-123');
is($other_pw, 'Given-pw-123', 'an explicit password is used');
is($node->safe_psql("SELECT rolcreaterole FROM pg_authid WHERE rolname = 'plain_admin'"), 'f',
	'createrole => 0');
$node->safe_psql('SELECT 1', user => 'plain_admin');    # password remembered for psql
pass('psql defaults to the password given to create_admin');
assert_no_secret_in([ $admin_pw, $other_pw ], { 'server log (create_admin)' => $node->log_since($pos_admin) });

# grant_admin_option: ADMIN OPTION (without INHERIT and SET) from 16 only.
$node->safe_psql('CREATE ROLE made_by_dba NOLOGIN');
my $granted = $node->grant_admin_option('pgrotate_admin', 'made_by_dba');
is($granted, pg_major_version() >= 16 ? 1 : 0, 'grant_admin_option grants from 16 only');
if ($granted)
{
	is($node->safe_psql("SELECT admin_option || '|' || inherit_option || '|' || set_option"
			  . ' FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles a ON a.oid = m.member'
			  . " WHERE r.rolname = 'made_by_dba' AND a.rolname = 'pgrotate_admin'"),
		'true|false|false', 'WITH ADMIN OPTION, INHERIT FALSE, SET FALSE');
}
else
{
	is($node->safe_psql("SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid"
			  . " WHERE r.rolname = 'made_by_dba'"), '0', 'before 16: no grant');
}

my $pgpass = test_dir() . '/pgpass';
$node->write_pgpass($pgpass, [ [ 'pgrotate_admin', $admin_pw ], [ 'plain_admin', 'Given-pw-123', 'postgres' ] ]);
is((stat $pgpass)[2] & 07777, 0600, '.pgpass is 0600');
is($node->safe_psql('SELECT session_user', user => 'pgrotate_admin', password => undef,
		env => { PGPASSFILE => $pgpass }),
	'pgrotate_admin', 'libpq finds the admin password in the .pgpass (socket dir as host)');
is($node->safe_psql('SELECT session_user', user => 'plain_admin', password => undef,
		env => { PGPASSFILE => $pgpass }),
	'plain_admin', 'a .pgpass line limited to one database');
($rc) = $node->psql('SELECT 1', user => 'plain_admin', password => undef, dbname => 'template1',
	env => { PGPASSFILE => $pgpass });
isnt($rc, 0, 'the database-limited line does not match another database');

$node->create_database('harnessdb', grant_create => ['pgrotate_admin']);
is($node->safe_psql("SELECT has_database_privilege('pgrotate_admin', 'harnessdb', 'CREATE')",
		dbname => 'harnessdb'), 't', 'create_database with grant_create');
$node->set_password('plain_admin', 'Changed-pw-456');
is($node->safe_psql('SELECT current_user', user => 'plain_admin'), 'plain_admin',
	'set_password changes the password psql uses');
($rc) = $node->psql('SELECT 1', user => 'plain_admin', password => 'Given-pw-123');
isnt($rc, 0, 'the old password no longer works');
$node->append_conf("work_mem = '7MB'");
$node->reload;
ok($node->poll_query_until('SHOW work_mem', '7MB', timeout => 10), 'append_conf + reload, poll_query_until');

# ---- background sessions --------------------------------------------------

my $s = $node->background_session(user => 'pgrotate_admin', password => $admin_pw,
	application_name => 'harness-bg');
like($s->backend_pid, qr/^\d+$/, 'background session has a backend pid');
is($node->safe_psql("SELECT usename || '|' || application_name FROM pg_stat_activity "
		  . 'WHERE pid = ' . $s->backend_pid),
	'pgrotate_admin|harness-bg', 'visible in pg_stat_activity with its usename and application_name');
is($s->query('SELECT 6 * 7'), '42', 'query returns the output');
is($s->query("SELECT 'a' UNION ALL SELECT 'b'"), "a\nb", 'several rows');
my ($qo, $qe) = $s->query('SELECT * FROM no_such_table');
like($qe, qr/ERROR:.*no_such_table/, 'an SQL error is returned on stderr');
ok(!eval { $s->query_safe('SELECT * FROM no_such_table'); 1 }, 'query_safe dies on an SQL error');
is($s->query('SELECT 1'), '1', 'the session survives an error');
$s->query('BEGIN; CREATE TEMP TABLE t (x int); INSERT INTO t VALUES (1)');
is($node->safe_psql('SELECT state FROM pg_stat_activity WHERE pid = ' . $s->backend_pid),
	'idle in transaction', 'the session holds its transaction between queries');
$s->query('COMMIT');
my $bpid = $s->backend_pid;
$s->quit;
is($node->safe_psql("SELECT count(*) FROM pg_stat_activity WHERE pid = $bpid OR application_name = 'harness-bg'"),
	'0', 'after quit the session is gone from pg_stat_activity');

my $s2 = $node->background_session(user => 'pgrotate_admin');
my $bpid2 = $s2->backend_pid;
$s2->kill;
is($node->safe_psql("SELECT count(*) FROM pg_stat_activity WHERE pid = $bpid2"), '0',
	'after kill the backend is gone too');
ok(!eval { $node->background_session(user => 'pgrotate_admin', password => 'bad', timeout => 10); 1 },
	'a session that cannot log in dies');
like($@, qr/did not start.*password authentication failed/s, 'with the reason');

# ---- stop and start -------------------------------------------------------

my $start1 = $node->safe_psql('SELECT pg_postmaster_start_time()');
my $s3 = $node->background_session(application_name => 'survives-no-restart');
$node->stop;
ok(!$node->is_running, 'stop stops the server');
$node->start;
isnt($node->safe_psql('SELECT pg_postmaster_start_time()'), $start1, 'start starts it again');
is($node->safe_psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'survives-no-restart'"),
	'0', 'sessions do not survive a restart');

# ---- the process runner, with a stand-in for pgrotate -------------------

{
	my $fake = test_dir() . '/fake-pgrotate';
	write_config($fake, <<'EOS');
#!/bin/sh
echo "args:$*"
echo "env:${HARNESS_VAR:-unset}:${HARNESS_GONE:-unset}"
echo "to stderr" >&2
case "$1" in
-c) shift 2 ;;
esac
case "$1" in
sleep) echo started >&2; exec sleep "$2" ;;
stdin) cat ;;
esac
exit 3
EOS
	chmod 0700, $fake;
	local $ENV{PGROTATE_BIN} = $fake;
	local $ENV{HARNESS_GONE} = 'present';
	my $r = run_pgrotate(args => [ 'status', 'x' ], config => '/some/file',
		env => { HARNESS_VAR => 'yes', HARNESS_GONE => undef });
	is($r->{exit}, 3, 'run_pgrotate: exit code');
	is($r->{stdout}, "args:-c /some/file status x\nenv:yes:unset\n", 'run_pgrotate: argv with -c and env');
	is($r->{stderr}, "to stderr\n", 'run_pgrotate: stderr apart');
	like($r->{pid}, qr/^\d+$/, 'run_pgrotate: pid');
	is(run_pgrotate(args => ['stdin'], stdin => "fed\n")->{stdout}, "args:stdin\nenv:unset:present\nfed\n",
		'run_pgrotate: stdin');

	my $t0 = time;
	$r = run_pgrotate(args => [ 'sleep', '30' ], timeout => 1);
	ok($r->{timed_out} && $r->{exit} == -1, 'run_pgrotate: a run over its timeout is killed');
	ok(time - $t0 < 10, 'promptly');

	my $bg = start_pgrotate(args => [ 'sleep', '30' ]);
	ok($bg->wait_for(qr/started/, stream => 'stderr', timeout => 10), 'start_pgrotate: output as it arrives');
	ok($bg->is_running, 'start_pgrotate: running');
	ok(kill(0, $bg->pid), 'start_pgrotate: pid is the process');
	$bg->signal('TERM');
	$r = $bg->finish(timeout => 10);
	is($r->{signal}, 15, 'start_pgrotate: killed by SIGTERM');
	is($r->{exit}, 128 + 15, 'exit reported as 128+signal');
	ok(!$bg->is_running, 'no longer running');

	$bg = start_pgrotate(args => ['quick']);
	$r = $bg->finish;
	is($r->{exit}, 3, 'start_pgrotate: finish returns the exit code');
	like($r->{stdout}, qr/args:quick/, 'and the output');

	$bg = start_pgrotate(args => [ 'sleep', '30' ]);
	$r = $bg->kill;
	is($r->{signal}, 9, 'start_pgrotate: kill is SIGKILL');
}

# ---- configuration text ---------------------------------------------------

{
	my $text = target_config(node => $node, defaults => { drain_timeout => '2s', warn_before => undef },
		keys => { password_length => 20 }, extra_sinks => '{ type = "command"; argv = [ "/bin/true" ]; }');
	my $h = $node->host;
	my $p = $node->port;
	like($text, qr/^state_dir = ".*\/state";$/m, 'state_dir under the test folder');
	like($text, qr/admin = "host=\Q$h\E port=$p dbname=appdb user=pgrotate_admin";/, 'admin conninfo');
	like($text, qr/app = "host=\Q$h\E port=$p dbname=appdb";/, 'app conninfo without user');
	like($text, qr/roles = \[ "app_user_a", "app_user_b" \];/, 'roles');
	like($text, qr/group_role = "app";/, 'group role');
	like($text, qr/min_overlap = "0";/, 'min_overlap "0" by default');
	like($text, qr/poll_interval = "100ms";/, 'poll_interval 100ms');
	like($text, qr/drain_timeout = "2s";/, 'a default overridden');
	unlike($text, qr/warn_before/, 'a default removed');
	like($text, qr/^    password_length = 20;$/m, 'a target key, integer');
	like($text, qr/format = "env"; \},\n\s+\{ type = "command"/, 'extra sink appended');
	is(($text =~ tr/{//), ($text =~ tr/}//), 'braces balance');
	my $file = write_config(test_dir() . '/pgrotate.conf', $text);
	is((stat $file)[2] & 07777, 0600, 'write_config writes 0600');
	is(slurp_file($file), $text, 'and the text');
}

# ---- assert_no_secret_in --------------------------------------------------

ok(assert_no_secret_in([ 'Secret123', 'Other456' ], { 'stdout' => 'nothing here', 'stderr' => '' }),
	'assert_no_secret_in returns true when clean');
test_out('not ok 1 - no secret in a log', 'ok 2 - no secret in b clean');
my $found = assert_no_secret_in(['Secret123'], { 'a log' => 'xx Secret123 yy', 'b clean' => 'zz' });
test_test(title => 'assert_no_secret_in: one test per place, failing where a secret is', skip_err => 1);
ok(!$found, 'and returns false');

# ---- replica --------------------------------------------------------------

my $replica = $node->backup_replica('replica');
$replica->start;
is($replica->safe_psql('SELECT pg_is_in_recovery()'), 't', 'replica is a hot standby');
ok(-e $replica->data_dir . '/backup_label.old' && !-e $replica->data_dir . '/backup_label',
	'it started from the backup label of the low-level backup');
ok($replica->poll_query_until('SELECT status FROM pg_stat_wal_receiver', 'streaming', timeout => 30),
	'its WAL receiver streams from the primary');
is($node->safe_psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgr_backup_replica'"),
	'0', 'the session that held the backup is gone');
isnt($replica->port, $node->port, 'on its own port');
$node->safe_psql('CREATE ROLE replicated_role');
ok($node->wait_for_catchup($replica, timeout => 30), 'replica catches up');
is($replica->safe_psql("SELECT count(*) FROM pg_roles WHERE rolname = 'replicated_role'"), '1',
	'a role created on the primary is on the replica');
is($replica->safe_psql('SELECT session_user', user => 'pgrotate_admin'), 'pgrotate_admin',
	'the admin logs in on the replica with the same password');
is($node->safe_psql('SELECT count(*) FROM pg_stat_replication'), '1', 'the replica streams');
is(target_config(node => $node, replicas => [$replica]) =~ /replicas = \[ "host=\Q${\$replica->host}\E port=${\$replica->port} dbname=appdb user=pgrotate_admin" \];/ ? 1 : 0,
	1, 'target_config turns a replica node into its admin conninfo');

# ---- a TCP cluster, torn down explicitly ----------------------------------

{
	my $tcp = PgRotateTest::Cluster->new('tcpnode', tcp => 1, max_connections => 20);
	$tcp->start;
	is($tcp->safe_psql('SELECT inet_server_addr()', conn => { host => '127.0.0.1' }), '127.0.0.1',
		'tcp => 1 listens on 127.0.0.1');
	is($tcp->safe_psql('SHOW max_connections'), '20', 'max_connections option');
	like($tcp->connstr(tcp => 1), qr/^host=127\.0\.0\.1 /, 'connstr(tcp => 1)');
	my $pgpass2 = test_dir() . '/pgpass-tcp';
	$tcp->write_pgpass($pgpass2, [ [ 'postgres', $tcp->superuser_password ] ]);
	is($tcp->safe_psql('SELECT 1', password => undef, conn => { host => '127.0.0.1' },
			env => { PGPASSFILE => $pgpass2 }), '1', '.pgpass covers the TCP address too');
	my $bg = $tcp->background_session;    # ended by teardown
	my ($base, $sock, $pid) = ($tcp->base_dir, $tcp->host, $tcp->postmaster_pid);
	$tcp->teardown;
	ok(!$tcp->is_running && !kill(0, $pid) || !PgRotateTest::Cluster::_pid_alive($pid),
		'teardown stopped the server');
	if (PgRotateTest::keep_tmp())
	{
		pass('PGROTATE_KEEP_TMP: directories kept');
	}
	else
	{
		ok(!-e $base, 'teardown removed the cluster directory');
		ok(!-e $sock, 'teardown removed the socket directory');
	}
	ok(!kill(0, $bg->pid) || !PgRotateTest::Cluster::_pid_alive($bg->pid),
		'teardown ended the background session');
	ok(eval { $tcp->teardown; 1 }, 'teardown is idempotent');
}

done_testing();
