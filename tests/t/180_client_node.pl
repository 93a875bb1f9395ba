# contrib/clients/node-postgres: the node-postgres recipe (a pg.Pool
# replaced when the env file sink changes, the old one ended) under load
# while pgrotate runs 10 cycles with min_overlap just above its re-read
# interval and on_drain_timeout = "fail": no query fails, every cycle
# completes and revokes the old role.  Needs node and pg (npm ci,
# .ci/install-deps).
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

my $t = setup_target(config_opts => { defaults => recipe_defaults() });
my $node = $t->{node};
my $r = pgr($t, 'init', 'appdb');
is($r->{exit}, 0, 'init') or BAIL_OUT($r->{stderr});

my $app = start_app(name => 'node-postgres', cmd => [ $nodejs, recipe_dir('node-postgres') . '/app.js' ],
	env => { NODE_PATH => $modules, DB_CREDENTIALS => $t->{sink}, RELOAD_MS => 500,
		PGHOST => $node->host, PGPORT => $node->port, PGDATABASE => 'appdb', APP_NAME => 'node-recipe' });
poll_until(sub { app_backends($node, 'node-recipe', 'app_user_a') > 0 }, timeout => 30,
	what => 'the application to connect as app_user_a', on_timeout => 'die');

cycles_under_load($t, cycles => 10, apps => [ [ $app, 'node-recipe' ] ]);
stop_app($app);
done_testing();
