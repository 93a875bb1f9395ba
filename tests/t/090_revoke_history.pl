# pgrotate revoke (refuses the active role and a role a sink hands out;
# revokes the draining old role with --terminate and --reason, ending the
# cycle; exit 4 under another run's lock) and pgrotate history.
use strict;
use warnings;
use JSON::PP;
use Test::More;
use PgRotateTest;
use PgRotateSetup;

my $t = setup_target(config_opts => { defaults => { drain_timeout => '60s' } });
my $node = $t->{node};
my $dir = test_dir();
my @secrets;
my $outputs = '';

sub run
{
	my (@args) = @_;
	my $r = pgr($t, @args);
	$outputs .= $r->{stdout} . $r->{stderr};
	return $r;
}

sub phase
{
	return $node->safe_psql("SELECT phase FROM pgrotate.state WHERE target = 'appdb'", dbname => 'appdb');
}

sub authid
{
	return $node->safe_psql("SELECT rolname, rolcanlogin, rolpassword, rolvaliduntil FROM pg_authid"
		  . " WHERE rolname LIKE 'app%' ORDER BY 1");
}

sub history_count
{
	return $node->safe_psql('SELECT count(*) FROM pgrotate.history', dbname => 'appdb');
}

my $r = run('init', 'appdb');
is($r->{exit}, 0, 'init') or BAIL_OUT($r->{stderr});
my ($ua, $pa) = read_env_sink($t->{sink});
push @secrets, $pa;

# 1. history after init.
$r = run('history', 'appdb');
is($r->{exit}, 0, 'history exits 0') or diag($r->{stderr});
my @lines = split /\n/, $r->{stdout};
is_deeply([ map { (split ' ', $_)[1] } @lines ], [qw(initialised provisioned verified published completed)],
	'text: one line per event (a multi-line detail too), oldest first');
like($lines[0], qr/  detail: CREATE ROLE "app" NOLOGIN; CREATE ROLE "app_user_a" NOLOGIN; GRANT /,
	'text: the statements of the detail on one line, each ending in one ";"');
like($lines[3], qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z  published +gen 1 app_user_b -> app_user_a  by \S+@\S+ pid \d+ as pgrotate_admin$/,
	'text: time, event, generation, roles, actor@host, pid, database user');
$r = run('history', 'appdb', '--format=json');
my $h = eval { JSON::PP->new->decode($r->{stdout}) };
ok(ref $h eq 'ARRAY', 'json: an array') or diag($r->{stdout});
is(scalar(@$h), 5, 'json: five events');
like($h->[0]{detail}, qr/CREATE ROLE "app_user_a" NOLOGIN;\n/, 'json: the detail as recorded');
is_deeply([ sort keys %{ $h->[0] } ],
	[qw(actor db_user detail event from_role generation host id pid reason time to_role)], 'json: the keys of an event');
is($h->[3]{event}, 'published', 'json: event');
is($h->[3]{to_role}, 'app_user_a', 'json: to_role');
is($h->[3]{generation}, 1, 'json: generation is a number');
is($h->[3]{reason}, undef, 'json: no reason is null');
$r = run('history', 'appdb', '--limit', '2', '--format=json');
$h = JSON::PP->new->decode($r->{stdout});
is_deeply([ map { $_->{event} } @$h ], [qw(published completed)], '--limit 2: the newest two, oldest first');

# 2. The active role is refused; nothing changes.
{
	my ($before, $hc) = (authid(), history_count());
	$r = run('revoke', 'appdb', 'app_user_a', '--terminate', '--reason', 'oops');
	is($r->{exit}, 1, 'revoke of the active role exits 1');
	like($r->{stderr}, qr/refusing to revoke role "app_user_a": it is the active role of target "appdb" \(generation 1\)/,
		'and says why');
	like($r->{stderr}, qr/HINT: .*pgrotate cycle/, 'with what to do instead');
	is(authid(), $before, 'pg_authid unchanged');
	is(history_count(), $hc, 'nothing recorded');
	ok(login_works($node, $ua, $pa), 'the active credential still logs in');
}

# 3. A role a file sink hands out is refused, even though it is not active.
{
	my $orig = slurp_file($t->{sink});
	PgRotateTest::_write_file($t->{sink}, "PGUSER=app_user_b\nPGPASSWORD=" . random_password(32) . "\n", 0600);
	my $before = authid();
	$r = run('revoke', 'appdb', 'app_user_b');
	is($r->{exit}, 1, 'revoke of a role a sink hands out exits 1');
	like($r->{stderr}, qr/refusing to revoke role "app_user_b": sink "\S+appdb\.env" hands it out/, 'the sink is named');
	is(authid(), $before, 'pg_authid unchanged');
	PgRotateTest::_write_file($t->{sink}, $orig, 0600);
}

