# A verify login counts only if the server checked the password: with
# pg_hba trust on the app path, on the primary or on a replica only, the
# cycle fails before publishing and rolls back; with pg_hba fixed it
# completes. check reports a trusting app path.
use strict;
use warnings;
use Test::More;
use PgRotateTest;
use PgRotateSetup;

my $primary = PgRotateTest::Cluster->new('primary');
$primary->start;
$primary->create_database('appdb');
my $admin_pw = $primary->create_admin('pgrotate_admin', createrole => 1,
	extra_grants => [ 'CREATE ON DATABASE appdb', 'pg_signal_backend' ]);
my $replica = $primary->backup_replica('standby');
$replica->start;
$primary->wait_for_catchup($replica);

my $dir = test_dir();
my $pgpass = "$dir/pgpass";
$primary->write_pgpass($pgpass, [ [ 'pgrotate_admin', $admin_pw ] ]);
$replica->write_pgpass($pgpass, [ [ 'pgrotate_admin', $admin_pw ] ], append => 1);
my $sink = "$dir/appdb.env";
my $rnode = $replica->host . ':' . $replica->port;
my $t = { env => { PGPASSFILE => $pgpass, PGROTATE_CONFIG => undef }, conf => "$dir/main.conf" };
write_config($t->{conf}, target_config(node => $primary, sink_path => $sink,
		replicas => [$replica], defaults => { drain_timeout => '2s' }));

# pg_hba.conf with (or without) "local all all trust" ahead of the scram
# lines, reloaded; polled until a wrong password logs in (or no longer does).
sub set_trust
{
	my ($node, $on) = @_;
	$node->{opts}{extra_hba} = $on ? 'local all all trust' : undef;
	$node->_write_hba;
	$node->reload;
	poll_until(sub { my ($rc) = $node->psql('SELECT 1', password => 'not-the-password'); ($rc == 0) == !!$on },
		what => $node->name . ($on ? ' to trust' : ' to ask for passwords'));
}

sub state_row
{
	return $primary->safe_psql("SELECT active_role || '|' || phase FROM pgrotate.state WHERE target = 'appdb'",
		dbname => 'appdb');
}

# A cycle that must fail at verify and change nothing that matters (run
# with $run, default $t: its conf and env).
sub refused_cycle
{
	my ($what, $node_re, $run) = @_;
	my $before = slurp_file($sink);
	my ($active, $apw) = read_env_sink($sink);
	my $standby = $active eq 'app_user_a' ? 'app_user_b' : 'app_user_a';
	my $state = state_row();
	my $r = pgr($run // $t, 'cycle', 'appdb');
	isnt($r->{exit}, 0, "$what: the cycle fails");
	like($r->{stderr}, qr/$node_re: the server let the role in without asking for its password \(pg_hba trust\/peer\/ident\/cert on that path\)/,
		"$what: the message names the node and the cause");
	like($r->{stderr}, qr/HINT: Point the target's app conninfo at the path the applications use, where pg_hba asks for scram-sha-256\./, "$what: and the fix");
	is(slurp_file($sink), $before, "$what: the sink is unchanged");
	is(state_row(), $state, "$what: the active role and the phase are unchanged");
	is(role_row($primary, $active), 't|t', "$what: the active role keeps LOGIN and its password");
	ok(login_works($primary, $active, $apw), "$what: the active credential still logs in");
	is(role_row($primary, $standby), 'f|f', "$what: the standby is NOLOGIN with no password (rolpassword IS NULL)");
	is($primary->safe_psql("SELECT count(*) FROM pgrotate.history WHERE event = 'published' AND to_role = "
			  . PgRotateTest::quote_literal($standby) . " AND generation > 1", dbname => 'appdb'), '0',
		"$what: nothing was recorded as published for the standby");
	return $r;
}

my $r = pgr($t, 'init', 'appdb');
is($r->{exit}, 0, 'init with scram everywhere') or BAIL_OUT($r->{stderr});
my ($ua) = read_env_sink($sink);
is($ua, 'app_user_a', 'A is active');

# 1. Trust on the primary's app path (the Unix socket).
set_trust($primary, 1);
$r = pgr($t, 'check', 'appdb');
isnt($r->{exit}, 0, 'check fails with trust on the app path');
like($r->{stdout}, qr/^\s*FAIL\s+app path asks for the password on primary: role "app_user_a" got past authentication without a password \(pg_hba trust\/peer\/ident\/cert on that path\): a verify there would prove nothing\n\s+fix: Point the target's app conninfo at the path the applications use/m,
	'check names the cause and the fix');
refused_cycle('trust on the primary', qr/primary/);
set_trust($primary, 0);

# 2. Trust on the replica only.
$primary->wait_for_catchup($replica);
set_trust($replica, 1);
$r = pgr($t, 'check', 'appdb');
isnt($r->{exit}, 0, 'check fails with trust on the replica');
like($r->{stdout}, qr/^\s*FAIL\s+app path asks for the password on replica "\Q$rnode\E": /m, 'check names the replica');
like($r->{stdout}, qr/^\s*ok\s+app path asks for the password on primary$/m, 'and passes the primary');
$r = refused_cycle('trust on the replica', qr/replica "\Q$rnode\E"/);
set_trust($replica, 0);

# 3. The same with a libpq of 16 or later at run time (pgrotate links
# Debian 12's 15 here, so LD_LIBRARY_PATH brings a newer one, as in 166):
# the verify login sets require_auth=scram-sha-256 and libpq itself
# refuses the trusting server, before any query on that session.
SKIP:
{
	my $lib = PgRotateTest::libpq_dir(16);
	skip 'no libpq of 16 or later (PG_BINDIR/../lib or /var/cache/pgrotate-ci/pg-NN/lib, see .ci/install-deps)', 20
	  unless defined $lib;
	note("libpq 16+ from $lib");
	my $t16 = { %$t, env => { %{ $t->{env} }, LD_LIBRARY_PATH => $lib } };
	my $scram_trust = qr/libpq: authentication method requirement "scram-sha-256" failed: server did not complete authentication/;
	$primary->wait_for_catchup($replica);
	set_trust($primary, 1);
	$r = refused_cycle('libpq 16+, trust on the primary', qr/primary/, $t16);
	like($r->{stderr}, $scram_trust, 'libpq 16+: require_auth=scram-sha-256 refused the trust login');
	set_trust($primary, 0);
	$primary->wait_for_catchup($replica);
	set_trust($replica, 1);
	$r = refused_cycle('libpq 16+, trust on the replica', qr/replica "\Q$rnode\E"/, $t16);
	like($r->{stderr}, $scram_trust, 'libpq 16+: and on the replica');
	set_trust($replica, 0);
}

# 4. pg_hba fixed: the cycle completes.
my $logpos = $primary->log_position;
$r = pgr($t, 'check', 'appdb');
is($r->{exit}, 0, 'check passes with scram on the app path') or diag($r->{stdout});
my $probe_log = $primary->log_since($logpos);
like($probe_log, qr/connection received/, 'check probed the app path');
unlike($probe_log, qr/authentication failed|FATAL/, 'the probe leaves no failed login in the server log');
$r = pgr($t, 'cycle', 'appdb');
is($r->{exit}, 0, 'with pg_hba fixed the cycle completes') or diag($r->{stderr});
my ($ub, $pb) = read_env_sink($sink);
is($ub, 'app_user_b', 'B is published');
is(role_row($primary, 'app_user_a'), 'f|f', 'A revoked');
ok(login_works($replica, $ub, $pb), 'the new credential logs in on the replica');

done_testing();
