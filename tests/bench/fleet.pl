# Fleet benchmark (run by hand, not part of make check): does the time of
# "pgrotate cycle --all" follow the slowest target rather than the sum?
#
# One local cluster (max_connections 100, PostgreSQL's default) holds N
# targets (N role pairs, each with its own group role and env file sink)
# in one database; min_overlap = 2s, no application sessions. It times one
# target's cycle, then "cycle --all --jobs N" and "cycle --all" (default
# --jobs), each ROUNDS times, sampling the peak number of pgrotate's
# connections to the server (admin and verify sessions) during each, and
# prints the median wall times against the single target's. Targets
# (SPEC section 6): within 1.3x of one target, at most max_node_connections
# (10) connections.
#
#   PGROTATE_BIN=src/pgrotate PG_BINDIR=/usr/lib/postgresql/15/bin \
#   PGROTATE_SRCDIR=. perl -I tests/lib tests/bench/fleet.pl
#
# Environment: FLEET_TARGETS (50), FLEET_ROUNDS (3), FLEET_POLL
# (poll_interval, "250ms"), FLEET_OVERLAP (min_overlap, "2s"),
# FLEET_MAX_CONNECTIONS (the server's max_connections, 100).
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use PgRotateTest;

my $n = $ENV{FLEET_TARGETS} // 50;
my $rounds = $ENV{FLEET_ROUNDS} // 3;
my $poll = $ENV{FLEET_POLL} // '250ms';
my $overlap = $ENV{FLEET_OVERLAP} // '2s';

# Statement and connection logging off: the harness's defaults are for
# evidence in tests, not for timing.
my $node = PgRotateTest::Cluster->new('fleet', max_connections => $ENV{FLEET_MAX_CONNECTIONS} // 100,
	extra_conf => "log_statement = 'none'\nlog_connections = off\nlog_disconnections = off\n"
	  . "shared_buffers = '128MB'");
$node->start;
$node->create_database('appdb');
my $admin_pw = $node->create_admin('pgrotate_admin', createrole => 1,
	extra_grants => [ 'CREATE ON DATABASE appdb', 'pg_signal_backend' ]);
my $dir = test_dir();
my $pgpass = $node->write_pgpass("$dir/pgpass", [ [ 'pgrotate_admin', $admin_pw ] ]);
my $env = { PGPASSFILE => $pgpass, PGROTATE_CONFIG => undef };

my @names = map { sprintf 't%02d', $_ } 1 .. $n;
my $blocks = join '', map {
	target_block(node => $node, target => $_, group_role => "g_$_", roles => [ "a_$_", "b_$_" ],
		sink_path => "$dir/$_.env")
} @names[ 1 .. $#names ];
my $conf = "$dir/fleet.conf";
write_config($conf, target_config(node => $node, target => $names[0], group_role => "g_$names[0]",
		roles => [ "a_$names[0]", "b_$names[0]" ], sink_path => "$dir/$names[0].env",
		extra_targets => $blocks,
		defaults => { min_overlap => $overlap, drain_timeout => '60s', poll_interval => $poll }));

sub pgr { return run_pgrotate(args => [@_], config => $conf, env => $env, timeout => 600); }

{
	my $r = pgr('init', '--all');
	$r->{exit} == 0 or BAIL_OUT("init --all failed: $r->{stderr}");
}
pass("initialised $n targets");
my ($load) = split ' ', slurp_file('/proc/loadavg');

sub generations
{
	return $node->safe_psql('SELECT sum(generation) FROM pgrotate.state', dbname => 'appdb');
}

my @cpu;    # CPU seconds of pgrotate (and its children) per timed run
my @peaks;    # peak connections of pgrotate to the server per timed run
my @server_cpu;    # CPU seconds of the server's backends that ended in the run

# user + system CPU seconds of the postmaster's reaped children (backends)
sub server_cpu
{
	my $pid = $node->postmaster_pid or return 0;
	open my $fh, '<', "/proc/$pid/stat" or return 0;
	my $stat = <$fh>;
	close $fh;
	$stat =~ s/^.*\) //;
	my @f = split ' ', $stat;
	return ($f[13] + $f[14]) / 100;    # cutime, cstime (fields 16, 17) in ticks
}

