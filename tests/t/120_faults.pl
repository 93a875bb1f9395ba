# Fault injection, part 1: the process and the server. SIGTERM and SIGINT
# in the middle of the drain, a server restart during the drain, the
# server stopped before a run and during provision and publish, the admin
# connection terminated mid-drain.
#
# Each case ends with the two assertions of the fault suite: a credential
# that the sinks hold logs in, and a plain "pgrotate cycle" afterwards
# completes and leaves exactly one role able to log in.
use strict;
use warnings;
use Test::More;
use PgRotateTest;
use PgRotateSetup;

my $dir = test_dir();
mkdir "$dir/json" or die "mkdir: $!";
my $json_sink = sprintf('{ type = "file"; path = "%s/json/app.json"; format = "json"; }', $dir);
# prepared transactions let a test hold a row lock that survives a restart
my $t = setup_target(cluster_opts => { extra_conf => 'max_prepared_transactions = 2' },
	config_opts => { extra_sinks => $json_sink, defaults => { drain_timeout => '60s' } });
my $node = $t->{node};

is(pgr($t, 'init', 'appdb')->{exit}, 0, 'init') or BAIL_OUT('init failed');

# A configuration whose drain waits on min_overlap (no session needed) long
# enough for a test to act in the middle of it. The long poll_interval puts
# a signal sent after the first poll into the sleep between polls (123
# sends one during a poll).
my $slow = "$dir/slow.conf";
write_config($slow, target_config(node => $node, sink_path => $t->{sink}, extra_sinks => $json_sink,
		defaults => { min_overlap => '45s', drain_timeout => '60s', poll_interval => '5s' }));

sub phase
{
	return $node->safe_psql("SELECT phase FROM pgrotate.state WHERE target = 'appdb'", dbname => 'appdb');
}

sub standby
{
	return $node->safe_psql("SELECT standby_role FROM pgrotate.state WHERE target = 'appdb'", dbname => 'appdb');
}

sub logins
{
	return $node->safe_psql(
		"SELECT count(*) FROM pg_roles WHERE rolname IN ('app_user_a', 'app_user_b') AND rolcanlogin");
}

# Assertion 1: what every sink holds logs in.
sub sinks_log_in
{
	my ($name) = @_;
	my ($u, $p) = read_env_sink($t->{sink});
	ok(login_works($node, $u, $p), "$name: the env sink's credential ($u) logs in");
	my $json = slurp_file("$dir/json/app.json");
	my ($ju) = $json =~ /"role":"([^"]+)"/;
	my ($jp) = $json =~ /"password":"([^"]+)"/;
	ok(login_works($node, $ju, $jp), "$name: the json sink's credential ($ju) logs in");
}

# Assertion 2: a plain cycle completes, exactly one role can log in.
sub finish_plain
{
	my ($name) = @_;
	my $r = pgr($t, 'cycle', 'appdb');
	is($r->{exit}, 0, "$name: a plain cycle afterwards completes") or diag($r->{stderr});
	unlike($r->{stderr}, qr/another pgrotate run holds/, "$name: it was not told the target is locked");
	is(phase(), 'idle', "$name: phase idle");
	is(logins(), '1', "$name: exactly one role can log in");
	sinks_log_in("$name, after");
	return $r;
}

# Targets whose lock a live session holds (its claim in pgrotate.state).
sub locks_held
{
	return $node->safe_psql("SELECT count(*) FROM pgrotate.state s JOIN pg_stat_activity a ON a.pid = s.lock_backend_pid AND a.backend_start = s.lock_backend_start", dbname => 'appdb');
}

# A cycle on the slow config, returned once it waits in the drain of $old.
sub start_draining
{
	my ($old) = @_;
	my $bg = start_pgrotate(args => [ 'cycle', 'appdb' ], config => $slow, env => $t->{env}, timeout => 90);
	$bg->wait_for(qr/draining "\Q$old\E": sessions primary 0/, stream => 'stderr', timeout => 60);
	return $bg;
}

# 1, 2. SIGTERM and SIGINT in the middle of the drain: a clean exit, the
# state is consistent, the lock is released.
for my $sig (qw(TERM INT))
{
	my $name = "SIG$sig mid-drain";
	my ($old, $oldpw) = read_env_sink($t->{sink});
	my $bg = start_draining($old);
	ok($bg->signal($sig), "$name: signal sent");
	my $r = $bg->finish(timeout => 30);
	is($r->{exit}, 3, "$name: exits 3 (published, the old role still valid, a re-run resumes)") or diag($r->{stderr});
	is($r->{signal}, 0, "$name: handled, not killed by the signal");
	like($r->{stderr}, qr/interrupted while draining role "\Q$old\E"/, "$name: says what it was doing");
	like($r->{stderr}, qr/Run "pgrotate cycle appdb" to finish the drain/, "$name: says how to finish, naming the target");
	is($node->safe_psql("SELECT event || ' ' || detail FROM pgrotate.history ORDER BY id DESC LIMIT 1", dbname => 'appdb'),
		'interrupted drain', "$name: the interruption is in the history");
	is(phase(), 'draining', "$name: the state stays draining");
	is(role_row($node, $old), 't|t', "$name: the old role is still valid");
	ok(login_works($node, $old, $oldpw), "$name: the old credential still logs in");
	ok(poll_until(sub { locks_held() eq '0' }, timeout => 10, what => 'the lock to go'),
		"$name: the target's lock is released");
	sinks_log_in($name);
	finish_plain($name);
}

