# PgBouncer in front of the cluster (session and transaction pooling):
# the pgbouncer sink format and RELOAD, clients and server connections of
# the old role holding the drain, RECONNECT, what --emergency can do
# against pooler clients, and clients that re-read their credential never
# failing.  Needs /usr/sbin/pgbouncer (Debian package pgbouncer).
use strict;
use warnings;
use Test::More;
use PgRotateTest qw(:DEFAULT is_root cfg_quote);
use PgRotateSetup;
use PgBouncerTest;

plan skip_all => 'pgbouncer is not installed (' . PgBouncerTest::binary() . ')'
  unless -x PgBouncerTest::binary();
my $pgb_version = PgBouncerTest::version() // 0;

my $primary = PgRotateTest::Cluster->new('primary');
$primary->start;
$primary->create_database('appdb');
my $admin_pw = $primary->create_admin('pgrotate_admin', createrole => 1,
	extra_grants => [ 'CREATE ON DATABASE appdb', 'pg_signal_backend' ]);
# Another application behind the same pooler, never to be disturbed.
my $other_pw = random_password(24);
$primary->safe_psql("SET log_statement = 'none'; CREATE ROLE other_app LOGIN PASSWORD '$other_pw';"
	  . " GRANT CONNECT ON DATABASE appdb TO other_app;");

my $pgb = PgBouncerTest->new(node => $primary, admin_user => 'pgrotate_admin',
	admin_password => $admin_pw,
	databases => { appdb => 'dbname=appdb', appdb_tx => 'dbname=appdb pool_mode=transaction' },
	# a client waiting for a server login that keeps failing gives up soon
	extra => "query_wait_timeout = 2\nserver_login_retry = 1");
my $auth = $pgb->auth_file;
sub verifier_of
{
	my ($role) = @_;
	return $primary->safe_psql("SELECT rolpassword FROM pg_authid WHERE rolname = '$role'");
}
# The auth_file before pgrotate: the console's admin and the other app.
write_config($auth, qq("pgrotate_admin" ") . verifier_of('pgrotate_admin') . qq("\n)
	  . qq("other_app" ") . verifier_of('other_app') . qq("\n));
PgBouncerTest::_chown_postgres($auth);
$pgb->start;
note("PgBouncer version $pgb_version");

my $dir = test_dir();
my $pgpass = "$dir/pgpass";
$primary->write_pgpass($pgpass, [ [ 'pgrotate_admin', $admin_pw ] ]);
open my $fh, '>>', $pgpass or die;
print $fh join(':', $pgb->host, $pgb->port, 'pgbouncer', 'pgrotate_admin', $admin_pw) . "\n";
close $fh;
my $sink = "$dir/appdb.env";
my $pnode = $pgb->host . ':' . $pgb->port;
my $t = { env => { PGPASSFILE => $pgpass, PGROTATE_CONFIG => undef } };
my $owner = is_root() ? ' owner = "postgres";' : '';

# A config with the env sink first and the pgbouncer auth_file second.
sub conf
{
	my ($name, %defaults) = @_;
	my $path = "$dir/$name.conf";
	write_config($path, target_config(node => $primary, poolers => [ $pgb->console_conninfo ],
			sinks => sprintf('{ type = "file"; path = %s; format = "env"; },'
				  . ' { type = "file"; path = %s; format = "pgbouncer";%s }',
				cfg_quote($sink), cfg_quote($auth), $owner),
			defaults => { drain_timeout => '2s', %defaults }));
	return $path;
}
$t->{conf} = conf('main');

sub cycle
{
	my ($conf, @args) = @_;
	my %o = ref $args[0] eq 'HASH' ? %{ shift @args } : ();
	return run_pgrotate(args => [ 'cycle', 'appdb', @args ], config => $conf // $t->{conf},
		env => { %{ $t->{env} }, %o });
}

