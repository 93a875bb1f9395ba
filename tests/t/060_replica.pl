# Replicas: the new credential is verified on a real streaming hot standby
# once it has replayed the commit; the drain waits for sessions there;
# terminate ends them there; an unreachable or lagging replica stops the
# cycle without publishing or revoking anything.
use strict;
use warnings;
use Test::More;
use PgRotateTest;
use PgRotateSetup;

my $primary = PgRotateTest::Cluster->new('primary');
$primary->start;
$primary->create_database('appdb');
my $admin_pw = $primary->create_admin('pgrotate_admin', createrole => 1,
	extra_grants => [ 'CREATE ON DATABASE appdb', 'pg_signal_backend' ]);
my $replica = $primary->backup_replica('standby');
$replica->start;
$primary->wait_for_catchup($replica);

my $dir = test_dir();
my $pgpass = "$dir/pgpass";
$primary->write_pgpass($pgpass, [ [ 'pgrotate_admin', $admin_pw ] ]);
$replica->write_pgpass($pgpass, [ [ 'pgrotate_admin', $admin_pw ] ], append => 1);
my $sink = "$dir/appdb.env";
my $rnode = $replica->host . ':' . $replica->port;
my $t = { env => { PGPASSFILE => $pgpass, PGROTATE_CONFIG => undef } };

# A config with the replica and these defaults.
sub conf
{
	my ($name, %defaults) = @_;
	my $path = "$dir/$name.conf";
	write_config($path, target_config(node => $primary, sink_path => $sink,
			replicas => [$replica], defaults => { drain_timeout => '2s', %defaults }));
	return $path;
}
$t->{conf} = conf('main');

sub cycle
{
	my ($conf, @args) = @_;
	return run_pgrotate(args => [ 'cycle', 'appdb', @args ], config => $conf // $t->{conf},
		env => $t->{env});
}

sub phase
{
	return $primary->safe_psql("SELECT phase FROM pgrotate.state WHERE target = 'appdb'",
		dbname => 'appdb');
}

# 1. init verifies on the replica too; check reports it.
my $r = pgr($t, 'init', 'appdb');
is($r->{exit}, 0, 'init with a replica') or BAIL_OUT($r->{stderr});
like($r->{stderr}, qr/verified role "app_user_a" on 1 replica/, 'the first credential is verified on the replica');
my ($ua, $pa) = read_env_sink($sink);
$r = pgr($t, 'check', 'appdb');
is($r->{exit}, 0, 'check passes') or diag($r->{stdout});
like($r->{stdout}, qr/ok\s+replica "\Q$rnode\E" reachable: in recovery, replay lag 0\.0s$/m,
	'check reports the replica in recovery, caught up');

# 2. A session on the replica holds the old role.
my $held = $replica->background_session(user => $ua, password => $pa, dbname => 'appdb',
	application_name => 'replica-reader');
$r = cycle();
is($r->{exit}, 3, 'a session on the replica: drain timeout, exit 3');
like($r->{stderr}, qr/sessions primary 0, replica "\Q$rnode\E" 1/, 'progress counts sessions per node');
like($r->{stderr}, qr/replica "\Q$rnode\E" pid \d+ "replica-reader"/, 'the straggler is named with its node');
is(role_row($primary, $ua), 't|t', 'the old role stays LOGIN');
is(phase(), 'draining', 'phase draining');
my ($ub, $pb) = read_env_sink($sink);
is($ub, 'app_user_b', 'B is published');
ok(login_works($replica, $ub, $pb), 'the new credential logs in on the replica');
is($replica->safe_psql('SELECT session_user || \'|\' || current_user', user => $ub, password => $pb,
		dbname => 'appdb'), "$ub|app", 'and works as the group there');

$held->quit;
$r = cycle();
is($r->{exit}, 0, 'after the session ends the cycle completes') or diag($r->{stderr});
is(role_row($primary, $ua), 'f|f', 'A revoked');
$primary->wait_for_catchup($replica);
ok(!login_works($replica, $ua, $pa), 'the old credential no longer logs in on the replica');

