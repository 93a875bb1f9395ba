# What the admin may do beyond managing roles (issue 14, item 3): CREATE on
# the database before init, pg_signal_backend for --emergency and the
# terminate policy. For each: check names the GRANT, the next command
# refuses before changing anything, and the GRANT fixes it.
use strict;
use warnings;
use Test::More;
use PgRotateTest;
use PgRotateSetup;

my $node = PgRotateTest::Cluster->new('primary');
$node->start;
$node->create_database('appdb');
# An admin with CREATEROLE only: no CREATE on appdb, no pg_signal_backend.
my $t = setup_target(node => $node, admin_password => undef);
my $pw = $node->create_admin('pgrotate_admin', createrole => 1);
$node->write_pgpass($t->{pgpass}, [ [ 'pgrotate_admin', $pw ] ]);

sub roles { $node->safe_psql("SELECT string_agg(rolname || ':' || rolcanlogin, ',' ORDER BY rolname) FROM pg_authid WHERE rolname LIKE 'app%'") }

# 1. CREATE on the database, before init.
my $r = pgr($t, 'check', 'appdb');
is($r->{exit}, 1, 'check fails without CREATE on the database');
like($r->{stdout}, qr/^  FAIL  admin may create the state schema in database "appdb" \(for init\): "pgrotate_admin" has no CREATE privilege on database "appdb"\n        fix: Run as a superuser or as the owner of the database:\n        fix: GRANT CREATE ON DATABASE appdb TO pgrotate_admin;$/m,
	'check names the GRANT');
like($r->{stdout}, qr/^  WARN  admin may terminate sessions \(pg_signal_backend\): .*\n        fix: Run as a superuser:\n        fix: GRANT pg_signal_backend TO pgrotate_admin;$/m,
	'pg_signal_backend is a warning under the fail policy, with its GRANT');
my $roles = roles();
$r = pgr($t, 'init', 'appdb');
is($r->{exit}, 1, 'init refuses');
like($r->{stderr}, qr/the admin may not create the pgrotate schema in the database of target "appdb"; nothing was changed\nHINT: Run as a superuser or as the owner of the database:\n {6}GRANT CREATE ON DATABASE appdb TO pgrotate_admin;/,
	'init names the GRANT');
is(roles(), $roles, 'init changed no role');
is($node->safe_psql("SELECT count(*) FROM pg_namespace WHERE nspname = 'pgrotate'", dbname => 'appdb'), '0',
	'and created no schema');
$node->safe_psql('GRANT CREATE ON DATABASE appdb TO pgrotate_admin');
$r = pgr($t, 'init', 'appdb');
is($r->{exit}, 0, 'the GRANT fixes it') or diag($r->{stderr});
$r = pgr($t, 'check', 'appdb');
like($r->{stdout}, qr/^  ok    admin may read and write the state schema$/m, 'after init, check looks at the schema rights instead');
unlike($r->{stdout}, qr/admin may create the state schema/, 'and no longer at CREATE');

# 2. pg_signal_backend: --emergency and the terminate policy refuse up front.
my $state = sub { $node->safe_psql('SELECT generation, phase FROM pgrotate.state', dbname => 'appdb') };
my $before = roles() . ' ' . $state->();
$r = pgr($t, 'cycle', 'appdb', '--emergency');
is($r->{exit}, 1, 'cycle --emergency refuses without pg_signal_backend');
like($r->{stderr}, qr/--emergency terminates sessions, but the admin of target "appdb" may not \(pg_signal_backend\); nothing was changed\nHINT: Run as a superuser:\n {6}GRANT pg_signal_backend TO pgrotate_admin;/,
	'it names the GRANT');
is(roles() . ' ' . $state->(), $before, 'no role or state changed');

my $tconf = test_dir() . '/terminate.conf';
write_config($tconf, target_config(node => $node, sink_path => $t->{sink},
		defaults => { on_drain_timeout => 'terminate' }));
