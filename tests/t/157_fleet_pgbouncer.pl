# A fleet behind one PgBouncer (issue 16, SPEC section 6): one run holds one
# console connection to the pooler, whatever the number of targets and
# --jobs, and runs there the RELOAD of a worker that wrote the auth_file;
# the pooler's clients of each old role hold that target's drain and no
# other; every target's new credential logs in through the pooler.
use strict;
use warnings;
use Test::More;
use PgRotateTest qw(:DEFAULT is_root cfg_quote);
use PgRotateSetup;
use PgBouncerTest;

plan skip_all => 'pgbouncer is not installed (' . PgBouncerTest::binary() . ')'
  unless -x PgBouncerTest::binary();

my $n = 8;
my @names = map { sprintf('b%02d', $_) } 1 .. $n;
my $primary = PgRotateTest::Cluster->new('primary');
$primary->start;
$primary->create_database('appdb');
my $admin_pw = $primary->create_admin('pgrotate_admin', createrole => 1,
	extra_grants => [ 'CREATE ON DATABASE appdb', 'pg_signal_backend' ]);
# A file sink is one target's (config refuses a file two targets write), so
# one target publishes to PgBouncer's auth_file and the pooler finds the
# others with auth_query.
my $pgb = PgBouncerTest->new(node => $primary, admin_user => 'pgrotate_admin', admin_password => $admin_pw,
	extra => "auth_user = postgres\nauth_query = SELECT usename, passwd FROM pg_shadow WHERE usename = \$1");
