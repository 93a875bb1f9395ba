# The two login roles are interchangeable (issue 10): per-role settings are
# copied from the active role to the standby at provision (in the same
# transaction as its new password, recorded in the history, shown by
# --dry-run); memberships, attributes, direct privileges and owned objects
# that differ refuse the cycle with nothing changed, and the printed fix,
# once run, lets it pass. Hostile role and database names throughout.
use strict;
use warnings;
use Test::More;
use PgRotateTest;
use PgRotateSetup;

my $group = q{App "Grp"};
my ($ra, $rb) = (q{user "a"}, q{user 'b' x});
my ($qg, $qa, $qb) = map { PgRotateTest::quote_ident($_) } $group, $ra, $rb;
my %cfg = (group_role => $group, roles => [ $ra, $rb ], sink_format => 'json');
my $t = setup_target(config_opts => \%cfg);
my $node = $t->{node};
my $otherdb = q{other "db"};
$node->create_database($otherdb);
my $qodb = PgRotateTest::quote_ident($otherdb);

sub cycle { return pgr($t, [ 'cycle', 'appdb', @_ ]); }

# (role, password) published in the JSON sink.
sub cred
{
	require JSON::PP;
	my $d = JSON::PP::decode_json(slurp_file($t->{sink}));
	return ($d->{role}, $d->{password});
}
sub check { return pgr($t, 'check', 'appdb'); }
sub sql { return $node->safe_psql($_[0], dbname => $_[1] // 'appdb'); }

# Every setting of a role, sorted: "database|name=value" lines.
sub settings_of
{
	my ($role) = @_;
	return sql('SELECT coalesce(d.datname, \'*\') || \'|\' || c FROM pg_db_role_setting s'
		  . ' LEFT JOIN pg_database d ON d.oid = s.setdatabase, unnest(s.setconfig) c'
		  . ' WHERE s.setrole = (SELECT oid FROM pg_roles WHERE rolname = '
		  . PgRotateTest::quote_literal($role) . ') ORDER BY 1');
}

# What a cycle must leave unchanged when it refuses.
sub snapshot
{
	return sql('SELECT phase || generation || active_role FROM pgrotate.state')
	  . sql('SELECT count(*) FROM pgrotate.history WHERE event <> \'failed\'')
	  . role_row($node, $ra) . role_row($node, $rb) . settings_of($ra) . settings_of($rb);
}

# The fix lines printed by "check" under the item whose line matches $re:
# the statements, after the sentence that introduces them ("Run as ...:"),
# which a list context gets too.
sub fix_of
{
	my ($r, $re) = @_;
	my @lines = split /\n/, $r->{stdout};
	my @fix;
	for my $i (0 .. $#lines)
	{
		next unless $lines[$i] =~ /^  (?:FAIL|WARN)  .*$re/;
		for my $j ($i + 1 .. $#lines)
		{
			last unless $lines[$j] =~ /^        fix: (.*)$/;
			push @fix, $1;
		}
		last;
	}
	my $intro = @fix && $fix[0] =~ /^Run as .*:$/ ? shift @fix : undef;
	return wantarray ? (join("\n", @fix), $intro) : join "\n", @fix;
}

# A refused cycle: exit 1, the item named, nothing changed.
sub refused
{
	my ($what, $re) = @_;
	my $before = snapshot();
	my $r = cycle();
	is($r->{exit}, 1, "$what: the cycle refuses") or diag($r->{stderr});
	like($r->{stderr}, $re, "$what: the refusal names it");
	is(snapshot(), $before, "$what: nothing changed");
	return $r;
}

# The active login role, and both quoted: active first.
sub roles_now
{
	my ($act) = cred();
	return $act eq $ra ? ($qa, $qb) : ($qb, $qa);
}

# A difference made by $setup->() (given the quoted active and standby
# roles) refuses the cycle with nothing changed; "check" prints under the
# item matching $item a fix matching each of @$fix_res; the fix, once run by
# a superuser, lets the cycle pass. Returns the fix.
sub refused_then_fixed
{
	my ($what, $setup, $refusal, $item, $fix_res) = @_;
	my ($qact, $qsb) = roles_now();
	sql($setup->($qact, $qsb));
	refused($what, ref $refusal eq 'CODE' ? $refusal->($qact, $qsb) : $refusal);
	my $fix = fix_of(check(), $item);
	like($fix, $_, "$what: the fix") or diag($fix) for @{ $fix_res->($qact, $qsb) };
	sql($fix);
	my $r = cycle();
	is($r->{exit}, 0, "$what: after the fix the cycle passes") or diag($r->{stderr});
	return $fix;
}

note('PostgreSQL ' . sql('SHOW server_version'));
my $r = pgr($t, 'init', 'appdb');
is($r->{exit}, 0, 'init') or BAIL_OUT($r->{stderr});
my ($active) = cred();
is($active, $ra, 'A is active after init');

# ---- settings: copied from the active role to the standby ----
sql(<<"SQL");
CREATE SCHEMA "my schema";
GRANT USAGE ON SCHEMA "my schema" TO $qg;
ALTER ROLE $qa SET statement_timeout = '5s';
ALTER ROLE $qa SET search_path TO "my schema", public, "we""ird, s";
ALTER ROLE $qa SET datestyle = 'ISO, DMY';
ALTER ROLE $qa IN DATABASE appdb SET idle_in_transaction_session_timeout = '1min';
ALTER ROLE $qa IN DATABASE $qodb SET work_mem = '7MB';
ALTER ROLE $qb SET work_mem = '8MB';
ALTER ROLE $qb SET lock_timeout = '3s';
SQL
my $want = settings_of($ra);
like($want, qr/^\*\|search_path="my schema", public, "we""ird, s"$/m, 'the list setting is stored quoted');
$r = check();
is($r->{exit}, 0, 'check: different settings only warn') or diag($r->{stdout});
like($r->{stdout}, qr/^  WARN  login roles \Q$qa\E and \Q$qb\E have the same settings: 7 settings of \Q$qb\E differ from \Q$qa\E's: provision copies them/m,
	'check: the settings item names both roles');
like(scalar fix_of($r, qr/same settings/), qr/^ALTER ROLE \Q$qb\E RESET "work_mem";$/m, 'check: RESET of the standby-only setting');

$r = cycle('--dry-run');
is($r->{exit}, 0, 'dry run') or diag($r->{stderr});
like($r->{stdout}, qr/^   ALTER ROLE \Q$qb\E SET "statement_timeout" TO '5s';$/m, 'dry run shows the ALTER ROLE ... SET');
like($r->{stdout}, qr/^   ALTER ROLE \Q$qb\E SET "search_path" TO 'my schema', 'public', 'we"ird, s';$/m,
	'dry run: a list setting as its elements');
like($r->{stdout}, qr/^   ALTER ROLE \Q$qb\E IN DATABASE \Q$qodb\E SET "work_mem" TO '7MB';$/m,
	'dry run: a per-database setting, quoted database');
like($r->{stdout}, qr/^   ALTER ROLE \Q$qb\E RESET "lock_timeout";$/m, 'dry run: RESET');
isnt(settings_of($rb), $want, 'the dry run changed nothing');

$r = cycle();
is($r->{exit}, 0, 'cycle with different settings') or diag($r->{stderr});
my ($u, $p) = cred();
is($u, $rb, 'B is active');
is(settings_of($rb), $want, 'B has exactly the settings of A, byte for byte');
is($node->safe_psql(q{SELECT current_setting('statement_timeout') || '|' || current_setting('search_path')
	|| '|' || current_setting('work_mem') || '|' || current_setting('lock_timeout') || '|'
	|| current_setting('DateStyle') || '|' || current_setting('idle_in_transaction_session_timeout')},
	user => $u, password => $p, dbname => 'appdb'),
	'5s|"my schema", public, "we""ird, s"|4MB|0|ISO, DMY|1min', 'a session with the new credential sees the old settings');
my $hist = sql("SELECT detail FROM pgrotate.history WHERE event = 'provisioned' ORDER BY id DESC LIMIT 1");
like($hist, qr/^settings copied from \Q$ra\E: /, 'the history records the copy');
like($hist, qr/ALTER ROLE \Q$qb\E RESET "lock_timeout"/, 'with its statements');
like($r->{stderr}, qr/copied the per-role settings of "\Q$ra\E" to "\Q$rb\E"/, 'the copy is logged');

# RESET on the active role reaches the standby at the next provision.
sql("ALTER ROLE $qb RESET statement_timeout");
$r = cycle();
is($r->{exit}, 0, 'cycle after a RESET on the active role') or diag($r->{stderr});
is(settings_of($ra), settings_of($rb), 'A has the settings of B again');
unlike(settings_of($ra), qr/statement_timeout/, 'the RESET was copied');
$r = cycle();
is($r->{exit}, 0, 'cycle with equal settings') or diag($r->{stderr});
unlike(sql("SELECT detail FROM pgrotate.history WHERE event = 'provisioned' ORDER BY id DESC LIMIT 1"),
	qr/settings copied/, 'nothing to copy, nothing recorded');
($active) = cred();
is($active, $rb, 'B is active');

# ---- a superuser-only parameter: refused with the superuser's statement ----
sql("ALTER ROLE $qb SET log_statement = 'all'");
$r = refused('superuser-only setting', qr/log_statement/);
$r = check();
is($r->{exit}, 1, 'check fails on the superuser-only setting');
my ($fix, $intro) = fix_of($r, qr/same settings/);
is($intro, 'Run as a superuser:', 'the fix is introduced as a superuser\'s');
is($fix, qq{ALTER ROLE $qa SET "log_statement" TO 'all';  -- as a superuser}, 'the fix is the statement a superuser runs');
sql($fix);
$r = cycle();
is($r->{exit}, 0, 'after the fix the cycle passes') or diag($r->{stderr});
sql("ALTER ROLE $qa RESET log_statement; ALTER ROLE $qb RESET log_statement");
($active) = cred();
my ($qact, $qsb) = $active eq $ra ? ($qa, $qb) : ($qb, $qa);

# ---- a custom (placeholder) parameter: only a superuser may set it ----
# No loaded module defines "app.tenant", so pg_settings has no row for it and
# ALTER ROLE lets only a superuser (or, from 15, a role granted SET ON
# PARAMETER) set or reset it.
my $ver = sql('SHOW server_version_num');
sql(qq{ALTER ROLE $qact SET "app.tenant" = 'x'});
$r = refused('custom setting', qr/SET "app"\."tenant" TO 'x';  -- as a superuser/);
unlike(sql("SELECT count(*) FROM pg_db_role_setting s, unnest(s.setconfig) c WHERE c LIKE 'app.tenant=%'"),
	qr/^2$/, 'custom setting: the standby did not get it');
$r = check();
is($r->{exit}, 1, 'check fails on the custom setting');
like($r->{stdout}, qr/the admin may not set it \(a superuser-only or custom parameter\)/,
	'check: the custom setting is named as one the admin may not set');
$fix = fix_of($r, qr/same settings/);
is($fix, qq{ALTER ROLE $qsb SET "app"."tenant" TO 'x';  -- as a superuser}, 'custom setting: the superuser fix');
sql($fix);
$r = cycle();
is($r->{exit}, 0, 'custom setting: after the fix the cycle passes') or diag($r->{stderr});
is(settings_of($ra), settings_of($rb), 'custom setting: both roles have it');
like(settings_of($ra), qr/^\*\|app\.tenant=x$/m, 'custom setting: exactly as set');
($active) = cred();
($qact, $qsb) = $active eq $ra ? ($qa, $qb) : ($qb, $qa);
SKIP:
{
	skip 'SET ON PARAMETER comes with PostgreSQL 15', 3 if $ver < 150000;
	# with SET ON PARAMETER the admin copies it itself
	sql(qq{GRANT SET ON PARAMETER "app.tenant" TO pgrotate_admin; ALTER ROLE $qact SET "app.tenant" = 'y'});
	$r = check();
	like($r->{stdout}, qr/^  WARN  login roles .* have the same settings: 1 setting of .*provision copies/m,
		'SET ON PARAMETER: the custom setting only warns');
	$r = cycle();
	is($r->{exit}, 0, 'SET ON PARAMETER: the cycle copies the custom setting') or diag($r->{stderr});
	is(settings_of($ra), settings_of($rb), 'SET ON PARAMETER: both roles have the new value');
	sql('REVOKE SET ON PARAMETER "app.tenant" FROM pgrotate_admin');
}
sql("ALTER ROLE $qa RESET \"app.tenant\"; ALTER ROLE $qb RESET \"app.tenant\"");
($active) = cred();
($qact, $qsb) = $active eq $ra ? ($qa, $qb) : ($qb, $qa);

# ---- a membership of one login role: refused, the fix moves it to the group ----
sql("GRANT pg_read_all_data TO $qact");
refused('membership', qr/is a member of "pg_read_all_data"/);
$r = check();
$fix = fix_of($r, qr/same memberships/);
# from PostgreSQL 16 the grant to the group keeps the membership's options
my $opts = sql('SHOW server_version_num') >= 160000 ? ' WITH ADMIN false, INHERIT true, SET true' : '';
is($fix, qq{GRANT "pg_read_all_data" TO $qg$opts;\nREVOKE "pg_read_all_data" FROM $qact;}, 'membership fix: to the group');
sql($fix);
$r = cycle();
is($r->{exit}, 0, 'after the membership fix the cycle passes') or diag($r->{stderr});
($u, $p) = cred();
is($node->safe_psql("SELECT pg_has_role(current_user, 'pg_read_all_data', 'USAGE')",
		user => $u, password => $p, dbname => 'appdb'), 't', 'the new role reads all data through the group');
($active) = cred();
($qact, $qsb) = $active eq $ra ? ($qa, $qb) : ($qb, $qa);

# ---- a privilege granted to the login role itself ----
sql("CREATE TABLE \"odd \"\"t\" (i int); GRANT SELECT, INSERT ON \"odd \"\"t\" TO $qact");
refused('direct privilege', qr/has SELECT on TABLE public\."odd ""t"/);
$r = check();
$fix = fix_of($r, qr/same direct privileges/);
like($fix, qr/^GRANT SELECT ON TABLE public\."odd ""t" TO \Q$qg\E;\nREVOKE SELECT ON TABLE public\."odd ""t" FROM \Q$qact\E;$/m,
	'privilege fix: to the group');
sql($fix);
$r = check();
like($r->{stdout}, qr/^  ok    login roles .* have the same direct privileges$/m, 'after the fix the privileges match');
is(sql(q{SELECT string_agg(x.privilege_type, ',' ORDER BY x.privilege_type) FROM pg_class c, aclexplode(c.relacl) x
	WHERE c.relname = 'odd "t' AND x.grantee = (SELECT oid FROM pg_roles WHERE rolname = }
	  . PgRotateTest::quote_literal($group) . ')'), 'INSERT,SELECT', 'the group holds both privileges');

# ---- a CONNECTION LIMIT on one role ----
sql("ALTER ROLE $qsb CONNECTION LIMIT 5");
refused('connection limit', qr/\Q$qact\E has CONNECTION LIMIT -1, \Q$qsb\E has CONNECTION LIMIT 5/);
$r = check();
$fix = fix_of($r, qr/same attributes/);
is($fix, "ALTER ROLE $qsb CONNECTION LIMIT -1;", 'attribute fix: as the active role');
sql($fix);
$r = cycle();
is($r->{exit}, 0, 'after the attribute fix the cycle passes') or diag($r->{stderr});
($active) = cred();
($qact, $qsb) = $active eq $ra ? ($qa, $qb) : ($qb, $qa);

# ---- direct privileges on a schema, a sequence, a function, the database ----
sql(q{CREATE SCHEMA "s ""p"; CREATE SEQUENCE "sq 1"; CREATE FUNCTION "fn x"(int) RETURNS int
	LANGUAGE sql AS 'SELECT 1'});
refused_then_fixed('schema privilege', sub { qq{GRANT USAGE, CREATE ON SCHEMA "s ""p" TO $_[0]} },
	qr/has CREATE on SCHEMA "s ""p"/, qr/same direct privileges/,
	sub { [ qr/^GRANT CREATE ON SCHEMA "s ""p" TO \Q$qg\E;\nREVOKE CREATE ON SCHEMA "s ""p" FROM \Q$_[0]\E;$/m,
			qr/^GRANT USAGE ON SCHEMA "s ""p" TO \Q$qg\E;\nREVOKE USAGE ON SCHEMA "s ""p" FROM \Q$_[0]\E;$/m ] });
refused_then_fixed('sequence privilege', sub { qq{GRANT USAGE ON SEQUENCE "sq 1" TO $_[0] WITH GRANT OPTION} },
	qr/has USAGE on SEQUENCE public\."sq 1"/, qr/same direct privileges/,
	sub { [ qr/^GRANT USAGE ON SEQUENCE public\."sq 1" TO \Q$qg\E WITH GRANT OPTION;\nREVOKE USAGE ON SEQUENCE public\."sq 1" FROM \Q$_[0]\E;$/m ] });
refused_then_fixed('function privilege', sub { qq{GRANT EXECUTE ON FUNCTION "fn x"(int) TO $_[0]} },
	qr/has EXECUTE on FUNCTION public\."fn x"\(integer\)/, qr/same direct privileges/,
	sub { [ qr/^GRANT EXECUTE ON FUNCTION public\."fn x"\(integer\) TO \Q$qg\E;\nREVOKE EXECUTE ON FUNCTION public\."fn x"\(integer\) FROM \Q$_[0]\E;$/m ] });
refused_then_fixed('database privilege', sub { qq{GRANT TEMPORARY ON DATABASE appdb TO $_[1]} },
	sub { qr/\Q$_[1]\E has TEMPORARY on DATABASE appdb and \Q$_[0]\E has not/ }, qr/same direct privileges/,
	sub { [ qr/^GRANT TEMPORARY ON DATABASE appdb TO \Q$qg\E;\nREVOKE TEMPORARY ON DATABASE appdb FROM \Q$_[1]\E;$/m ] });
is(sql(q{SELECT string_agg(x.privilege_type, ',' ORDER BY x.privilege_type) FROM pg_namespace n, aclexplode(n.nspacl) x
	WHERE n.nspname = 's "p' AND x.grantee = (SELECT oid FROM pg_roles WHERE rolname = }
	  . PgRotateTest::quote_literal($group) . ')'), 'CREATE,USAGE', 'the group holds the schema privileges');

# ---- column privileges ----
sql(q{CREATE TABLE colt (c int, "we ird" int)});
refused_then_fixed('column privilege', sub { qq{GRANT SELECT (c, "we ird"), UPDATE (c) ON colt TO $_[0]} },
	qr/has SELECT \("we ird"\) on TABLE public\.colt/, qr/same direct privileges/,
	sub { [ qr/^GRANT SELECT \(c\) ON TABLE public\.colt TO \Q$qg\E;\nREVOKE SELECT \(c\) ON TABLE public\.colt FROM \Q$_[0]\E;$/m,
			qr/^GRANT SELECT \("we ird"\) ON TABLE public\.colt TO \Q$qg\E;\nREVOKE SELECT \("we ird"\) ON TABLE public\.colt FROM \Q$_[0]\E;$/m,
			qr/^GRANT UPDATE \(c\) ON TABLE public\.colt TO \Q$qg\E;\nREVOKE UPDATE \(c\) ON TABLE public\.colt FROM \Q$_[0]\E;$/m ] });
is(sql(q{SELECT string_agg(a.attname || ':' || x.privilege_type || ':' || x.grantee::regrole, ',' ORDER BY a.attname, x.privilege_type)
	FROM pg_attribute a, aclexplode(a.attacl) x WHERE a.attrelid = 'colt'::regclass}),
	"c:SELECT:$qg,c:UPDATE:$qg,we ird:SELECT:$qg", 'the group holds the column privileges, the login roles none');

# ---- attributes: CREATEDB, CREATEROLE, INHERIT ----
refused_then_fixed('attributes', sub { "ALTER ROLE $_[1] CREATEDB CREATEROLE NOINHERIT" },
	sub { qr/\Q$_[0]\E has NOCREATEDB, \Q$_[1]\E has CREATEDB/ }, qr/same attributes/,
	sub { [ qr/^ALTER ROLE \Q$_[1]\E NOCREATEDB;$/m, qr/^ALTER ROLE \Q$_[1]\E NOCREATEROLE;$/m,
			qr/^ALTER ROLE \Q$_[1]\E INHERIT;$/m ] });
is(sql("SELECT string_agg(rolname || ':' || rolcreatedb || rolcreaterole || rolinherit, ',' ORDER BY rolname)
	FROM pg_roles WHERE rolname IN (" . join(', ', map { PgRotateTest::quote_literal($_) } $ra, $rb) . ')'),
	join(',', map { "$_:falsefalsetrue" } sort $ra, $rb), 'both login roles have the same attributes again');

# ---- memberships: the ADMIN option, and INHERIT and SET from 16 ----
sql('CREATE ROLE "extra r" NOLOGIN; CREATE ROLE extra2 NOLOGIN');
$fix = refused_then_fixed('membership ADMIN option',
	sub { qq{GRANT "extra r" TO $_[0] WITH ADMIN OPTION; GRANT "extra r" TO $_[1]} },
	qr/is a member of "extra r" \(ADMIN true/, qr/same memberships/,
	sub { [ qr/^GRANT "extra r" TO \Q$qg\E WITH ADMIN (?:OPTION|true, INHERIT true, SET true);\nREVOKE "extra r" FROM \Q$_[0]\E;$/m,
			qr/^REVOKE "extra r" FROM \Q$_[1]\E;$/m ] });
unlike($fix, qr/^GRANT "extra r" TO \Q$qg\E(?:;| WITH ADMIN false)/m,
	'membership ADMIN option: no second grant without it');
is(sql(q{SELECT bool_and(admin_option) FROM pg_auth_members WHERE roleid = '"extra r"'::regrole}), 't',
	'membership ADMIN option: the group has the active role\'s ADMIN option');
is(sql(q{SELECT count(*) FROM pg_auth_members WHERE roleid = '"extra r"'::regrole AND member IN
	(SELECT oid FROM pg_roles WHERE rolname IN (} . join(', ', map { PgRotateTest::quote_literal($_) } $ra, $rb) . '))'),
	0, 'membership ADMIN option: the login roles are no longer members');
SKIP:
{
	skip 'membership INHERIT and SET options come with PostgreSQL 16', 8 if $ver < 160000;
	$fix = refused_then_fixed('membership INHERIT and SET options',
		sub { qq{GRANT extra2 TO $_[0] WITH INHERIT FALSE; GRANT extra2 TO $_[1] WITH SET FALSE} },
		qr/is a member of "extra2" \(ADMIN false, INHERIT false, SET true\)/, qr/same memberships/,
		sub { [ qr/^GRANT "extra2" TO \Q$qg\E WITH ADMIN false, INHERIT false, SET true;\nREVOKE "extra2" FROM \Q$_[0]\E;$/m,
				qr/^REVOKE "extra2" FROM \Q$_[1]\E;$/m ] });
	unlike($fix, qr/INHERIT true, SET false/, 'membership options: the standby\'s options are not granted');
	is(sql(q{SELECT string_agg(admin_option || ',' || inherit_option || ',' || set_option, ';')
		FROM pg_auth_members WHERE roleid = 'extra2'::regrole}), 'false,false,true',
		'membership options: the group has the active role\'s options');
}

# ---- default privileges FOR ROLE a login role: compared, not owned ----
refused_then_fixed('default privileges', sub { qq{ALTER DEFAULT PRIVILEGES FOR ROLE $_[0] GRANT SELECT ON TABLES TO $qg;
	ALTER DEFAULT PRIVILEGES FOR ROLE $_[0] IN SCHEMA "my schema" GRANT USAGE ON SEQUENCES TO PUBLIC;
	ALTER DEFAULT PRIVILEGES FOR ROLE $_[1] REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC} },
	sub { qr/\Q$_[0]\E gives \Q$qg\E by default SELECT on new TABLES and \Q$_[1]\E does not/ },
	qr/same default privileges/,
	sub { [ qr/^ALTER DEFAULT PRIVILEGES FOR ROLE \Q$_[0]\E REVOKE SELECT ON TABLES FROM \Q$qg\E;$/m,
			qr/^ALTER DEFAULT PRIVILEGES FOR ROLE \Q$qg\E IN SCHEMA "my schema" GRANT USAGE ON SEQUENCES TO PUBLIC;\n/m,
			qr/^ALTER DEFAULT PRIVILEGES FOR ROLE \Q$_[0]\E IN SCHEMA "my schema" REVOKE USAGE ON SEQUENCES FROM PUBLIC;$/m,
			qr/^ALTER DEFAULT PRIVILEGES FOR ROLE \Q$_[1]\E GRANT EXECUTE ON FUNCTIONS TO PUBLIC;$/m ] });
is(sql('SELECT count(*) FROM pg_default_acl WHERE defaclrole IN (SELECT oid FROM pg_roles WHERE rolname IN ('
	  . join(', ', map { PgRotateTest::quote_literal($_) } $ra, $rb) . '))'), 0,
	'default privileges: the fix leaves the login roles with the built-in defaults');
# ---- default privileges another role defines for one login role ----
# (what "migrator" or the group creates later would be granted to one login
# role only)
sql('CREATE ROLE migrator NOLOGIN');
refused_then_fixed('default privileges from other roles',
	sub { qq{ALTER DEFAULT PRIVILEGES FOR ROLE migrator GRANT SELECT ON TABLES TO $_[0];
	ALTER DEFAULT PRIVILEGES FOR ROLE migrator IN SCHEMA "my schema" GRANT USAGE ON SEQUENCES TO $_[1] WITH GRANT OPTION;
	ALTER DEFAULT PRIVILEGES FOR ROLE $qg GRANT EXECUTE ON FUNCTIONS TO $_[0]} },
	sub { qr/migrator gives \Q$_[0]\E by default SELECT on new TABLES and not \Q$_[1]\E/ },
	qr/same default privileges from other roles/,
	sub { [ qr/^ALTER DEFAULT PRIVILEGES FOR ROLE migrator GRANT SELECT ON TABLES TO \Q$qg\E;\n/m,
			qr/^ALTER DEFAULT PRIVILEGES FOR ROLE migrator REVOKE SELECT ON TABLES FROM \Q$_[0]\E;$/m,
			qr/^ALTER DEFAULT PRIVILEGES FOR ROLE migrator IN SCHEMA "my schema" GRANT USAGE ON SEQUENCES TO \Q$qg\E WITH GRANT OPTION;$/m,
			qr/^ALTER DEFAULT PRIVILEGES FOR ROLE \Q$qg\E REVOKE EXECUTE ON FUNCTIONS FROM \Q$_[0]\E;$/m ] });
is(sql(q{SELECT count(*) FROM pg_default_acl a, aclexplode(a.defaclacl) x WHERE x.grantee IN (SELECT oid FROM pg_roles WHERE rolname IN (}
	  . join(', ', map { PgRotateTest::quote_literal($_) } $ra, $rb) . '))'), 0,
	'default privileges from other roles: the fix leaves no default grant to a login role');
is(sql(q{SELECT count(*) FROM pg_default_acl a, aclexplode(a.defaclacl) x WHERE a.defaclrole = 'migrator'::regrole}
	  . ' AND x.grantee = (SELECT oid FROM pg_roles WHERE rolname = ' . PgRotateTest::quote_literal($group) . ')'), 2,
	'and migrator\'s two now grant to the group');
# default privileges alone are not owned objects (REASSIGN OWNED leaves them)
($qact, $qsb) = roles_now();
sql(qq{ALTER DEFAULT PRIVILEGES FOR ROLE $qact GRANT SELECT ON TABLES TO $qg;
	ALTER DEFAULT PRIVILEGES FOR ROLE $qsb GRANT SELECT ON TABLES TO $qg});
$r = check();
is($r->{exit}, 0, 'the same default privileges on both roles pass') or diag($r->{stdout});
like($r->{stdout}, qr/^  ok    login role \Q$qact\E owns no objects$/m, 'default privileges are not owned objects');
sql(qq{ALTER DEFAULT PRIVILEGES FOR ROLE $qact REVOKE SELECT ON TABLES FROM $qg;
	ALTER DEFAULT PRIVILEGES FOR ROLE $qsb REVOKE SELECT ON TABLES FROM $qg});

# ---- owned serial and identity sequences: the per-object fix works ----
($qact, $qsb) = roles_now();
sql(qq{CREATE TABLE owned_s (i serial, j int GENERATED ALWAYS AS IDENTITY); ALTER TABLE owned_s OWNER TO $qact;
	CREATE STATISTICS owned_st ON i, j FROM owned_s; ALTER STATISTICS owned_st OWNER TO $qact});
refused('owned serial table', qr/\Q$qact\E owns no objects/);
$fix = fix_of(check(), qr/login role \Q$qact\E owns no objects/);
like($fix, qr/^ALTER TABLE public\.owned_s OWNER TO \Q$qg\E;$/m, 'owned serial table: ALTER TABLE');
like($fix, qr/^ALTER STATISTICS public\.owned_st OWNER TO \Q$qg\E;$/m, 'owned statistics: ALTER STATISTICS');
unlike($fix, qr/ALTER SEQUENCE/, 'no ALTER SEQUENCE for the linked sequences');
sql(join "\n", grep { /^ALTER / } split /\n/, $fix);
is(sql(q{SELECT string_agg(DISTINCT r.rolname, ',') FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
	WHERE c.relname IN ('owned_s', 'owned_s_i_seq', 'owned_s_j_seq')}), $group,
	'the per-object fix moved the table and its sequences to the group');
$r = cycle();
is($r->{exit}, 0, 'owned serial table: after the per-object fix the cycle passes') or diag($r->{stderr});
($active) = cred();
($qact, $qsb) = $active eq $ra ? ($qa, $qb) : ($qb, $qa);

# ---- objects owned by the active role ----
sql("CREATE TABLE owned_t (i int); ALTER TABLE owned_t OWNER TO $qact");
$r = refused('owned table', qr/\Q$qact\E owns no objects: 1 object in database "appdb"/);
like($r->{stderr}, qr/REASSIGN OWNED BY \Q$qact\E TO \Q$qg\E;/, 'the refusal gives REASSIGN OWNED');
like($r->{stderr}, qr/ALTER TABLE public\.owned_t OWNER TO \Q$qg\E;/, 'and the ALTER TABLE ... OWNER');
write_config($t->{conf}, target_config(node => $node, sink_path => $t->{sink}, %cfg,
		keys => { allow_owned_objects => \'true' }));
$r = cycle();
is($r->{exit}, 0, 'allow_owned_objects = true lets it through') or diag($r->{stderr});
like($r->{stderr}, qr/\Q$qact\E owns no objects.*allowed by allow_owned_objects/,
	'with a warning');
# allow_owned_objects = false again: objects the standby owns only warn
write_config($t->{conf}, target_config(node => $node, sink_path => $t->{sink}, %cfg));
$r = check();
is($r->{exit}, 0, 'objects owned by the standby: check passes') or diag($r->{stdout});
like($r->{stdout}, qr/^  WARN  login role \Q$qact\E owns no objects: 1 object in database "appdb"/m,
	'objects owned by the standby: a warning');
$r = cycle();
is($r->{exit}, 0, 'objects owned by the standby: the cycle passes') or diag($r->{stderr});
like($r->{stderr}, qr/\Q$qact\E owns no objects/, 'with the warning');
refused('owned table, active again', qr/\Q$qact\E owns no objects: 1 object in database "appdb"/);

done_testing();
