# Fleet scale benchmark (issue 16; run by hand, not part of make check).
#
# Two local clusters, each with max_connections = 100 (PostgreSQL's
# default), hold FLEET_DBS databases between them (half on each) and
# FLEET_TARGETS targets spread over those databases (1000 over 100 by
# default); min_overlap FLEET_OVERLAP (10s), poll_interval FLEET_POLL
# (250ms). It prints:
#
# 1. the wall time of one target's cycle and of "cycle --all" (default
#    --jobs), no sessions, the peak of pgrotate's backends on each server
#    (sampled from pg_stat_activity by application_name), and the CPU
#    (user+sys) of pgrotate per target. Goals: <= 1.3x one target, <= 10
#    backends per server.
# 2. with stragglers on 10% of the targets (a session of the old role each,
#    ended at random times within 20 s after the publish): for each, the
#    time from its session's end (or the end of its min_overlap, if later)
#    to its revoke (history "revoked"), p50, p95 and max. Goal: p95 <= poll_interval + 50 ms.
#
#   PGROTATE_BIN=src/pgrotate PG_BINDIR=/usr/lib/postgresql/15/bin \
#   PGROTATE_SRCDIR=. perl -I tests/lib tests/bench/fleet-scale.pl
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use List::Util qw(shuffle);
use PgRotateTest;

my $n = $ENV{FLEET_TARGETS} // 1000;
my $ndb = $ENV{FLEET_DBS} // 100;
my $overlap = $ENV{FLEET_OVERLAP} // '10s';
my $poll = $ENV{FLEET_POLL} // '250ms';
my ($poll_ms) = $poll =~ /^(\d+)ms$/ or die "FLEET_POLL must be in ms\n";
my ($overlap_s) = $overlap =~ /^(\d+)s$/ or die "FLEET_OVERLAP must be in s\n";

