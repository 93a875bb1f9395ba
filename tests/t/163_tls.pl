# A cluster that serves TLS with a throwaway CA (tests/lib/PgTLS.pm) and
# refuses TCP without it: init and cycle over sslmode=verify-full with
# sslrootcert work end to end, the server log shows SSL for pgrotate's
# admin and verify sessions, and a wrong CA makes check fail clearly.
use strict;
use warnings;
use Test::More;
use PgRotateTest;
use PgRotateSetup;
use PgTLS;

my $dir = test_dir();
my $ca = PgTLS::make_ca("$dir/ca");
my $wrong = PgTLS::make_ca("$dir/wrong", cn => 'some other CA');
my $node = PgRotateTest::Cluster->new('tls', tcp => 1, extra_hba => PgTLS::hba_lines());
PgTLS::serve($node, $ca, names => ['db.example']);
$node->start;
$node->create_database('appdb');
my $admin_pw = $node->create_admin('pgrotate_admin', createrole => 1,
	extra_grants => [ 'CREATE ON DATABASE appdb', 'pg_signal_backend' ]);
my $port = $node->port;
my $pgpass = "$dir/pgpass";
PgRotateTest::_write_file($pgpass, "db.example:$port:*:pgrotate_admin:$admin_pw\n", 0600);
my $env = { PGPASSFILE => $pgpass, PGROTATE_CONFIG => undef };
my $sink = "$dir/appdb.env";

sub conf
{
	my ($name, $root, $app_extra) = @_;
	my $far = "host=db.example hostaddr=127.0.0.1 port=$port dbname=appdb sslmode=verify-full sslrootcert=$root";
	my $path = "$dir/$name.conf";
	write_config($path, target_config(node => $node, sink_path => $sink,
			admin => "$far user=pgrotate_admin", app => $far . ($app_extra // '')));
	return $path;
}
my $good = conf('good', $ca->{cert});
my $bad = conf('wrong_ca', $wrong->{cert});

sub run_with
{
	my ($conf, @args) = @_;
	return run_pgrotate(args => \@args, config => $conf, env => $env);
}

my ($rc) = $node->psql('SELECT 1', conn => { host => '127.0.0.1', sslmode => 'disable' });
isnt($rc, 0, 'the server refuses TCP without TLS');

my $logpos = $node->log_position;
my $r = run_with($good, 'init', 'appdb');
is($r->{exit}, 0, 'init over verify-full') or BAIL_OUT($r->{stderr});
$r = run_with($good, 'check', 'appdb');
is($r->{exit}, 0, 'check passes over verify-full') or diag($r->{stdout});
like($r->{stdout}, qr/^\s*ok\s+admin transport$/m, 'the admin transport is ok');
like($r->{stdout}, qr/^\s*ok\s+app transport$/m, 'the app transport is ok');
like($r->{stdout}, qr/^\s*ok\s+app path asks for the password on primary$/m, 'the app path asks for passwords');
$r = run_with($good, 'cycle', 'appdb');
is($r->{exit}, 0, 'cycle over verify-full') or diag($r->{stderr});
my ($u, $p) = read_env_sink($sink);
is($u, 'app_user_b', 'B is published');
is(role_row($node, 'app_user_a'), 'f|f', 'A revoked');

# Every session pgrotate opened shows SSL in its "connection authorized" line.
my @auth = grep { /connection authorized: / } split /\n/, $node->log_since($logpos);
my @admin = grep { /user=pgrotate_admin / } @auth;
my @verify = grep { /application_name=pgrotate-verify/ } @auth;
ok(@admin >= 3, scalar(@admin) . ' admin sessions logged');
ok(@verify >= 2, scalar(@verify) . ' verify sessions logged');
is(scalar(grep { !/SSL enabled \(protocol=TLS/ } @admin, @verify), 0,
	'every admin and verify session used TLS') or diag(join("\n", @admin, @verify));

# A wrong CA: check fails clearly, cycle changes nothing.
my $before = slurp_file($sink);
$r = run_with($bad, 'check', 'appdb');
isnt($r->{exit}, 0, 'check with the wrong CA fails');
like($r->{stdout}, qr/^\s*FAIL\s+admin connects: primary: could not connect: .*certificate verify failed/m,
	'it says the certificate could not be verified');
$r = run_with($bad, 'cycle', 'appdb');
is($r->{exit}, 1, 'cycle with the wrong CA fails');
is(slurp_file($sink), $before, 'nothing was published');
is(role_row($node, 'app_user_b'), 't|t', 'the active role is untouched');

# Channel binding: over TLS the verify login requires it unless app says
# otherwise. pg_hba "password" (cleartext inside TLS) for the login roles
# asks for the password but binds nothing to the channel.
$node->{opts}{extra_hba} = "hostssl all app_user_a,app_user_b 127.0.0.1/32 password\n" . PgTLS::hba_lines();
$node->_write_hba;
$node->reload;
($u, $p) = read_env_sink($sink);
poll_until(sub {
		my ($rc) = $node->psql('SELECT 1', user => $u, password => $p, dbname => 'appdb',
			conn => { host => '127.0.0.1', sslmode => 'require', channel_binding => 'require' });
		$rc != 0;
	}, what => 'the login roles to authenticate without channel binding');
$before = slurp_file($sink);
$r = run_with($good, 'cycle', 'appdb');
is($r->{exit}, 1, 'a verify without channel binding fails');
like($r->{stderr}, qr/channel binding required|authentication method requirement/, 'libpq says why');
is(slurp_file($sink), $before, 'nothing was published');
my $no_binding = conf('no_binding', $ca->{cert}, ' channel_binding=disable');
# With the libpq pgrotate links (Debian 12's 15 here, which has no
# require_auth) the cycle publishes.
$r = run_with($no_binding, 'cycle', 'appdb');
if ($r->{stderr} =~ /authentication method requirement "scram-sha-256"/)
{
	is($r->{exit}, 1, 'channel_binding=disable in app is respected; require_auth still refuses cleartext');
	is(slurp_file($sink), $before, 'nothing was published');
}
else
{
	is($r->{exit}, 0, 'channel_binding=disable in app is respected') or diag($r->{stderr});
	isnt(slurp_file($sink), $before, 'and the cycle published');
}
# With a libpq of 16 or later at run time (LD_LIBRARY_PATH, as in 166),
# so that CI runs this branch too.
SKIP:
{
	my $lib = PgRotateTest::libpq_dir(16);
	skip 'no libpq of 16 or later (PG_BINDIR/../lib or /var/cache/pgrotate-ci/pg-NN/lib, see .ci/install-deps)', 3
	  unless defined $lib;
	note("libpq 16+ from $lib");
	# require_auth=scram-sha-256 refuses the cleartext request anyway
	$before = slurp_file($sink);
	$r = run_pgrotate(args => [ 'cycle', 'appdb' ], config => $no_binding,
		env => { %$env, LD_LIBRARY_PATH => $lib });
	is($r->{exit}, 1, 'libpq 16+: channel_binding=disable in app is respected; require_auth still refuses cleartext');
	like($r->{stderr}, qr/the server asked for another method than scram-sha-256 \(libpq: authentication method requirement "scram-sha-256" failed: server requested a cleartext password\)/,
		'libpq 16+: the message says the server asked for cleartext');
	is(slurp_file($sink), $before, 'libpq 16+: nothing was published');
}

done_testing();