sub through_pooler
{
	my ($user, $pw, $db) = @_;
	my ($rc, $out, $err) = $pgb->psql('SELECT session_user', user => $user, password => $pw,
		dbname => $db // 'appdb');
	note("login as $user through the pooler failed: $err") if $rc != 0;
	return $rc == 0 ? $out : undef;
}

sub backends_of
{
	my ($role) = @_;
	return $primary->safe_psql("SELECT count(*) FROM pg_stat_activity WHERE usename = '$role'");
}

# 1. init writes the auth_file line and reloads PgBouncer.
my $r = pgr($t, 'init', 'appdb');
is($r->{exit}, 0, 'init') or BAIL_OUT($r->{stderr});
like($r->{stderr}, qr/pooler "\Q$pnode\E" reloaded its auth_file/, 'PgBouncer was told to RELOAD');
my ($ua, $pa) = read_env_sink($sink);
my @lines = split /\n/, slurp_file($auth);
is($lines[0], qq("$ua" ") . verifier_of($ua) . '"', 'first line: the new role with its verifier as stored on the server');
ok((grep { /^"pgrotate_admin" "SCRAM/ } @lines) && (grep { /^"other_app" "SCRAM/ } @lines),
	'the other users\' lines are kept');
is(through_pooler($ua, $pa), $ua, 'the new role logs in through PgBouncer (session pooling)');
is(through_pooler($ua, $pa, 'appdb_tx'), $ua, 'and through transaction pooling');
$r = pgr($t, 'check', 'appdb');
is($r->{exit}, 0, 'check passes') or diag($r->{stdout});
like($r->{stdout}, qr/ok\s+pooler "\Q$pnode\E" reachable: PgBouncer \d+\.\d+/, 'check reports the pooler and its version');

# 2. Transaction pooling: an idle client has no server connection, yet it
# holds the drain.
my $tx = $pgb->client(user => $ua, password => $pa, dbname => 'appdb_tx', application_name => 'tx-idle');
my $other_tx = $pgb->client(user => 'other_app', password => $other_pw, dbname => 'appdb_tx',
	application_name => 'other-tx');
$r = cycle();
is($r->{exit}, 3, 'an idle transaction-pooling client holds the drain: exit 3');
like($r->{stderr}, qr/sessions primary 0, pooler "\Q$pnode\E" [12]\b/, 'progress counts the pooler');
like($r->{stderr}, qr/pooler "\Q$pnode\E" client of database "appdb_tx" \(client pid \d+\) "tx-idle"/,
	'the pooler client is named');
like($r->{stderr}, qr/asked to RECONNECT database "appdb_tx"/, 'the pooler was asked to RECONNECT');
is(backends_of($ua), '0', 'the primary has no backend of the old role: pg_stat_activity alone would revoke');
is(scalar @{ $pgb->clients_of($ua) }, 1, 'SHOW CLIENTS has the old role\'s client');
is(role_row($primary, $ua), 't|t', 'the old role stays LOGIN');
{
	require JSON::PP;
	my $st = run_pgrotate(args => [ 'status', 'appdb', '--format=json' ], config => $t->{conf}, env => $t->{env});
	my $doc = JSON::PP::decode_json($st->{stdout});
	my ($pn) = grep { $_->{node} eq "pooler $pnode" } @{ $doc->{targets}[0]{nodes} };
	ok($pn && $pn->{reachable}, 'status lists the pooler as a node');
	cmp_ok($pn ? $pn->{sessions}{$ua} : 0, '>=', 1, 'status counts the old role\'s client in the pooler');
	$st = run_pgrotate(args => [ 'status', 'appdb', '--format=prometheus' ], config => $t->{conf}, env => $t->{env});
	like($st->{stdout}, qr/^pgrotate_sessions\{target="appdb",role="\Q$ua\E",node="pooler \Q$pnode\E"\} [1-9]/m,
		'the prometheus output has the pooler\'s sessions');
}
my ($ub, $pb) = read_env_sink($sink);
is(through_pooler($ub, $pb, 'appdb_tx'), $ub, 'the new credential works through the pooler');
is(through_pooler($ua, $pa), $ua, 'a client that has not re-read yet still logs in through the pooler');
is($tx->query_safe('SELECT session_user'), $ua, 'the idle client runs its next transaction');
my @l2 = split /\n/, slurp_file($auth);
like($l2[0], qr/^"$ub" /, 'the auth_file leads with the new role');
ok((grep { /^"$ua" "SCRAM/ } @l2), 'and keeps the old role while it drains');

$tx->quit;
$r = cycle();
is($r->{exit}, 0, 'once the client leaves, the cycle completes') or diag($r->{stderr});
is(role_row($primary, $ua), 'f|f', 'the old role is revoked');
is($other_tx->query_safe('SELECT session_user'), 'other_app', 'the other application was not disturbed');

# 3. Session pooling: a client and its server connection hold the drain.
{
	my $s = $pgb->client(user => $ub, password => $pb, dbname => 'appdb', application_name => 'session-idle');
	$r = cycle();
	is($r->{exit}, 3, 'an idle session-pooling client holds the drain: exit 3');
	like($r->{stderr}, qr/sessions primary 1, pooler "\Q$pnode\E" 2\b/,
		'its backend on the primary, its client and server connection on the pooler');
	like($r->{stderr}, qr/pooler "\Q$pnode\E" server connection of database "appdb" \(backend pid \d+\)/,
		'the server connection is named');
	like($r->{stderr}, qr/pooler "\Q$pnode\E" server connection of database "appdb" \(backend pid \d+\) "session-idle" since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/m,
		'with its connect time in ISO 8601 UTC');
	$s->quit;
	$r = cycle();
	is($r->{exit}, 0, 'once it leaves, the cycle completes') or diag($r->{stderr});
	poll_until(sub { @{ $pgb->servers_of($ub) } == 0 }, what => 'the old role\'s server connections to go');
}

# 4. Clients that re-read their credential before each connection never
# fail, through either pool, for a whole cycle with an overlap.
{
	my ($u0) = read_env_sink($sink);
	my $bg = start_pgrotate(args => [ 'cycle', 'appdb' ], config => conf('overlap', min_overlap => '3s',
			drain_timeout => '20s'), env => $t->{env}, timeout => 60);
	my ($tries, $failures, %seen) = (0, 0);
	while ($bg->is_running)
	{
		my ($u, $p) = read_env_sink($sink);
		my $got = through_pooler($u, $p, $tries % 2 ? 'appdb_tx' : 'appdb');
		$tries++;
		if (defined $got && $got eq $u) { $seen{$u}++; }
		else { $failures++; diag("login as $u failed"); }
	}
	my $res = $bg->finish;
	is($res->{exit}, 0, 'the cycle under load completes') or diag($res->{stderr});
	cmp_ok($tries, '>=', 3, "clients connected $tries times during the cycle");
	is($failures, 0, 'no client that re-read its credential failed');
	is(scalar keys %seen, 2, 'they used the old role, then the new one');
	is(role_row($primary, $u0), 'f|f', 'the old role is revoked at the end');
}

# 5. --emergency: the old role's backends (and with them the session
# pooling client) are terminated; PgBouncer before 1.24 cannot disconnect
# the idle transaction-pooling client, which then fails at its next
# transaction; other roles' clients are untouched.
{
	my ($u, $p) = read_env_sink($sink);
	my $txc = $pgb->client(user => $u, password => $p, dbname => 'appdb_tx', application_name => 'tx-doomed');
	my $sc = $pgb->client(user => $u, password => $p, dbname => 'appdb', application_name => 'session-doomed');
	my $other_s = $pgb->client(user => 'other_app', password => $other_pw, dbname => 'appdb',
		application_name => 'other-session');
	$r = cycle(conf('emergency', emergency_grace => '1s'), '--emergency');
	is($r->{exit}, 0, '--emergency with pooler clients: exit 0') or diag($r->{stderr});
	like($r->{stderr}, qr/terminated \d+ sessions? of role "\Q$u\E"/, 'it terminated the backends');
	is(role_row($primary, $u), 'f|f', 'the old role is revoked');
	poll_until(sub { @{ $pgb->clients_of($u, 'appdb') } == 0 },
		what => 'the session-pooling client to be disconnected with its backend');
	if ($pgb_version >= 12400)
	{
		poll_until(sub { @{ $pgb->clients_of($u) } == 0 }, what => 'KILL_CLIENT to disconnect the idle client');
	}
	else
	{
		like($r->{stderr}, qr/pooler "\Q$pnode\E" \(PgBouncer [\d.]+\) cannot disconnect a single client: 1 client of role "\Q$u\E" stays connected/,
			'it says plainly what this PgBouncer cannot do');
		is(scalar @{ $pgb->clients_of($u, 'appdb_tx') }, 1, 'the idle transaction-pooling client is still connected');
		is($primary->safe_psql("SELECT count(*) > 0 FROM pgrotate.history WHERE event = 'pooler_clients_left'",
				dbname => 'appdb'), 't', 'the history records the clients left connected');
		my ($out, $err) = eval { $txc->query('SELECT session_user', timeout => 20) };
		$err = $@ if !defined $err;
		like($err, qr/query_wait_timeout|ERROR|FATAL|closed|exited/,
			'its next transaction waits for a server login that fails, and gives up');
	}
	is($other_s->query_safe('SELECT session_user'), 'other_app', 'another role\'s session client works');
	is($other_tx->query_safe('SELECT session_user'), 'other_app', 'another role\'s transaction client works');
	$txc->kill(no_wait => 1);
	$sc->kill(no_wait => 1);
}

# 6. A publish resumed after a crash still writes the verifier the server
# has: from the pending file, or a new one set on the server.
# The crash points need a build with --enable-fault-injection; a plain
# build skips these cases (5 tests per point).
SKIP:
{
	skip 'the crash points need a build with --enable-fault-injection', 10
	  unless run_pgrotate(args => ['--version'])->{stdout} =~ /enable-fault-injection/;
	for my $point ('after-verify', 'mid-publish')
	{
		$r = cycle(undef, { PGROTATE_FAULT => $point });
		is($r->{signal}, 9, "$point: killed at the fault point");
		$r = cycle();
		is($r->{exit}, 0, "$point: the resumed cycle completes") or diag($r->{stderr});
		my ($u, $p) = read_env_sink($sink);
		my ($first) = split /\n/, slurp_file($auth);
		is($first, qq("$u" ") . verifier_of($u) . '"', "$point: the auth_file has the server's verifier");
		if ($point eq 'after-verify')
		{
			like($r->{stderr}, qr/set a new SCRAM verifier of the same password for role "\Q$u\E"/,
				'without a saved verifier a new one was set');
		}
		else
		{
			unlike($r->{stderr}, qr/set a new SCRAM verifier/, 'the verifier saved in the pending file was used');
		}
		is(through_pooler($u, $p, 'appdb_tx'), $u, "$point: the new credential works through the pooler");
	}
}

# 7. A PgBouncer that stops answering in the middle of the drain (SIGSTOP:
# a wedged pooler) does not hang pgrotate: its poll gives up at the drain's
# deadline, without waiting for the answer to a cancel request that the
# pooler never gives. Nothing is revoked; once the pooler is back, a cycle
# completes.
{
	my $name = 'a frozen pooler';
	my ($old, $oldpw) = read_env_sink($sink);
	my $holder = $pgb->client(user => $old, password => $oldpw, dbname => 'appdb', application_name => 'holder');
	my $bg = start_pgrotate(args => [ 'cycle', 'appdb' ], config => conf('frozen', drain_timeout => '3s'),
		env => $t->{env}, timeout => 90);
	$bg->wait_for(qr/draining "\Q$old\E": sessions/, stream => 'stderr');
	my $pid = slurp_file($pgb->{base_dir} . '/pgbouncer.pid');
	$pid =~ s/\s+//g;
	ok(kill('STOP', $pid), "$name: froze PgBouncer");
	my $r = $bg->finish(timeout => 20);
	kill 'CONT', $pid;
	ok(!$r->{timed_out}, "$name: pgrotate gives up by itself");
	ok($r->{exit} == 1 || $r->{exit} == 3, "$name: with exit 1 or 3") or diag($r->{stderr});
	is(role_row($primary, $old), 't|t', "$name: the old role is not revoked");
	$holder->quit;
	$r = cycle();
	is($r->{exit}, 0, "$name: once the pooler answers again, a cycle completes") or diag($r->{stderr});
	is(role_row($primary, $old), 'f|f', "$name: and revokes the old role");
}

# No plaintext password in the auth_file or PgBouncer's log.
{
	my ($u, $p) = read_env_sink($sink);
	assert_no_secret_in([ $p, $pa, $pb ], { 'the auth_file' => slurp_file($auth),
			'the PgBouncer log' => $pgb->log_content });
}

done_testing();
