# pgrotate init --adopt-group: an application that logs in as the role
# that owns everything is migrated to two login roles with no failed login,
# while a session stays on the legacy role; drain timeout and resume, the
# terminate policy, refusals, --print-sql. As a CREATEROLE admin.
use strict;
use warnings;
use Test::More;
use PgRotateTest;
use PgRotateSetup;

my $t = setup_target(config_opts => { defaults => { min_overlap => '2s', drain_timeout => '40s' } });
my $node = $t->{node};
my $dir = test_dir();
my @secrets;

# A legacy deployment: "app" logs in and owns the application's objects.
sub legacy_role
{
	my ($role, $pw, $table) = @_;
	my $q = PgRotateTest::quote_ident($role);
	$node->safe_psql("CREATE ROLE $q LOGIN");
	$node->grant_admin_option('pgrotate_admin', $role);    # 16+: as check prints
	$node->set_password($role, $pw);
	$node->safe_psql("GRANT CREATE ON SCHEMA public TO $q", dbname => 'appdb');
	$node->safe_psql("CREATE TABLE public.$table (id int PRIMARY KEY, note text);"
		  . " INSERT INTO public.$table VALUES (1, 'legacy');"
		  . " CREATE VIEW public.${table}_v AS SELECT id FROM public.$table;",
		user => $role, password => $pw, dbname => 'appdb');
}
my $legacy_pw = random_password(24);
push @secrets, $legacy_pw;
legacy_role('app', $legacy_pw, 'orders');

# The application: logs in with what the sink holds, else the legacy
# credential, and uses its table. Every attempt is recorded.
my @attempts;
sub app_login
{
	my ($user, $pw) = -e $t->{sink} ? read_env_sink($t->{sink}) : ('app', $legacy_pw);
	my ($rc, $out, $err) = $node->psql('SELECT count(*) FROM public.orders', user => $user,
		password => $pw, dbname => 'appdb');
	push @attempts, { user => $user, ok => ($rc == 0 && $out =~ /^[0-9]+$/), err => $err };
	return $rc == 0;
}
sub failed_attempts { return grep { !$_->{ok} } @attempts; }

ok(app_login(), 'the legacy application logs in before the migration');

# --print-sql names the final step and changes nothing.
my $r = pgr($t, 'init', 'appdb', '--adopt-group', '--print-sql');
is($r->{exit}, 0, 'init --adopt-group --print-sql exits 0');
like($r->{stdout}, qr/GRANT "app" TO "app_user_a";/, 'prints the membership');
unlike($r->{stdout}, qr/CREATE ROLE "app"/, 'does not create the existing group');
like($r->{stdout}, qr/sessions have ended:\nALTER ROLE "app" NOLOGIN PASSWORD NULL;/,
	'prints the final revoke of the group');
is(role_row($node, 'app'), 't|t', '--print-sql changed nothing');

# Without --adopt-group, init refuses (as before).
$r = pgr($t, 'init', 'appdb');
is($r->{exit}, 1, 'plain init refuses a group that can log in');
like($r->{stderr}, qr/--adopt-group/, '... pointing to --adopt-group');

# The migration, with a legacy session held throughout.
my $held = $node->background_session(user => 'app', password => $legacy_pw, dbname => 'appdb',
	application_name => 'legacy-app');
my $run = start_pgrotate(args => [ 'init', 'appdb', '--adopt-group' ], config => $t->{conf},
	env => $t->{env}, timeout => 90);
poll_until(sub { app_login(); -e $t->{sink} && $run->stderr =~ /draining "app": sessions primary 1/ },
	timeout => 30, what => 'the first credential to be published and the group to drain');
my ($ua, $pa) = read_env_sink($t->{sink});
push @secrets, $pa;
is($ua, 'app_user_a', 'role A is published');
ok($run->is_running, 'init waits for the legacy session');
is(role_row($node, 'app'), 't|t', 'the group still logs in with its password while it drains');
like($run->stderr, qr/legacy-app/, 'the drain names the legacy session');
is($held->query_safe('SELECT count(*) FROM public.orders'), '1', 'the legacy session keeps working');
is(current_users($node, $ua, $pa), 'app_user_a|app', 'the new credential works as the group');
ok(app_login(), 'the application logs in with the published credential');
# Past min_overlap, the held session alone keeps the group valid.
poll_until(sub {
		app_login();
		$node->safe_psql("SELECT now() - min(at) > interval '3 s' FROM pgrotate.history"
			  . " WHERE target = 'appdb' AND event = 'published'", dbname => 'appdb') eq 't';
	}, timeout => 30, what => 'min_overlap to pass since the publish');
