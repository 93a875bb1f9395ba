# The transport rule: a conninfo that reaches a remote host name over TCP
# without sslmode=verify-full/verify-ca is failed by check and refused by
# init, cycle and revoke before anything changes, unless
# allow_insecure_transport = true (then it runs, with a warning). The host
# name counts, not hostaddr: "host=db.example hostaddr=127.0.0.1" is remote
# (and reaches the test cluster). A bad conninfo value is a config error.
# With several targets (cycle --all) only the insecure one is refused; an
# insecure pooler entry is refused too; a refused revoke leaves the role's
# login alone.
use strict;
use warnings;
use Test::More;
use PgRotateTest;
use PgRotateSetup;

my $t = setup_target(cluster_opts => { tcp => 1 });
my $node = $t->{node};
my $dir = test_dir();
my $port = $node->port;
# the admin's password for the remote-looking name too
open my $fh, '>>', $t->{pgpass} or die;
print $fh "db.example:$port:*:pgrotate_admin:$t->{admin_password}\n";
close $fh;

my $far = "host=db.example hostaddr=127.0.0.1 port=$port dbname=appdb";
sub conf
{
	my ($name, %o) = @_;
	my $path = "$dir/$name.conf";
	write_config($path, target_config(node => $node, sink_path => $t->{sink}, %o));
	return $path;
}
my $insecure = conf('insecure', admin => "$far user=pgrotate_admin", app => $far);
my $allowed = conf('allowed', admin => "$far user=pgrotate_admin", app => $far,
	keys => { allow_insecure_transport => \'true' });
my $app_only = conf('app_only', app => $far);

sub run_with
{
	my ($conf, @args) = @_;
	return run_pgrotate(args => \@args, config => $conf, env => $t->{env});
}

sub schema_exists
{
	return $node->safe_psql("SELECT count(*) FROM pg_namespace WHERE nspname = 'pgrotate'", dbname => 'appdb');
}

# 1. Before init: check fails the items, init refuses and creates nothing.
my $r = run_with($insecure, 'check', 'appdb');
isnt($r->{exit}, 0, 'check fails');
like($r->{stdout}, qr/^\s*FAIL\s+admin transport: admin reaches remote host "db\.example" with sslmode=prefer: the credentials would travel without a verified TLS connection$/m,
	'check fails the admin item, naming the host and sslmode');
like($r->{stdout}, qr/^\s*FAIL\s+app transport: app reaches remote host "db\.example"/m, 'and the app item');
like($r->{stdout}, qr/fix: Add sslmode=verify-full \(with sslrootcert\) to the connection string, or set allow_insecure_transport = true/,
	'with the fix');
my $logpos = $node->log_position;
$r = run_with($insecure, 'init', 'appdb');
is($r->{exit}, 1, 'init refuses: exit 1');
like($r->{stderr}, qr/refusing to connect, nothing was changed: insecure transport: admin reaches remote host "db\.example" with sslmode=prefer.*; app reaches remote host "db\.example"/,
	'init names every insecure conninfo');
is(schema_exists(), '0', 'init created no state schema');
is($node->safe_psql("SELECT count(*) FROM pg_roles WHERE rolname IN ('app', 'app_user_a', 'app_user_b')"), '0',
	'init created no role');
# A session's disconnection line can reach the log after the command that
# opened it has exited, so look for a new connection, not any line.
unlike($node->log_since($logpos), qr/connection authorized: user=pgrotate_admin\b/, 'init did not even connect');

# 2. After a secure init: cycle and revoke refuse, nothing changes.
$r = pgr($t, 'init', 'appdb');
is($r->{exit}, 0, 'init over the socket') or BAIL_OUT($r->{stderr});
my $sink_before = slurp_file($t->{sink});
my $state = $node->safe_psql("SELECT active_role || '|' || phase || '|' || generation FROM pgrotate.state", dbname => 'appdb');
$r = run_with($app_only, 'cycle', 'appdb');
is($r->{exit}, 1, 'cycle refuses an insecure app conninfo alone: exit 1');
like($r->{stderr}, qr/refusing to connect, nothing was changed: insecure transport: app reaches remote host "db\.example"/,
	'the message says nothing changed and names app');
unlike($r->{stderr}, qr/admin reaches/, 'the socket admin is not blamed');
is(slurp_file($t->{sink}), $sink_before, 'the sink is unchanged');
is($node->safe_psql("SELECT active_role || '|' || phase || '|' || generation FROM pgrotate.state", dbname => 'appdb'),
	$state, 'the state is unchanged');
