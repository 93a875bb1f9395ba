# pgrotate cycle: drain, resume, terminate policy, lock, rollback on a
# failed verify, failed publish, refusals (setup, standby in use), no
# secret leaks; as a CREATEROLE admin.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use PgRotateTest;
use PgRotateSetup;

my $t = setup_target(cluster_opts => { log_min_error_statement => 'debug5' },
	config_opts => { defaults => { drain_timeout => '2s' } });
my $node = $t->{node};
my @secrets;          # every password published, for the leak checks
my $outputs = '';     # everything pgrotate printed

sub run_cycle
{
	my (@args) = @_;
	my $r = pgr($t, [ 'cycle', 'appdb', @args ]);
	$outputs .= $r->{stdout} . $r->{stderr};
	return $r;
}

sub published
{
	my ($u, $p) = read_env_sink($t->{sink});
	push @secrets, $p unless grep { $_ eq $p } @secrets;
	return ($u, $p);
}

sub phase
{
	return $node->safe_psql("SELECT phase FROM pgrotate.state WHERE target = 'appdb'", dbname => 'appdb');
}

my $r = pgr($t, 'init', 'appdb');
$outputs .= $r->{stderr};
is($r->{exit}, 0, 'init') or BAIL_OUT($r->{stderr});
my ($ua, $pa) = published();
is($ua, 'app_user_a', 'A is active after init');

# 2. A session held on the active role keeps the drain from finishing.
my $held = $node->background_session(user => $ua, password => $pa, dbname => 'appdb',
	application_name => 'held-app');
my $held2 = $node->background_session(user => $ua, password => $pa, dbname => 'appdb',
	application_name => 'held-app-2');
$r = run_cycle();
is($r->{exit}, 3, 'cycle with a held session exits 3 (drain timeout)');
like($r->{stderr}, qr/draining "app_user_a": sessions primary 2/, 'progress names the role and the sessions');
like($r->{stderr}, qr/held-app/, 'the straggler is named by application_name');
like($r->{stderr}, qr/drain timeout: role "app_user_a" still has sessions/, 'the timeout is explained');
like($r->{stderr}, qr/still has sessions.*\nDETAIL: primary pid \d+ "held-app"[^\n]*\n {8}primary pid \d+ "held-app-2"/,
	'one session per DETAIL line');
{
	my $h = pgr($t, 'history', 'appdb', '--limit', '1');
	like($h->{stdout}, qr/drain_timeout .* detail: primary pid \d+ "held-app"[^\n;]*; primary pid \d+ "held-app-2"/,
		'history shows the sessions on one line, "; " between them');
}
$held2->quit;
is(role_row($node, 'app_user_a'), 't|t', 'old role still LOGIN with its password');
is(phase(), 'draining', 'phase stays draining');
my ($ub, $pb) = published();
is($ub, 'app_user_b', 'B is published');
isnt($pb, $pa, 'with a new password');
is(current_users($node, $ub, $pb), 'app_user_b|app', 'the new credential works as the group');
ok(login_works($node, $ua, $pa), 'the old credential still works too');
r_active('app_user_b', 'active names the new role while draining');

$held->quit;
$r = run_cycle();
is($r->{exit}, 0, 'resumed cycle exits 0') or diag($r->{stderr});
like($r->{stderr}, qr/resuming the cycle of target "appdb" in phase draining/, 'it says it resumes');
is(role_row($node, 'app_user_a'), 'f|f', 'old role NOLOGIN with no password');
ok(!login_works($node, $ua, $pa), 'the old credential no longer logs in');
is(phase(), 'idle', 'phase idle');
is((published())[0], 'app_user_b', 'the resume did not start a second rotation');
r_active('app_user_b', 'active prints the new role');

# A second full cycle returns to A.
$r = run_cycle();
is($r->{exit}, 0, 'second cycle exits 0') or diag($r->{stderr});
my ($ua2, $pa2) = published();
is($ua2, 'app_user_a', 'back to A');
isnt($pa2, $pa, 'with a fresh password');
is(role_row($node, 'app_user_b'), 'f|f', 'B revoked');
is($node->safe_psql("SELECT generation FROM pgrotate.state", dbname => 'appdb'), '3', 'generation 3');
my @events = split /\n/, $node->safe_psql(
	"SELECT event FROM pgrotate.history WHERE generation = 3 ORDER BY id", dbname => 'appdb');
is_deeply(\@events, [qw(provisioned verified published drained revoked)], 'history of one cycle');

