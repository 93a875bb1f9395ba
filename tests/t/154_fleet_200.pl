# 200 targets on a server with max_connections = 40 (issue 16, SPEC section
# 6): "cycle --all" exits 0 with the default --jobs and with --jobs 200,
# every target rotates once per run, and the peak number of pgrotate's
# backends on the server, sampled from pg_stat_activity by
# application_name while the run goes on, stays within
# max_node_connections (the default, 10).
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use PgRotateTest;
use PgRotateSetup;

my $n = 200;
my $dir = test_dir();
my @names = map { sprintf('m%03d', $_) } 1 .. $n;
my $t = setup_target(cluster_opts => { max_connections => 40 },
	config_opts => { target => $names[0], sink_path => "$dir/$names[0].env" });
my $node = $t->{node};
my $conf = "$dir/fleet.conf";
write_config($conf, target_config(node => $node, target => $names[0], sink_path => "$dir/$names[0].env",
		group_role => "grp_$names[0]", roles => [ "$names[0]_a", "$names[0]_b" ],
		defaults => { min_overlap => '1s', poll_interval => '200ms', drain_timeout => '120s' },
		extra_targets => join('', map {
				target_block(node => $node, target => $_, group_role => "grp_$_",
					roles => [ "${_}_a", "${_}_b" ], sink_path => "$dir/$_.env")
			} @names[ 1 .. $#names ])));
$t->{conf} = $conf;
is($node->safe_psql('SHOW max_connections'), '40', 'the server has max_connections = 40');

my $t0 = time;
my $r = pgr($t, [ 'init', '--all' ], timeout => 600);
is($r->{exit}, 0, "init --all ($n targets)") or BAIL_OUT($r->{stderr});
diag(sprintf('init --all of %d targets: %.1f s', $n, time - $t0));

sub q1 { return $node->safe_psql($_[0], dbname => 'appdb'); }
sub gens { return q1("SELECT string_agg(DISTINCT generation::text, ',') FROM pgrotate.state"); }

# Run cycle --all with @args, sampling pgrotate's backends (its admin
# connections "pgrotate:PID@HOST", its verify logins "pgrotate-verify")
# until it ends. Returns (result, peak, samples, seconds).
sub sampled_run
{
	my (@args) = @_;
	my $sampler = $node->background_session(dbname => 'appdb', application_name => 'sampler');
	my $start = time;
	my $bg = start_pgrotate(args => [ 'cycle', '--all', @args ], config => $conf, env => $t->{env},
		timeout => 600);
	my ($peak, $samples) = (0, 0);
	poll_until(sub {
			my $c = $sampler->query("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pgrotate%'");
			if (defined $c && $c =~ /^\d+$/)
			{
				$samples++;
				$peak = $c if $c > $peak;
			}
			!$bg->is_running;
		}, what => 'the run to end', timeout => 600, interval => 0.01);
	$sampler->quit;
	return ($bg->finish, $peak, $samples, time - $start);
}

for my $case ([ 'the default --jobs', [] ], [ '--jobs 200', [ '--jobs', '200' ] ])
{
	my ($what, $args) = @$case;
	my $before = gens();
	my ($res, $peak, $samples, $secs) = sampled_run(@$args);
	is($res->{exit}, 0, "cycle --all with $what exits 0") or diag($res->{stderr});
	is(gens(), $before + 1, "every target rotated once (generation " . ($before + 1) . ')');
	is(q1("SELECT count(*) FROM pgrotate.state WHERE phase = 'idle'"), $n, 'every target idle');
	ok($samples > 10, "the sampler saw the run ($samples samples)");
	ok($peak > 0 && $peak <= 10, "peak of pgrotate's backends on the server: $peak <= max_node_connections (10)");
	unlike($res->{stderr}, qr/remaining connection slots|too many clients/, 'no login ran out of slots');
	diag(sprintf('cycle --all %s: %.1f s, peak %d backends', $what, $secs, $peak));
}
is(q1("SELECT count(*) FROM pg_roles WHERE rolname ~ '^m[0-9]{3}_[ab]\$' AND rolcanlogin"), $n,
	'one login role per target can log in: every old role was revoked');

done_testing();