ok($run->is_running, 'after min_overlap init still waits for the legacy session');
is(role_row($node, 'app'), 't|t', 'and the group still logs in');
is($held->query_safe('SELECT count(*) FROM public.orders'), '1', 'the legacy session still works');

$held->quit;
poll_until(sub { app_login(); !$run->is_running }, timeout => 30,
	what => 'init to finish once the legacy session has ended');
$r = $run->finish;
is($r->{exit}, 0, 'init --adopt-group exits 0') or diag($r->{stderr});
like($r->{stderr}, qr/adopted group role "app": it is NOLOGIN without a password/, 'and says so');
ok(app_login(), 'the application logs in after the migration');
is(scalar(failed_attempts()), 0, 'no login of the application failed (' . scalar(@attempts) . ' attempts)')
  or diag(explain([ failed_attempts() ]));
ok((grep { $_->{user} eq 'app' } @attempts) && (grep { $_->{user} eq 'app_user_a' } @attempts),
	'the attempts used the legacy and the published credential');

is(role_row($node, 'app'), 'f|f', 'the group role ends NOLOGIN without a password');
ok(!login_works($node, 'app', $legacy_pw), 'the legacy credential no longer logs in');
is($node->safe_psql("SELECT string_agg(c.relname || ':' || pg_get_userbyid(c.relowner), ',' ORDER BY c.relname)"
		  . " FROM pg_class c WHERE c.relname IN ('orders', 'orders_v')", dbname => 'appdb'),
	'orders:app,orders_v:app', 'the legacy objects stay owned by the group');
is($node->safe_psql("INSERT INTO public.orders VALUES (2, 'new'); ALTER TABLE public.orders ADD COLUMN c int;"
		  . ' SELECT count(*) FROM public.orders_v', user => $ua, password => $pa, dbname => 'appdb'),
	'2', 'the login role uses, writes and alters them');
is($node->safe_psql("SELECT string_agg(event, ',' ORDER BY id) FROM pgrotate.history WHERE target = 'appdb'"
		  . " AND event IN ('adopt_started', 'published', 'drained', 'adopted')", dbname => 'appdb'),
	'adopt_started,published,drained,adopted', 'the history records the adoption');
is($node->safe_psql("SELECT phase || '|' || active_role FROM pgrotate.state WHERE target = 'appdb'",
		dbname => 'appdb'), 'idle|app_user_a', 'state: idle, active A');

$r = pgr($t, 'init', 'appdb', '--adopt-group');
is($r->{exit}, 0, 'a second init --adopt-group exits 0');
like($r->{stderr}, qr/nothing to do/, '... with nothing to do');

$r = pgr($t, 'cycle', 'appdb');
is($r->{exit}, 0, 'a cycle after the adoption succeeds') or diag($r->{stderr});
my ($ub, $pb) = read_env_sink($t->{sink});
push @secrets, $pb;
is($ub, 'app_user_b', '... and publishes B');
ok(app_login(), 'the application follows');
is(scalar(failed_attempts()), 0, 'still no failed login');

# A second legacy deployment whose session outlives drain_timeout: init
# exits 3 with everything published and the group still valid; a re-run
# finishes once the session has ended.
my $conf2 = "$dir/second.conf";
my $sink2 = "$dir/second.env";
write_config($conf2, target_config(node => $node, target => 'second', group_role => 'legacy2',
		roles => [ 'l2_a', 'l2_b' ], sink_path => $sink2, defaults => { drain_timeout => '1s' }));
my $legacy2_pw = random_password(24);
push @secrets, $legacy2_pw;
legacy_role('legacy2', $legacy2_pw, 'items');
my $held2 = $node->background_session(user => 'legacy2', password => $legacy2_pw, dbname => 'appdb',
	application_name => 'legacy-two');
