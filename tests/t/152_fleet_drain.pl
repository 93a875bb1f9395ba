# A fleet run (SPEC section 6): draining targets hold no job slot, all
# drains wait at once and each target is revoked when its own old role has
# drained; the connection budget holds; a run killed with -9 leaves no
# worker and no lock behind and the next run finishes every target; two
# runs at once rotate each target exactly once.
use strict;
use warnings;
use Test::More;
use PgRotateTest;
use PgRotateSetup;

my $n = 10;
my $dir = test_dir();
my @names = map { sprintf('f%02d', $_) } 1 .. $n;
my $t = setup_target(config_opts => { target => $names[0], sink_path => "$dir/$names[0].env" });
my $node = $t->{node};
my $conf = "$dir/fleet.conf";
write_config($conf, target_config(node => $node, target => $names[0], sink_path => "$dir/$names[0].env",
		group_role => "grp_$names[0]", roles => [ "$names[0]_a", "$names[0]_b" ],
		defaults => { min_overlap => '2s', drain_timeout => '60s', poll_interval => '100ms',
			rotation_interval => '1h', warn_before => '1m', max_node_connections => \'6' },
		extra_targets => join('', map {
				target_block(node => $node, target => $_, group_role => "grp_$_",
					roles => [ "${_}_a", "${_}_b" ], sink_path => "$dir/$_.env")
			} @names[ 1 .. $#names ])));
$t->{conf} = $conf;
is(pgr($t, 'init', '--all')->{exit}, 0, "init --all ($n targets)") or BAIL_OUT('init failed');

sub q1 { return $node->safe_psql($_[0], dbname => 'appdb'); }
sub gens { return q1("SELECT string_agg(generation::text, ',' ORDER BY target) FROM pgrotate.state"); }
sub phase_of { return q1("SELECT phase FROM pgrotate.state WHERE target = '$_[0]'"); }
sub hold
{
	my ($tg) = @_;
	my ($u, $p) = read_env_sink("$dir/$tg.env");
	return $node->background_session(user => $u, password => $p, dbname => 'appdb', application_name => "hold-$tg");
}

# 1. --jobs 2: many targets drain at once, the connections stay within the
#    budget, and the targets with stragglers are revoked one by one as
#    their own sessions end.
{
	my %held = map { $_ => hold($_) } @names[ 0 .. 1 ];
	my $sampler = $node->background_session(dbname => 'appdb', application_name => 'sampler');
	my $bg = start_pgrotate(args => [ 'cycle', '--all', '--jobs', '2' ], config => $conf, env => $t->{env},
		timeout => 120);
	my ($peak_draining, $peak_conns) = (0, 0);
	my $others_done = poll_until(sub {
			my $row = $sampler->query("SELECT (SELECT count(*) FROM pgrotate.state WHERE phase = 'draining'),"
				  . " (SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pgrotate%'),"
				  . " (SELECT count(*) FROM pgrotate.state WHERE phase = 'idle' AND generation = 2)");
			my ($d, $c, $idle) = split /\|/, $row;
			$peak_draining = $d if $d > $peak_draining;
			$peak_conns = $c if $c > $peak_conns;
			$idle == $n - 2;
		}, what => 'the targets without stragglers to finish', timeout => 90);
	ok($others_done, 'the targets without stragglers finish while two still drain');
	ok($peak_draining > 2, "more targets draining at once ($peak_draining) than --jobs (2): a drain holds no job slot");
	ok($peak_conns <= 6, "at most max_node_connections (6) connections to the server (peak $peak_conns)");
	is(phase_of($names[0]) . ' ' . phase_of($names[1]), 'draining draining', 'the two with stragglers still drain');
	like(pgr($t, 'status', $names[5])->{stdout}, qr/lock: +free/, 'a finished target\'s lock is free while the run goes on');
	like(pgr($t, 'status', $names[0])->{stdout}, qr/lock: +held by /, 'a draining target\'s lock is held');
	$held{ $names[0] }->quit;
	ok(poll_until(sub { phase_of($names[0]) eq 'idle' }, what => "$names[0] revoked", timeout => 30),
		"$names[0] is revoked once its own session ended");
	is(phase_of($names[1]), 'draining', "while $names[1] still drains");
	$held{ $names[1] }->quit;
	my $r = $bg->finish;
	is($r->{exit}, 0, 'the run exits 0') or diag($r->{stderr});
	is(gens(), join(',', (2) x $n), 'every target rotated once');
	like($r->{stderr}, qr/$n targets: $n done \(0 failed\)/, 'a closing progress line');
	$sampler->quit;
}

# 2. kill -9 of the run while targets drain: its workers die with it, its
#    locks are free at once, and the next run finishes every target.
{
	my $s = hold($names[2]);
	my $bg = start_pgrotate(args => [ 'cycle', '--all' ], config => $conf, env => $t->{env}, timeout => 120);
	ok(poll_until(sub { phase_of($names[2]) eq 'draining' && q1("SELECT count(*) FROM pgrotate.state WHERE generation = 3") == $n },
			what => 'every target published, one draining', timeout => 60), 'all published, one draining');
	$bg->kill;
	ok(poll_until(sub { q1("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pgrotate:%'") eq '0' },
			what => 'no pgrotate session left', timeout => 30), 'no session of the run or its workers is left');
	my $st = pgr($t, 'status', $names[2]);
	like($st->{stdout}, qr/lock: +free/, 'the lock of the killed run is free');
	$s->quit;
	my $r = pgr($t, 'cycle', '--all');
	is($r->{exit}, 0, 'the next run finishes') or diag($r->{stderr});
	is(gens(), join(',', (3) x $n), 'every target at generation 3: none rotated twice');
	is(q1("SELECT count(*) FROM pgrotate.state WHERE phase <> 'idle'"), '0', 'all idle');
}

# 3. Two runs at once over targets that are due: each target rotated once;
#    the other run skips it (locked by the first, or no longer due).
{
	q1("UPDATE pgrotate.state SET rotated_at = now() - interval '2 hours'");
	my @bg = map { start_pgrotate(args => [ 'cycle', '--all', '--due' ], config => $conf, env => $t->{env},
			timeout => 120) } 1 .. 2;
	my @r = map { $_->finish } @bg;
	# with --due a target another run holds is that run's to rotate: no failure
	ok((grep { $_->{exit} == 0 } @r) == 2, "both exit 0 ($r[0]{exit}, $r[1]{exit})")
	  or diag($r[0]{stderr} . $r[1]{stderr});
	is(gens(), join(',', (4) x $n), 'every target rotated exactly once');
}

# 4. --log-format=json: the closing progress carries every target.
{
	my $r = run_pgrotate(args => [ '--log-format=json', 'cycle', '--all' ], config => $conf, env => $t->{env},
		timeout => 120);
	is($r->{exit}, 0, 'a json-logged fleet run') or diag($r->{stderr});
	my %done = map { $_ => 1 } $r->{stderr} =~ /"target":"(f\d\d)","event":"fleet_target","msg":"done"/g;
	is(scalar(keys %done), $n, "one fleet_target line per target, each done ($n)");
	like($r->{stderr}, qr/"event":"fleet_done","msg":"$n targets: $n done \(0 failed\)/, 'and the totals');
}

# 5. A target held by a running fleet run: another run with --due skips it
#    (exit 0, naming the holder); without --due it is exit 4. The progress
#    line names the slowest drain.
{
	my $s = hold($names[3]);
	my $bg = start_pgrotate(args => [ 'cycle', '--all' ], config => $conf, env => $t->{env}, timeout => 120);
	ok(poll_until(sub { phase_of($names[3]) eq 'draining' }, what => "$names[3] draining", timeout => 60),
		"$names[3] drains in a fleet run");
	my $r = pgr($t, 'cycle', $names[3], '--due');
	is($r->{exit}, 0, 'cycle --due of a target another run holds: exit 0');
	like($r->{stderr}, qr/skipped: another pgrotate run holds target "$names[3]" \(.*pid \d+/,
		'it says so, naming the holder');
	$r = pgr($t, 'cycle', $names[3]);
	is($r->{exit}, 4, 'without --due: exit 4');
	ok($bg->wait_for(qr/\d+ targets: \d+ done \(0 failed\), 1 draining, 0 running, 0 waiting for a job slot;/
				. qr/ slowest drains: $names[3] \(1 session of role ${names[3]}_[ab], \d+(?:[smhd]\d*)*[smhd]\)/, stream => 'stderr', timeout => 30),
		'the progress line (every 10 s) names the slowest drain and its session');
	$s->quit;
	is($bg->finish->{exit}, 0, 'the fleet run finishes');
}

done_testing();
