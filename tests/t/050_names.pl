# Hostile names: quotes, spaces, upper case, 63-byte names, and an
# injection attempt that must stay a role name.
use strict;
use warnings;
use Test::More;
use PgRotateTest;
use PgRotateSetup;

my $dir = test_dir();
my $long = 'L' x 63;
my $group = q{Grp 'x" Upper};
my $inject = q{a'); DROP TABLE canary; --};
my $t = setup_target(config_opts => {
		group_role => $group,
		roles => [ $inject, $long ],
		sinks => sprintf('{ type = "file"; path = "%s/app.json"; format = "json"; }', $dir) });
my $node = $t->{node};
$node->safe_psql('CREATE TABLE canary (x int)', dbname => 'appdb');

sub cred
{
	my $json = slurp_file("$dir/app.json");
	require JSON::PP;
	my $d = JSON::PP::decode_json($json);
	return ($d->{role}, $d->{password});
}

my $r = pgr($t, 'init', 'appdb');
is($r->{exit}, 0, 'init with hostile names') or diag($r->{stderr});
my ($u, $p) = cred();
is($u, $inject, 'the injection string is a role name');
is($node->safe_psql("SELECT count(*) FROM pg_roles WHERE rolname IN ("
		. join(',', map { PgRotateTest::quote_literal($_) } $group, $inject, $long) . ')'), '3',
	'group and both login roles exist with their exact names');
is($node->safe_psql("SELECT count(*) FROM canary", dbname => 'appdb'), '0', 'the canary table survived');
is(current_users($node, $u, $p), "$inject|$group", 'logs in; current_user is the group');

$r = pgr($t, 'cycle', 'appdb');
is($r->{exit}, 0, 'cycle 1 with hostile names') or diag($r->{stderr});
is((cred())[0], $long, 'the 63-byte role is active');
ok(login_works($node, cred()), 'and logs in');
$r = pgr($t, 'cycle', 'appdb');
is($r->{exit}, 0, 'cycle 2 with hostile names') or diag($r->{stderr});
my ($u2, $p2) = cred();
is($u2, $inject, 'after two cycles the first role is active again');
is(current_users($node, $u2, $p2), "$u2|$group", 'the rotated credential works as the group');
is($node->safe_psql("SELECT count(*) FROM pg_roles WHERE rolname IN ("
		. join(',', map { PgRotateTest::quote_literal($_) } $inject, $long) . ') AND rolcanlogin'), '1',
	'exactly one login role can log in');
is($node->safe_psql("SELECT count(*) FROM canary", dbname => 'appdb'), '0', 'the canary table is still there');
$r = pgr($t, 'active', 'appdb');
is($r->{stdout}, "$u2\n", 'active prints the hostile name as is');

done_testing();