$r = run_pgrotate(args => [ 'check', 'appdb' ], config => $tconf, env => $t->{env});
is($r->{exit}, 1, 'check fails under the terminate policy');
like($r->{stdout}, qr/^  FAIL  admin may terminate sessions \(pg_signal_backend\): "pgrotate_admin" is not a member of pg_signal_backend, and on_drain_timeout = "terminate" needs it$/m,
	'it says why');
$r = run_pgrotate(args => [ 'cycle', 'appdb' ], config => $tconf, env => $t->{env});
is($r->{exit}, 1, 'cycle under the terminate policy refuses');
like($r->{stderr}, qr/on_drain_timeout = "terminate" terminates sessions/, 'naming the policy');
is(roles() . ' ' . $state->(), $before, 'nothing changed');

$node->safe_psql('GRANT pg_signal_backend TO pgrotate_admin');
$r = pgr($t, 'cycle', 'appdb', '--emergency');
is($r->{exit}, 0, 'after the GRANT, cycle --emergency runs') or diag($r->{stderr});
$r = run_pgrotate(args => [ 'check', 'appdb' ], config => $tconf, env => $t->{env});
like($r->{stdout}, qr/^  ok    admin may terminate sessions \(pg_signal_backend\)$/m, 'and check passes the item');

# 3. The rights on the state schema (an admin whose UPDATE on the state
#    table was revoked, as by a second admin's setup gone wrong).
$node->safe_psql('REVOKE UPDATE ON pgrotate.state FROM pgrotate_admin', dbname => 'appdb');
$r = pgr($t, 'check', 'appdb');
is($r->{exit}, 1, 'check fails without the schema rights');
like($r->{stdout}, qr/^  FAIL  admin may read and write the state schema: .*\n        fix: Run as the schema's owner \(or run pgrotate as the admin that ran init\):\n        fix: GRANT USAGE ON SCHEMA pgrotate TO pgrotate_admin;\n        fix: GRANT SELECT, INSERT, UPDATE ON pgrotate.state TO pgrotate_admin;/m,
	'it names the GRANTs');
$before = roles() . ' ' . $state->();
$r = pgr($t, 'cycle', 'appdb');
is($r->{exit}, 1, 'a cycle fails');
like($r->{stderr}, qr/permission denied for table state/, 'on the lock, with the server\'s error');
like($r->{stderr}, qr/\nHINT: The admin lacks rights on the pgrotate schema \("pgrotate check appdb" names them\)\.\n {6}Run as the schema's owner \(or run pgrotate as the admin that ran init\):\n {6}GRANT USAGE ON SCHEMA pgrotate TO pgrotate_admin;\n {6}GRANT SELECT, INSERT, UPDATE ON pgrotate.state TO pgrotate_admin;/,
	'and the HINT names the GRANTs check prints');
is(roles() . ' ' . $state->(), $before, 'before anything changed');
$node->safe_psql('GRANT UPDATE ON pgrotate.state TO pgrotate_admin', dbname => 'appdb');
$r = pgr($t, 'check', 'appdb');
like($r->{stdout}, qr/^  ok    admin may read and write the state schema$/m, 'the GRANT fixes it');
$r = pgr($t, 'cycle', 'appdb');
is($r->{exit}, 0, 'and the cycle runs') or diag($r->{stderr});

# 4. USAGE on the schema revoked: check names the GRANT; cycle, status and
#    active refuse with it before anything changes; the GRANT fixes it.
my $gen = $node->safe_psql('SELECT generation FROM pgrotate.state', dbname => 'appdb');
$node->safe_psql('REVOKE USAGE ON SCHEMA pgrotate FROM pgrotate_admin', dbname => 'appdb');
$r = pgr($t, 'check', 'appdb');
is($r->{exit}, 1, 'check fails without USAGE on the schema');
like($r->{stdout}, qr/^  FAIL  admin may read and write the state schema: .*\n        fix: Run as the schema's owner \(or run pgrotate as the admin that ran init\):\n        fix: GRANT USAGE ON SCHEMA pgrotate TO pgrotate_admin;/m,
	'it names GRANT USAGE ON SCHEMA');
