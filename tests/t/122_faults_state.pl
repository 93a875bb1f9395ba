# Fault injection, part 3: the durable state and the input. The pending
# file deleted or corrupted between runs (in phases provisioned and
# verified), the state row edited to an unknown phase, the standby role
# dropped or given LOGIN by hand, PGROTATE_CONFIG naming a directory, a FIFO
# or /dev/zero. Each is detected with a clear error or safely repaired, and
# the role the sinks hand out is never revoked.
#
# Each case ends with the two assertions of the fault suite: a credential
# that the sinks hold logs in, and a plain "pgrotate cycle" afterwards
# completes and leaves exactly one role able to log in.
use strict;
use warnings;
use Test::More;
use POSIX qw(mkfifo);
use PgRotateTest;
use PgRotateSetup;

my $dir = test_dir();
my $t = setup_target(config_opts => { defaults => { drain_timeout => '60s' } });
my $node = $t->{node};
my $pending = "$dir/state/appdb.pending";

is(pgr($t, 'init', 'appdb')->{exit}, 0, 'init') or BAIL_OUT('init failed');

# The fault points (--enable-fault-injection) stop a run in a given phase.
my $faults = run_pgrotate(args => ['--version'])->{stdout} =~ /enable-fault-injection/;

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

# Assertion 1: the credential the sink holds logs in.
sub sinks_log_in
{
	my ($name) = @_;
	my ($u, $p) = read_env_sink($t->{sink});
	ok(login_works($node, $u, $p), "$name: the sink's credential ($u) logs in");
}

# Assertion 2: a plain cycle completes, exactly one role can log in.
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

# Stop a cycle with SIGKILL at a fault point.
sub stop_at
{
	my ($point, $name) = @_;
	my $r = pgr($t, [ 'cycle', 'appdb' ], env => { %{ $t->{env} }, PGROTATE_FAULT => $point });
	is($r->{signal}, 9, "$name: a run stopped at $point") or diag($r->{stderr});
}

sub last_events
{
	my ($since_id) = @_;
	return $node->safe_psql("SELECT string_agg(event, ',' ORDER BY id) FROM pgrotate.history WHERE id > $since_id",
		dbname => 'appdb');
}

sub max_history_id
{
	return $node->safe_psql('SELECT coalesce(max(id), 0) FROM pgrotate.history', dbname => 'appdb');
}

sub write_file
{
	my ($path, $text, $mode) = @_;
	open my $fh, '>', $path or die "cannot write $path: $!";
	print $fh $text;
	close $fh or die;
	chmod $mode // 0600, $path or die;
}

# 1, 2. The pending file is deleted between runs: the unpublished standby
# is rolled back (it may have LOGIN with a password nobody has any more).
sub pending_deleted
{
	my ($point) = @_;
	my $name = "pending file deleted ($point)";
	my ($active, $apw) = read_env_sink($t->{sink});
	my $gen = state_col('generation');
	stop_at($point, $name);
	my $standby = state_col('pending_role');
	ok(-e $pending, "$name: a pending file was left") or return;
	unlink $pending or die;
	my $id = max_history_id();
	my $r = pgr($t, 'cycle', 'appdb');
	is($r->{exit}, 0, "$name: the next run repairs it") or diag($r->{stderr});
	like($r->{stderr}, qr/rolled back: role "\Q$standby\E" is NOLOGIN again/, "$name: it says it rolled back");
	like(last_events($id), qr/^resumed,rolled_back/, "$name: the history records the rollback");
	ok(login_works($node, $active, $apw) || (read_env_sink($t->{sink}))[0] ne $active,
		"$name: the role the sink handed out was not revoked under it");
	{
		is(state_col('generation'), $gen, "$name: no new cycle was started in the same run");
	}
	sinks_log_in($name);
	finish_plain($name);
}