sub timed
{
	my ($what, $expect_targets, @args) = @_;
	my $before = generations();
	my ($cu0, $cs0) = (times)[ 2, 3 ];
	my $sc0 = server_cpu();
	my $t0 = time;
	my $sampler = $node->background_session(dbname => 'appdb', application_name => 'sampler');
	my $bg = start_pgrotate(args => [@args], config => $conf, env => $env, timeout => 3600);
	my $peak = 0;
	poll_until(sub {
			my $c = $sampler->query("SELECT count(*) FROM pg_stat_activity WHERE usename = 'pgrotate_admin'"
				  . " OR usename ~ '^[ab]_t[0-9]+\$'");
			$peak = $c if $c =~ /^\d+$/ && $c > $peak;
			!$bg->is_running;
		}, what => 'the run to end', timeout => 3600, interval => 0.02);
	my $r = $bg->finish;
	my $wall = time - $t0;
	$sampler->quit;
	push @peaks, $peak;
	my ($cu1, $cs1) = (times)[ 2, 3 ];
	push @cpu, $cu1 + $cs1 - $cu0 - $cs0;
	push @server_cpu, server_cpu() - $sc0;
	is($r->{exit}, 0, "$what exits 0") or diag($r->{stderr});
	is(generations() - $before, $expect_targets, "$what rotated $expect_targets target(s)");
	return $wall;
}

sub median
{
	my @s = sort { $a <=> $b } @_;
	return $s[ int(@s / 2) ];
}

my (@single, @all_n, @all_default);
for my $round (1 .. $rounds)
{
	push @single, timed("round $round: cycle $names[0]", 1, 'cycle', $names[0]);
	push @all_n, timed("round $round: cycle --all --jobs $n", $n, 'cycle', '--all', '--jobs', $n);
	push @all_default, timed("round $round: cycle --all", $n, 'cycle', '--all');
}

my $one = median(@single);
my @rows = (
	[ "cycle $names[0]", 1, '-', $one ],
	[ "cycle --all --jobs $n", $n, $n, median(@all_n) ],
	[ 'cycle --all', $n, '16 (default)', median(@all_default) ],
);
my $cpus = () = slurp_file('/proc/cpuinfo') =~ /^processor\s*:/mg;
my $table = sprintf "\nfleet benchmark: %d targets, min_overlap %s, poll_interval %s, no sessions,"
  . " median of %d rounds\n%d CPUs, load average before: %s\n", $n, $overlap, $poll, $rounds,
  $cpus, $load;
$table .= sprintf "| %-22s | %7s | %-12s | %8s | %8s |\n", 'command', 'targets', '--jobs', 'wall (s)', 'vs one';
$table .= sprintf "|%s|%s|%s|%s|%s|\n", '-' x 24, '-' x 9, '-' x 14, '-' x 10, '-' x 10;
for my $r (@rows)
{
	$table .= sprintf "| %-22s | %7d | %-12s | %8.2f | %7.2fx |\n", @$r[ 0 .. 3 ], $r->[3] / $one;
}
# Runs are timed in the order single, --jobs N, default: every third from 1.
my @cpu_n = map { $cpu[$_] + $server_cpu[$_] } grep { $_ % 3 == 1 } 0 .. $#cpu;
my $floor = median(@cpu_n) / ($cpus || 1);
$table .= sprintf "\nCPU floor of --jobs %d on %d CPUs (pgrotate + server CPU / CPUs): %.2f s = %.2fx"
  . " of one target\n", $n, $cpus, $floor, $floor / $one;
$table .= sprintf "CPU seconds (user+sys) per run, in run order: pgrotate %s; server backends %s\n",
  join(' ', map { sprintf '%.2f', $_ } @cpu), join(' ', map { sprintf '%.2f', $_ } @server_cpu);
$table .= sprintf "peak connections to the server per run, in run order: %s\n", join(' ', @peaks);
$table .= sprintf "CPU per target (pgrotate user+sys of the --jobs %d runs / targets): %.1f ms\n", $n,
  1000 * median(map { $cpu[$_] } grep { $_ % 3 == 1 } 0 .. $#cpu) / $n;
$table .= sprintf "all rounds (s): one %s; --jobs %d %s; default %s\n",
  join(' ', map { sprintf '%.2f', $_ } @single), $n,
  join(' ', map { sprintf '%.2f', $_ } @all_n), join(' ', map { sprintf '%.2f', $_ } @all_default);
print $table;
cmp_ok(median(@all_n) / $one, '<=', 1.3, "cycle --all --jobs $n within 1.3x of one target");
cmp_ok(median(@all_default) / $one, '<=', 1.3, "cycle --all (default --jobs) within 1.3x of one target");
cmp_ok((sort { $b <=> $a } @peaks)[0], '<=', 10, 'at most 10 connections to the server (max_node_connections)');

done_testing();
