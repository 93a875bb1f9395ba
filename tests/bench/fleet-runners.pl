# Many runners, one fleet (issue 16, doc/fleet.md; run by hand, not part of
# make check): K runners, as if on K hosts (each its own process and its
# own state_dir), run "pgrotate cycle --all --due" over the same
# RUNNERS_TARGETS targets, each started again at a random time within half
# a rotation_interval after its last run ended, for RUNNERS_PERIODS
# rotation_intervals. The runners share nothing but the targets' locks.
#
# It prints the counts and checks that every target was rotated once per
# due period (never twice within one rotation_interval, and at least
# periods - 1 times), that no two cycles of one target ever overlapped
# (its history alternates provisioned ... revoked), and that no run failed
# (exit 0: a target another runner holds is skipped with --due).
#
#   PGROTATE_BIN=src/pgrotate PG_BINDIR=/usr/lib/postgresql/15/bin \
#   PGROTATE_SRCDIR=. perl -I tests/lib tests/bench/fleet-runners.pl
#
# Environment: RUNNERS (4), RUNNERS_TARGETS (200), RUNNERS_INTERVAL
# (rotation_interval in s, 20), RUNNERS_PERIODS (3).
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use PgRotateTest;

my $k = $ENV{RUNNERS} // 4;
my $n = $ENV{RUNNERS_TARGETS} // 200;
my $every = $ENV{RUNNERS_INTERVAL} // 20;
my $periods = $ENV{RUNNERS_PERIODS} // 3;

my $node = PgRotateTest::Cluster->new('runners', max_connections => 100,
	extra_conf => "log_statement = 'none'\nlog_connections = off\nlog_disconnections = off");
$node->start;
$node->create_database('appdb');
my $admin_pw = $node->create_admin('pgrotate_admin', createrole => 1,
	extra_grants => [ 'CREATE ON DATABASE appdb', 'pg_signal_backend' ]);
my $dir = test_dir();
my $pgpass = $node->write_pgpass("$dir/pgpass", [ [ 'pgrotate_admin', $admin_pw ] ]);
my $env = { PGPASSFILE => $pgpass, PGROTATE_CONFIG => undef };
my @names = map { sprintf 'r%03d', $_ } 1 .. $n;
my $blocks = join '', map {
	target_block(node => $node, target => $_, group_role => "g_$_", roles => [ "a_$_", "b_$_" ],
		sink_path => "$dir/sinks/$_.env")
} @names;
mkdir "$dir/sinks";
# One configuration per runner: the same targets, its own state_dir.
my @conf = map {
	my $c = "$dir/runner$_.conf";
	write_config($c, target_config(node => $node, no_target => 1, extra_targets => $blocks,
			state_dir => "$dir/state$_",
			defaults => { min_overlap => '1s', poll_interval => '100ms', drain_timeout => '60s',
				rotation_interval => "${every}s", warn_before => '1s' }));
	$c
} 1 .. $k;
my $r = run_pgrotate(args => [ 'init', '--all' ], config => $conf[0], env => $env, timeout => 600);
is($r->{exit}, 0, "init --all ($n targets)") or BAIL_OUT($r->{stderr});
# due from the start: every target's first credential "old"
$node->safe_psql("UPDATE pgrotate.state SET rotated_at = now() - interval '1 day'", dbname => 'appdb');

my $t0 = time;
my $end = $t0 + $every * $periods;
my (@runs, @next, @bg);
@next = map { $t0 + rand($every / 2) } 1 .. $k;
# one scheduling round: collect finished runs, start the runners whose time has come
my $round = sub {
	for my $i (0 .. $k - 1)
	{
		if ($bg[$i] && !$bg[$i]->is_running)
		{
			my $res = $bg[$i]->finish;
			push @runs, { runner => $i + 1, exit => $res->{exit}, skipped => scalar(() = $res->{stderr} =~ /skipped: another pgrotate run holds/g),
				locked => scalar(() = $res->{stderr} =~ /error: .*another pgrotate run holds/g) };
			undef $bg[$i];
			$next[$i] = time + rand($every / 2);
		}
		if (!$bg[$i] && time >= $next[$i] && time < $end)
		{
			$bg[$i] = start_pgrotate(args => [ 'cycle', '--all', '--due' ], config => $conf[$i], env => $env,
				timeout => 600);
		}
	}
	return time >= $end && !grep { defined } @bg;
};
poll_until($round, what => 'the runners to finish', timeout => $every * $periods + 600, interval => 0.05);
my $elapsed = time - $t0;

# The history of every target: its events in order, with their times.
my %hist;
for my $row (split /\n/, $node->safe_psql("SELECT target, event, extract(epoch FROM at) FROM pgrotate.history"
		  . " WHERE event IN ('provisioned', 'revoked', 'completed') AND at > to_timestamp($t0) ORDER BY target, id",
		dbname => 'appdb'))
{
	my ($tg, $ev, $at) = split /\|/, $row;
	push @{ $hist{$tg} }, [ $ev, $at ];
}
my ($overlapping, $too_soon, $min_rot, $max_rot) = (0, 0, 1e9, 0);
for my $tg (@names)
{
	my @h = @{ $hist{$tg} || [] };
	my ($open, $last_start, $rot) = (0, undef, 0);
	for my $e (@h)
	{
		if ($e->[0] eq 'provisioned')
		{
			$overlapping++ if $open;
			$too_soon++ if defined $last_start && $e->[1] - $last_start < $every - 1;
			($open, $last_start) = (1, $e->[1]);
		}
		else
		{
			$rot++ if $open;
			$open = 0;
		}
	}
	$min_rot = $rot if $rot < $min_rot;
	$max_rot = $rot if $rot > $max_rot;
}
my @failed = grep { $_->{exit} != 0 } @runs;
my $skipped = 0;
$skipped += $_->{skipped} for @runs;
my $locked = 0;
$locked += $_->{locked} for @runs;

printf "\n%d runners over %d targets, rotation_interval %ds, %.0f s (%d periods)\n", $k, $n, $every, $elapsed,
  $periods;
printf "| %-58s | %8s |\n", 'count', 'value';
printf "|%s|%s|\n", '-' x 60, '-' x 10;
printf "| %-58s | %8d |\n", @$_ for (
	[ 'runs', scalar @runs ],
	[ 'runs that failed (exit != 0)', scalar @failed ],
	[ 'targets skipped because another runner held them', $skipped ],
	[ 'lock errors', $locked ],
	[ 'rotations per target, least', $min_rot ],
	[ 'rotations per target, most', $max_rot ],
	[ 'cycles of one target that overlapped', $overlapping ],
	[ 'rotations of a target within one rotation_interval', $too_soon ],
);
is(scalar @failed, 0, 'no run failed') or diag(join ', ', map { "runner $_->{runner}: exit $_->{exit}" } @failed);
is($locked, 0, 'no lock error');
is($overlapping, 0, 'no two cycles of one target at once');
is($too_soon, 0, 'no target rotated twice within a rotation_interval');
cmp_ok($min_rot, '>=', $periods - 1, "every target rotated at least once per period (@{[ $periods - 1 ]}+)");

done_testing();
