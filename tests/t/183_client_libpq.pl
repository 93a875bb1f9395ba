# contrib/clients/libpq: the baseline, a shell script whose every psql
# reads the credential when it connects, once from the env file sink and
# once through PGPASSFILE with the pgpass sink, both under load while
# pgrotate runs 10 cycles with min_overlap 1s and on_drain_timeout =
# "fail": no query fails, every cycle completes and revokes the old role.
use strict;
use warnings;
use Test::More;
use PgRotateTest qw(:DEFAULT cfg_quote);
use PgRotateSetup;
use ClientRecipe;

my $psql = PgRotateTest::pg_bindir() . '/psql';
$psql = 'psql' unless -x $psql;
my $dir = test_dir();
my $pgpass_sink = "$dir/appdb.pgpass";
my $t = setup_target(config_opts => { defaults => recipe_defaults(),
		extra_sinks => sprintf('{ type = "file"; path = %s; format = "pgpass"; }', cfg_quote($pgpass_sink)) });
my $node = $t->{node};
my $r = pgr($t, 'init', 'appdb');
is($r->{exit}, 0, 'init') or BAIL_OUT($r->{stderr});
like(slurp_file($pgpass_sink), qr/^[^:]+:\d+:appdb:app_user_a:[A-Za-z0-9]+$/m, 'the pgpass sink names the role');

(my $bindir = $psql) =~ s{/[^/]*$}{};
my %env = (PGHOST => $node->host, PGPORT => $node->port, PGDATABASE => 'appdb', THINK_MS => 5,
	PATH => ($bindir ? "$bindir:" : '') . $ENV{PATH});
my $loop = recipe_dir('libpq') . '/query-loop.sh';
my $e = start_app(name => 'psql with the env file', cmd => [ 'sh', $loop, 'env', $t->{sink} ],
	env => { %env, PGAPPNAME => 'libpq-env' });
my $p = start_app(name => 'psql with PGPASSFILE', cmd => [ 'sh', $loop, 'pgpass', $pgpass_sink ],
	env => { %env, PGAPPNAME => 'libpq-pgpass' });
for my $n ('libpq-env', 'libpq-pgpass')
{
	poll_until(sub { app_backends($node, $n, 'app_user_a') > 0 }, timeout => 30,
		what => "$n to connect as app_user_a", on_timeout => 'die');
}

cycles_under_load($t, cycles => 10, apps => [ [ $e, 'libpq-env' ], [ $p, 'libpq-pgpass' ] ]);
stop_app($e);
stop_app($p);
done_testing();
