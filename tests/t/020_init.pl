# pgrotate init: from nothing, idempotent, over a live role, refusals,
# --print-sql; all as a non-superuser (CREATEROLE) admin.
use strict;
use warnings;
use Test::More;
use PgRotateTest;
use PgRotateSetup;

my $t = setup_target();
my $node = $t->{node};

# --print-sql shows the DDL and changes nothing.
my $r = pgr($t, 'init', 'appdb', '--print-sql');
is($r->{exit}, 0, 'init --print-sql exits 0');
like($r->{stdout}, qr/CREATE ROLE "app" NOLOGIN;/, 'prints CREATE ROLE of the group');
like($r->{stdout}, qr/GRANT "app" TO "app_user_a";\nALTER ROLE "app_user_a" SET role = 'app';/, 'prints membership and SET role');
like($r->{stdout}, qr/CREATE TABLE pgrotate\.state/, 'prints the state schema');
is($node->safe_psql("SELECT count(*) FROM pg_roles WHERE rolname IN ('app', 'app_user_a', 'app_user_b')"),
	'0', '--print-sql created no role');

# init from nothing.
my $initpos = $t->{node}->log_position;
$r = pgr($t, 'init', 'appdb');
is($r->{exit}, 0, 'init exits 0') or diag($r->{stderr});
is(join("\n", grep { / (ERROR|FATAL): / } split /\n/, $t->{node}->log_since($initpos)), '',
	'init from nothing leaves no ERROR in the server log (it does not try a lock before the schema exists)');
is($node->safe_psql("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'app'"), 'f', 'group role is NOLOGIN');
is(role_row($node, 'app_user_a'), 't|t', 'role A can log in with a password');
is(role_row($node, 'app_user_b'), 'f|f', 'role B is NOLOGIN without a password');
is($node->safe_psql("SELECT string_agg(u.rolname, ',' ORDER BY u.rolname) FROM pg_auth_members m"
		. " JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE g.rolname = 'app'"
		. " AND u.rolname <> 'pgrotate_admin'"),    # 16+: the creator's implicit ADMIN OPTION grant
	'app_user_a,app_user_b', 'both login roles are members of the group');
is((stat $t->{sink})[2] & 07777, 0600, 'the sink file is 0600');
my ($user, $pw) = read_env_sink($t->{sink});
is($user, 'app_user_a', 'the sink hands out role A');
like($pw, qr/^[A-Za-z0-9]{32}$/, 'the password is 32 alphanumerics');
is(slurp_file($t->{sink}), "PGUSER=app_user_a\nPGPASSWORD=$pw\n", 'env sink is exactly two lines');
is(current_users($node, $user, $pw), 'app_user_a|app', 'the credential logs in; current_user is the group');

$node->safe_psql('GRANT CREATE ON SCHEMA public TO app', dbname => 'appdb');
$node->safe_psql('CREATE TABLE public.t1 (x int)', user => $user, password => $pw, dbname => 'appdb');
is($node->safe_psql("SELECT tableowner FROM pg_tables WHERE tablename = 't1'", dbname => 'appdb'),
	'app', 'a table created through the credential is owned by the group');
is($node->safe_psql("SELECT phase || '|' || active_role || '|' || generation FROM pgrotate.state WHERE target = 'appdb'",
		dbname => 'appdb'), 'idle|app_user_a|1', 'state: idle, active A, generation 1');
is($node->safe_psql("SELECT pgrotate.active_role('appdb')", user => $user, password => $pw, dbname => 'appdb'),
	'app_user_a', 'the application may ask pgrotate.active_role()');
ok(!-e test_dir() . '/state/appdb.pending', 'no pending file after publish');

