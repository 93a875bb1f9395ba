# Fault injection, part 4: a server that stops answering. pgrotate's
# backend is frozen (SIGSTOP: what a lost network or a hung server looks
# like from the client) in the middle of the drain, and pgrotate is asked
# to stop (SIGTERM) while its ALTER ROLE waits on a lock. pgrotate must
# give up within bounded time (drain_timeout; at once on a signal), not
# hang holding the target's lock.
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
my $t = setup_target(cluster_opts => { extra_conf => 'max_prepared_transactions = 2' },
	config_opts => { defaults => { drain_timeout => '60s' } });
my $node = $t->{node};
my @frozen;    # backends to SIGCONT whatever happens

END
{
	kill 'CONT', $_ for @frozen;
}

is(pgr($t, 'init', 'appdb')->{exit}, 0, 'init') or BAIL_OUT('init failed');

sub state_col
{
	my ($col) = @_;
	return $node->safe_psql("SELECT $col FROM pgrotate.state WHERE target = 'appdb'", dbname => 'appdb');
}

sub logins
{
	return $node->safe_psql(
		"SELECT count(*) FROM pg_roles WHERE rolname IN ('app_user_a', 'app_user_b') AND rolcanlogin");
}

sub sinks_log_in
{
	my ($name) = @_;
	my ($u, $p) = read_env_sink($t->{sink});
	ok(login_works($node, $u, $p), "$name: the sink's credential ($u) logs in");
}

sub finish_plain
{
	my ($name) = @_;
	my $r = pgr($t, 'cycle', 'appdb');
	is($r->{exit}, 0, "$name: a plain cycle afterwards completes") or diag($r->{stderr});
	is(state_col('phase'), 'idle', "$name: phase idle");
	is(logins(), '1', "$name: exactly one role can log in");
	sinks_log_in("$name, after");
	return $r;
}

# Is process pid blocked in poll()? By the kernel's wait channel
# (poll_schedule_timeout, against hrtimer_nanosleep between polls), else by
# the syscall number (x86-64: poll 7, ppoll 271).
sub in_poll
{
	my ($pid) = @_;
	my $wchan = eval { slurp_file("/proc/$pid/wchan") } // '';
	return $wchan =~ /poll/ ? 1 : 0 if $wchan =~ /[a-z]/;
	my $sc = eval { slurp_file("/proc/$pid/syscall") } // '';
	return $sc =~ /^(7|271) / ? 1 : 0;
}

sub pgrotate_backend
{
	return $node->safe_psql("SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'pgrotate:%'");
}

# 1. The server stops answering in the middle of the drain: drain_timeout
# (3s here) must still end the run.
{
	my $name = 'server hangs mid-drain';
	my $conf = "$dir/short.conf";
	write_config($conf, target_config(node => $node, sink_path => $t->{sink},
			defaults => { drain_timeout => '3s' }));
	my ($old, $oldpw) = read_env_sink($t->{sink});
	my $s = $node->background_session(user => $old, password => $oldpw, dbname => 'appdb',
		application_name => 'holder');
	my $bg = start_pgrotate(args => [ 'cycle', 'appdb' ], config => $conf, env => $t->{env}, timeout => 90);
	$bg->wait_for(qr/draining "\Q$old\E": sessions primary 1/, stream => 'stderr');
	my $backend = pgrotate_backend();
	like($backend, qr/^\d+$/, "$name: found pgrotate's backend");
	push @frozen, $backend;
	ok(kill('STOP', $backend), "$name: froze it");
	my $r;
	{
		$r = $bg->finish(timeout => 12);
		ok(!$r->{timed_out}, "$name: pgrotate gives up by itself");
		ok($r->{exit} == 1 || $r->{exit} == 3, "$name: with exit 1 or 3");
	}
	kill 'CONT', $backend;
	@frozen = ();
	ok(poll_until(sub { $node->safe_psql("SELECT count(*) FROM pgrotate.state s JOIN pg_stat_activity a ON a.pid = s.lock_backend_pid AND a.backend_start = s.lock_backend_start",
					dbname => 'appdb') eq '0' }, timeout => 20, what => 'the lock to go'),
		"$name: the lock is released once pgrotate is gone");
	is(state_col('phase'), 'draining', "$name: the state stays draining");
	ok(login_works($node, $old, $oldpw), "$name: the old credential still logs in");
	sinks_log_in($name);
	$s->quit;
	finish_plain($name);
}

