# contrib/clients/pgbouncer: the node-postgres recipe (app.js) through
# PgBouncer, in session and in transaction pooling, with the pgbouncer sink
# (auth_file + RELOAD) and the env sink the application follows, under load
# while pgrotate runs 10 cycles with min_overlap just above its re-read
# interval and on_drain_timeout = "fail": no query fails, every cycle
# completes and revokes the old role.  Needs pgbouncer, node and pg.
use strict;
use warnings;
use Test::More;
use PgRotateTest qw(:DEFAULT is_root cfg_quote);
use PgRotateSetup;
use PgBouncerTest;
use ClientRecipe;

plan skip_all => 'pgbouncer is not installed (' . PgBouncerTest::binary() . ')'
  unless -x PgBouncerTest::binary();
my $nodejs = find_program('node', 'PGROTATE_NODE');
plan skip_all => 'node is not installed (Debian nodejs, see .ci/install-deps)' unless $nodejs;
my $modules = node_modules_dir();
plan skip_all => 'the npm package pg is not installed (npm ci, see .ci/install-deps)' unless $modules;

my $primary = PgRotateTest::Cluster->new('primary');
$primary->start;
$primary->create_database('appdb');
my $admin_pw = $primary->create_admin('pgrotate_admin', createrole => 1,
	extra_grants => [ 'CREATE ON DATABASE appdb', 'pg_signal_backend' ]);
my $pgb = PgBouncerTest->new(node => $primary, admin_user => 'pgrotate_admin', admin_password => $admin_pw,
	databases => { appdb => 'dbname=appdb', appdb_tx => 'dbname=appdb pool_mode=transaction' });
my $auth = $pgb->auth_file;
my $admin_verifier = $primary->safe_psql("SELECT rolpassword FROM pg_authid WHERE rolname = 'pgrotate_admin'");
write_config($auth, qq("pgrotate_admin" "$admin_verifier"\n));
PgBouncerTest::_chown_postgres($auth);
$pgb->start;
note('PgBouncer version ' . (PgBouncerTest::version() // '?'));

my $dir = test_dir();
my $pgpass = "$dir/pgpass";
$primary->write_pgpass($pgpass, [ [ 'pgrotate_admin', $admin_pw ] ]);
open my $fh, '>>', $pgpass or die;
print $fh join(':', $pgb->host, $pgb->port, 'pgbouncer', 'pgrotate_admin', $admin_pw) . "\n";
close $fh;
my $sink = "$dir/appdb.env";
my $owner = is_root() ? ' owner = "postgres";' : '';
my $conf = write_config("$dir/pgrotate.conf", target_config(node => $primary,
		poolers => [ $pgb->console_conninfo ],
		sinks => sprintf('{ type = "file"; path = %s; format = "env"; },'
			  . ' { type = "file"; path = %s; format = "pgbouncer";%s }', cfg_quote($sink), cfg_quote($auth), $owner),
		defaults => recipe_defaults()));
my $t = { node => $primary, conf => $conf, sink => $sink, env => { PGPASSFILE => $pgpass, PGROTATE_CONFIG => undef } };
my $r = pgr($t, 'init', 'appdb');
is($r->{exit}, 0, 'init') or BAIL_OUT($r->{stderr});
like(slurp_file($auth), qr/^"app_user_a" "SCRAM-SHA-256\$/m, 'the auth_file has the first role');

my %env = (NODE_PATH => $modules, DB_CREDENTIALS => $sink, RELOAD_MS => 500,
	PGHOST => $pgb->host, PGPORT => $pgb->port);
my %apps = (appdb => 'session pooling', appdb_tx => 'transaction pooling');
my @apps;
for my $db (sort keys %apps)
{
	my $app = start_app(name => "node-postgres via PgBouncer ($apps{$db})",
		cmd => [ $nodejs, recipe_dir('node-postgres') . '/app.js' ],
		env => { %env, PGDATABASE => $db, APP_NAME => "pgb-$db" });
	my $check = sub { scalar @{ $pgb->clients_of($_[0], $db) } };
	poll_until(sub { $check->('app_user_a') }, timeout => 30,
		what => "the application on $db to connect as app_user_a", on_timeout => 'die');
	push @apps, [ $app, "pgb-$db", $check ];
}

cycles_under_load($t, cycles => 10, apps => \@apps);
stop_app($_->[0]) for @apps;
done_testing();