my $dir = test_dir();
my $pgpass = "$dir/pgpass";
my (@nodes, @blocks, %where);
my $quiet = "log_statement = 'none'\nlog_connections = off\nlog_disconnections = off\nshared_buffers = '128MB'";
for my $c (0 .. 1)
{
	my $node = PgRotateTest::Cluster->new("c$c", max_connections => 100, extra_conf => $quiet);
	$node->start;
	my @dbs = map { "d${c}_$_" } 1 .. $ndb / 2;
	$node->create_database($_) for @dbs;
	my $pw = $node->create_admin('pgrotate_admin', createrole => 1,
		extra_grants => [ 'pg_signal_backend', map { "CREATE ON DATABASE $_" } @dbs ]);
	$node->write_pgpass($pgpass, [ [ 'pgrotate_admin', $pw ] ], append => $c > 0);
	push @nodes, $node;
}
my @names = map { sprintf 't%04d', $_ } 1 .. $n;
for my $i (0 .. $#names)
{
	my $c = $i % 2;
	my $db = sprintf 'd%d_%d', $c, 1 + int($i / 2) % ($ndb / 2);
	$where{ $names[$i] } = [ $nodes[$c], $db ];
	push @blocks, target_block(node => $nodes[$c], target => $names[$i], dbname => $db,
		group_role => "g_$names[$i]", roles => [ "a_$names[$i]", "b_$names[$i]" ], sink_path => "$dir/$names[$i].env");
}
my $conf = "$dir/scale.conf";
write_config($conf, target_config(node => $nodes[0], no_target => 1, extra_targets => join('', @blocks),
		defaults => { min_overlap => $overlap, poll_interval => $poll, drain_timeout => '30m' }));
my $env = { PGPASSFILE => $pgpass, PGROTATE_CONFIG => undef };
sub pgr { return run_pgrotate(args => [@_], config => $conf, env => $env, timeout => 3600); }

my $t0 = time;
my $r = pgr('init', '--all');
is($r->{exit}, 0, "init --all: $n targets in $ndb databases on 2 clusters") or BAIL_OUT($r->{stderr});
my $init_s = time - $t0;

# A background run of @args, sampling pgrotate's backends on each server.
sub sampled
{
	my (%o) = @_;
	my @samplers = map { $_->background_session(dbname => 'postgres', application_name => 'sampler') } @nodes;
	my ($cu0, $cs0) = (times)[ 2, 3 ];
	my $start = time;
	my $bg = start_pgrotate(args => $o{args}, config => $conf, env => $env, timeout => 3600);
	my @peak = (0, 0);
	poll_until(sub {
			$o{tick}->() if $o{tick};
			for my $c (0 .. 1)
			{
				my $v = $samplers[$c]->query("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pgrotate%'");
				$peak[$c] = $v if defined $v && $v =~ /^\d+$/ && $v > $peak[$c];
			}
			!$bg->is_running;
		}, what => 'the run to end', timeout => 3600, interval => 0.02);
	my $res = $bg->finish;
	my $wall = time - $start;
	my ($cu1, $cs1) = (times)[ 2, 3 ];
	$_->quit for @samplers;
	is($res->{exit}, 0, "@{ $o{args} } exits 0") or diag($res->{stderr});
	return ($wall, \@peak, $cu1 + $cs1 - $cu0 - $cs0);
}

my ($one, $one_peak) = sampled(args => [ 'cycle', $names[0] ]);
my ($all, $peak, $cpu) = sampled(args => [ 'cycle', '--all' ]);

# 2. Stragglers: 10% of the targets, each with a session of its current
# role, ended at a random time within 20 s after its target published.
my @strag = (shuffle @names)[ 0 .. int($n / 10) - 1 ];
my (%sess, %release_at, %ended_at);
for my $tg (@strag)
{
	my ($node, $db) = @{ $where{$tg} };
	my ($u, $p) = map { /=(.*)$/ ? $1 : () } grep { /^PG(USER|PASSWORD)=/ } split /\n/, slurp_file("$dir/$tg.env");
	$sess{$tg} = $node->background_session(user => $u, password => $p, dbname => $db, application_name => "hold-$tg");
}
# after the publishes: the run without sessions had published and waited
# out every overlap by $all seconds
my $go = time;
%release_at = map { ($_ => $go + $all + rand(20)) } @strag;
my $tick = sub {
	my $now = time;
	for my $tg (grep { !$ended_at{$_} && $release_at{$_} <= $now } @strag)
	{
		$sess{$tg}->quit;    # returns once psql has exited: its backend is gone
		$ended_at{$tg} = time;
	}
};
my ($wall2) = sampled(args => [ 'cycle', '--all' ], tick => $tick);
$tick->();
my @lat;
for my $tg (@strag)
{
	my ($node, $db) = @{ $where{$tg} };
	my ($pub, $rev) = split /\|/, $node->safe_psql("SELECT extract(epoch FROM max(at) FILTER (WHERE event = 'published')),"
		  . " extract(epoch FROM max(at) FILTER (WHERE event = 'revoked')) FROM pgrotate.history WHERE target = '$tg'",
		dbname => $db);
	# the revoke is due when the last session has ended and min_overlap is over
	my $due = $ended_at{$tg} > $pub + $overlap_s ? $ended_at{$tg} : $pub + $overlap_s;
	push @lat, 1000 * ($rev - $due);
}
@lat = sort { $a <=> $b } @lat;
my $pct = sub { $lat[ int($_[0] * $#lat) ] };

my $cpus = () = slurp_file('/proc/cpuinfo') =~ /^processor\s*:/mg;
printf "\nfleet scale: %d targets in %d databases on 2 clusters (max_connections 100 each), min_overlap %s,"
  . " poll_interval %s, %d CPUs\n", $n, $ndb, $overlap, $poll, $cpus;
printf "| %-34s | %9s | %8s | %-22s |\n", 'run', 'wall (s)', 'vs one', 'peak backends per server';
printf "|%s|%s|%s|%s|\n", '-' x 36, '-' x 11, '-' x 10, '-' x 24;
printf "| %-34s | %9.2f | %7.2fx | %-22s |\n", "cycle $names[0]", $one, 1, join(' / ', @$one_peak);
printf "| %-34s | %9.2f | %7.2fx | %-22s |\n", 'cycle --all, no sessions', $all, $all / $one, join(' / ', @$peak);
printf "| %-34s | %9.2f | %7.2fx | %-22s |\n", sprintf('cycle --all, %d stragglers', scalar @strag), $wall2,
  $wall2 / $one, '';
printf "init --all: %.1f s; CPU of pgrotate per target (cycle --all): %.1f ms\n", $init_s, 1000 * $cpu / $n;
printf "session end -> revoke (ms), %d stragglers released within 20 s: p50 %.0f, p95 %.0f, max %.0f"
  . " (goal p95 <= %d)\n", scalar @lat, $pct->(0.5), $pct->(0.95), $lat[-1], $poll_ms + 50;
cmp_ok($all / $one, '<=', 1.3, 'cycle --all within 1.3x of one target');
cmp_ok((sort { $b <=> $a } @$peak)[0], '<=', 10, 'at most 10 backends per server');
cmp_ok($pct->(0.95), '<=', $poll_ms + 50, 'p95 session end -> revoke within poll_interval + 50 ms');

done_testing();