$r = run_pgrotate(args => [ 'init', 'second', '--adopt-group' ], config => $conf2, env => $t->{env});
is($r->{exit}, 3, 'init --adopt-group with a session past drain_timeout exits 3');
like($r->{stderr}, qr/drain timeout: group role "legacy2" still has sessions/, '... explains it');
like($r->{stderr}, qr/legacy-two/, '... names the session');
like($r->{stderr}, qr/init second --adopt-group" again/, '... and how to finish');
my ($u2, $p2) = read_env_sink($sink2);
push @secrets, $p2;
is($u2, 'l2_a', 'role A of the second target is published');
ok(login_works($node, $u2, $p2), '... and logs in');
is(role_row($node, 'legacy2'), 't|t', 'the group keeps LOGIN and its password');
ok(login_works($node, 'legacy2', $legacy2_pw), 'the legacy credential still logs in');
$held2->quit;
$r = run_pgrotate(args => [ 'init', 'second', '--adopt-group' ], config => $conf2, env => $t->{env});
is($r->{exit}, 0, 'init --adopt-group again finishes') or diag($r->{stderr});
is(role_row($node, 'legacy2'), 'f|f', 'the group is revoked');
is(join('|', read_env_sink($sink2)), "l2_a|$p2", 'the published credential is unchanged');
ok(login_works($node, $u2, $p2), '... and still logs in');

# on_drain_timeout = "terminate": the legacy session is ended.
my $conf3 = "$dir/third.conf";
write_config($conf3, target_config(node => $node, target => 'third', group_role => 'legacy3',
		roles => [ 'l3_a', 'l3_b' ], sink_path => "$dir/third.env",
		defaults => { drain_timeout => '1s', on_drain_timeout => 'terminate' }));
my $legacy3_pw = random_password(24);
push @secrets, $legacy3_pw;
legacy_role('legacy3', $legacy3_pw, 'things');
my $held3 = $node->background_session(user => 'legacy3', password => $legacy3_pw, dbname => 'appdb',
	application_name => 'legacy-three');
# Without pg_signal_backend it refuses before changing anything, with the GRANT.
$node->safe_psql('REVOKE pg_signal_backend FROM pgrotate_admin');
$r = run_pgrotate(args => [ 'init', 'third', '--adopt-group' ], config => $conf3, env => $t->{env});
is($r->{exit}, 1, 'without pg_signal_backend, init --adopt-group under the terminate policy refuses');
like($r->{stderr}, qr/on_drain_timeout = "terminate" terminates sessions, but the admin of target "third" may not \(pg_signal_backend\); nothing was changed\nHINT: Run as a superuser:\n {6}GRANT pg_signal_backend TO pgrotate_admin;/,
	'... naming the GRANT');
is($node->safe_psql("SELECT count(*) FROM pg_roles WHERE rolname IN ('l3_a', 'l3_b')"), '0', '... creating no role');
is(role_row($node, 'legacy3'), 't|t', '... leaving the group as it was');
is($node->safe_psql("SELECT count(*) FROM pgrotate.state WHERE target = 'third'", dbname => 'appdb'), '0',
	'... and no state');
is($node->safe_psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'legacy-three'"), '1',
	'... nor the legacy session');
$node->safe_psql('GRANT pg_signal_backend TO pgrotate_admin');
$r = run_pgrotate(args => [ 'init', 'third', '--adopt-group' ], config => $conf3, env => $t->{env});
is($r->{exit}, 0, 'under the terminate policy init --adopt-group exits 0') or diag($r->{stderr});
like($r->{stderr}, qr/terminated 1 session of group role "legacy3"/, '... after terminating the session');
is(role_row($node, 'legacy3'), 'f|f', 'the group is revoked');
is($node->safe_psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'legacy-three'"), '0',
	'the legacy session is gone');
$held3->kill;
push @secrets, (read_env_sink("$dir/third.env"))[1];

# Killed right after the first publish: the group is still valid, and init
# --adopt-group again finishes both the cycle and the adoption.
my $conf4 = "$dir/fourth.conf";
write_config($conf4, target_config(node => $node, target => 'fourth', group_role => 'legacy4',
		roles => [ 'l4_a', 'l4_b' ], sink_path => "$dir/fourth.env"));
my $legacy4_pw = random_password(24);
push @secrets, $legacy4_pw;
legacy_role('legacy4', $legacy4_pw, 'stuff');
$r = run_pgrotate(args => [ 'init', 'fourth', '--adopt-group' ], config => $conf4,
	env => { %{ $t->{env} }, PGROTATE_FAULT => 'after-publish' });
SKIP:
{
	skip 'needs a build with --enable-fault-injection', 6 unless $r->{signal} == 9;
	is(role_row($node, 'legacy4'), 't|t', 'killed after publish: the group still logs in');
	my ($u4, $p4) = read_env_sink("$dir/fourth.env");
	push @secrets, $p4;
	ok(login_works($node, $u4, $p4), 'killed after publish: the published credential logs in');
	$r = run_pgrotate(args => [ 'init', 'fourth', '--adopt-group' ], config => $conf4, env => $t->{env});
	is($r->{exit}, 0, 'init --adopt-group resumes') or diag($r->{stderr});
	is(role_row($node, 'legacy4'), 'f|f', '... and revokes the group');
	is(join('|', read_env_sink("$dir/fourth.env")), "$u4|$p4", '... keeping the published credential');
	is($node->safe_psql("SELECT count(*) FROM pg_roles WHERE rolname IN ('l4_a', 'l4_b', 'legacy4') AND rolcanlogin"),
		'1', '... with exactly one role able to log in');
}

# The group's own sessions on a replica hold the adoption as well.
my $replica = $node->backup_replica('standby');
$replica->start;
$replica->write_pgpass($t->{pgpass}, [ [ 'pgrotate_admin', $t->{admin_password} ] ], append => 1);
my $legacy5_pw = random_password(24);
push @secrets, $legacy5_pw;
legacy_role('legacy5', $legacy5_pw, 'parts');
$node->wait_for_catchup($replica);
my $conf5 = "$dir/fifth.conf";
write_config($conf5, target_config(node => $node, target => 'fifth', group_role => 'legacy5',
		roles => [ 'l5_a', 'l5_b' ], sink_path => "$dir/fifth.env", replicas => [$replica],
		defaults => { drain_timeout => '1s' }));
my $held5 = $replica->background_session(user => 'legacy5', password => $legacy5_pw, dbname => 'appdb',
	application_name => 'legacy-five');
$r = run_pgrotate(args => [ 'init', 'fifth', '--adopt-group' ], config => $conf5, env => $t->{env});
is($r->{exit}, 3, 'a legacy session on a replica holds the adoption (exit 3)') or diag($r->{stderr});
like($r->{stderr}, qr/sessions primary 0, replica \S+ 1/, '... counted on the replica');
like($r->{stderr}, qr/legacy-five/, '... and named');
is(role_row($node, 'legacy5'), 't|t', '... the group stays valid');
push @secrets, (read_env_sink("$dir/fifth.env"))[1];
$held5->quit;
$r = run_pgrotate(args => [ 'init', 'fifth', '--adopt-group' ], config => $conf5, env => $t->{env});
is($r->{exit}, 0, 'once it has ended, init --adopt-group finishes') or diag($r->{stderr});
is(role_row($node, 'legacy5'), 'f|f', '... and revokes the group');
$replica->teardown;

# Refusals: nothing to adopt, a BYPASSRLS group, the admin itself.
sub refused
{
	my ($group, $name) = @_;
	my $conf = "$dir/refuse.conf";
	write_config($conf, target_config(node => $node, target => 'refuse', group_role => $group,
			roles => [ 'r_a', 'r_b' ], sink_path => "$dir/refuse.env"));
	my $res = run_pgrotate(args => [ 'init', 'refuse', '--adopt-group' ], config => $conf, env => $t->{env});
	is($res->{exit}, 1, "init --adopt-group refuses $name");
	is($node->safe_psql("SELECT count(*) FROM pg_roles WHERE rolname IN ('r_a', 'r_b')"), '0',
		"... and creates nothing ($name)");
	return $res->{stderr};
}
like(refused('nosuch', 'a missing group'), qr/group role "nosuch" does not exist: there is nothing to adopt/,
	'... saying there is nothing to adopt');
$node->safe_psql('CREATE ROLE bypass_grp LOGIN BYPASSRLS');
like(refused('bypass_grp', 'a BYPASSRLS group'), qr/group role "bypass_grp" is BYPASSRLS/, '... naming the attribute');
like(refused('pgrotate_admin', 'the admin role as group'), qr/admin conninfo logs in as the group role/,
	'... explaining the lock-out');

assert_no_secret_in(\@secrets, { 'server log' => $node->log_content });

done_testing();
