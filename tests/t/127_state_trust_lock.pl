# Security review findings 1 and 2 (issue 17): pgrotate refuses a pgrotate
# schema that someone else controls, before any of its triggers, rules or
# views can run as the admin; roles read from the state are checked against
# the configuration; and a target's lock can be held only by pgrotate's
# admin, its holder named from the server's view, never from
# application_name.
use strict;
use warnings;
use Test::More;
use PgRotateTest;
use PgRotateSetup;

my $srcdir = PgRotateTest::srcdir() or plan skip_all => 'PGROTATE_SRCDIR is not set';

my $t = setup_target(config_opts => { defaults => { drain_timeout => '60s', min_overlap => '0', emergency_grace => '1s' } });
my $node = $t->{node};

sub run { return pgr($t, @_); }

sub su { return $node->safe_psql($_[0], dbname => 'appdb'); }

sub pwned { return su('SELECT count(*) FROM public.pwned'); }

# 1. The application's group role owns the database (as it often does) and
#    plants a look-alike pgrotate schema, with pgrotate's own tables and a
#    trigger that would run as the admin, before "pgrotate init".
$node->safe_psql('CREATE ROLE app NOLOGIN');
# (PostgreSQL 16+: the admin manages the group the superuser created, as
# the man page says to grant)
$node->grant_admin_option('pgrotate_admin', 'app');
su(<<'SQL');
ALTER DATABASE appdb OWNER TO app;
CREATE TABLE public.pwned (who name, at timestamptz DEFAULT now());
GRANT INSERT, SELECT ON public.pwned TO PUBLIC;
SQL
my $script = join("\n", map { slurp_file("$srcdir/sql/$_") } qw(pgrotate--1.sql pgrotate--2.sql));
$script =~ s/AUTHORIZATION CURRENT_USER//;
su("SET ROLE app;\n$script\n" . <<'SQL');
CREATE FUNCTION pgrotate.own() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO public.pwned (who) VALUES (current_user); RETURN NEW; END $$;
CREATE TRIGGER own BEFORE INSERT OR UPDATE ON pgrotate.state
	FOR EACH ROW EXECUTE FUNCTION pgrotate.own();
CREATE TRIGGER own_h BEFORE INSERT ON pgrotate.history
	FOR EACH ROW EXECUTE FUNCTION pgrotate.own();
CREATE RULE peek AS ON INSERT TO pgrotate.schema_version DO ALSO
	INSERT INTO public.pwned (who) VALUES (current_user);
SQL
is(su("SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'pgrotate'"), 'app',
	'the squatted schema belongs to the application group role');

my $r = run('init', 'appdb');
is($r->{exit}, 1, 'init refuses a schema owned by the application role');
like($r->{stderr}, qr/schema pgrotate is owned by role app\b/, 'it names the owner');
like($r->{stderr}, qr/table pgrotate\.state has a trigger own that pgrotate did not create/,
	'it names the foreign trigger');
like($r->{stderr}, qr/table pgrotate\.schema_version has a rule peek/, 'and the rule');
like($r->{stderr}, qr/DROP SCHEMA pgrotate CASCADE/, 'it says how to fix it');
is(pwned(), '0', 'no trigger or rule of the squatter ran');
is($node->safe_psql("SELECT count(*) FROM pg_roles WHERE rolname IN ('app_user_a', 'app_user_b')"), '0',
	'init changed nothing: no login role was created');

$r = run('check', 'appdb');
is($r->{exit}, 1, 'check fails');
like($r->{stdout}, qr/^  FAIL  state schema "pgrotate" is the admin's own: .*owned by role app/m,
	'check fails the schema item, naming the owner');
like($r->{stdout}, qr/DROP TRIGGER own ON pgrotate\.state|DROP SCHEMA pgrotate CASCADE/, 'check prints the fix');