# 3. The server restarts (pg_ctl restart -m fast) during the drain.
{
	my $name = 'restart mid-drain';
	my ($old) = read_env_sink($t->{sink});
	my $bg = start_draining($old);
	$node->restart(mode => 'fast');
	my $r = $bg->finish(timeout => 60);
	is($r->{exit}, 1, "$name: exits 1") or diag($r->{stderr});
	like($r->{stderr}, qr/cannot poll the sessions: .*(terminat|closed|connection)/i,
		"$name: a clear error");
	is(phase(), 'draining', "$name: the state stays draining");
	is(role_row($node, $old), 't|t', "$name: the old role is still valid");
	sinks_log_in($name);
	finish_plain($name);
}

# 4. The server is down when the cycle starts: a quick, clean refusal.
{
	my $name = 'server down';
	my $before = slurp_file($t->{sink});
	$node->stop(mode => 'fast');
	my $r = pgr($t, [ 'cycle', 'appdb' ], timeout => 60);
	is($r->{exit}, 1, "$name: exits 1");
	cmp_ok($r->{elapsed}, '<', 20, "$name: without hanging");
	like($r->{stderr}, qr/cannot connect to the control database/, "$name: says it cannot connect");
	is(slurp_file($t->{sink}), $before, "$name: the sink is untouched");
	$node->start;
	sinks_log_in($name);
	finish_plain($name);
}

# 5. The server stops during provision: ALTER ROLE waits on a row lock held
# by a prepared transaction (which survives the stop), then the server is
# stopped under it.
{
	my $name = 'stop during provision';
	my ($active, $apw) = read_env_sink($t->{sink});
	my $sb = standby();
	my $q = PgRotateTest::quote_ident($sb);
	$node->safe_psql("BEGIN; ALTER ROLE $q CONNECTION LIMIT -1; PREPARE TRANSACTION 'pgr_block';");
	my $bg = start_pgrotate(args => [ 'cycle', 'appdb' ], config => $t->{conf}, env => $t->{env}, timeout => 90);
	$node->poll_query_until("SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name LIKE 'pgrotate:%'"
		  . " AND wait_event_type = 'Lock'", 't', what => 'pgrotate to wait on the role lock');
	ok(-e "$dir/state/appdb.pending", "$name: the pending file was written before the server was touched");
	$node->stop(mode => 'fast');
	my $r = $bg->finish(timeout => 60);
	is($r->{exit}, 1, "$name: exits 1") or diag($r->{stderr});
	like($r->{stderr}, qr/cannot provision the standby role/, "$name: a clear error");
	like($r->{stderr}, qr/active role is untouched/, "$name: says the active role is untouched");
	$node->start;
	$node->safe_psql("ROLLBACK PREPARED 'pgr_block'");
	is(phase(), 'idle', "$name: nothing was committed");
	is(role_row($node, $active), 't|t', "$name: the active role is untouched");
	ok(login_works($node, $active, $apw), "$name: the active credential logs in");
	sinks_log_in($name);
	finish_plain($name);
}

# 6. The server stops during publish: a command sink after the file sinks
# waits for a go-ahead while the server is stopped, so the file sinks hold
# the new credential and the commit of "published" fails.
{
	my $name = 'stop during publish';
	my $go = "$dir/go";
	my $script = "$dir/wait-for-go.sh";
	open my $fh, '>', $script or die;
	print $fh "#!/bin/sh\ncat >/dev/null\n: > '$dir/waiting'\n"
	  . "i=0\nwhile [ ! -e '$go' ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i+1)); done\nexit 0\n";
	close $fh;
	chmod 0755, $script;
	my $conf = "$dir/cmdsink.conf";
	write_config($conf, target_config(node => $node, sink_path => $t->{sink},
			extra_sinks => "$json_sink,\n      { type = \"command\"; argv = [ \"$script\" ]; timeout = \"60s\"; }",
			defaults => { drain_timeout => '60s' }));
	my ($active, $apw) = read_env_sink($t->{sink});
	my $bg = start_pgrotate(args => [ 'cycle', 'appdb' ], config => $conf, env => $t->{env}, timeout => 90);
	poll_until(sub { -e "$dir/waiting" }, timeout => 60, what => 'the command sink to start');
	$node->stop(mode => 'fast');
	open my $g, '>', $go or die;
	close $g;
	my $r = $bg->finish(timeout => 60);
	is($r->{exit}, 1, "$name: exits 1") or diag($r->{stderr});
	like($r->{stderr}, qr/cannot record the publication/, "$name: a clear error");
	$node->start;
	is(phase(), 'verified', "$name: the state is still verified");
	my ($nu, $npw) = read_env_sink($t->{sink});
	isnt($nu, $active, "$name: the file sink already holds the new role");
	is(role_row($node, $active), 't|t', "$name: the old active role is untouched");
	ok(login_works($node, $active, $apw), "$name: the old credential still logs in");
	sinks_log_in($name);
	my $fin = finish_plain($name);
	is((read_env_sink($t->{sink}))[1], $npw, "$name: the resume published the same password");
	unlink $go, "$dir/waiting";
}

# 7. The admin connection is terminated (pg_terminate_backend) mid-drain.
{
	my $name = 'admin connection terminated';
	my ($old) = read_env_sink($t->{sink});
	my $bg = start_draining($old);
	is($node->safe_psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
			  . " WHERE application_name LIKE 'pgrotate:%'"), '1', "$name: terminated one backend");
	my $r = $bg->finish(timeout => 30);
	is($r->{exit}, 1, "$name: exits 1") or diag($r->{stderr});
	like($r->{stderr}, qr/cannot poll the sessions: .*terminat/i, "$name: a clear error");
	is(phase(), 'draining', "$name: the state stays draining");
	is(role_row($node, $old), 't|t', "$name: the old role is still valid");
	sinks_log_in($name);
	finish_plain($name);
}

done_testing();