is(role_row($node, 'app_user_b'), 'f|f', 'the standby got no password');
$r = run_with($insecure, 'revoke', 'appdb', 'app_user_b');
is($r->{exit}, 1, 'revoke refuses: exit 1');
like($r->{stderr}, qr/insecure transport: .*; nothing was revoked/, 'revoke says nothing was revoked');

# 3. allow_insecure_transport = true: it runs, and warns.
$r = run_with($allowed, 'check', 'appdb');
like($r->{stdout}, qr/^\s*WARN\s+admin transport: admin reaches remote host "db\.example"/m, 'check warns instead of failing');
$r = run_with($allowed, 'cycle', 'appdb');
is($r->{exit}, 0, 'cycle with allow_insecure_transport runs') or diag($r->{stderr});
like($r->{stderr}, qr/warning: .*allow_insecure_transport is true for target "appdb": admin reaches remote host "db\.example"/,
	'and warns');
is((read_env_sink($t->{sink}))[0], 'app_user_b', 'the rotation happened');
like($node->log_content, qr/\[(\d+)\] \S+ LOG:  connection received: host=127\.0\.0\.1 .*\n(?:.*\n)*?.*\[\1\] app_user_b\@appdb LOG:  connection authorized: user=app_user_b database=appdb application_name=pgrotate-verify/,
	'the verify login went over TCP, the db.example conninfo');

# 4. The verify login on a replica uses the replica's host with the other
# keywords of app: a replica entry with verified TLS does not cover it.
my $rep = conf('replica_far', replicas =>
	  ["host=db2.example hostaddr=127.0.0.1 port=$port dbname=appdb user=pgrotate_admin sslmode=verify-full"]);
$r = run_with($rep, 'check', 'appdb');
like($r->{stdout}, qr/^\s*ok\s+replicas\[0\] transport$/m, 'the replica entry itself is fine');
like($r->{stdout}, qr/^\s*FAIL\s+app on replicas\[0\] transport: app on replicas\[0\] reaches remote host "db2\.example" with sslmode=prefer/m,
	'the verify login there is not');
$sink_before = slurp_file($t->{sink});
$r = run_with($rep, 'cycle', 'appdb');
is($r->{exit}, 1, 'cycle refuses it');
like($r->{stderr}, qr/insecure transport: app on replicas\[0\] reaches remote host "db2\.example"/, 'naming the verify on the replica');
is(slurp_file($t->{sink}), $sink_before, 'nothing was published');

# 5. A typo in a conninfo value is a config error with file and line.
my $typo = conf('typo', app => $node->connstr(dbname => 'appdb', sslmode => 'verfy-full'));
$r = run_with($typo, 'check', 'appdb');
is($r->{exit}, 2, 'a bad sslmode value: exit 2');
like($r->{stderr}, qr/\Q$typo\E:\d+: targets\.appdb\.app: invalid connection string: invalid sslmode value: "verfy-full"/,
	'the error names file, line, key and value');
# Values libpq would only look at when it connects are checked too.
my %late = (
	'port=abc' => 'invalid port number: "abc"',
	'hostaddr=notanip' => 'invalid hostaddr value: "notanip" is not an IPv4 or IPv6 address',
	'connect_timeout=ten' => 'invalid integer value "ten" for connection option "connect_timeout"',
);
for my $kv (sort keys %late)
{
	my ($k, $v) = split /=/, $kv;
	my $c = conf("late_$k", app => $node->connstr(dbname => 'appdb', $k => $v));
	$r = run_with($c, 'check', 'appdb');
	is($r->{exit}, 2, "$kv: exit 2");
	like($r->{stderr}, qr/\Q$c\E:\d+: targets\.appdb\.app: invalid connection string: \Q$late{$kv}\E/,
		"$kv: a config error with file, line, key and value");
}
SKIP:
{
	my $lib = PgRotateTest::libpq_dir(16);
	skip 'no libpq of 16 or later (PG_BINDIR/../lib or /var/cache/pgrotate-ci/pg-NN/lib, see .ci/install-deps)', 2
	  unless defined $lib;
	my $c = conf('late_lb', app => $node->connstr(dbname => 'appdb', load_balance_hosts => 'x'));
	$r = run_pgrotate(args => [ 'check', 'appdb' ], config => $c, env => { %{ $t->{env} }, LD_LIBRARY_PATH => $lib });
	is($r->{exit}, 2, 'load_balance_hosts=x (libpq 16+): exit 2');
	like($r->{stderr}, qr/\Q$c\E:\d+: targets\.appdb\.app: invalid connection string: invalid load_balance_hosts value: "x"/,
		'load_balance_hosts=x: a config error with file, line, key and value');
}


