# A fleet over 20 databases on two clusters (SPEC section 6): one run, one
# hub per server, every target rotated and revoked, at most
# max_node_connections connections to each server at any time.
use strict;
use warnings;
use Test::More;
use PgRotateTest;
use PgRotateSetup;

my $dir = test_dir();
my $pgpass = "$dir/pgpass";
my (@nodes, @blocks, @targets);
for my $c (0 .. 1)
{
	my $node = PgRotateTest::Cluster->new("c$c");
	$node->start;
	my @dbs = map { "db${c}_$_" } 1 .. 10;
	$node->create_database($_) for @dbs;
	my $pw = $node->create_admin('pgrotate_admin', createrole => 1,
		extra_grants => [ map { "CREATE ON DATABASE $_" } @dbs ]);
	$node->write_pgpass($pgpass, [ [ 'pgrotate_admin', $pw ] ], append => $c > 0);
	for my $db (@dbs)
	{
		push @targets, $db;
		push @blocks, target_block(node => $node, target => $db, dbname => $db,
			group_role => "g_$db", roles => [ "a_$db", "b_$db" ], sink_path => "$dir/$db.env");
	}
	push @nodes, $node;
}
my $conf = "$dir/clusters.conf";
write_config($conf, target_config(node => $nodes[0], no_target => 1, extra_targets => join('', @blocks),
		defaults => { min_overlap => '1s', poll_interval => '100ms', max_node_connections => \'5' }));
my $env = { PGPASSFILE => $pgpass, PGROTATE_CONFIG => undef };
sub run_fleet { return run_pgrotate(args => [@_], config => $conf, env => $env, timeout => 180); }

my $r = run_fleet('init', '--all');
is($r->{exit}, 0, 'init --all over 20 databases on two clusters') or BAIL_OUT($r->{stderr});

sub node_of { my ($c) = $_[0] =~ /^db(\d)/; return $nodes[$c]; }

sub gens
{
	return join ',', map {
		node_of($_)->safe_psql("SELECT generation || ':' || phase FROM pgrotate.state", dbname => $_);
	} @targets;
}
is(gens(), join(',', ('1:idle') x 20), 'every target at generation 1');

my @samplers = map { $_->background_session(dbname => 'postgres', application_name => 'sampler') } @nodes;
my $bg = start_pgrotate(args => [ 'cycle', '--all', '--jobs', '20' ], config => $conf, env => $env, timeout => 180);
my @peak = (0, 0);
poll_until(sub {
	for my $c (0 .. 1)
	{
		my $row = $samplers[$c]->query("SELECT count(*), count(DISTINCT datname) FILTER (WHERE usename = 'pgrotate_admin')"
			  . " FROM pg_stat_activity WHERE usename = 'pgrotate_admin' OR usename ~ '^[ab]_db'");
		my ($n) = split /\|/, $row;
		$peak[$c] = $n if $n =~ /^\d+$/ && $n > $peak[$c];
	}
	!$bg->is_running;
}, what => 'the run to end', timeout => 180, interval => 0.01);
$r = $bg->finish;
$_->quit for @samplers;
is($r->{exit}, 0, 'cycle --all --jobs 20 exits 0') or diag($r->{stderr});
is(gens(), join(',', ('2:idle') x 20), 'every target rotated and revoked (generation 2, idle)');
for my $c (0 .. 1)
{
	ok($peak[$c] > 0 && $peak[$c] <= 5, "cluster $c: at most max_node_connections (5) connections at once (peak $peak[$c])");
}
my @bad;
for my $db (@targets)
{
	my $node = node_of($db);
	my ($u, $p) = read_env_sink("$dir/$db.env");
	push @bad, $db if $u ne "b_$db" || !login_works($node, $u, $p, $db) || role_row($node, "a_$db") ne 'f|f';
}
is("@bad", '', 'every target: the new role published and logging in, the old one revoked');

done_testing();
