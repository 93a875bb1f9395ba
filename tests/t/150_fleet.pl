# cycle --all / --due / --jobs: targets run concurrently, each isolated;
# one target's drain does not hold back the others; the exit code is the
# worst; --due takes only targets past rotation_interval or mid-cycle.
use strict;
use warnings;
use Test::More;
use PgRotateTest;
use PgRotateSetup;

my $dir = test_dir();
my %sink = map { $_ => "$dir/$_.env" } qw(t1 t2 t3);
my $t = setup_target(config_opts => { target => 't1', sink_path => $sink{t1} });
my $node = $t->{node};
# the other two targets, on the same cluster and database
my $conf = "$dir/fleet.conf";
write_config($conf, target_config(node => $node, target => 't1', sink_path => $sink{t1},
		defaults => { drain_timeout => '4s' },
		extra_targets => join('', map {
				target_block(node => $node, target => $_, group_role => "grp_$_",
					roles => [ "${_}_a", "${_}_b" ], sink_path => $sink{$_})
			} qw(t2 t3))));
$t->{conf} = $conf;

sub col
{
	my ($target, $col) = @_;
	return $node->safe_psql("SELECT $col FROM pgrotate.state WHERE target = '$target'", dbname => 'appdb');
}

for my $tg (qw(t1 t2 t3))
{
	is(pgr($t, 'init', $tg)->{exit}, 0, "init $tg");
}

# A session holds t2's active role: t2 times out, t1 and t3 complete.
my ($u2, $p2) = read_env_sink($sink{t2});
my $s = $node->background_session(user => $u2, password => $p2, dbname => 'appdb', application_name => 'hold-t2');
my $r = pgr($t, 'cycle', '--all', '--jobs', '3');
is($r->{exit}, 3, '--all: the exit code is the worst (t2 drain timeout)');
is(col('t1', 'phase') . ' ' . col('t1', 'generation'), 'idle 2', 't1 rotated');
is(col('t3', 'phase') . ' ' . col('t3', 'generation'), 'idle 2', 't3 rotated');
is(col('t2', 'phase'), 'draining', 't2 is left draining');
like($r->{stderr}, qr/^pgrotate: error: t2: drain timeout/m, 'messages are prefixed by the target');
like($r->{stderr}, qr/^pgrotate: t1: revoked role/m, 't1 says it revoked');
# concurrency: t1 and t3 were done well before t2 gave up
my $late = $node->safe_psql("SELECT extract(epoch FROM max(at)) FROM pgrotate.history WHERE target = 't2' AND event = 'drain_timeout'",
	dbname => 'appdb');
my $done = $node->safe_psql("SELECT extract(epoch FROM max(at)) FROM pgrotate.history WHERE target IN ('t1', 't3') AND event = 'revoked' AND generation = 2",
	dbname => 'appdb');
cmp_ok($late - $done, '>', 2, "t2's drain did not hold back t1 and t3");

# --due: only t2 (mid-cycle) is taken; t1 and t3 are not due.
$s->quit;
$r = pgr($t, 'cycle', '--all', '--due');
is($r->{exit}, 0, '--all --due exits 0') or diag($r->{stderr});
is(col('t2', 'phase'), 'idle', 't2 finished its cycle');
is(col('t1', 'generation') . ' ' . col('t3', 'generation'), '2 2', 't1 and t3 were not rotated (not due)');
like($r->{stderr}, qr/t1: not due: rotated (\d+[dhm])*\d+s ago \(rotation_interval 30d\)/,
	'it says t1 is not due, with durations as duration.c prints them');

# rotated_at long ago: due again.
$node->safe_psql("UPDATE pgrotate.state SET rotated_at = now() - interval '31 days' WHERE target = 't3'", dbname => 'appdb');
$r = pgr($t, 'cycle', '--all', '--due', '--jobs', '1');
is($r->{exit}, 0, '--due --jobs 1 exits 0');
is(col('t3', 'generation'), '3', 'an overdue target is rotated');
is(col('t1', 'generation'), '2', 'the others are not');

# One failing target does not stop the others.
my $bad = "$dir/bad.conf";
write_config($bad, target_config(node => $node, target => 't1', sink_path => $sink{t1},
		extra_targets => target_block(node => $node, target => 't3', group_role => 'grp_t3',
			roles => [ 't3_a', 't3_b' ], sink_path => "$dir/missing-dir/t3.env")));
$r = run_pgrotate(args => [ 'cycle', 't1', 't3' ], config => $bad, env => $t->{env});
is($r->{exit}, 1, 'a failing target makes the run exit 1');
is(col('t1', 'generation'), '3', 'the other target still rotated');
is(col('t3', 'phase'), 'verified', 'the failing one stopped before publishing');
my ($u3, $p3) = read_env_sink($sink{t3});
ok(login_works($node, $u3, $p3), "t3's published credential still logs in");

# The lock of a fleet run (issue 17): the leaked application credential,
# disguised as a pgrotate run, takes every target's old advisory lock; a
# cycle --all is not blocked, and while it holds the targets a second run
# is told the real holder, as the server sees it.
{
	my $long = "$dir/fleet-long.conf";
	write_config($long, target_config(node => $node, target => 't1', sink_path => $sink{t1},
			defaults => { drain_timeout => '90s' },
			extra_targets => join('', map {
					target_block(node => $node, target => $_, group_role => "grp_$_",
						roles => [ "${_}_a", "${_}_b" ], sink_path => $sink{$_})
				} qw(t2 t3))));
	my ($u1, $p1) = read_env_sink($sink{t1});
	my $spoof = $node->background_session(user => $u1, password => $p1, dbname => 'appdb',
		application_name => 'pgrotate:4242@ops-bastion');
	$spoof->query_safe("SELECT pg_advisory_lock(hashtext('pgrotate'), hashtext('$_'))") for qw(t1 t2 t3);
	my $gen = col('t1', 'generation');
	my $bg = start_pgrotate(args => [ 'cycle', '--all' ], config => $long, env => $t->{env}, timeout => 120);
	ok(poll_until(sub { col('t1', 'phase') eq 'draining' && col('t1', 'generation') == $gen + 1 },
			what => 't1 past its lock, draining the spoofing session', timeout => 60),
		'cycle --all claims t1 although the application role holds its old advisory lock');
	my $pid = $bg->pid;
	$r = run_pgrotate(args => [ 'cycle', 't1' ], config => $long, env => $t->{env});
	is($r->{exit}, 4, 'a second run of a target that cycle --all holds exits 4');
	like($r->{stderr}, qr/another pgrotate run holds target "t1": host \S+, pgrotate pid $pid, since \S+Z \(database role pgrotate_admin, client local socket, backend pid \d+ started /,
		'it names the real holder: the fleet run\'s pid and its hub\'s database role');
	unlike($r->{stderr}, qr/ops-bastion|pgrotate pid 4242/, 'not the spoofing session');
	$spoof->quit;
	$r = $bg->finish;
	is($r->{exit}, 0, 'the fleet run finishes') or diag($r->{stderr});
	is(col('t1', 'phase') . ' ' . col('t1', 'generation'), 'idle ' . ($gen + 1), 't1 rotated');
	unlike($r->{stdout} . $r->{stderr}, qr/holds target|host ops-bastion|pgrotate pid 4242/,
		'the spoofed application_name was never taken for a lock holder');
}

done_testing();