my $auth = $pgb->auth_file;
# (auth_query's own login needs the plain password: PgBouncer cannot log in
# to the server with a SCRAM verifier alone)
write_config($auth, qq("pgrotate_admin" ")
	  . $primary->safe_psql("SELECT rolpassword FROM pg_authid WHERE rolname = 'pgrotate_admin'") . qq("\n)
	  . qq("postgres" ") . $primary->superuser_password . qq("\n));
PgBouncerTest::_chown_postgres($auth);
$pgb->start;

my $dir = test_dir();
my $pgpass = "$dir/pgpass";
$primary->write_pgpass($pgpass, [ [ 'pgrotate_admin', $admin_pw ] ]);
open my $fh, '>>', $pgpass or die;
print $fh join(':', $pgb->host, $pgb->port, 'pgbouncer', 'pgrotate_admin', $admin_pw) . "\n";
close $fh;
my $owner = is_root() ? ' owner = "postgres";' : '';
my $conf = "$dir/fleet.conf";
write_config($conf, target_config(node => $primary, no_target => 1,
		defaults => { min_overlap => '1s', poll_interval => '100ms', drain_timeout => '60s' },
		extra_targets => join('', map {
				target_block(node => $primary, target => $_, group_role => "grp_$_",
					roles => [ "${_}_a", "${_}_b" ], poolers => [ $pgb->console_conninfo ],
					sinks => sprintf('{ type = "file"; path = %s; format = "env"; }', cfg_quote("$dir/$_.env"))
					  . ($_ eq $names[0] ? sprintf(', { type = "file"; path = %s; format = "pgbouncer";%s }',
							cfg_quote($auth), $owner) : ''))
			} @names)));
my $t = { conf => $conf, env => { PGPASSFILE => $pgpass, PGROTATE_CONFIG => undef } };

sub q1 { return $primary->safe_psql($_[0], dbname => 'appdb'); }
sub phase_of { return q1("SELECT phase FROM pgrotate.state WHERE target = '$_[0]'"); }
sub through_pooler
{
	my ($user, $pw) = @_;
	my ($rc, $out) = $pgb->psql('SELECT session_user', user => $user, password => $pw);
	return $rc == 0 ? $out : '';
}
# Every target's published credential is in the auth_file and logs in through the pooler.
sub all_through_pooler
{
	return grep { my ($u, $p) = read_env_sink("$dir/$_.env"); through_pooler($u, $p) ne $u } @names;
}

my $r = pgr($t, [ 'init', '--all' ], timeout => 120);
is($r->{exit}, 0, "init --all: $n targets behind one PgBouncer") or BAIL_OUT($r->{stderr});
my @bad = all_through_pooler();
is("@bad", '', 'every target logs in through the pooler');

# Clients of two targets' current roles, through the pooler.
my %held = map {
	my ($u, $p) = read_env_sink("$dir/$_.env");
	($_ => $pgb->client(user => $u, password => $p, application_name => "hold-$_"))
} @names[ 0 .. 1 ];

my $bg = start_pgrotate(args => [ 'cycle', '--all', '--jobs', $n ], config => $conf, env => $t->{env}, timeout => 120);
my $peak = 0;
my $others = poll_until(sub {
		my $c = grep { $_->{database} eq 'pgbouncer' && ($_->{application_name} // '') =~ /^pgrotate/ }
		  @{ $pgb->show('CLIENTS') };
		$peak = $c if $c > $peak;
		q1("SELECT count(*) FROM pgrotate.state WHERE phase = 'idle' AND generation = 2") == $n - 2;
	}, what => 'the targets without pooler clients to finish', timeout => 90);
ok($others, 'the targets without pooler clients finish');
is(phase_of($names[0]) . ' ' . phase_of($names[1]), 'draining draining',
	'the two with a client of the old role on the pooler still drain');
is($peak, 1, "one console connection of the run to the pooler at any time (peak $peak)");
$held{ $names[0] }->quit;
ok(poll_until(sub { phase_of($names[0]) eq 'idle' }, what => "$names[0] revoked", timeout => 30),
	"$names[0] is revoked once its pooler client left");
is(phase_of($names[1]), 'draining', "while $names[1] still drains");
$held{ $names[1] }->quit;
$r = $bg->finish;
is($r->{exit}, 0, 'the run exits 0') or diag($r->{stderr});
is(q1("SELECT string_agg(DISTINCT generation::text, ',') FROM pgrotate.state"), '2', 'every target rotated once');
@bad = all_through_pooler();
is("@bad", '', 'every target\'s new credential logs in through the pooler');
my ($u1) = read_env_sink("$dir/$names[0].env");
like(slurp_file($auth), qr/\A"\Q$u1\E" "SCRAM-SHA-256/, "$names[0]'s new role leads its auth_file");
like($r->{stderr}, qr/$names[0]: pooler "\S+" reloaded its auth_file/, "the pooler reloaded $names[0]'s auth_file");
like($r->{stderr}, qr/asked to RECONNECT database "appdb"/, 'the run asked the pooler to RECONNECT');

# A drain that times out under on_drain_timeout = "terminate": the run ends
# the pooler clients of the old role on its own console (KILL_CLIENT where
# PgBouncer has it), and the revoking worker opens no console of its own.
write_config($conf, slurp_file($conf) =~ s/drain_timeout = "60s";/drain_timeout = "2s";/r
	  =~ s/on_drain_timeout = "fail";/on_drain_timeout = "terminate";/r);
like(slurp_file($conf), qr/on_drain_timeout = "terminate"/, 'the run now terminates at a 2 s drain timeout');
my $victim = $names[2];
my ($vu, $vp) = read_env_sink("$dir/$victim.env");
my $hold = $pgb->client(user => $vu, password => $vp, application_name => "hold-$victim");
# (no sampling on the console during this run: every console login in
# PgBouncer's log, with the client's pid, is then the run's)
my $logpos = length $pgb->log_content;
$r = pgr($t, [ 'cycle', '--all', '--jobs', $n ], timeout => 120);
is($r->{exit}, 0, 'the run exits 0: the timed-out target was terminated and revoked') or diag($r->{stderr});
my @logins = substr($pgb->log_content, $logpos) =~ /\bunix\((\d+)\)\S* login attempt: db=pgbouncer /g;
is(scalar(@logins), 1, 'the terminate path too opens no console connection but the run\'s one')
  or diag("console logins from pids @logins");
is(q1("SELECT string_agg(DISTINCT generation::text || ':' || phase, ',') FROM pgrotate.state"), '3:idle',
	'every target rotated again and idle');
is($primary->safe_psql("SELECT rolcanlogin::text FROM pg_roles WHERE rolname = '$vu'"), 'false',
	"${victim}'s old role $vu is revoked");
is($primary->safe_psql("SELECT count(*) FROM pg_stat_activity WHERE usename = '$vu'"), '0',
	"no backend of $vu is left on the server");
like(q1("SELECT string_agg(event || ' ' || coalesce(detail, ''), '; ' ORDER BY id) FROM pgrotate.history"
		  . " WHERE target = '$victim' AND generation = 3"),
	qr/terminated \d+ sessions?/, "${victim}'s history records what the terminate ended");
if ((PgBouncerTest::version() // 0) < 12400)
{
	like($r->{stderr}, qr/cannot disconnect a single client: 1 client of role "\Q$vu\E" stays/,
		'PgBouncer without KILL_CLIENT: the run says the client stays connected');
}
else
{
	is(scalar(grep { ($_->{user} // '') eq $vu } @{ $pgb->show('CLIENTS') }), 0, "the pooler's client of $vu is gone");
}
$hold->quit;

done_testing();