$before = roles();
$r = pgr($t, 'cycle', 'appdb');
is($r->{exit}, 1, 'a cycle refuses');
like($r->{stderr}, qr/permission denied for schema pgrotate/, 'with the server\'s error');
like($r->{stderr}, qr/\nHINT: The admin lacks rights on the pgrotate schema \("pgrotate check appdb" names them\)\.\n {6}Run as the schema's owner \(or run pgrotate as the admin that ran init\):\n {6}GRANT USAGE ON SCHEMA pgrotate TO pgrotate_admin;/,
	'and the HINT names the GRANT');
is(roles(), $before, 'no role changed');
is($node->safe_psql('SELECT generation FROM pgrotate.state', dbname => 'appdb'), $gen, 'nor the state');
$r = pgr($t, 'status', 'appdb');
like($r->{stdout}, qr/cannot read the state: .*permission denied for schema pgrotate.*\n\s+HINT: The admin lacks rights on the pgrotate schema \("pgrotate check appdb" names them\)\.\n\s+Run as the schema's owner \(or run pgrotate as the admin that ran init\):\n\s+GRANT USAGE ON SCHEMA pgrotate TO pgrotate_admin;/,
	'status says so with the GRANT');
like($r->{stdout}, qr/^ {19}HINT: The admin lacks rights/m, 'the HINT is its own line under the problem');
{
	require JSON::PP;
	my $j = pgr($t, 'status', 'appdb', '--format=json');
	my $doc = eval { JSON::PP::decode_json($j->{stdout}) } // {};
	my ($p) = grep { ($_->{message} // '') =~ /cannot read the state/ } @{ $doc->{targets}[0]{problems} // [] };
	like($p->{hint} // '', qr/^The admin lacks rights on the pgrotate schema .*\nRun as the schema's owner/s,
		'status json: the hint is the problem\'s own field') or diag($j->{stdout});
	unlike($p->{message} // '', qr/HINT|\(hint:/, 'and not in its message');
}
$r = pgr($t, 'active', 'appdb');
is($r->{exit}, 1, 'active fails');
like($r->{stderr}, qr/\nHINT: The admin lacks rights on the pgrotate schema \("pgrotate check appdb" names them\)\.\n {6}Run as the schema's owner \(or run pgrotate as the admin that ran init\):\n {6}GRANT USAGE ON SCHEMA pgrotate TO pgrotate_admin;/,
	'with the GRANT');
for my $cmd ([ 'history', 'appdb' ], [ 'revoke', 'appdb', 'app_user_b' ])
{
	$r = pgr($t, @$cmd);
	is($r->{exit}, 1, "$cmd->[0] fails");
	like($r->{stderr}, qr/permission denied for schema pgrotate.*\nHINT: The admin lacks rights on the pgrotate schema \("pgrotate check appdb" names them\)\.\n {6}Run as the schema's owner \(or run pgrotate as the admin that ran init\):\n {6}GRANT USAGE ON SCHEMA pgrotate TO pgrotate_admin;/,
		"$cmd->[0] names the GRANT");
}
is(roles(), $before, 'and revoke changed no role');
$node->safe_psql('GRANT USAGE ON SCHEMA pgrotate TO pgrotate_admin', dbname => 'appdb');
$r = pgr($t, 'check', 'appdb');
like($r->{stdout}, qr/^  ok    admin may read and write the state schema$/m, 'the GRANT fixes check');
$r = pgr($t, 'cycle', 'appdb');
is($r->{exit}, 0, 'and the cycle runs') or diag($r->{stderr});
is($node->safe_psql('SELECT generation FROM pgrotate.state', dbname => 'appdb'), $gen + 1, 'to the next generation');

done_testing();
