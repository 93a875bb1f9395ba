# Crash safety: SIGKILL after each phase commit and in the middle of the
# drain. After each kill a credential the sinks hold logs in, and a plain
# "pgrotate cycle" completes the rotation with exactly one role able to
# log in. Needs a build with --enable-fault-injection.
use strict;
use warnings;
use Test::More;
use PgRotateTest;
use PgRotateSetup;

plan skip_all => 'not a --enable-fault-injection build'
  unless run_pgrotate(args => ['--version'])->{stdout} =~ /enable-fault-injection/;

my $dir = test_dir();
my $t = setup_target(config_opts => {
		extra_sinks => sprintf('{ type = "file"; path = "%s/app.json"; format = "json"; }', $dir),
		defaults => { drain_timeout => '60s' } });
my $node = $t->{node};

is(pgr($t, 'init', 'appdb')->{exit}, 0, 'init');

sub logins
{
	return $node->safe_psql("SELECT count(*) FROM pg_roles WHERE rolname IN ('app_user_a', 'app_user_b') AND rolcanlogin");
}

sub sinks_log_in
{
	my ($name) = @_;
	my ($u, $p) = read_env_sink($t->{sink});
	ok(login_works($node, $u, $p), "$name: the env sink's credential ($u) logs in");
	my $json = slurp_file("$dir/app.json");
	my ($ju) = $json =~ /"role":"([^"]+)"/;
	my ($jp) = $json =~ /"password":"([^"]+)"/;
	ok(login_works($node, $ju, $jp), "$name: the json sink's credential ($ju) logs in");
}

sub finish_plain
{
	my ($name) = @_;
	my $res = pgr($t, 'cycle', 'appdb');
	is($res->{exit}, 0, "$name: a plain cycle completes") or diag($res->{stderr});
	is($node->safe_psql("SELECT phase FROM pgrotate.state", dbname => 'appdb'), 'idle', "$name: phase idle");
	is(logins(), '1', "$name: exactly one role can log in");
	sinks_log_in("$name, after");
	return $res;
}

for my $point (qw(after-pending after-provision after-verify mid-publish after-publish after-revoke))
{
	my $res = pgr($t, [ 'cycle', 'appdb' ], env => { %{ $t->{env} }, PGROTATE_FAULT => $point });
	is($res->{signal}, 9, "$point: killed by SIGKILL at the fault point")
	  or diag($res->{stderr});
	sinks_log_in($point);
	my $pending_pw;
	if (-e "$dir/state/appdb.pending")
	{
		($pending_pw) = slurp_file("$dir/state/appdb.pending") =~ /^password (\S+)$/m;
	}
	my $fin = finish_plain($point);
	if ($point eq 'after-pending' || $point eq 'after-provision' || $point eq 'mid-publish')
	{
		ok($pending_pw, "$point: a pending password was left");
		is((read_env_sink($t->{sink}))[1], $pending_pw, "$point: the resumed cycle published that same password");
	}
}

# SIGKILL in the middle of the drain.
{
	my ($u, $p) = read_env_sink($t->{sink});
	my $s = $node->background_session(user => $u, password => $p, dbname => 'appdb', application_name => 'mid-drain');
	my $bg = start_pgrotate(args => [ 'cycle', 'appdb' ], config => $t->{conf}, env => $t->{env}, timeout => 90);
	$bg->wait_for(qr/draining "$u": sessions primary 1/, stream => 'stderr');
	my $res = $bg->kill;
	is($res->{signal}, 9, 'mid-drain: killed');
	sinks_log_in('mid-drain');
	ok(login_works($node, $u, $p), 'mid-drain: the old credential still logs in');
	$s->quit;
	finish_plain('mid-drain');
	is($node->safe_psql("SELECT rolcanlogin FROM pg_roles WHERE rolname = " . PgRotateTest::quote_literal($u)),
		'f', 'mid-drain: the old role is revoked after the resume');
}

done_testing();