# A config whose drain waits long enough for a test to look at it.
my $longconf = test_dir() . '/long.conf';
write_config($longconf, target_config(node => $node, sink_path => $t->{sink},
		defaults => { drain_timeout => '60s' }));

sub r_active
{
	my ($want, $name) = @_;
	my $a = pgr($t, 'active', 'appdb');
	is($a->{stdout}, "$want\n", $name);
}

# 3. on_drain_timeout = terminate ends the held session and revokes.
{
	my $conf = test_dir() . '/terminate.conf';
	write_config($conf, target_config(node => $node, sink_path => $t->{sink},
			defaults => { on_drain_timeout => 'terminate', drain_timeout => '1s' }));
	my $s = $node->background_session(user => $ua2, password => $pa2, dbname => 'appdb',
		application_name => 'doomed-app');
	$r = run_pgrotate(args => [ 'cycle', 'appdb' ], config => $conf, env => $t->{env});
	$outputs .= $r->{stderr};
	is($r->{exit}, 0, 'terminate policy: cycle exits 0') or diag($r->{stderr});
	like($r->{stderr}, qr/terminated 1 session of role "app_user_a"/, 'it says what it terminated');
	poll_until(sub {
			$node->safe_psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'doomed-app'") eq '0'
		}, what => 'the held session is gone');
	is(role_row($node, 'app_user_a'), 'f|f', 'the old role is revoked');
	like($node->safe_psql("SELECT string_agg(event, ',' ORDER BY id) FROM pgrotate.history WHERE generation = 4",
			dbname => 'appdb'), qr/drain_timeout|terminated/, 'history records the termination');
	published();
}

# 4. A concurrent cycle exits 4 and names the holder.
{
	my ($u, $p) = published();
	my $s = $node->background_session(user => $u, password => $p, dbname => 'appdb', application_name => 'blocker');
	my $bg = start_pgrotate(args => [ 'cycle', 'appdb' ], config => $longconf, env => $t->{env},
		timeout => 90);
	poll_until(sub { phase() eq 'draining' }, what => 'the first run is draining');
	$r = run_cycle();
	is($r->{exit}, 4, 'a second run exits 4');
	my $pid = $bg->pid;
	like($r->{stderr}, qr/another pgrotate run holds target "appdb": host \S+, pgrotate pid $pid, since \d{4}-/,
		'it names host, pid and start time of the holder');
	$s->quit;
	my $res = $bg->finish;
	$outputs .= $res->{stderr};
	is($res->{exit}, 0, 'the first run finishes once the session ends');
	published();
}

# 5. A failing verify_query rolls back.
{
	my $conf = test_dir() . '/badverify.conf';
	write_config($conf, target_config(node => $node, sink_path => $t->{sink},
			defaults => { verify_query => 'SELECT * FROM no_such_table' }));
	my $before = slurp_file($t->{sink});
	my ($active) = read_env_sink($t->{sink});
	my $standby = $active eq 'app_user_a' ? 'app_user_b' : 'app_user_a';
	$r = run_pgrotate(args => [ 'cycle', 'appdb' ], config => $conf, env => $t->{env});
	$outputs .= $r->{stderr};
	is($r->{exit}, 1, 'failed verify exits 1');
	like($r->{stderr}, qr/no_such_table/, 'the verify error is shown');
	like($r->{stderr}, qr/rolled back: role "$standby" is NOLOGIN again/, 'it says it rolled back');
	is(role_row($node, $standby), 'f|f', 'the standby is NOLOGIN without a password again');
	is(slurp_file($t->{sink}), $before, 'nothing was published');
	is(phase(), 'idle', 'phase idle');
	is($node->safe_psql("SELECT string_agg(event, ',' ORDER BY id) FROM (SELECT id, event FROM pgrotate.history"
			  . " ORDER BY id DESC LIMIT 2) h", dbname => 'appdb'),
		'rolled_back,failed', 'history records the rollback, then the failed run');
	like($node->safe_psql("SELECT last_error_step || ': ' || last_error FROM pgrotate.state", dbname => 'appdb'),
		qr/^verify: .*no_such_table/, 'the state records the step and the error');
	ok(!-e test_dir() . '/state/appdb.pending', 'the pending file is gone');
	ok(login_works($node, read_env_sink($t->{sink})), 'the active credential still works');
}

