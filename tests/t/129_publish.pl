# pgrotate publish TARGET (issue 14, item 8): the active credential written
# again to every sink without rotating, the password taken from a file
# sink that still holds it (by fingerprint); refused when none does.
use strict;
use warnings;
use JSON::PP;
use Test::More;
use PgRotateTest;
use PgRotateSetup;

my $t = setup_target();
my $node = $t->{node};
my $dir = test_dir();

my $r = pgr($t, 'init', 'appdb');
is($r->{exit}, 0, 'init') or BAIL_OUT($r->{stderr});
$r = pgr($t, 'cycle', 'appdb');
is($r->{exit}, 0, 'a cycle') or BAIL_OUT($r->{stderr});
my ($role, $pw) = read_env_sink($t->{sink});
my $authid = sub {
	$node->safe_psql("SELECT rolname, rolcanlogin, rolpassword, rolvaliduntil FROM pg_authid"
		  . " WHERE rolname LIKE 'app%' ORDER BY 1");
};
my $state = sub { $node->safe_psql('SELECT generation, fingerprint, phase FROM pgrotate.state', dbname => 'appdb') };
my $before_state = $state->();

# 1. A sink added to the configuration is filled by publish.
my $json = "$dir/new.json";
my $conf2 = "$dir/two.conf";
write_config($conf2, target_config(node => $node, sink_path => $t->{sink},
		extra_sinks => sprintf('{ type = "file"; path = %s; format = "json"; }', PgRotateTest::cfg_quote($json))));
my $authid_before = $authid->();
$r = run_pgrotate(args => [ 'publish', 'appdb' ], config => $conf2, env => $t->{env});
is($r->{exit}, 0, 'publish exits 0') or diag($r->{stderr});
like($r->{stderr}, qr/published the active credential of role "\Q$role\E" \(generation \d+\) again to 2 sinks/,
	'it says what it did');
my $doc = eval { JSON::PP->new->decode(slurp_file($json)) };
is($doc->{role}, $role, 'the new sink names the active role');
is($doc->{password}, $pw, 'and carries the active password');
is((stat $json)[2] & 07777, 0600, 'mode 0600');
is($state->(), $before_state, 'no rotation: generation, fingerprint and phase unchanged');
is($authid->(), $authid_before, 'no role changed');
is($node->safe_psql("SELECT event, to_role FROM pgrotate.history ORDER BY id DESC LIMIT 1", dbname => 'appdb'),
	"republished|$role", 'recorded in the history');
ok(login_works($node, $role, $pw), 'the credential still logs in');
assert_no_secret_in([$pw], { 'publish output' => $r->{stdout} . $r->{stderr} });

# 2. A pgbouncer sink: the role gets a new SCRAM secret of the same password,
#    and the auth_file holds exactly what the server holds.
my $authfile = "$dir/userlist.txt";
my $conf3 = "$dir/bouncer.conf";
write_config($conf3, target_config(node => $node, sink_path => $t->{sink},
		extra_sinks => sprintf('{ type = "file"; path = %s; format = "pgbouncer"; }', PgRotateTest::cfg_quote($authfile))));
$r = run_pgrotate(args => [ 'publish', 'appdb' ], config => $conf3, env => $t->{env});
is($r->{exit}, 0, 'publish with a pgbouncer sink exits 0') or diag($r->{stderr});
my $stored = $node->safe_psql("SELECT rolpassword FROM pg_authid WHERE rolname = '$role'");
like($stored, qr/^SCRAM-SHA-256\$/, 'the server holds a SCRAM verifier');
is(slurp_file($authfile), qq("$role" "$stored"\n), 'the auth_file carries the verifier the server holds');
ok(login_works($node, $role, $pw), 'the same password still logs in');

# 3. No file sink holds the active credential: refused, nothing written.
my $conf4 = "$dir/lost.conf";
my $other = "$dir/other.env";
write_config($conf4, target_config(node => $node, sink_path => $other,
		extra_sinks => sprintf('{ type = "file"; path = %s; format = "json"; }', PgRotateTest::cfg_quote("$dir/lost.json"))));
open my $fh, '>', $other or die;
print $fh "PGUSER=$role\nPGPASSWORD=notthepassword12345678\n";
close $fh;
chmod 0600, $other;
$r = run_pgrotate(args => [ 'publish', 'appdb' ], config => $conf4, env => $t->{env});
is($r->{exit}, 1, 'publish refuses when no sink holds the active credential');
like($r->{stderr}, qr/no file sink of target "appdb" holds the active credential of role "\Q$role\E"/, 'it says why');
like($r->{stderr}, qr/does not hold the active credential/, 'naming what the sink holds');
like($r->{stderr}, qr/pgrotate cycle/, 'and what to do');
ok(!-e "$dir/lost.json", 'no sink was written');
is(slurp_file($other), "PGUSER=$role\nPGPASSWORD=notthepassword12345678\n", 'the stale sink is untouched');

# 4. Usage.
$r = pgr($t, 'publish');
is($r->{exit}, 2, 'no target: usage error');
$r = pgr($t, 'publish', 'nosuch');
is($r->{exit}, 2, 'an unknown target: exit 2');

done_testing();
