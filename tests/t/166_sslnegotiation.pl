# PostgreSQL 17 (SPEC section 7): sslnegotiation=direct in the app and
# admin conninfo, with TLS (verify-full): init, check and cycle work, and
# the verify logins go over TLS. Needs a server of 17 or later and a libpq
# of 17 or later at run time: the one shipped with that server is used
# (LD_LIBRARY_PATH), since Debian 12's libpq 15 does not know the keyword.
use strict;
use warnings;
use Test::More;
use PgRotateTest;
use PgRotateSetup;
use PgTLS;

my $bindir = PgRotateTest::pg_bindir();
my $libdir = "$bindir/../lib";
plan skip_all => 'needs a PostgreSQL 17 or later server (PG_BINDIR)'
  if PgRotateTest::pg_major_version() < 17;
plan skip_all => "needs the libpq of that server ($libdir/libpq.so.5)" unless -e "$libdir/libpq.so.5";

my $dir = test_dir();
my $ca = PgTLS::make_ca("$dir/ca");
my $node = PgRotateTest::Cluster->new('direct', tcp => 1, extra_hba => PgTLS::hba_lines(),
	extra_conf => 'log_connections = on');
PgTLS::serve($node, $ca, names => ['db.example']);
$node->start;
$node->create_database('appdb');
my $admin_pw = $node->create_admin('pgrotate_admin', createrole => 1,
	extra_grants => [ 'CREATE ON DATABASE appdb', 'pg_signal_backend' ]);
my $port = $node->port;
my $pgpass = "$dir/pgpass";
PgRotateTest::_write_file($pgpass, "db.example:$port:*:pgrotate_admin:$admin_pw\n", 0600);
my $env = { PGPASSFILE => $pgpass, PGROTATE_CONFIG => undef, LD_LIBRARY_PATH => $libdir };
my $sink = "$dir/appdb.env";
my $far = "host=db.example hostaddr=127.0.0.1 port=$port dbname=appdb sslmode=verify-full"
  . " sslrootcert=$ca->{cert} sslnegotiation=direct";
my $conf = "$dir/direct.conf";
write_config($conf, target_config(node => $node, sink_path => $sink,
		admin => "$far user=pgrotate_admin", app => $far));

sub run_with { return run_pgrotate(args => [@_], config => $conf, env => $env); }

my $logpos = $node->log_position;
my $r = run_with('init', 'appdb');
is($r->{exit}, 0, 'init with sslnegotiation=direct') or BAIL_OUT($r->{stderr});
$r = run_with('check', 'appdb');
is($r->{exit}, 0, 'check passes') or diag($r->{stdout});
$r = run_with('cycle', 'appdb');
is($r->{exit}, 0, 'cycle with sslnegotiation=direct') or diag($r->{stderr});
my ($u) = read_env_sink($sink);
is($u, 'app_user_b', 'B is published');
is(role_row($node, 'app_user_a'), 'f|f', 'A is revoked');
my $log = $node->log_since($logpos);
my @verify = $log =~ /connection authorized: user=app_user_[ab] database=appdb.*$/mg;
ok(@verify >= 2, 'the verify logins reached the server') or diag($log);
ok(!grep({ !/SSL enabled/ } @verify), 'every verify login was over TLS') or diag(join "\n", @verify);
unlike($log, qr/connection authorized: user=pgrotate_admin(?!.*SSL enabled)/m, 'every admin session was over TLS');

done_testing();
