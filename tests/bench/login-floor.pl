# The floor under a fleet run's wall time (issue 16; run by hand).
#
# Every target of a cycle needs one verify login with its new password
# (pgrotate(1): a credential is published only once it has logged in), and
# such a login is a new backend and a SCRAM exchange. This bench measures
# what FLOOR_LOGINS (1000) of them cost on this machine, with nothing of
# pgrotate in the way: pgbench -C (a new connection per transaction,
# "SELECT 1") as a SCRAM-authenticated role over the Unix socket. It prints
# the client's and the server's CPU per login, and from them the shortest
# a run over that many targets could take on this machine's CPUs if
# pgrotate did nothing else at all:
#
#   one target's time + logins x (client + server CPU per login) / CPUs
#
# next to the fleet benchmark's goal (1.3x one target's time, where one
# target's time is about its min_overlap, FLOOR_OVERLAP seconds, 10).
#
#   PG_BINDIR=/usr/lib/postgresql/15/bin PGROTATE_SRCDIR=. \
#   perl -I tests/lib tests/bench/login-floor.pl
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use PgRotateTest;

my $n = $ENV{FLOOR_LOGINS} // 1000;
my $overlap = $ENV{FLOOR_OVERLAP} // 10;
my $pgbench = PgRotateTest::pg_client_bindir() . '/pgbench';
plan skip_all => "no pgbench at $pgbench" unless -x $pgbench;

my $dir = test_dir();
my $node = PgRotateTest::Cluster->new('floor', extra_conf =>
	  "log_statement = 'none'\nlog_connections = off\nlog_disconnections = off");
$node->start;
my $pw = $node->create_admin('floor_user', createrole => 0);
my $pgpass = $node->write_pgpass("$dir/pgpass", [ [ 'floor_user', $pw ] ]);
my $script = "$dir/select1.sql";
PgRotateTest::_write_file($script, "SELECT 1;\n", 0644);

# CPU of the postmaster's finished children (the backends), in seconds.
sub server_cpu
{
	my @f = split ' ', (slurp_file('/proc/' . $node->postmaster_pid . '/stat') =~ /\)\s(.*)$/s)[0];
	return ($f[13] + $f[14]) / 100;    # cutime, cstime (fields 16, 17)
}

my ($cu0, $cs0) = (times)[ 2, 3 ];
my $srv0 = server_cpu();
my $t0 = time;
my ($rc, undef, $err) = PgRotateTest::_run([ $pgbench, '-n', '-C', '-t', $n, '-f', $script, '-h', $node->host,
		'-p', $node->port, '-U', 'floor_user', 'postgres' ], env => { PGPASSFILE => $pgpass }, timeout => 3600);
my $wall = time - $t0;
is($rc, 0, "pgbench -C: $n SCRAM logins") or diag($err);
# the backends of the last logins may still be exiting
poll_until(sub { $node->safe_psql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'floor_user'") == 0 },
	what => 'the last backend to exit');
my ($cu1, $cs1) = (times)[ 2, 3 ];
my $client = $cu1 + $cs1 - $cu0 - $cs0;
my $server = server_cpu() - $srv0;

my $cpus = () = slurp_file('/proc/cpuinfo') =~ /^processor\s*:/mg;
my $floor = $overlap + ($client + $server) / $cpus;
printf "\nlogin floor: %d SCRAM logins (pgbench -C, Unix socket), %d CPUs, one target's time ~%d s\n", $n, $cpus, $overlap;
printf "| %-40s | %10s |\n", 'measure', 'value';
printf "|%s|%s|\n", '-' x 42, '-' x 12;
printf "| %-40s | %10.2f |\n", 'wall (s), one client', $wall;
printf "| %-40s | %10.2f |\n", 'client CPU per login (ms)', 1000 * $client / $n;
printf "| %-40s | %10.2f |\n", 'server CPU per login (ms)', 1000 * $server / $n;
printf "| %-40s | %10.2f |\n", "floor of a $n-target run (s)", $floor;
printf "| %-40s | %10.2f |\n", 'floor vs one target', $floor / $overlap;
printf "| %-40s | %10.2f |\n", 'goal vs one target', 1.3;
done_testing();