# 4. Usage errors.
is(run('revoke', 'appdb', 'postgres')->{exit}, 2, 'a role that is not the target\'s: exit 2');
is(run('revoke', 'appdb')->{exit}, 2, 'no role: exit 2');
is(run('revoke', 'nosuch', 'app_user_a')->{exit}, 2, 'unknown target: exit 2');
is(run('history', 'nosuch')->{exit}, 2, 'history of an unknown target: exit 2');
is(run('history', 'appdb', '--limit', 'x')->{exit}, 2, 'history --limit x: exit 2');
$r = run('history', 'appdb', '--limit', '0');
is($r->{exit}, 2, 'history --limit 0: exit 2, not every event');
like($r->{stderr}, qr/invalid --limit "0": it must be a number of events from 1 to 1000000000/, 'saying what it takes');
is($r->{stdout}, '', 'and printing no event');
is(run('history', 'appdb', '--format=xml')->{exit}, 2, 'history --format=xml: exit 2');

# 5. The standby of idle: revoked again (idempotent), recorded.
$r = run('revoke', 'appdb', 'app_user_b', '--reason', 'belt and braces');
is($r->{exit}, 0, 'revoke of the idle standby exits 0') or diag($r->{stderr});
is(role_row($node, 'app_user_b'), 'f|f', 'standby NOLOGIN without password');
is(phase(), 'idle', 'still idle');

# 6. The old role while draining, with --terminate and --reason: its sessions
# end, it is revoked, and the cycle is done.
{
	my $s = $node->background_session(user => $ua, password => $pa, dbname => 'appdb', application_name => 'leaky-app');
	$r = run('cycle', 'appdb', '--no-wait');
	is($r->{exit}, 0, 'cycle --no-wait') or diag($r->{stderr});
	is(phase(), 'draining', 'phase draining');
	is(role_row($node, 'app_user_a'), 't|t', 'the old role can still log in');
	my ($ub, $pb) = read_env_sink($t->{sink});
	push @secrets, $pb;
	$r = run('revoke', 'appdb', 'app_user_a', '--terminate', '--reason', 'incident 42');
	is($r->{exit}, 0, 'revoke --terminate of the draining old role exits 0') or diag($r->{stderr});
	like($r->{stderr}, qr/revoked role "app_user_a" of target "appdb" \(NOLOGIN, no password\); the active role is "app_user_b"/,
		'it says what it did');
	like($r->{stderr}, qr/terminated 1 session of role "app_user_a"/, 'and what it terminated');
	poll_until(sub {
			$node->safe_psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'leaky-app'") eq '0'
		}, what => 'the session of the revoked role is gone');
	$s->kill(no_wait => 1);
	is(role_row($node, 'app_user_a'), 'f|f', 'rolcanlogin false, rolpassword null');
	ok(!login_works($node, $ua, $pa), 'the old credential no longer logs in');
	is(phase(), 'idle', 'the cycle is done: phase idle');
	is($node->safe_psql("SELECT active_role || '|' || standby_role || '|' || generation FROM pgrotate.state",
			dbname => 'appdb'), 'app_user_b|app_user_a|2', 'the state is consistent');
	is($node->safe_psql("SELECT event || '|' || from_role || '|' || to_role || '|' || generation || '|' || reason"
			  . " FROM pgrotate.history WHERE event = 'revoked' ORDER BY id DESC LIMIT 1", dbname => 'appdb'),
		'revoked|app_user_a|app_user_b|2|incident 42', 'the history has the revoke with its reason');
	is($node->safe_psql("SELECT count(*) FROM pgrotate.history WHERE event = 'terminated' AND reason = 'incident 42'",
			dbname => 'appdb'), '1', 'and the termination');
	ok(login_works($node, $ub, $pb), 'the active credential logs in');
	$r = run('status', 'appdb');
	is($r->{exit}, 0, 'status is OK afterwards') or diag($r->{stdout});
	$r = run('history', 'appdb', '--limit', '2');
	like($r->{stdout}, qr/  revoked +gen 2 app_user_a -> app_user_b  by \S+ pid \d+ as pgrotate_admin  reason: incident 42  detail: pgrotate revoke: the old role of the draining cycle/,
		'history shows the reason and the detail');
	$r = run('cycle', 'appdb');
	is($r->{exit}, 0, 'the next cycle works') or diag($r->{stderr});
	push @secrets, (read_env_sink($t->{sink}))[1];
}