# Second init: a no-op that says so.
my $hist = $node->safe_psql('SELECT count(*) FROM pgrotate.history', dbname => 'appdb');
my $before = slurp_file($t->{sink});
$r = pgr($t, 'init', 'appdb');
is($r->{exit}, 0, 'second init exits 0');
like($r->{stderr}, qr/nothing to do: target "appdb" is initialised \(active role "app_user_a", generation 1/, 'second init says nothing to do');
is(slurp_file($t->{sink}), $before, 'second init left the sink alone');
is($node->safe_psql('SELECT count(*) FROM pgrotate.history', dbname => 'appdb'), $hist, 'and wrote no history');
ok(login_works($node, $user, $pw), 'the credential still logs in');

# active
$r = pgr($t, 'active', 'appdb');
is($r->{stdout}, "app_user_a\n", 'active prints the role');
$r = pgr($t, 'active', 'appdb', '--format=env');
is($r->{stdout}, "PGUSER=app_user_a\n", 'active --format=env prints PGUSER only');
$r = pgr($t, 'active', 'appdb', '--format=json');
like($r->{stdout}, qr/^\{"target":"appdb","role":"app_user_a","generation":1,"rotated_at":"\d{4}-\d\d-\d\dT[\d:]+Z"\}$/, 'active --format=json');
$r = pgr($t, 'active', 'appdb', '--format=env', '--with-password');
is($r->{stdout}, "PGUSER=app_user_a\nPGPASSWORD=$pw\n", 'active --with-password reads the sink');

# Every active format, with and without --with-password: the password only
# with it, and then the right one (the uri logs in through libpq).
{
	use JSON::PP;
	my $uri_login = sub {
		my ($uri) = @_;
		my ($rc, $out) = PgRotateTest::_run([ PgRotateTest::_pgbin('psql'), '-X', '-w', '-A', '-t',
				'-c', 'SELECT session_user', '-d', $uri ],
			env => { PGPASSWORD => undef, PGPASSFILE => '/nonexistent', PGSERVICEFILE => undef });
		chomp $out;
		return $rc == 0 ? $out : "failed ($rc)";
	};
	for my $with (0, 1)
	{
		my @pw = $with ? ('--with-password') : ();
		my $how = $with ? 'with --with-password' : 'without --with-password';
		my %out;
		for my $f (qw(role env json uri))
		{
			$r = pgr($t, 'active', 'appdb', "--format=$f", @pw);
			is($r->{exit}, 0, "active --format=$f $how exits 0") or diag($r->{stderr});
			$out{$f} = $r->{stdout};
			is(index($r->{stdout}, $pw) >= 0 ? 1 : 0, ($with && $f ne 'role') ? 1 : 0,
				"active --format=$f $how: " . (($with && $f ne 'role') ? 'prints the password' : 'no password'));
			unlike($r->{stderr}, qr/\Q$pw\E/, "active --format=$f $how: no password on stderr");
		}
		is($out{role}, "app_user_a\n", "role $how: the role alone");
		is($out{env}, "PGUSER=app_user_a\n" . ($with ? "PGPASSWORD=$pw\n" : ''), "env $how");
		my $doc = eval { JSON::PP->new->decode($out{json}) } // {};
		is(join('|', map { $doc->{$_} // 'none' } qw(target role generation password)),
			'appdb|app_user_a|1|' . ($with ? $pw : 'none'), "json $how: target, role, generation, password");
		like($out{uri}, $with ? qr{^postgresql://app_user_a:\Q$pw\E@} : qr{^postgresql://app_user_a@},
			"uri $how: " . ($with ? 'user:password@' : 'user@, no password'));
		is($uri_login->($out{uri}), $with ? 'app_user_a' : 'failed (2)',
			$with ? 'the uri with the password logs in as the active role'
			: 'the uri without the password does not log in by itself');
	}
}

# Global options after the command, against the real server: the config
# given there is the one used.
$r = run_pgrotate(args => [ 'status', 'appdb', '-c', $t->{conf}, '--format=json' ], env => $t->{env});
is($r->{exit}, 0, 'status appdb -c FILE: exit 0 (OK)') or diag($r->{stderr});
like($r->{stdout}, qr/"active_role":"app_user_a"/, 'status appdb -c FILE: reports the target of that config');
$r = run_pgrotate(args => [ 'active', '--format=env', 'appdb', '--config', $t->{conf}, '-q' ], env => $t->{env});
is($r->{stdout}, "PGUSER=app_user_a\n", 'active ... --config FILE -q: the active role');

# Refusals, on a second target in the same database.
sub second_target
{
	my (%o) = @_;
	my $conf = test_dir() . '/second.conf';
	write_config($conf, target_config(node => $node, target => 'other', sink_path => test_dir() . '/other.env', %o));
	return run_pgrotate(args => [ 'init', 'other' ], config => $conf, env => $t->{env});
}
$node->safe_psql('CREATE ROLE legacy LOGIN');
$r = second_target(group_role => 'legacy', roles => [ 'o_a', 'o_b' ]);
is($r->{exit}, 1, 'init refuses a group role that can log in');
like($r->{stderr}, qr/group role "legacy" can log in/, '... and says why');
like($r->{stderr}, qr/--adopt-group/, '... and names the way out');
is($node->safe_psql("SELECT count(*) FROM pg_roles WHERE rolname IN ('o_a', 'o_b')"), '0', '... and created nothing');

$node->safe_psql('CREATE ROLE o_bypass NOLOGIN BYPASSRLS');
$r = second_target(group_role => 'ogroup', roles => [ 'o_bypass', 'o_b' ]);
is($r->{exit}, 1, 'init refuses a BYPASSRLS login role');
like($r->{stderr}, qr/login role "o_bypass" is BYPASSRLS/, '... naming it');

$r = second_target(group_role => 'app2', roles => [ 'app_user_a', 'x_b' ]);
is($r->{exit}, 1, 'init refuses a role that another target uses');
like($r->{stderr}, qr/target "appdb" already uses one of the roles/, '... naming that target');

# init over a live role A: never changes its password; B is published and
# A is left to drain.
$node->safe_psql("CREATE ROLE live_a LOGIN PASSWORD 'legacy-secret-pw-123'");
$node->grant_admin_option('pgrotate_admin', 'live_a');
my $conf3 = test_dir() . '/live.conf';
my $sink3 = test_dir() . '/live.env';
write_config($conf3, target_config(node => $node, target => 'live', group_role => 'live_grp',
		roles => [ 'live_a', 'live_b' ], sink_path => $sink3));
my $hold = $node->background_session(user => 'live_a', password => 'legacy-secret-pw-123',
	dbname => 'appdb', application_name => 'legacy-app');
my $verifier = $node->safe_psql("SELECT rolpassword FROM pg_authid WHERE rolname = 'live_a'");
$r = run_pgrotate(args => [ 'init', 'live' ], config => $conf3, env => $t->{env});
is($r->{exit}, 0, 'init over a live role exits 0') or diag($r->{stderr});
is($node->safe_psql("SELECT rolpassword FROM pg_authid WHERE rolname = 'live_a'"), $verifier,
	'the live role keeps its password');
ok(login_works($node, 'live_a', 'legacy-secret-pw-123'), 'and still logs in');
my ($u3, $p3) = read_env_sink($sink3);
is($u3, 'live_b', 'role B is published');
ok(login_works($node, $u3, $p3), 'and logs in');
is($node->safe_psql("SELECT phase FROM pgrotate.state WHERE target = 'live'", dbname => 'appdb'),
	'draining', 'the live role is left draining');
like($r->{stderr}, qr/role "live_a" was in use/, 'init says the live role drains later');
$hold->quit;
$r = run_pgrotate(args => [ 'cycle', 'live' ], config => $conf3, env => $t->{env});
is($r->{exit}, 0, 'a cycle finishes the drain');
is(role_row($node, 'live_a'), 'f|f', 'the legacy role is revoked once drained');

done_testing();
