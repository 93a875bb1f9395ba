# pgrotate check: the preflight checklist against a real server.
#
# Every case asserts the exit code and the exact item line (and fix line)
# that scripts grep for. Roles are set up with SQL, as "init" would leave
# them; each case breaks one thing, checks, and puts it back.

use strict;
use warnings;

use PgRotateTest;
use Test::More;

my $node = PgRotateTest::Cluster->new('primary');
$node->start;
$node->create_database('appdb');
my $admin_pw = $node->create_admin('pgrotate_admin',
	extra_grants => ['pg_read_all_stats', 'pg_signal_backend', 'CREATE ON DATABASE appdb']);

# The group role and both login roles, as "pgrotate init" creates them.
$node->safe_psql(<<'SQL');
CREATE ROLE app NOLOGIN;
CREATE ROLE app_user_a LOGIN;
CREATE ROLE app_user_b NOLOGIN;
GRANT app TO app_user_a, app_user_b;
ALTER ROLE app_user_a SET role = 'app';
ALTER ROLE app_user_b SET role = 'app';
SQL
# A DBA's grant for roles the admin did not create (16+; see the man page).
$node->grant_admin_option('pgrotate_admin', qw(app app_user_a app_user_b));

# What differs from PostgreSQL 16 on (tests/t/160_versions.pl has more).
my $pg16 = $node->server_version_num >= 160000;
my $privileges_ok = '  ok    admin privileges: CREATEROLE' . ($pg16 ? ", ADMIN OPTION on the target's roles" : '');

my $dir = test_dir();
my $pgpass = $node->write_pgpass("$dir/pgpass", [ [ 'pgrotate_admin', $admin_pw ] ]);
my %env = (PGPASSFILE => $pgpass, PGPASSWORD => undef, PGROTATE_CONFIG => undef,
	PGUSER => undef, PGHOST => undef, PGPORT => undef, PGDATABASE => undef);

my $cfg = write_config("$dir/pgrotate.conf", target_config(node => $node));

sub check
{
	my (%o) = @_;
	return run_pgrotate(config => $o{config} // $cfg, args => [ 'check', @{ $o{targets} // ['appdb'] } ],
		env => { %env, %{ $o{env} || {} } });
}

# The item line (and its fix lines) must appear exactly, in this order.
sub has_lines
{
	my ($r, $what, @want) = @_;
	my $out = $r->{stdout};
	my $re = join '', map { '^' . quotemeta($_) . "\n" } @want;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	like($out, qr/$re/m, $what) or diag("stdout:\n$out\nstderr:\n$r->{stderr}");
}