# 7. Without --terminate the sessions stay, and are named: one per DETAIL
# line (ISO 8601 UTC start times), at most 10, then "and N more".
{
	my ($u, $p) = read_env_sink($t->{sink});
	my @s = map { $node->background_session(user => $u, password => $p, dbname => 'appdb',
			application_name => "slow-app-$_") } 1 .. 12;
	# so that the admin sees the sessions' address and start time
	$node->safe_psql('GRANT pg_read_all_stats TO pgrotate_admin');
	is(run('cycle', 'appdb', '--no-wait')->{exit}, 0, 'cycle --no-wait');
	push @secrets, (read_env_sink($t->{sink}))[1];
	$r = run('revoke', 'appdb', $u);
	is($r->{exit}, 0, 'revoke without --terminate exits 0');
	like($r->{stderr}, qr/12 sessions of role "$u" still open\nDETAIL: primary pid \d+ "slow-app-\d+"/, 'the sessions are named');
	my ($detail) = $r->{stderr} =~ /still open\n(DETAIL: .*?)\n(?=HINT|pgrotate|\z)/s;
	my @lines = split /\n/, $detail // '';
	is(scalar @lines, 11, 'DETAIL: 10 session lines and one "and 2 more"') or diag($r->{stderr});
	is(scalar(grep { /^(DETAIL: |        )primary pid \d+ "slow-app-\d+" from local since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/ } @lines[0 .. 9]),
		10, 'one session per line, indented under DETAIL, started at an ISO 8601 UTC time');
	is($lines[10], '        and 2 more', 'the rest counted on the last line');
	like($r->{stderr}, qr/HINT: .*--terminate/, 'with the option that ends it');
	is(join(',', map { scalar $_->query('SELECT 1') } @s), join(',', (1) x 12), 'the sessions still work');
	is(role_row($node, $u), 'f|f', 'the role is revoked');
	$_->quit for @s;
	$node->safe_psql('REVOKE pg_read_all_stats FROM pgrotate_admin');
}

# 8. Another run holds the lock: exit 4 naming it.
{
	my ($u, $p) = read_env_sink($t->{sink});
	my $s = $node->background_session(user => $u, password => $p, dbname => 'appdb', application_name => 'blocker');
	my $bg = start_pgrotate(args => [ 'cycle', 'appdb' ], config => $t->{conf}, env => $t->{env}, timeout => 90);
	poll_until(sub { phase() eq 'draining' }, what => 'the cycle is draining');
	my $before = authid();
	$r = run('revoke', 'appdb', $u, '--terminate');
	is($r->{exit}, 4, 'revoke under another run\'s lock exits 4');
	my $pid = $bg->pid;
	like($r->{stderr}, qr/another pgrotate run holds target "appdb": host \S+, pgrotate pid $pid, since \d{4}-/,
		'it names the holder');
	is(authid(), $before, 'nothing was revoked');
	is($s->query('SELECT 1'), '1', 'nothing was terminated');
	$s->quit;
	is($bg->finish->{exit}, 0, 'the cycle finishes');
	push @secrets, (read_env_sink($t->{sink}))[1];
}

# 9. The standby of a cycle stopped in phase provisioned: revoked, the
# cycle rolled back, the pending file removed.
SKIP: {
	$r = pgr($t, [ 'cycle', 'appdb' ], env => { %{ $t->{env} }, PGROTATE_FAULT => 'after-provision' });
	skip 'not built with --enable-fault-injection', 5 unless $r->{signal} == 9;
	my $standby = $node->safe_psql('SELECT pending_role FROM pgrotate.state', dbname => 'appdb');
	ok(-e "$dir/state/appdb.pending", 'a pending file is left');
	$r = run('revoke', 'appdb', $standby, '--reason', 'abandon');
	is($r->{exit}, 0, 'revoke of the provisioned standby exits 0') or diag($r->{stderr});
	is(phase(), 'idle', 'the cycle is rolled back');
	is(role_row($node, $standby), 'f|f', 'the standby is NOLOGIN');
	ok(!-e "$dir/state/appdb.pending", 'the pending file is gone');
	is(run('status', 'appdb')->{exit}, 0, 'status OK');
}

# 10. history of a target without the schema: exit 1.
{
	$node->safe_psql('CREATE DATABASE emptydb');
	my $conf = "$dir/empty.conf";
	write_config($conf, target_config(node => $node, dbname => 'emptydb', sink_path => "$dir/e.env"));
	my $res = run_pgrotate(args => [ 'history', 'appdb' ], config => $conf, env => $t->{env});
	is($res->{exit}, 1, 'history without the schema exits 1');
	like($res->{stderr}, qr/not initialised.*pgrotate init appdb/, 'and says what to do');
}

assert_no_secret_in(\@secrets, {
		'pgrotate output' => $outputs,
		'server log' => $node->log_content,
		'history table' => $node->safe_psql('SELECT h::text FROM pgrotate.history h', dbname => 'appdb') });

done_testing();