# 3. The replica stops in the middle of a drain: clear error, nothing revoked.
{
	my $s = $primary->background_session(user => $ub, password => $pb, dbname => 'appdb',
		application_name => 'primary-app');
	my $bg = start_pgrotate(args => [ 'cycle', 'appdb' ], config => conf('long', drain_timeout => '30s'),
		env => $t->{env}, timeout => 60);
	poll_until(sub { phase() eq 'draining' }, what => 'the cycle to be draining');
	$bg->wait_for(qr/draining "app_user_b": sessions primary 1, replica/, stream => 'stderr');
	$replica->stop;
	my $res = $bg->finish;
	is($res->{exit}, 1, 'a replica lost mid-drain: exit 1');
	like($res->{stderr}, qr/cannot poll the sessions: replica "\Q$rnode\E": /, 'the error names the replica');
	like($res->{stderr}, qr/nothing was revoked/, 'and says nothing was revoked');
	is(role_row($primary, $ub), 't|t', 'the old role is still LOGIN');
	is(phase(), 'draining', 'phase still draining');
	$s->quit;
	$r = cycle();
	is($r->{exit}, 1, 'with the replica down the drain cannot start');
	like($r->{stderr}, qr/cannot reach every node to drain: replica "\Q$rnode\E": could not connect/,
		'the unreachable replica is named');
	is(role_row($primary, $ub), 't|t', 'nothing revoked');
	$replica->start;
	$r = cycle();
	is($r->{exit}, 0, 'with the replica back the cycle completes') or diag($r->{stderr});
	is(role_row($primary, $ub), 'f|f', 'B revoked');
}

# 4. A replica that is down at verify: no publish, the old role stays,
# the next run resumes the verification.
{
	my $before = slurp_file($sink);
	my ($active, $apw) = read_env_sink($sink);
	$replica->stop;
	$r = cycle();
	is($r->{exit}, 1, 'replica down at verify: exit 1');
	like($r->{stderr}, qr/replica "\Q$rnode\E": could not connect/, 'the replica is named');
	like($r->{stderr}, qr/nothing was published, the active role "\Q$active\E" is untouched/, 'nothing was published');
	is(slurp_file($sink), $before, 'the sink is unchanged');
	ok(login_works($primary, $active, $apw), 'the active credential works');
	is(phase(), 'provisioned', 'the standby stays provisioned for a retry');
	like($primary->safe_psql("SELECT detail FROM pgrotate.history WHERE event = 'verify_incomplete'"
			  . " ORDER BY id DESC LIMIT 1", dbname => 'appdb'), qr/replica "\Q$rnode\E"/,
		'the history records why, naming the replica');
	$replica->start;
	$r = cycle();
	is($r->{exit}, 0, 'with the replica back the cycle resumes and completes') or diag($r->{stderr});
	like($r->{stderr}, qr/resuming the cycle of target "appdb" in phase provisioned/, 'it resumed the verification');
	is(role_row($primary, $active), 'f|f', 'the old role is revoked in the end');
}

# 5. A replica that does not catch up in time.
{
	my $before = slurp_file($sink);
	my ($active) = read_env_sink($sink);
	$replica->safe_psql('SELECT pg_wal_replay_pause()');
	$r = cycle(conf('lag', drain_timeout => '1s'));
	my $c = pgr($t, 'check', 'appdb');
	like($c->{stdout}, qr/ok\s+replica "\Q$rnode\E" reachable: in recovery, (?:replay lag \d+\.\ds|no transaction replayed yet)$/m,
		'check reports the lag of a paused replica');
	unlike($c->{stdout}, qr/replay lag 0\.0s/, 'not as caught up');
	is($r->{exit}, 1, 'a lagging replica: exit 1');
	like($r->{stderr}, qr/replicas did not replay the new password \(WAL [0-9A-F\/]+\) within drain_timeout \(1s\): replica "\Q$rnode\E" \d+ bytes behind/,
		'the lagging replica is named with its lag');
	is(slurp_file($sink), $before, 'nothing was published');
	is(role_row($primary, $active), 't|t', 'the active role is untouched');
	$replica->safe_psql('SELECT pg_wal_replay_resume()');
	$r = cycle();
	is($r->{exit}, 0, 'once it replays, the cycle completes') or diag($r->{stderr});
	like($r->{stderr}, qr/verified role \S+ on 1 replica/, 'verified on the replica');
}

# 6. on_drain_timeout = terminate ends the session on the replica.
{
	my ($u, $p) = read_env_sink($sink);
	$primary->wait_for_catchup($replica);
	my $s = $replica->background_session(user => $u, password => $p, dbname => 'appdb',
		application_name => 'doomed-reader');
	$r = cycle(conf('terminate', on_drain_timeout => 'terminate', drain_timeout => '1s'));
	is($r->{exit}, 0, 'terminate policy with a replica session: exit 0') or diag($r->{stderr});
	like($r->{stderr}, qr/terminated 1 session of role "\Q$u\E"/, 'it terminated the session');
	poll_until(sub {
			$replica->safe_psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'doomed-reader'") eq '0'
		}, what => 'the session on the replica is gone');
	is(role_row($primary, $u), 'f|f', 'the old role is revoked');
}

done_testing();