# 3, 4. The pending file is corrupt (garbage; a valid file with another
# password): a clear error, nothing guessed; following its hint repairs.
sub pending_corrupt
{
	my ($point, $kind, $text) = @_;
	my $name = "pending file corrupt: $kind ($point)";
	my ($active, $apw) = read_env_sink($t->{sink});
	stop_at($point, $name);
	my $phase = state_col('phase');
	my $standby = state_col('pending_role');
	ok(-e $pending, "$name: a pending file was left") or return;
	my $r;
	if (defined $text)
	{
		write_file($pending, $text);
		$r = pgr($t, 'cycle', 'appdb');
		is($r->{exit}, 1, "$name: exits 1") or diag($r->{stderr});
		like($r->{stderr}, qr/pending file "\Q$pending\E" is corrupt/, "$name: a clear error naming the file");
		like($r->{stderr}, qr/remove the file to start over|can be removed/, "$name: with the fix");
		is(state_col('phase'), $phase, "$name: the state is unchanged");
		is(role_row($node, $active), 't|t', "$name: the active role is untouched");
		ok(-e $pending, "$name: the file is kept for the operator");
		sinks_log_in($name);
		unlink $pending or die;    # what the hint says
	}
	else
	{
		# a well-formed file whose password does not match the state's
		# fingerprint is not used
		my $foreign = random_password(32);
		($text = slurp_file($pending)) =~ s/^password \S+$/password $foreign/m;
		write_file($pending, $text);
		$r = pgr($t, 'cycle', 'appdb');
		is($r->{exit}, 0, "$name: repaired") or diag($r->{stderr});
		like($r->{stderr}, qr/does not match the state/, "$name: it says the file does not match");
		like($r->{stderr}, qr/rolled back: role "\Q$standby\E"/, "$name: and rolled back");
		unlike(slurp_file($t->{sink}), qr/\Q$foreign\E/, "$name: the foreign password was not published");
	}
	finish_plain($name);
}

SKIP:
{
	skip 'the pending file cases stop runs at fault points: not a --enable-fault-injection build', 4
	  unless $faults;
	pending_deleted($_) for qw(after-provision after-verify);
	pending_corrupt('after-provision', 'garbage', "pgrotate-pending 1\nrole \x01\x02\ngarbage\n");
	pending_corrupt('after-verify', 'another password', undef);
}

# 5. The state row is edited to a phase pgrotate does not know.
{
	my $name = 'unknown phase';
	my ($active, $apw) = read_env_sink($t->{sink});
	my $rows = "SELECT rolname || ':' || rolcanlogin FROM pg_roles WHERE rolname LIKE 'app_user_%' ORDER BY 1";
	my $before = $node->safe_psql($rows);
	my ($cname, $cdef) = split /\|/, $node->safe_psql(
		"SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'pgrotate.state'::regclass"
		  . " AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%phase%'", dbname => 'appdb');
	ok($cname, "$name: found the CHECK constraint on phase");
	$node->safe_psql("ALTER TABLE pgrotate.state DROP CONSTRAINT \"$cname\";"
		  . " UPDATE pgrotate.state SET phase = 'exploded'", dbname => 'appdb');
	my $r = pgr($t, 'cycle', 'appdb');
	is($r->{exit}, 1, "$name: exits 1") or diag($r->{stderr});
	like($r->{stderr}, qr/unknown phase "exploded"/, "$name: a clear error naming the phase");
	like($r->{stderr}, qr/nothing was changed/, "$name: says nothing was changed");
	is($node->safe_psql($rows), $before, "$name: no role was changed");
	is(state_col('phase'), 'exploded', "$name: the state row is left for the operator");
	sinks_log_in($name);
	$node->safe_psql("UPDATE pgrotate.state SET phase = 'idle';"
		  . " ALTER TABLE pgrotate.state ADD CONSTRAINT \"$cname\" $cdef", dbname => 'appdb');
	finish_plain($name);
}

# 6. The standby role is dropped by hand: a clear error; init recreates it.
{
	my $name = 'standby dropped';
	my ($active, $apw) = read_env_sink($t->{sink});
	my $standby = state_col('standby_role');
	$node->safe_psql('DROP ROLE ' . PgRotateTest::quote_ident($standby));
	my $r = pgr($t, 'cycle', 'appdb');
	is($r->{exit}, 1, "$name: exits 1") or diag($r->{stderr});
	like($r->{stderr}, qr/\Q$standby\E.*does not exist/, "$name: the error names the missing role");
	is(role_row($node, $active), 't|t', "$name: the active role is untouched");
	sinks_log_in($name);
	$r = pgr($t, 'init', 'appdb');
	is($r->{exit}, 0, "$name: init recreates what is missing") or diag($r->{stderr});
	is((read_env_sink($t->{sink}))[0], $active, "$name: init did not change the active role");
	ok(login_works($node, $active, $apw), "$name: nor its password");
	finish_plain($name);
}

