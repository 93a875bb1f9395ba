# cycle --dry-run changes nothing; cycle --emergency ignores min_overlap,
# terminates what is left after emergency_grace, revokes and records why.
use strict;
use warnings;
use Test::More;
use IPC::Run;
use PgRotateTest;
use PgRotateSetup;

my $t = setup_target(config_opts => { defaults => { min_overlap => '1h', drain_timeout => '1h',
			emergency_grace => '1s' } });
my $node = $t->{node};
is(pgr($t, 'init', 'appdb')->{exit}, 0, 'init');
my ($u, $p) = read_env_sink($t->{sink});

sub snapshot
{
	return join("\n---\n",
		$node->safe_psql("SELECT rolname, rolcanlogin, rolpassword, rolvaliduntil FROM pg_authid"
			  . " WHERE rolname LIKE 'app%' ORDER BY 1"),
		$node->safe_psql('SELECT s::text FROM pgrotate.state s', dbname => 'appdb'),
		$node->safe_psql('SELECT h::text FROM pgrotate.history h ORDER BY id', dbname => 'appdb'),
		slurp_file($t->{sink}),
		join(',', sort glob(test_dir() . '/state/*')));
}

my $s = $node->background_session(user => $u, password => $p, dbname => 'appdb', application_name => 'emerg-app');
my $before = snapshot();
my $r = pgr($t, 'cycle', 'appdb', '--dry-run');
is($r->{exit}, 0, '--dry-run exits 0') or diag($r->{stderr});
like($r->{stdout}, qr/dry run of target "appdb": phase idle, active role "app_user_a", generation 1; nothing will be changed/,
	'the plan starts with the current state');
like($r->{stdout}, qr/ALTER ROLE "app_user_b" LOGIN PASSWORD '<redacted>' VALID UNTIL 'infinity'/,
	'the plan shows the SQL with the password redacted');
like($r->{stdout}, qr/write file "\S+appdb\.env"/, 'the plan names the sink');
like($r->{stdout}, qr/sessions of "app_user_a" now, on the primary, replicas and poolers: 1\n {5}primary pid \d+ "emerg-app"/, 'and the sessions the drain would wait on, one per line');
like($r->{stdout}, qr/ALTER ROLE "app_user_a" NOLOGIN PASSWORD NULL/, 'and the revoke');
unlike($r->{stdout} . $r->{stderr}, qr/\Q$p\E/, 'no password in the plan');
is(snapshot(), $before, 'roles, state, history, sink and state_dir are byte-identical afterwards');

# --emergency: min_overlap (1h) ignored, the held session terminated after
# emergency_grace, the old role revoked, the reason recorded.
$r = pgr($t, [ 'cycle', 'appdb', '--emergency', '--reason', 'leaked in a paste' ], timeout => 60);
is($r->{exit}, 0, '--emergency exits 0') or diag($r->{stderr});
cmp_ok($r->{elapsed}, '<', 30, 'it did not wait for min_overlap');
like($r->{stderr}, qr/terminated 1 session of role "app_user_a"/, 'the held session was terminated');
poll_until(sub {
		$node->safe_psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'emerg-app'") eq '0'
	}, what => 'the held session is gone');
is(role_row($node, 'app_user_a'), 'f|f', 'the old role is revoked');
my ($u2, $p2) = read_env_sink($t->{sink});
is($u2, 'app_user_b', 'the new role is published');
ok(login_works($node, $u2, $p2), 'and logs in');
is($node->safe_psql("SELECT count(*) FROM pgrotate.history WHERE generation = 2 AND reason = 'leaked in a paste'",
		dbname => 'appdb') > 0 ? 1 : 0, 1, 'the reason is in the history');

# --emergency against a client that logs in again as soon as its session is
# terminated (a pool, or whoever holds the leaked password): the old role is
# revoked all the same, and the client then cannot come back.
{
	my ($lu, $lp) = read_env_sink($t->{sink});
	my $loop = "while :; do psql -X -q -c 'SELECT pg_sleep(60)' 2>>" . test_dir() . "/loop.err; done";
	my $h = IPC::Run::start([ 'sh', '-c', $loop ], '<', \'', '>', '/dev/null',
		init => sub {
			PgRotateTest::_apply_env({ PGPASSWORD => $lp, PGUSER => $lu, PGHOST => $node->host,
					PGPORT => $node->port, PGDATABASE => 'appdb', PGAPPNAME => 'relogin',
					PATH => PgRotateTest::pg_client_bindir() . ":$ENV{PATH}" });
		});
	poll_until(sub { $node->safe_psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'relogin'") eq '1' },
		what => 'the reconnecting client to log in', on_timeout => 'die');
	$r = pgr($t, [ 'cycle', 'appdb', '--emergency', '--reason', 'leaked again' ], timeout => 90);
	is($r->{exit}, 0, '--emergency against a client that logs in again exits 0') or diag($r->{stderr});
	is(role_row($node, $lu), 'f|f', 'the old role is revoked');
	ok(poll_until(sub { $node->safe_psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'relogin'") eq '0' },
			what => 'the client gone for good'), 'and the client cannot log in again');
	$h->kill_kill;
	like(slurp_file(test_dir() . '/loop.err'), qr/not permitted to log in|password authentication failed/,
		'its attempts after the revoke are refused');
}

done_testing();
