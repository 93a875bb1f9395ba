# contrib/clients/python: psycopg2's ThreadedConnectionPool swapped when the
# env file sink changes, and SQLAlchemy 1.4 (do_connect, a checkout check of
# the role, pool_recycle), both under load at the same time while pgrotate
# runs 10 cycles with min_overlap just above their re-read interval and
# on_drain_timeout = "fail": no query fails, every cycle completes and
# revokes the old role.  Needs Debian's python3-psycopg2 and
# python3-sqlalchemy for /usr/bin/python3.
use strict;
use warnings;
use Test::More;
use PgRotateTest;
use PgRotateSetup;
use ClientRecipe;

my $py = $ENV{PGROTATE_PYTHON3} // '/usr/bin/python3';
plan skip_all => "$py is not installed" unless -x $py;
for my $m ('psycopg2', 'sqlalchemy')
{
	plan skip_all => "$py cannot import $m (Debian python3-$m, see .ci/install-deps)"
	  if system($py, '-c', "import $m") != 0;
}
my ($sqla) = `$py -c 'import sqlalchemy; print(sqlalchemy.__version__)'` =~ /^(\S+)/;
note("SQLAlchemy $sqla");

my $t = setup_target(config_opts => { defaults => recipe_defaults() });
my $node = $t->{node};
my $r = pgr($t, 'init', 'appdb');
is($r->{exit}, 0, 'init') or BAIL_OUT($r->{stderr});

my %env = (DB_CREDENTIALS => $t->{sink}, RELOAD_MS => 500, PGHOST => $node->host, PGPORT => $node->port,
	PGDATABASE => 'appdb', PYTHONDONTWRITEBYTECODE => 1);
my $dir = recipe_dir('python');
my $pg2 = start_app(name => 'psycopg2 pool', cmd => [ $py, "$dir/psycopg2_pool.py" ],
	env => { %env, APP_NAME => 'psycopg2-recipe' });
my $sa = start_app(name => "SQLAlchemy $sqla", cmd => [ $py, "$dir/sqlalchemy_app.py" ],
	env => { %env, APP_NAME => 'sqlalchemy-recipe', RECYCLE_S => 1 });
for my $n ('psycopg2-recipe', 'sqlalchemy-recipe')
{
	poll_until(sub { app_backends($node, $n, 'app_user_a') > 0 }, timeout => 30,
		what => "$n to connect as app_user_a", on_timeout => 'die');
}

cycles_under_load($t, cycles => 10, apps => [ [ $pg2, 'psycopg2-recipe' ], [ $sa, 'sqlalchemy-recipe' ] ]);
stop_app($pg2);
stop_app($sa);
done_testing();