# 5b. A server error's DETAIL and HINT are the message's own DETAIL and
# HINT lines (fields in JSON), as PostgreSQL prints them, not inline.
{
	my $conf = test_dir() . '/detailverify.conf';
	write_config($conf, target_config(node => $node, sink_path => $t->{sink},
			defaults => { verify_query => q{DO $$BEGIN RAISE EXCEPTION 'verify says no'}
				  . q{ USING DETAIL = 'the server detail', HINT = 'the server hint'; END$$} }));
	$r = run_pgrotate(args => [ 'cycle', 'appdb' ], config => $conf, env => $t->{env});
	$outputs .= $r->{stderr};
	is($r->{exit}, 1, 'a verify_query raising an error exits 1');
	like($r->{stderr}, qr/^pgrotate: error: .*verify says no$/m, 'the server\'s message ends the error line');
	like($r->{stderr}, qr/^DETAIL: +the server detail$/m, 'its DETAIL is a DETAIL line');
	like($r->{stderr}, qr/^HINT: +the server hint$/m, 'its HINT is a HINT line');
	unlike($r->{stderr}, qr/verify says no.*the server (detail|hint)/, 'neither is in the message');
	$r = run_pgrotate(args => [ '--log-format=json', 'cycle', 'appdb' ], config => $conf, env => $t->{env});
	my ($e) = grep { ($_->{msg} // '') =~ /verify says no/ && $_->{level} eq 'error' }
	  map { eval { JSON::PP::decode_json($_) } // () } split /\n/, $r->{stderr};
	ok($e && ($e->{detail} // '') eq 'the server detail' && ($e->{hint} // '') =~ /^the server hint/m
		  && $e->{msg} !~ /server (detail|hint)/, 'in JSON: the detail and hint fields')
	  or diag($r->{stderr});
}

# 6. A sink that cannot be written: exit 1, nothing revoked; fixed, the
# re-run publishes the same pending password.
{
	my $dir = test_dir() . '/sinkdir';
	my $conf = test_dir() . '/badsink.conf';
	write_config($conf, target_config(node => $node, sink_path => "$dir/app.env"));
	my ($active, $apw) = read_env_sink($t->{sink});
	$r = run_pgrotate(args => [ 'cycle', 'appdb' ], config => $conf, env => $t->{env});
	$outputs .= $r->{stderr};
	is($r->{exit}, 1, 'a failed publish exits 1');
	like($r->{stderr}, qr/publishing to .*sinkdir\/app\.env.* failed/, 'the sink is named');
	like($r->{stderr}, qr/old role "$active" stays active and valid/, 'and the old role stays');
	is(role_row($node, $active), 't|t', 'the active role is untouched');
	ok(login_works($node, $active, $apw), 'the old credential logs in');
	is(phase(), 'verified', 'phase verified: provisioned and proven, not published');
	my $pending = slurp_file(test_dir() . '/state/appdb.pending');
	my ($ppw) = $pending =~ /^password (\S+)$/m;
	ok($ppw, 'the pending password is kept');
	is((stat(test_dir() . '/state/appdb.pending'))[2] & 07777, 0600, 'pending file is 0600');
	mkdir $dir or die;
	$r = run_pgrotate(args => [ 'cycle', 'appdb' ], config => $conf, env => $t->{env});
	$outputs .= $r->{stderr};
	is($r->{exit}, 0, 'after the fix the cycle completes') or diag($r->{stderr});
	my ($nu, $npw) = read_env_sink("$dir/app.env");
	is($npw, $ppw, 'with the same pending password');
	push @secrets, $npw;
	is(role_row($node, $active), 'f|f', 'and the old role is revoked');
	# put the main sink back in step
	$r = run_cycle();
	is($r->{exit}, 0, 'another cycle with the main sink');
	published();
}

# 7. Refusals before the server is touched: a setup problem, and a standby
# that someone put to use by hand. Exit 1 with the reason; the roles, the
# state and the history unchanged; no pending password left behind (the
# password is prepared while the checks run, and dropped when they refuse).
{
	my $snapshot = sub {
		return $node->safe_psql("SELECT rolname, rolcanlogin, rolpassword FROM pg_authid"
			  . " WHERE rolname IN ('app', 'app_user_a', 'app_user_b') ORDER BY 1", dbname => 'postgres')
		  . "\n" . $node->safe_psql("SELECT phase, generation, (SELECT count(*) FROM pgrotate.history"
			  . " WHERE event <> 'failed') FROM pgrotate.state", dbname => 'appdb');
	};
	my $pending = test_dir() . '/state/appdb.pending';
	$node->safe_psql('ALTER ROLE app LOGIN');
	my $before = $snapshot->();
	$r = run_cycle();
	is($r->{exit}, 1, 'a setup problem: exit 1');
	like($r->{stderr}, qr/can log in/, 'it names the problem');
	like($r->{stderr}, qr/the setup of target "appdb" has 1 problem/, 'and refuses');
	is($snapshot->(), $before, 'roles, state and history unchanged');
	like($node->safe_psql("SELECT last_error_step || ': ' || last_error || ' / '"
			  . " || (SELECT event || ' ' || detail FROM pgrotate.history ORDER BY id DESC LIMIT 1)"
			  . " FROM pgrotate.state", dbname => 'appdb'),
		qr{^setup: the setup of target "appdb" has 1 problem, first: group role "app" is NOLOGIN: role "app" can log in: applications may log in as it / failed setup$},
		'the refusal is recorded: state (step, message) and a history row');
	ok(!-e $pending, 'no pending password left behind');
	$node->safe_psql('ALTER ROLE app NOLOGIN');

	my $st = $node->safe_psql('SELECT standby_role FROM pgrotate.state', dbname => 'appdb');
	my $pw = random_password(24);
	$node->safe_psql("SET log_statement = 'none'; ALTER ROLE $st LOGIN PASSWORD '$pw'");
	my $s = $node->background_session(user => $st, password => $pw, dbname => 'appdb',
		application_name => 'by-hand');
	$before = $snapshot->();
	$r = run_cycle();
	is($r->{exit}, 1, 'a standby in use: exit 1');
	like($r->{stderr}, qr/the standby role "\Q$st\E" has 1 session although it should not be in use/,
		'it names the standby');
	like($r->{stderr}, qr/"by-hand"/, '... and the session');
	is($snapshot->(), $before, 'roles, state and history unchanged');
	ok(!-e $pending, 'no pending password left behind');
	$s->quit;
	$node->safe_psql("ALTER ROLE $st NOLOGIN PASSWORD NULL");

	# A check query that fails in the middle of the batch (the admin may
	# not read pg_shdepend): the error is the server's, the queries after
	# it did not run, and the connection stays usable for the cleanup.
	$node->safe_psql('REVOKE SELECT ON pg_catalog.pg_shdepend FROM PUBLIC', dbname => 'appdb');
	$before = $snapshot->();
	$r = run_cycle();
	is($r->{exit}, 1, 'a failing check query: exit 1');
	like($r->{stderr}, qr/cannot check the roles: primary: permission denied for table pg_shdepend/,
		'the server\'s error is reported');
	is($snapshot->(), $before, 'roles, state and history unchanged');
	ok(!-e $pending, 'no pending password left behind');
	$node->safe_psql('GRANT SELECT ON pg_catalog.pg_shdepend TO PUBLIC', dbname => 'appdb');

	$r = run_cycle();
	is($r->{exit}, 0, 'with the standby unused again, a cycle completes') or diag($r->{stderr});
	published();
}

# 8. No password reached the server log, outputs, catalog or tables.
{
	my ($u, $p) = published();
	my $s = $node->background_session(user => $u, password => $p, dbname => 'appdb', application_name => 'leakcheck');
	my $bg = start_pgrotate(args => [ 'cycle', 'appdb' ], config => $longconf, env => $t->{env}, timeout => 90);
	poll_until(sub { phase() eq 'draining' }, what => 'draining for the /proc check');
	my $pid = $bg->pid;
	my $cmdline = slurp_file("/proc/$pid/cmdline");
	my $environ = slurp_file("/proc/$pid/environ");
	push @secrets, (read_env_sink($t->{sink}))[1];
	$s->quit;
	my $res = $bg->finish;
	$outputs .= $res->{stderr} . $res->{stdout};
	is($res->{exit}, 0, 'leak-check cycle completes');
	my $tables = $node->safe_psql('SELECT s::text FROM pgrotate.state s UNION ALL SELECT h::text FROM pgrotate.history h',
		dbname => 'appdb');
	my $activity = $node->safe_psql('SELECT string_agg(query, E\'\n\') FROM pg_stat_activity');
	cmp_ok(scalar(@secrets), '>=', 6, 'several published passwords collected');
	assert_no_secret_in(\@secrets, {
			'server log' => $node->log_content,
			'pgrotate output' => $outputs,
			'pgrotate tables' => $tables,
			'pg_stat_activity.query' => $activity,
			'/proc/pid/cmdline' => $cmdline,
			'/proc/pid/environ' => $environ,
	});
	like($node->log_content, qr/ALTER ROLE "app_user_\w" LOGIN PASSWORD 'SCRAM-SHA-256\$4096:/,
		'the server log shows only the SCRAM verifier');
}

done_testing();
