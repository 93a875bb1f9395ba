# Crash safety of a whole fleet run (issue 16 point 7, SPEC section 6):
# "cycle --all" killed with -9 at each fault point, with many targets in
# flight (a fleet worker's fault point kills the coordinator, and its other
# workers die with it), then "cycle --all" again: every target finishes,
# rotated exactly once; a credential that was published before the crash
# (so may be in use) is the one the target ends with; no sink ever names a
# role that cannot log in.
use strict;
use warnings;
use Test::More;
use PgRotateTest;
use PgRotateSetup;

plan skip_all => 'not a --enable-fault-injection build'
  unless run_pgrotate(args => ['--version'])->{stdout} =~ /enable-fault-injection/;

my $n = 12;
my $dir = test_dir();
my @names = map { sprintf('k%02d', $_) } 1 .. $n;
my $t = setup_target(config_opts => { target => $names[0], sink_path => "$dir/$names[0].env" });
my $node = $t->{node};
my $conf = "$dir/fleet.conf";
write_config($conf, target_config(node => $node, target => $names[0], sink_path => "$dir/$names[0].env",
		group_role => "grp_$names[0]", roles => [ "$names[0]_a", "$names[0]_b" ],
		defaults => { min_overlap => '1s', poll_interval => '100ms', drain_timeout => '60s' },
		extra_targets => join('', map {
				target_block(node => $node, target => $_, group_role => "grp_$_",
					roles => [ "${_}_a", "${_}_b" ], sink_path => "$dir/$_.env")
			} @names[ 1 .. $#names ])));
$t->{conf} = $conf;
is(pgr($t, 'init', '--all')->{exit}, 0, "init --all ($n targets)") or BAIL_OUT('init failed');

sub q1 { return $node->safe_psql($_[0], dbname => 'appdb'); }
sub sinks { return { map { my ($u, $p) = read_env_sink("$dir/$_.env"); ($_ => [ $u, $p ]) } @names }; }
sub can_login { return q1("SELECT rolcanlogin FROM pg_roles WHERE rolname = " . PgRotateTest::quote_literal($_[0])) eq 't'; }
# target => "generation phase"
sub states { return { map { split /\|/, $_, 2 } split /\n/, q1("SELECT target, generation || ' ' || phase FROM pgrotate.state") }; }

for my $fault (qw(after-pending after-provision after-verify mid-publish after-publish after-revoke))
{
	my ($before, $gen) = (sinks(), states());
	my $r = run_pgrotate(args => [ 'cycle', '--all' ], config => $conf,
		env => { %{ $t->{env} }, PGROTATE_FAULT => $fault }, timeout => 120);
	is($r->{exit}, 137, "$fault: the run is killed (SIGKILL)") or diag($r->{stderr});
	like($r->{stderr}, qr/fault point "\Q$fault\E": killing the whole run/, "$fault: by a worker's fault point");
	ok(poll_until(sub { q1("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pgrotate%'") eq '0' },
			what => 'no pgrotate session left', timeout => 30), "$fault: no session of the run or its workers is left");
	my ($crash, $at) = (sinks(), states());
	my @bad = grep { !can_login($crash->{$_}[0]) } @names;
	is("@bad", '', "$fault: every sink names a role that can log in");
	# a target whose cycle ended before the crash is rotated anew by the next run
	my %done = map { ($_ => $at->{$_} eq ($gen->{$_} =~ s/^(\d+) .*/($1 + 1) . ' idle'/er)) } @names;
	my @cut = grep { !$done{$_} } @names;
	my $published = grep { $crash->{$_}[0] ne $before->{$_}[0] } @cut;
	note(sprintf('%s: of %d targets %d had finished, %d had published their new credential', $fault, $n,
			$n - @cut, $published));

	$r = pgr($t, [ 'cycle', '--all' ], timeout => 120);
	is($r->{exit}, 0, "$fault: the next cycle --all finishes") or diag($r->{stderr});
	my $end = states();
	my @wrong = grep { ($end->{$_} =~ /^(\d+)/)[0] != ($gen->{$_} =~ /^(\d+)/)[0] + ($done{$_} ? 2 : 1) } @names;
	is("@wrong", '', "$fault: every target the crash cut short rotated exactly once");
	is(q1("SELECT count(*) FROM pgrotate.state WHERE phase <> 'idle' OR pending_role IS NOT NULL"), '0',
		"$fault: every target idle, nothing pending");
	my $after = sinks();
	my @changed = grep { $crash->{$_}[0] ne $before->{$_}[0] && "@{ $crash->{$_} }" ne "@{ $after->{$_} }" } @cut;
	is("@changed", '', "$fault: each credential published before the crash is the one its target ends with");
	my @old_valid = grep { can_login($before->{$_}[0]) } @cut;
	is("@old_valid", '', "$fault: the old role of each is revoked");
	my @no_login = grep { !login_works($node, @{ $after->{$_} }) } @names;
	is("@no_login", '', "$fault: every published credential logs in");
}

done_testing();
