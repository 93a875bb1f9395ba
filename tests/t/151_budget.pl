# max_node_connections (SPEC section 6): one run over many targets holds at
# most that many connections to one server, whatever --jobs; every target
# still rotates. The peak is sampled from pg_stat_activity while it runs.
use strict;
use warnings;
use Test::More;
use PgRotateTest;
use PgRotateSetup;

my $n = 12;
my $dir = test_dir();
my @names = map { sprintf('t%02d', $_) } 1 .. $n;
my $t = setup_target(config_opts => { target => $names[0], sink_path => "$dir/$names[0].env" });
my $node = $t->{node};

sub conf_with
{
	my ($file, %defaults) = @_;
	write_config("$dir/$file", target_config(node => $node, target => $names[0], sink_path => "$dir/$names[0].env",
			group_role => "grp_$names[0]", roles => [ "$names[0]_a", "$names[0]_b" ],
			defaults => { min_overlap => '1s', %defaults },
			extra_targets => join('', map {
					target_block(node => $node, target => $_, group_role => "grp_$_",
						roles => [ "${_}_a", "${_}_b" ], sink_path => "$dir/$_.env")
				} @names[ 1 .. $#names ])));
	return "$dir/$file";
}
my $small = conf_with('small.conf', max_node_connections => \'4');
my $wide = conf_with('wide.conf');
my $r0 = run_pgrotate(args => [ 'init', '--all' ], config => $wide, env => $t->{env});
is($r0->{exit}, 0, "init --all initialises the $n targets") or diag($r0->{stderr});
$r0 = run_pgrotate(args => [ 'check', '--all' ], config => $wide, env => $t->{env});
is($r0->{exit}, 0, 'check --all passes') or diag($r0->{stdout});
is(scalar(() = $r0->{stdout} =~ /^target t\d\d:$/mg), $n, "check --all checked the $n targets");
$r0 = run_pgrotate(args => [ 'init', $names[0], '--all' ], config => $wide, env => $t->{env});
is($r0->{exit}, 2, 'init with targets and --all: usage error');

# Run cycle --all on $conf, sampling the server's sessions of the admin and
# of the login roles (pgrotate's admin and verify connections) until it
# ends. Returns (result, peak).
sub sampled_run
{
	my ($conf) = @_;
	my $sampler = $node->background_session(dbname => 'appdb', application_name => 'sampler');
	my $bg = start_pgrotate(args => [ 'cycle', '--all', '--jobs', $n ], config => $conf, env => $t->{env},
		timeout => 120);
	my $peak = 0;
	# sample until the run ends
	poll_until(sub {
			my $c = $sampler->query("SELECT count(*) FROM pg_stat_activity WHERE usename = 'pgrotate_admin'"
				  . " OR usename ~ '^t[0-9]+_[ab]\$'");
			$peak = $c if $c =~ /^\d+$/ && $c > $peak;
			!$bg->is_running;
		}, what => 'the run to end', timeout => 120, interval => 0.01);
	$sampler->quit;
	return ($bg->finish, $peak);
}

my $gen = sub { $node->safe_psql("SELECT string_agg(DISTINCT generation::text, ',') FROM pgrotate.state", dbname => 'appdb') };
is($gen->(), '1', "all $n targets at generation 1");

my ($r, $peak) = sampled_run($small);
is($r->{exit}, 0, "cycle --all --jobs $n with max_node_connections = 4") or diag($r->{stderr});
is($gen->(), '2', 'every target rotated');
ok($peak > 0 && $peak <= 4, "at most 4 connections to the server at once (peak $peak)");

($r, $peak) = sampled_run($wide);
is($r->{exit}, 0, 'again with the default max_node_connections (10)') or diag($r->{stderr});
is($gen->(), '3', 'every target rotated');
ok($peak > 4 && $peak <= 10, "more at once, still at most 10 (peak $peak): the sampler sees the difference");

done_testing();