# 7. The standby role is given LOGIN by hand, and someone uses it: refused
# while it has sessions; once they end, the cycle takes the role back.
{
	my $name = 'standby given LOGIN';
	my ($active, $apw) = read_env_sink($t->{sink});
	my $standby = state_col('standby_role');
	my $handpw = random_password(24);
	$node->safe_psql('ALTER ROLE ' . PgRotateTest::quote_ident($standby) . ' LOGIN');
	$node->set_password($standby, $handpw);
	my $s = $node->background_session(user => $standby, password => $handpw, dbname => 'appdb',
		application_name => 'hand-made');
	my $r = pgr($t, 'cycle', 'appdb');
	is($r->{exit}, 1, "$name: refused while the standby has a session") or diag($r->{stderr});
	like($r->{stderr}, qr/standby role "\Q$standby\E" has 1 session/, "$name: a clear error");
	like($r->{stderr}, qr/hand-made/, "$name: naming the session");
	ok(login_works($node, $standby, $handpw), "$name: the hand-set password was not changed");
	is(role_row($node, $active), 't|t', "$name: the active role is untouched");
	is(state_col('phase'), 'idle', "$name: nothing was started");
	sinks_log_in($name);
	$s->quit;
	my $fin = finish_plain($name);
	ok(!login_works($node, $standby, $handpw), "$name: the hand-set password no longer works");
}

# 8. While the old role drains, someone puts the old credential back into
# the sink (a restored backup): the revoke is refused, both roles stay
# valid; once the sink is fixed, the cycle finishes.
{
	my $name = 'sink rewritten to the old role';
	my $old_text = slurp_file($t->{sink});
	my ($old, $oldpw) = read_env_sink($t->{sink});
	my $r = pgr($t, 'cycle', 'appdb', '--no-wait');
	is($r->{exit}, 0, "$name: a run stopped after publish (--no-wait)") or diag($r->{stderr});
	is(state_col('phase'), 'draining', "$name: draining");
	my $new_text = slurp_file($t->{sink});
	write_file($t->{sink}, $old_text);
	$r = pgr($t, 'cycle', 'appdb');
	is($r->{exit}, 1, "$name: exits 1") or diag($r->{stderr});
	like($r->{stderr}, qr/refusing to revoke role "\Q$old\E": sink "\Q$t->{sink}\E" still hands it out/,
		"$name: a clear error");
	is(role_row($node, $old), 't|t', "$name: the role the sink hands out is not revoked");
	ok(login_works($node, $old, $oldpw), "$name: its credential logs in");
	is(state_col('phase'), 'draining', "$name: still draining");
	sinks_log_in($name);
	write_file($t->{sink}, $new_text);
	finish_plain($name);
}

# 9. PGROTATE_CONFIG (and -c) naming something that is not a file: exit 2
# at once, no hang.
{
	my $fifo = "$dir/conf.fifo";
	mkfifo($fifo, 0600) or die "mkfifo: $!";
	mkdir "$dir/conf.d" or die;
	for my $case ([ 'a directory', "$dir/conf.d" ], [ 'a FIFO', $fifo ], [ '/dev/zero', '/dev/zero' ])
	{
		my ($what, $path) = @$case;
		for my $how ('PGROTATE_CONFIG', '-c')
		{
			my $r = run_pgrotate(args => [ 'cycle', 'appdb' ], $how eq '-c' ? (config => $path) : (),
				env => { %{ $t->{env} }, PGROTATE_CONFIG => $path }, timeout => 20);
			is($r->{exit}, 2, "config is $what ($how): exit 2");
			cmp_ok($r->{elapsed}, '<', 5, "config is $what ($how): at once");
			like($r->{stderr}, qr/\Q$path\E/, "config is $what ($how): the message names it");
		}
	}
	my $r = run_pgrotate(args => ['check'], env => { %{ $t->{env} }, PGROTATE_CONFIG => $fifo }, timeout => 20);
	is($r->{exit}, 2, 'check with a FIFO as config: exit 2');
	sinks_log_in('bad config');
	finish_plain('bad config');
}

done_testing();