for my $cmd ([ 'cycle', 'appdb' ], [ 'status', 'appdb' ], [ 'active', 'appdb' ], [ 'history', 'appdb' ],
	[ 'revoke', 'appdb', 'app_user_a' ])
{
	$r = run(@$cmd);
	isnt($r->{exit}, 0, "$cmd->[0] refuses the squatted schema");
	like($r->{stdout} . $r->{stderr}, qr/not pgrotate's own/, "$cmd->[0] says why");
}
is(pwned(), '0', 'no command read or wrote the squatted schema');

# The fix it names works.
su('DROP SCHEMA pgrotate CASCADE');
$r = run('init', 'appdb');
is($r->{exit}, 0, 'init works once the squatted schema is gone') or diag($r->{stderr});
is(su("SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'pgrotate'"), 'pgrotate_admin',
	'init creates the schema owned by the admin');
is(su('SELECT max(version) FROM pgrotate.schema_version'), '2', 'schema version 2');

# 2. A foreign trigger on the admin's own table, created through a TRIGGER
#    grant, and CREATE on the schema for others: refused, then fixed.
su(<<'SQL');
GRANT USAGE ON SCHEMA pgrotate TO app;
GRANT TRIGGER ON pgrotate.state TO app;
SET ROLE app;
CREATE FUNCTION public.own() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO public.pwned (who) VALUES (current_user); RETURN NEW; END $$;
CREATE TRIGGER own BEFORE UPDATE ON pgrotate.state FOR EACH ROW EXECUTE FUNCTION public.own();
RESET ROLE;
GRANT CREATE ON SCHEMA pgrotate TO PUBLIC;
SQL
my $before = su('SELECT s::text FROM pgrotate.state s');
$r = run('cycle', 'appdb');
is($r->{exit}, 1, 'cycle refuses a foreign trigger on its own table');
like($r->{stderr}, qr/table pgrotate\.state has a trigger own that pgrotate did not create/, 'it names the trigger');
like($r->{stderr}, qr/role app has TRIGGER on pgrotate\.state/, 'and the grant that allowed it');
like($r->{stderr}, qr/role PUBLIC may create objects in schema pgrotate/, 'and CREATE for PUBLIC');
like($r->{stderr}, qr/REVOKE CREATE ON SCHEMA pgrotate FROM PUBLIC/, 'with the REVOKE that fixes it');
is(pwned(), '0', 'the trigger did not fire');
is(su('SELECT s::text FROM pgrotate.state s'), $before, 'the state row is unchanged');
su(<<'SQL');
DROP TRIGGER own ON pgrotate.state;
REVOKE TRIGGER ON pgrotate.state FROM app;
REVOKE CREATE ON SCHEMA pgrotate FROM PUBLIC;
SQL
$r = run('cycle', 'appdb');
is($r->{exit}, 0, 'cycle works once the trigger and grants are gone') or diag($r->{stderr});

# A grant on one column is write access too: UPDATE (pending_role) would
# let the application name the role a rollback makes NOLOGIN.
su(<<'SQL');
GRANT UPDATE (pending_role) ON pgrotate.state TO app;
SET ROLE app;
UPDATE pgrotate.state SET pending_role = NULL;
SQL
for my $cmd ([ 'init', 'appdb' ], [ 'cycle', 'appdb' ], [ 'status', 'appdb' ], [ 'active', 'appdb' ],
	[ 'history', 'appdb' ], [ 'revoke', 'appdb', 'app_user_a' ], [ 'check', 'appdb' ])
{
	$r = run(@$cmd);
	is($r->{exit}, $cmd->[0] eq 'status' ? 3 : 1, "$cmd->[0] refuses a column grant of UPDATE to the application");
	like($r->{stdout} . $r->{stderr}, qr/role app has UPDATE \(pending_role\) on pgrotate\.state/, "$cmd->[0] names it");
}
like($r->{stdout}, qr/REVOKE UPDATE \(pending_role\) ON pgrotate\.state FROM app/, 'with the REVOKE that fixes it');
su('REVOKE UPDATE (pending_role) ON pgrotate.state FROM app');

# PostgreSQL 17+: MAINTAIN lets its holder LOCK TABLE pgrotate.state and
# so stall every run.
SKIP:
{
	skip 'MAINTAIN is a privilege from PostgreSQL 17 on', 4 if $node->server_version_num < 170000;
	su(<<'SQL');
GRANT MAINTAIN ON pgrotate.state TO app;
BEGIN;
SET ROLE app;
LOCK TABLE pgrotate.state IN ACCESS EXCLUSIVE MODE;
COMMIT;
SQL
	$r = run('cycle', 'appdb');
	is($r->{exit}, 1, 'cycle refuses MAINTAIN for the application');
	like($r->{stderr}, qr/role app has MAINTAIN on pgrotate\.state/, 'it names the grant');
	like($r->{stderr}, qr/REVOKE MAINTAIN ON pgrotate\.state FROM app/, 'and the REVOKE that fixes it');
	$r = run('check', 'appdb');
	like($r->{stdout}, qr/^  FAIL  state schema "pgrotate" is the admin's own: .*role app has MAINTAIN/m,
		'check fails the schema item');
	su('REVOKE MAINTAIN ON pgrotate.state FROM app');
}

# The predefined roles that reach every table without a grant on it:
# pg_write_all_data (14+) writes pgrotate.state, pg_maintain (17+) locks it.
# The member's name needs quoting, and the REVOKE named must work as given.
{
	my @pre = ('pg_write_all_data', $node->server_version_num >= 170000 ? ('pg_maintain') : ());
	su('CREATE ROLE "ETL job" LOGIN');
	su(qq{GRANT $_ TO "ETL job"}) for @pre;
	su('GRANT INSERT ON pgrotate.history TO "ETL job"');
	is(su("SELECT count(*) FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid"
			. " WHERE m.member = '\"ETL job\"'::regrole AND g.rolname LIKE 'pg\\_%'"), scalar(@pre),
		'"ETL job" is a member of ' . join(' and ', @pre));
	# (an UPDATE that reads no column: pg_write_all_data does not give SELECT)
	is(su(qq{SET ROLE "ETL job"; UPDATE pgrotate.state SET lock_host = NULL; SELECT 'written'}), 'written',
		'"ETL job" writes pgrotate.state without any grant on it');
	my $before_etl = su('SELECT s::text FROM pgrotate.state s');
	$r = run('cycle', 'appdb');
	is($r->{exit}, 1, 'cycle refuses a member of ' . join(' or ', @pre));
	my @fixes;
	for my $g (@pre)
	{
		like($r->{stderr}, qr/role "ETL job" is a member of $g, which may (write|lock) every table/,
			"it names the member of $g");
		like($r->{stderr}, qr/(REVOKE $g FROM "ETL job")/, "and the REVOKE of $g that fixes it");
		push @fixes, "REVOKE $g FROM \"ETL job\"" if $r->{stderr} =~ /REVOKE $g FROM "ETL job"/;
	}
	like($r->{stderr}, qr/role "ETL job" has INSERT on pgrotate\.history/, 'it names the grant to "ETL job"');
	like($r->{stderr}, qr/REVOKE INSERT ON pgrotate\.history FROM "ETL job"(;|$)/m,
		'with the REVOKE that fixes it, the name quoted once');
	push @fixes, 'REVOKE INSERT ON pgrotate.history FROM "ETL job"';
	is(su('SELECT s::text FROM pgrotate.state s'), $before_etl, 'the state row is unchanged');
	$r = run('check', 'appdb');
	like($r->{stdout}, qr/^  FAIL  state schema "pgrotate" is the admin's own: .*role "ETL job" is a member of pg_write_all_data/m,
		'check fails the schema item');
	su($_) for @fixes;
	is(su(q{SELECT count(*) FROM pg_auth_members WHERE member = '"ETL job"'::regrole}), '0',
		'the REVOKEs named, run as given, end the memberships');
	is(su(q{SELECT has_table_privilege('ETL job', 'pgrotate.history', 'INSERT')}), 'f', 'and the grant');
	su('DROP ROLE "ETL job"');

	# A role with CREATEROLE, as a managed service's administrator role is,
	# manages roles itself: its memberships are not the check's business.
	su('CREATE ROLE platform_admin CREATEROLE');
	su("GRANT $_ TO platform_admin") for @pre;
	$r = run('cycle', 'appdb');
	is($r->{exit}, 0, 'a CREATEROLE member of ' . join(' and ', @pre) . ' does not refuse the cycle')
	  or diag($r->{stderr});
	su("REVOKE $_ FROM platform_admin") for @pre;
	su('DROP ROLE platform_admin');
}
$r = run('cycle', 'appdb');
is($r->{exit}, 0, 'cycle works once the column grant is gone') or diag($r->{stderr});

# 3. Roles read from the state are checked against the configuration: a
#    pending_role written into the state never reaches ALTER ROLE.
su("CREATE ROLE victim LOGIN");
$node->grant_admin_option('pgrotate_admin', 'victim');
su("UPDATE pgrotate.state SET phase = 'provisioned', pending_role = 'victim', pending_generation = generation + 1");
$r = run('cycle', 'appdb');
is($r->{exit}, 1, 'a pending role that is not the standby is refused');
like($r->{stderr}, qr/pending role "victim" is not the standby role/, 'it says so');
is($node->safe_psql("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'victim'"), 't',
	'the role named by the state kept LOGIN (no rollback ran on it)');
$r = run('revoke', 'appdb', (read_env_sink($t->{sink}))[0] eq 'app_user_a' ? 'app_user_b' : 'app_user_a');
is($r->{exit}, 1, 'revoke refuses the tampered state too');
like($r->{stderr}, qr/pending role "victim"/, 'revoke says why');
# init reads the state as well: an interrupted first init (generation 0)
# would roll the pending role back, so it is checked before that.
su("ALTER ROLE victim PASSWORD 'victim-secret'");
my $victim_pw = su("SELECT rolpassword FROM pg_authid WHERE rolname = 'victim'");
my $gen = su('SELECT generation FROM pgrotate.state');
su("UPDATE pgrotate.state SET generation = 0, pending_generation = 1");
my $log_pos = $node->log_position;
$r = run('init', 'appdb');
is($r->{exit}, 1, 'init refuses the tampered state of an unfinished first init');
like($r->{stderr}, qr/target "appdb": the state's pending role "victim" is not the standby role "app_user_[ab]"; nothing was changed/,
	'it says so, as cycle does');
is(role_row($node, 'victim'), 't|t', 'the role named by the state kept LOGIN and a password');
is(su("SELECT rolpassword FROM pg_authid WHERE rolname = 'victim'"), $victim_pw, 'its own password');
unlike($node->log_since($log_pos), qr/ALTER ROLE "?victim"?/, 'no ALTER ROLE of it reached the server');
su("UPDATE pgrotate.state SET generation = $gen");
su("UPDATE pgrotate.state SET phase = 'idle', pending_role = NULL, pending_generation = NULL");

# 4. The lock. The leaked application credential, disguised as a pgrotate
#    run, takes the old advisory lock and tries to claim the state row: a
#    cycle is not blocked.
my ($user, $pw) = read_env_sink($t->{sink});
my $spoof = $node->background_session(user => $user, password => $pw, dbname => 'appdb',
	application_name => 'pgrotate:4242@ops-bastion');
$spoof->query_safe("SELECT pg_advisory_lock(hashtext('pgrotate'), hashtext('appdb'))");
my (undef, $err) = $spoof->query("UPDATE pgrotate.state SET lock_backend_pid = pg_backend_pid()");
like($err, qr/permission denied/, 'the application role cannot claim the lock');
$spoof->quit;
$spoof = $node->background_session(user => $user, password => $pw, dbname => 'appdb',
	application_name => 'pgrotate:4242@ops-bastion');
$spoof->query_safe("SELECT pg_advisory_lock(hashtext('pgrotate'), hashtext('appdb'))");
$r = run('cycle', 'appdb', '--emergency', '--reason', 'leaked');
is($r->{exit}, 0, 'a cycle runs although the leaked role holds the old advisory lock') or diag($r->{stderr});
unlike($r->{stderr}, qr/holds target|host ops-bastion, pgrotate pid 4242/, 'the spoofed application_name is not taken for a lock holder');
is(role_row($node, $user), 'f|f', 'the leaked role is revoked');
poll_until(sub { su("SELECT count(*) FROM pg_stat_activity WHERE pid = " . $spoof->backend_pid) eq '0' },
	what => 'the emergency cycle terminated the spoofing session');

# The issue's other case: the leaked credential is the old role of a cycle
# left draining, and the operator revokes it with --terminate while it
# holds the old advisory lock under a pgrotate-like application_name.
($user, $pw) = read_env_sink($t->{sink});
$spoof = $node->background_session(user => $user, password => $pw, dbname => 'appdb',
	application_name => 'pgrotate:4242@ops-bastion');
$spoof->query_safe("SELECT pg_advisory_lock(hashtext('pgrotate'), hashtext('appdb'))");
$r = run('cycle', 'appdb', '--no-wait');
is($r->{exit}, 0, 'cycle --no-wait publishes the next credential') or diag($r->{stderr});
is(su('SELECT phase FROM pgrotate.state'), 'draining', 'and leaves the leaked role draining');
$r = run('revoke', 'appdb', $user, '--terminate', '--reason', 'leaked');
is($r->{exit}, 0, 'revoke --terminate is not blocked by the spoofed lock') or diag($r->{stderr});
unlike($r->{stderr}, qr/holds target|ops-bastion|pgrotate pid 4242/, 'the spoofing session is not taken for a lock holder');
like($r->{stderr}, qr/terminated 1 session of role "\Q$user\E"/, 'it terminates the leaked role\'s session');
is(role_row($node, $user), 'f|f', 'the leaked role is revoked: NOLOGIN, no password');
is(su('SELECT phase FROM pgrotate.state'), 'idle', 'the draining cycle is finished');
poll_until(sub { su("SELECT count(*) FROM pg_stat_activity WHERE pid = " . $spoof->backend_pid) eq '0' },
	what => 'revoke --terminate ended the spoofing session');

# 5. A real holder is named from the server's view, and its lock is free
#    as soon as it dies.
{
	my ($u, $p) = read_env_sink($t->{sink});
	my $s = $node->background_session(user => $u, password => $p, dbname => 'appdb', application_name => 'holder-app');
	my $bg = start_pgrotate(args => [ 'cycle', 'appdb' ], config => $t->{conf}, env => $t->{env}, timeout => 90);
	poll_until(sub { su('SELECT phase FROM pgrotate.state') eq 'draining' }, what => 'the first run is draining');
	$r = run('cycle', 'appdb');
	is($r->{exit}, 4, 'a second run exits 4');
	my $pid = $bg->pid;
	like($r->{stderr}, qr/holds target "appdb": host \S+, pgrotate pid $pid, since \d{4}-\d\d-\d\dT\S+Z \(database role pgrotate_admin, client local socket, backend pid \d+ started \d{4}-/,
		'it names the holder: host, pid, since, and the database role, client and backend from the server');
	$r = run('status', 'appdb');
	like($r->{stdout}, qr/lock: +held by host \S+, pgrotate pid $pid/, 'status shows the holder');
	my $bpid = su("SELECT lock_backend_pid FROM pgrotate.state");
	$bg->kill('KILL');
	poll_until(sub { su("SELECT count(*) FROM pg_stat_activity WHERE pid = $bpid") eq '0' },
		what => 'the killed run\'s backend to end');
	$r = run('status', 'appdb');
	like($r->{stdout}, qr/lock: +free/, 'status: the lock of a killed run is free at once');
	$s->quit;
	$r = run('cycle', 'appdb');
	is($r->{exit}, 0, 'the next run takes the lock and finishes the cycle') or diag($r->{stderr});
	is(su('SELECT phase FROM pgrotate.state'), 'idle', 'phase idle');
	is(su('SELECT lock_backend_pid IS NULL FROM pgrotate.state'), 't', 'a finished run gives its claim back');
}

# 6. A schema of version 1 (before the claim): cycle asks for init, which
#    upgrades it.
su(<<'SQL');
ALTER TABLE pgrotate.state DROP COLUMN lock_backend_pid, DROP COLUMN lock_backend_start,
	DROP COLUMN last_error_at, DROP COLUMN last_error_step;
DELETE FROM pgrotate.schema_version WHERE version = 2;
SQL
$r = run('cycle', 'appdb');
is($r->{exit}, 1, 'a cycle on a version 1 schema refuses');
like($r->{stderr}, qr/run "pgrotate init appdb" to upgrade it/, 'it names init');
$r = run('init', 'appdb');
is($r->{exit}, 0, 'init upgrades the schema') or diag($r->{stderr});
is(su('SELECT max(version) FROM pgrotate.schema_version'), '2', 'to version 2');
$r = run('cycle', 'appdb');
is($r->{exit}, 0, 'then cycle works') or diag($r->{stderr});

done_testing();