# 6. revoke refused: the role it would revoke keeps its login (pg_authid
# unchanged) until a secure revoke.
sub authid_row
{
	my ($role) = @_;
	return $node->safe_psql("SELECT rolcanlogin::text || '|' || coalesce(rolpassword, '<null>') FROM pg_authid WHERE rolname = "
		  . PgRotateTest::quote_literal($role), dbname => 'postgres');
}
my ($old, $old_pw) = read_env_sink($t->{sink});
$r = pgr($t, 'cycle', 'appdb', '--no-wait');
is($r->{exit}, 0, 'a cycle --no-wait over the socket leaves the old role valid') or diag($r->{stderr});
my $authid = authid_row($old);
like($authid, qr/^true\|SCRAM-SHA-256\$/, "$old can log in, with its password");
$r = run_with($insecure, 'revoke', 'appdb', $old);
is($r->{exit}, 1, 'revoke of the draining old role over an insecure conninfo: exit 1');
like($r->{stderr}, qr/insecure transport: admin reaches remote host "db\.example".*; nothing was revoked/,
	'it names the conninfo and says nothing was revoked');
is(authid_row($old), $authid, "pg_authid of $old is unchanged");
ok(login_works($node, $old, $old_pw), "$old still logs in with its password");
$r = pgr($t, 'revoke', 'appdb', $old);
is($r->{exit}, 0, 'the same revoke over the socket works') or diag($r->{stderr});
is(role_row($node, $old), 'f|f', "and revokes $old");

# 7. cycle --all with one insecure target (the fleet): that target is
# refused before the run connects for it and changes nothing; the other
# target goes on, and the run's exit status is the worst, 1.
my $other_sink = "$dir/other.env";
my $other = target_block(node => $node, target => 'other', group_role => 'other_grp',
	roles => [ 'other_a', 'other_b' ], sink_path => $other_sink);
$r = run_with(conf('two', extra_targets => $other), 'init', 'other');
is($r->{exit}, 0, 'init of a second target over the socket') or BAIL_OUT($r->{stderr});
my $mixed = conf('mixed', app => $far, extra_targets => $other);
$sink_before = slurp_file($t->{sink});
$state = $node->safe_psql("SELECT active_role || '|' || phase || '|' || generation FROM pgrotate.state WHERE target = 'appdb'",
	dbname => 'appdb');
my ($active) = read_env_sink($t->{sink});
my %rows = map { $_ => role_row($node, $_) } qw(app_user_a app_user_b);
$r = run_with($mixed, 'cycle', '--all');
is($r->{exit}, 1, 'cycle --all with one insecure target: exit 1');
like($r->{stderr}, qr/target "appdb": refusing to connect, nothing was changed: insecure transport: app reaches remote host "db\.example"/,
	'the insecure target is refused, by name');
unlike($r->{stderr}, qr/target other: .*insecure/, 'the other target is not blamed');
is(slurp_file($t->{sink}), $sink_before, 'the insecure target\'s sink is unchanged');
is($node->safe_psql("SELECT active_role || '|' || phase || '|' || generation FROM pgrotate.state WHERE target = 'appdb'",
		dbname => 'appdb'), $state, 'and its state row');
is(role_row($node, $_), $rows{$_}, "and its role $_") for sort keys %rows;
is((read_env_sink($other_sink))[0], 'other_b', 'the other target rotated');
is(role_row($node, 'other_a'), 'f|f', 'and revoked its old role');

# 8. A pooler entry that reaches a remote host without TLS: check fails
# it, cycle refuses before changing anything (no pooler is reached).
my $far_pooler = conf('far_pooler',
	poolers => ["host=db.example hostaddr=127.0.0.1 port=$port dbname=pgbouncer user=pgrotate_admin"]);
$r = run_with($far_pooler, 'check', 'appdb');
like($r->{stdout}, qr/^\s*FAIL\s+poolers\[0\] transport: poolers\[0\] reaches remote host "db\.example" with sslmode=prefer/m,
	'check fails the pooler entry');
$r = run_with($far_pooler, 'cycle', 'appdb');
is($r->{exit}, 1, 'cycle refuses an insecure pooler conninfo: exit 1');
like($r->{stderr}, qr/refusing to connect, nothing was changed: insecure transport: poolers\[0\] reaches remote host "db\.example"/,
	'naming the pooler entry');
unlike($r->{stderr}, qr/(?:admin|app) reaches/, 'and nothing else');
is(slurp_file($t->{sink}), $sink_before, 'the sink is unchanged');
is($node->safe_psql("SELECT active_role || '|' || phase || '|' || generation FROM pgrotate.state WHERE target = 'appdb'",
		dbname => 'appdb'), $state, 'the state is unchanged');
is(role_row($node, $_), $rows{$_}, "role $_ is unchanged") for sort keys %rows;

done_testing();
