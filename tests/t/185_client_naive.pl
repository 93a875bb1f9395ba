# The harness of the contrib/clients tests can tell a recipe from the
# usual application: contrib/clients/node-postgres/naive.js reads its
# credential once and keeps one pg.Pool.  Under the same load and settings
# as tests/t/180_client_node.pl, its idle clients of the old role block the
# drain (exit 3, the old role still LOGIN); with on_drain_timeout =
# "terminate" the cycle ends by terminating them, and then the pool's new
# connections with the revoked role fail.  Needs node and pg.
use strict;
use warnings;
use Test::More;
use PgRotateTest;
use PgRotateSetup;
use ClientRecipe;

my $nodejs = find_program('node', 'PGROTATE_NODE');
plan skip_all => 'node is not installed (Debian nodejs, see .ci/install-deps)' unless $nodejs;
my $modules = node_modules_dir();
plan skip_all => 'the npm package pg is not installed (npm ci, see .ci/install-deps)' unless $modules;

my $t = setup_target(config_opts => { defaults => recipe_defaults(drain_timeout => '3s') });
my $node = $t->{node};
my $r = pgr($t, 'init', 'appdb');
is($r->{exit}, 0, 'init') or BAIL_OUT($r->{stderr});

my $app = start_app(name => 'node-postgres naive', cmd => [ $nodejs, recipe_dir('node-postgres') . '/naive.js' ],
	env => { NODE_PATH => $modules, DB_CREDENTIALS => $t->{sink},
		PGHOST => $node->host, PGPORT => $node->port, PGDATABASE => 'appdb', APP_NAME => 'node-naive' });
poll_until(sub { app_backends($node, 'node-naive', 'app_user_a') > 0 }, timeout => 30,
	what => 'the application to connect as app_user_a', on_timeout => 'die');

# 1. on_drain_timeout = "fail": the drain is blocked.
$r = pgr($t, [ 'cycle', 'appdb' ], timeout => 60);
is($r->{exit}, 3, 'the naive application blocks the drain: exit 3 at drain_timeout');
like($r->{stderr}, qr/node-naive/, 'pgrotate names its sessions');
is(role_row($node, 'app_user_a'), 't|t', 'the old role is still LOGIN with its password');
my ($now) = read_env_sink($t->{sink});
is($now, 'app_user_b', 'the file already names the new role');
cmp_ok(app_backends($node, 'node-naive', 'app_user_a'), '>', 0, 'the application still uses the old role');
is(app_backends($node, 'node-naive', 'app_user_b'), '0', 'and never the new one');

# 2. on_drain_timeout = "terminate": the cycle completes, the application
# then fails.
my $conf = test_dir() . '/terminate.conf';
write_config($conf, target_config(node => $node, sink_path => $t->{sink},
		defaults => recipe_defaults(drain_timeout => '3s', on_drain_timeout => 'terminate')));
$r = run_pgrotate(args => [ 'cycle', 'appdb' ], config => $conf, env => $t->{env}, timeout => 60);
is($r->{exit}, 0, 'with on_drain_timeout = "terminate" the resumed cycle completes') or diag($r->{stderr});
is(role_row($node, 'app_user_a'), 'f|f', 'the old role is revoked');
poll_until(sub { ClientRecipe::_pump($app); $app->{err} =~ /query failed/ }, timeout => 20,
	what => 'the naive application to fail queries');
my $s = finish_app($app);
cmp_ok($s->{failures}, '>', 0, "the naive application failed queries ($s->{failures} of $s->{queries})");
is_deeply([ keys %{ $s->{users} } ], ['app_user_a'], 'it never used the new role');
like($app->{err}, qr/password authentication failed for user "app_user_a"|not permitted to log in/,
	'its new connections are refused for the revoked role');
done_testing();