# 2. SIGTERM while ALTER ROLE waits on a row lock (a prepared transaction
# holds it): the run must stop promptly, nothing half done.
{
	my $name = 'SIGTERM while waiting on a lock';
	my ($active, $apw) = read_env_sink($t->{sink});
	my $q = PgRotateTest::quote_ident(state_col('standby_role'));
	$node->safe_psql("BEGIN; ALTER ROLE $q CONNECTION LIMIT -1; PREPARE TRANSACTION 'pgr_block';");
	my $bg = start_pgrotate(args => [ 'cycle', 'appdb' ], config => $t->{conf}, env => $t->{env}, timeout => 90);
	$node->poll_query_until("SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name LIKE 'pgrotate:%'"
		  . " AND wait_event_type = 'Lock'", 't', what => 'pgrotate to wait on the role lock');
	$bg->signal('TERM');
	my $r;
	{
		$r = $bg->finish(timeout => 10);
		ok(!$r->{timed_out}, "$name: pgrotate stops within 10s");
		is($r->{exit}, 1, "$name: exit 1");
	}
	$node->safe_psql("ROLLBACK PREPARED 'pgr_block'");
	# a killed run's backend ends (and lets the lock go) once its ALTER ROLE does
	ok(poll_until(sub { $node->safe_psql("SELECT count(*) FROM pgrotate.state s JOIN pg_stat_activity a ON a.pid = s.lock_backend_pid AND a.backend_start = s.lock_backend_start",
					dbname => 'appdb') eq '0' }, timeout => 20, what => 'the lock to go'),
		"$name: the lock is released");
	is(state_col('phase'), 'idle', "$name: nothing was committed");
	is(role_row($node, $active), 't|t', "$name: the active role is untouched");
	ok(login_works($node, $active, $apw), "$name: the active credential logs in");
	sinks_log_in($name);
	finish_plain($name);
}

# 3. SIGTERM while a drain poll gets no answer (the backend is frozen, so
# the signal certainly arrives during the query): a prompt stop that says
# it was interrupted, not a node failure.
{
	my $name = 'SIGTERM during a stuck drain poll';
	my $conf = "$dir/overlap.conf";
	write_config($conf, target_config(node => $node, sink_path => $t->{sink},
			defaults => { min_overlap => '45s', drain_timeout => '60s', poll_interval => '200ms' }));
	my ($old, $oldpw) = read_env_sink($t->{sink});
	my $bg = start_pgrotate(args => [ 'cycle', 'appdb' ], config => $conf, env => $t->{env}, timeout => 90);
	$bg->wait_for(qr/draining "\Q$old\E": sessions primary 0/, stream => 'stderr');
	my $backend = pgrotate_backend();
	push @frozen, $backend;
	ok(kill('STOP', $backend), "$name: froze pgrotate's backend");
	# the next poll (within poll_interval) waits in poll() for an answer
	# that does not come; between polls pgrotate is in nanosleep instead
	my $pid = $bg->pid;
	ok(poll_until(sub { in_poll($pid) }, timeout => 8, what => 'pgrotate to wait for the poll'),
		"$name: pgrotate waits for the answer to a poll");
	$bg->signal('TERM');
	my $r = $bg->finish(timeout => 15);
	kill 'CONT', $backend;
	@frozen = ();
	ok(!$r->{timed_out}, "$name: pgrotate stops promptly");
	is($r->{exit}, 3, "$name: exit 3 (published, the old role valid)");
	like($r->{stderr}, qr/interrupted/, "$name: says it was interrupted");
	unlike($r->{stderr}, qr/start that node|remove it from the target/,
		"$name: does not blame the node") or diag($r->{stderr});
	ok(poll_until(sub { $node->safe_psql("SELECT count(*) FROM pgrotate.state s JOIN pg_stat_activity a ON a.pid = s.lock_backend_pid AND a.backend_start = s.lock_backend_start",
					dbname => 'appdb') eq '0' }, timeout => 20, what => 'the lock to go'),
		"$name: the lock is released");
	is(state_col('phase'), 'draining', "$name: the state stays draining");
	ok(login_works($node, $old, $oldpw), "$name: the old credential still logs in");
	sinks_log_in($name);
	finish_plain($name);
}

done_testing();