sub exit_is
{
	my ($r, $code, $what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	is($r->{exit}, $code, "$what: exit $code") or diag("stdout:\n$r->{stdout}\nstderr:\n$r->{stderr}");
}

my $r;

# ---- everything in place, before init: only the schema warns ----
$r = check();
exit_is($r, 0, 'prepared setup without the state schema');
has_lines($r, 'header, config and connection',
	'target appdb:', '  ok    config valid', '  ok    admin transport', '  ok    app transport',
	'  ok    admin connects');
like($r->{stdout}, qr/^  ok    server version: PostgreSQL 1\d\.\d+$/m, 'server version reported');
has_lines($r, 'role items pass',
	$privileges_ok,
	'  ok    group role "app" is NOLOGIN',
	'  ok    login role "app_user_a" exists',
	'  ok    login role "app_user_a" is a member of "app"',
	'  ok    login role "app_user_a" has role set to "app"',
	'  ok    login role "app_user_a" is not SUPERUSER, REPLICATION or BYPASSRLS',
	'  ok    login role "app_user_a" owns no objects',
	'  ok    login role "app_user_b" exists');
has_lines($r, 'schema missing is a warning with the init command',
	'  WARN  state schema "pgrotate" present: not installed in database "appdb"',
	'        fix: Run "pgrotate init appdb".');
has_lines($r, 'sink, replicas, poolers, pg_stat_activity',
	qq(  ok    file sink "$dir/appdb.env" writable),
	'  ok    app path asks for the password on primary',
	'  skip  replicas: none configured',
	'  skip  poolers: none configured',
	'  ok    pg_stat_activity of other roles visible',
	'appdb: 28 ok, 1 warning, 0 failed');

# ---- all pass once the schema exists ----
$node->safe_psql('CREATE SCHEMA pgrotate', dbname => 'appdb');
$r = check();
exit_is($r, 0, 'all pass');
has_lines($r, 'schema present', '  ok    state schema "pgrotate" present');
has_lines($r, 'schema trusted', q{  ok    state schema "pgrotate" is the admin's own});
has_lines($r, 'summary', 'appdb: 30 ok, 0 warnings, 0 failed');
unlike($r->{stdout}, qr/^  (?:FAIL|WARN)/m, 'no FAIL or WARN item');

# ---- the admin cannot connect: libpq's message, never the password ----
{
	my $wrong = 'WrongPw' . random_password(20);
	my $bad = $node->write_pgpass("$dir/pgpass_bad", [ [ 'pgrotate_admin', $wrong ] ]);
	$r = check(env => { PGPASSFILE => $bad });
	exit_is($r, 1, 'wrong admin password');
	like($r->{stdout},
		qr/^  FAIL  admin connects: primary: could not connect: .*password authentication failed for user "pgrotate_admin"(?:; password retrieved from file "\Q$bad\E")?$/m,
		'admin connects fails with the libpq message');
	has_lines($r, 'server items skipped',
		'  skip  server version: the admin cannot connect',
		'  skip  admin privileges: the admin cannot connect',
		'  skip  group and login roles: the admin cannot connect',
		'  skip  state schema "pgrotate" present: the admin cannot connect');
	has_lines($r, 'pg_stat_activity skipped',
		'  skip  pg_stat_activity of other roles visible: the admin cannot connect');
	has_lines($r, 'summary', 'appdb: 5 ok, 0 warnings, 1 failed');
	assert_no_secret_in([ $wrong, $admin_pw ],
		{ stdout => $r->{stdout}, stderr => $r->{stderr} });
}

# ---- the group role can log in ----
$node->safe_psql('ALTER ROLE app LOGIN');
$r = check();
exit_is($r, 1, 'group role LOGIN');
has_lines($r, 'group LOGIN fails with the fix',
	'  FAIL  group role "app" is NOLOGIN: role "app" can log in: applications may log in as it',
	'        fix: Run "pgrotate init appdb --adopt-group": it moves those applications to the login roles with zero downtime, then makes "app" NOLOGIN.');
unlike($r->{stdout}, qr/fix: ALTER ROLE "app" NOLOGIN/, 'never a fix that would lock out the applications that log in as the group');
$node->safe_psql('ALTER ROLE "app" NOLOGIN;');
exit_is(check(), 0, 'after the fix');

# ---- a login role is missing (before init) ----
$node->safe_psql('DROP ROLE app_user_b');
$r = check();
exit_is($r, 1, 'login role missing');
has_lines($r, 'missing role fails with the init command',
	'  FAIL  login role "app_user_b" exists: role "app_user_b" does not exist',
	'        fix: Run "pgrotate init appdb".');
$node->safe_psql("CREATE ROLE app_user_b NOLOGIN; GRANT app TO app_user_b; ALTER ROLE app_user_b SET role = 'app';");
$node->grant_admin_option('pgrotate_admin', 'app_user_b');

# ---- not a member of the group ----
$node->safe_psql('REVOKE app FROM app_user_b');
$r = check();
exit_is($r, 1, 'not a member');
has_lines($r, 'membership fails with the GRANT',
	'  FAIL  login role "app_user_b" is a member of "app": "app_user_b" is not a member of "app"',
	'        fix: Run as the target\'s admin or as a superuser:',
	'        fix: GRANT "app" TO "app_user_b"' . ($pg16 ? ' WITH INHERIT TRUE, SET TRUE' : '') . ';');
$node->safe_psql('GRANT "app" TO "app_user_b";');
$r = check();
exit_is($r, 0, 'after the GRANT');
has_lines($r, 'membership passes', '  ok    login role "app_user_b" is a member of "app"');

# ---- no "SET role", then a wrong one ----
$node->safe_psql('ALTER ROLE app_user_b RESET role');
$r = check();
exit_is($r, 1, 'no role setting');
has_lines($r, 'role setting fails with the ALTER ROLE',
	'  FAIL  login role "app_user_b" has role set to "app": "app_user_b" has no role setting',
	'        fix: Run as the target\'s admin or as a superuser:',
	qq(        fix: ALTER ROLE "app_user_b" SET role = 'app';));
$node->safe_psql(q(ALTER ROLE app_user_b SET role = 'app_user_a';
	ALTER ROLE app_user_a IN DATABASE appdb SET role = 'app_user_b';));
$r = check();
exit_is($r, 1, 'wrong role settings');
has_lines($r, 'a setting for all databases naming another role',
	'  FAIL  login role "app_user_b" has role set to "app": role is set to "app_user_a", not "app"',
	'        fix: Run as the target\'s admin or as a superuser:',
	qq(        fix: ALTER ROLE "app_user_b" SET role = 'app';));
has_lines($r, 'a per-database setting overriding it',
	'  FAIL  login role "app_user_a" has role set to "app": role is set to "app_user_b" in database "appdb"',
	'        fix: Run as the target\'s admin or as a superuser:',
	'        fix: ALTER ROLE "app_user_a" IN DATABASE "appdb" RESET role;');
$node->safe_psql(q(ALTER ROLE "app_user_b" SET role = 'app';
	ALTER ROLE "app_user_a" IN DATABASE "appdb" RESET role;));
exit_is(check(), 0, 'after the fixes');

# ---- SUPERUSER, BYPASSRLS, REPLICATION login roles ----
for my $attr (qw(SUPERUSER BYPASSRLS REPLICATION))
{
	$node->safe_psql("ALTER ROLE app_user_a $attr");
	$r = check();
	exit_is($r, 1, "$attr login role");
	has_lines($r, "$attr fails with the fix",
		qq(  FAIL  login role "app_user_a" is not SUPERUSER, REPLICATION or BYPASSRLS: "app_user_a" has $attr (only a superuser can run the fix)),
		'        fix: Run as a superuser:',
		qq(        fix: ALTER ROLE "app_user_a" NO$attr;));
	$node->safe_psql("ALTER ROLE app_user_a NO$attr");
}
$node->safe_psql('ALTER ROLE app_user_b SUPERUSER BYPASSRLS');
$r = check();
has_lines($r, 'several attributes in one fix',
	'  FAIL  login role "app_user_b" is not SUPERUSER, REPLICATION or BYPASSRLS: "app_user_b" has SUPERUSER, BYPASSRLS (only a superuser can run the fix)',
	'        fix: Run as a superuser:',
	'        fix: ALTER ROLE "app_user_b" NOSUPERUSER NOBYPASSRLS;');
$node->safe_psql('ALTER ROLE app_user_b NOSUPERUSER NOBYPASSRLS');
exit_is(check(), 0, 'attributes removed');

# ---- objects owned by a login role in the target database: a refusal ----
# (check does not know which login role the next cycle leaves active, so
# either one owning objects here fails; elsewhere only counts as a warning)
# (the serial's sequence goes with its table: counted and altered with it)
$node->safe_psql('CREATE TABLE owned_t (i serial); CREATE FUNCTION owned_f() RETURNS int LANGUAGE sql AS $$SELECT 1$$;'
	  . ' ALTER TABLE owned_t OWNER TO app_user_a; ALTER FUNCTION owned_f() OWNER TO app_user_a;',
	dbname => 'appdb');
$r = check();
exit_is($r, 1, 'owned objects in the target database');
has_lines($r, 'owned objects counted, with REASSIGN OWNED and each ALTER ... OWNER',
	'  FAIL  login role "app_user_a" owns no objects: 2 objects in database "appdb" (after a switch they belong to a role the applications no longer use, which they cannot alter)',
	'        fix: Run as a superuser:',
	'        fix: REASSIGN OWNED BY "app_user_a" TO "app";',
	'        fix: -- or object by object:',
	'        fix: ALTER FUNCTION public.owned_f() OWNER TO "app";',
	'        fix: ALTER TABLE public.owned_t OWNER TO "app";');
$node->safe_psql('CREATE TABLE other_t (i int); ALTER TABLE other_t OWNER TO app_user_a;');
$r = check();
exit_is($r, 1, 'owned objects in two databases');
has_lines($r, 'counted per database',
	'  FAIL  login role "app_user_a" owns no objects: 2 objects in database "appdb", 1 object in database "postgres" (after a switch they belong to a role the applications no longer use, which they cannot alter; run REASSIGN OWNED in each database)',
	'        fix: Run as a superuser:',
	'        fix: REASSIGN OWNED BY "app_user_a" TO "app";');
$node->safe_psql('DROP TABLE owned_t; DROP FUNCTION owned_f();', dbname => 'appdb');
$r = check();
exit_is($r, 0, 'owned objects only in another database');
has_lines($r, 'only a warning',
	'  WARN  login role "app_user_a" owns no objects: 1 object in database "postgres" (after a switch they belong to a role the applications no longer use, which they cannot alter)',
	'        fix: Run as a superuser:',
	'        fix: REASSIGN OWNED BY "app_user_a" TO "app";');
has_lines($r, 'summary with the warning', 'appdb: 29 ok, 1 warning, 0 failed');
$node->safe_psql('DROP TABLE other_t');

# ---- a name someone else chose reaches the terminal without its control
# characters: an escape sequence in a table name is shown as "?" ----
$node->safe_psql(q{CREATE TABLE "evil} . "\e" . q{[2Jname" (i int); ALTER TABLE "evil} . "\e"
	  . q{[2Jname" OWNER TO app_user_a;}, dbname => 'appdb');
is($node->safe_psql(q{SELECT count(*) FROM pg_class WHERE relname = E'evil\\x1b[2Jname'}, dbname => 'appdb'), '1',
	'a table whose name holds ESC [2J (clear screen) is owned by app_user_a');
$r = check();
exit_is($r, 1, 'the owned table refuses');
unlike($r->{stdout} . $r->{stderr}, qr/\e/, 'no ESC byte reaches the output');
has_lines($r, 'the name is shown with "?" for ESC', '        fix: ALTER TABLE public."evil?[2Jname" OWNER TO "app";');
$node->safe_psql(q{DROP TABLE "evil} . "\e" . q{[2Jname"}, dbname => 'appdb');

# ---- admin without CREATEROLE: the exact ALTER ROLE, which then works ----
$node->safe_psql('ALTER ROLE pgrotate_admin NOCREATEROLE');
$r = check();
exit_is($r, 1, 'admin without CREATEROLE');
has_lines($r, 'privileges fail with the exact fix',
	'  FAIL  admin privileges: "pgrotate_admin" lacks CREATEROLE',
	'        fix: Run as a superuser:',
	'        fix: ALTER ROLE "pgrotate_admin" CREATEROLE;');
{
	my ($fix) = $r->{stdout} =~ /^  FAIL  admin privileges: .*\n        fix: Run as a superuser:\n        fix: (.*)$/m;
	is($fix, 'ALTER ROLE "pgrotate_admin" CREATEROLE;', 'fix extracted from the output');
	$node->safe_psql($fix);
	$r = check();
	exit_is($r, 0, 'after applying the printed fix');
	has_lines($r, 'privileges pass', $privileges_ok);
}

# ---- admin not in pg_read_all_stats: a warning, then the GRANT ----
$node->safe_psql('REVOKE pg_read_all_stats FROM pgrotate_admin');
$r = check();
exit_is($r, 0, 'pg_stat_activity details hidden only warns');
has_lines($r, 'warning with the GRANT',
	q(  WARN  pg_stat_activity of other roles visible: "pgrotate_admin" is neither superuser nor a member of pg_read_all_stats: the drain counts other roles' sessions but cannot name their clients),
	'        fix: Run as a superuser:',
	'        fix: GRANT pg_read_all_stats TO "pgrotate_admin";');
{
	my ($fix) = $r->{stdout} =~ /^  WARN  pg_stat_activity .*\n        fix: Run as a superuser:\n        fix: (.*)$/m;
	$node->safe_psql($fix);
	$r = check();
	exit_is($r, 0, 'after the GRANT');
	has_lines($r, 'visible now', '  ok    pg_stat_activity of other roles visible');
	has_lines($r, 'no warnings left', 'appdb: 30 ok, 0 warnings, 0 failed');
}

# ---- file sinks: folder missing, a symlink ----
{
	my $missing = "$dir/no_such_folder";
	my $c = write_config("$dir/sink_missing.conf",
		target_config(node => $node, sink_path => "$missing/app.env"));
	$r = check(config => $c);
	exit_is($r, 1, 'sink folder missing');
	has_lines($r, 'sink folder missing fails with mkdir',
		qq(  FAIL  file sink "$missing/app.env" writable: folder "$missing" does not exist),
		"        fix: Run \"mkdir -p $missing\".");

	symlink("$dir/elsewhere.env", "$dir/link.env") or die "symlink: $!";
	$c = write_config("$dir/sink_link.conf",
		target_config(node => $node, sink_path => "$dir/link.env"));
	$r = check(config => $c);
	exit_is($r, 1, 'sink path is a symlink');
	has_lines($r, 'symlink refused',
		qq(  FAIL  file sink "$dir/link.env" writable: the path is a symlink (pgrotate never writes through one)));
}

# ---- replicas: unreachable, not a standby, a real hot standby ----
{
	my $noport = $node->port + 1;
	my $host = $node->host;
	my $c = write_config("$dir/replica_down.conf",
		target_config(node => $node,
			replicas => ["host=$host port=$noport dbname=appdb user=pgrotate_admin"]));
	$r = check(config => $c);
	exit_is($r, 1, 'replica unreachable');
	like($r->{stdout},
		qr/^  FAIL  replica "\Q$host:$noport\E" reachable: replica "\Q$host:$noport\E": could not connect: .*No such file or directory.*$/m,
		'unreachable replica fails with the libpq message');
	like($r->{stdout}, qr/No such file or directory\n {8}Is the server running locally/,
		'its second line is indented under the item, not joined to the first');

	$c = write_config("$dir/replica_primary.conf",
		target_config(node => $node, replicas => [$node]));
	$r = check(config => $c);
	exit_is($r, 1, 'replica that is not in recovery');
	has_lines($r, 'a primary is not a replica',
		sprintf('  FAIL  replica "%s:%d" reachable: not in recovery: this is a primary, not a hot standby',
			$node->host, $node->port));

	my $standby = $node->backup_replica('standby');
	$standby->start;
	$node->wait_for_catchup($standby);
	$node->write_pgpass($pgpass, [ [ 'pgrotate_admin', $admin_pw ] ]);
	$standby->write_pgpass($pgpass, [ [ 'pgrotate_admin', $admin_pw ] ], append => 1);
	$c = write_config("$dir/replica_ok.conf",
		target_config(node => $node, replicas => [$standby]));
	$r = check(config => $c);
	exit_is($r, 0, 'hot standby');
	like($r->{stdout},
		qr/^  ok    replica "\Q$standby->{host}:$standby->{port}\E" reachable: in recovery, (?:replay lag \d+\.\ds|no transaction replayed yet)$/m,
		'standby reachable, lag reported');
	$standby->teardown;
}

# ---- poolers: unreachable ----
{
	my $c = write_config("$dir/pooler_down.conf",
		target_config(node => $node,
			poolers => [ sprintf('host=%s port=%d dbname=pgbouncer user=pgrotate_admin', $node->host, $node->port + 2) ]));
	$r = check(config => $c);
	exit_is($r, 1, 'pooler unreachable');
	like($r->{stdout}, qr/^  FAIL  pooler "\Q${\ $node->host}:${\ ($node->port + 2)}\E" reachable: pooler .*could not connect: /m,
		'unreachable pooler fails');
}

# ---- identifiers that need quoting; all targets when none is named ----
{
	my $odd = target_block(node => $node, target => 'odd', group_role => 'App "Grp"',
		roles => [ 'odd a', 'odd b' ], sink_path => "$dir/odd.json", sink_format => 'json');
	my $c = write_config("$dir/two.conf", target_config(node => $node, extra_targets => $odd));
	$node->safe_psql(q(CREATE ROLE "App ""Grp""" LOGIN));
	$r = check(config => $c, targets => []);
	exit_is($r, 1, 'all targets, one failing');
	has_lines($r, 'first target passes', 'appdb: 30 ok, 0 warnings, 0 failed');
	has_lines($r, 'quoted group role and its fix',
		'  FAIL  group role "App ""Grp""" is NOLOGIN: role "App ""Grp""" can log in: applications may log in as it',
		'        fix: Run "pgrotate init odd --adopt-group": it moves those applications to the login roles with zero downtime, then makes "App ""Grp""" NOLOGIN.');
	has_lines($r, 'quoted login role',
		'  FAIL  login role "odd a" exists: role "odd a" does not exist',
		'        fix: Run "pgrotate init odd".');
	like($r->{stdout}, qr/^target appdb:\n(?:.*\n)+\ntarget odd:\n/m, 'both targets, in file order');
	$node->safe_psql(q(DROP ROLE "App ""Grp"""));
}

# ---- unknown target, broken configuration: exit 2 ----
$r = check(targets => ['nosuch']);
exit_is($r, 2, 'unknown target');
like($r->{stderr}, qr/unknown target "nosuch"/, 'unknown target named on stderr');
is($r->{stdout}, '', 'nothing checked for an unknown target');

{
	my $c = write_config("$dir/broken.conf", "targets = { appdb = { admin = 42; }; };\n");
	$r = check(config => $c);
	exit_is($r, 2, 'invalid configuration');
	has_lines($r, 'config item fails',
		'target appdb:', qq(  FAIL  config valid: "$c" did not load (see the errors on stderr)),
		'appdb: 0 ok, 0 warnings, 1 failed');
	like($r->{stderr}, qr/\Q$c\E:1: /, 'the configuration error names file and line');

	$r = check(config => $c, targets => []);
	exit_is($r, 2, 'invalid configuration, no target named');
	has_lines($r, 'config item for the file',
		"config $c:", qq(  FAIL  config valid: "$c" did not load (see the errors on stderr)),
		'config: 0 ok, 0 warnings, 1 failed');
}

# ---- the admin's password never reached the server log ----
assert_no_secret_in([$admin_pw], { 'server log' => $node->log_content });

$node->teardown;

done_testing();
