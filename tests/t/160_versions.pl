# What differs between the supported PostgreSQL versions (SPEC section 7),
# against whichever server PG_BINDIR names (CI runs this file on 14, 15,
# 16, 17 and 18).  Every server: check reports the version; the drain
# follows pg_stat_activity (the 14 proof); password_encryption = md5 on
# the server changes nothing pgrotate writes (the 18 deprecation).  From
# 16: the admin's ADMIN OPTION, per-grant INHERIT/SET of the group,
# createrole_self_grant, roles created by someone else.
use strict;
use warnings;
use Test::More;
use PgRotateTest;
use PgRotateSetup;

my $t = setup_target(config_opts => { defaults => { drain_timeout => '2s' } });
my $node = $t->{node};
my $num = $node->server_version_num;
my $major = int($num / 10000);
my $admin_pw = $t->{admin_password};
my @secrets = ($admin_pw);
note("server version_num $num");

sub run_target
{
	my ($conf, @args) = @_;
	return run_pgrotate(args => \@args, config => $conf, env => $t->{env});
}

sub published
{
	my ($sink) = @_;
	my ($u, $p) = read_env_sink($sink // $t->{sink});
	push @secrets, $p if defined $p && !grep { $_ eq $p } @secrets;
	return ($u, $p);
}

# SQL as the admin (the grantor of the memberships pgrotate makes).
sub as_admin
{
	my ($sql) = @_;
	return $node->safe_psql($sql, user => 'pgrotate_admin', password => $admin_pw, dbname => 'appdb');
}

# pg_authid of the given roles, as one string (to compare before/after).
sub authid_snapshot
{
	my (@roles) = @_;
	return $node->safe_psql('SELECT rolname, rolcanlogin, rolpassword FROM pg_authid WHERE rolname IN ('
		  . join(', ', map { PgRotateTest::quote_literal($_) } @roles) . ') ORDER BY 1');
}

# The statements the admin ran, from the server log (log_statement = all).
sub admin_statements
{
	my ($pos) = @_;
	return join "\n", grep { /pgrotate_admin\@\S+ LOG:  (?:statement|execute [^:]*):/ }
	  split /\n/, $node->log_since($pos);
}

# ---- every version: check prints the server version ------------------------

my $r = run_target($t->{conf}, 'init', 'appdb');
is($r->{exit}, 0, 'init') or BAIL_OUT($r->{stderr});
my ($ua, $pa) = published();
is($ua, 'app_user_a', 'A is active after init');

my ($server_version) = $node->safe_psql('SHOW server_version') =~ /^(\d+\.\d+)/;
$r = run_target($t->{conf}, 'check', 'appdb');
is($r->{exit}, 0, 'check after init: exit 0') or diag($r->{stdout});
like($r->{stdout}, qr/^  ok    server version: PostgreSQL \Q$server_version\E$/m,
	"check prints the server's version ($server_version)");
ok($major >= 14 && $major <= 18, "the server is a supported major ($major)");

# ---- every version: the drain follows pg_stat_activity ----------------------
# (On 14 this is the proof that its pg_stat_activity serves the same.)
{
	my $held = $node->background_session(user => $ua, password => $pa, dbname => 'appdb',
		application_name => 'versions-held');
	is($node->safe_psql("SELECT usename || '|' || datname FROM pg_stat_activity WHERE pid = "
			  . $held->backend_pid), 'app_user_a|appdb', 'the held session is A\'s in pg_stat_activity');
	$r = run_target($t->{conf}, 'cycle', 'appdb');
	is($r->{exit}, 3, 'cycle with a session of A held: drain timeout, exit 3') or diag($r->{stderr});
	like($r->{stderr}, qr/draining "app_user_a": sessions primary 1/, 'progress counts the session');
	like($r->{stderr}, qr/versions-held/, 'and names it by application_name');
	is(role_row($node, 'app_user_a'), 't|t', 'A keeps LOGIN and its password while the session lasts');
	my ($ub) = published();
	is($ub, 'app_user_b', 'B is published');
	$held->quit;
	$r = run_target($t->{conf}, 'cycle', 'appdb');
	is($r->{exit}, 0, 'once the session ended, the resumed cycle finishes') or diag($r->{stderr});
	is(role_row($node, 'app_user_a'), 'f|f', 'A is revoked once drained');
	is($node->safe_psql("SELECT phase FROM pgrotate.state WHERE target = 'appdb'", dbname => 'appdb'),
		'idle', 'phase idle');
}

# ---- every version: password_encryption = md5 changes nothing ----------------
# pgrotate always writes a SCRAM verifier.  18 deprecates MD5 with a
# WARNING for each MD5 password set: none may come from pgrotate.
{
	$node->safe_psql("ALTER SYSTEM SET password_encryption = 'md5'");
	$node->reload;
	ok($node->poll_query_until('SHOW password_encryption', 'md5', user => 'pgrotate_admin',
			password => $admin_pw, timeout => 10), 'the server now defaults to md5');
	my $pos = $node->log_position;
	$r = run_target($t->{conf}, 'cycle', 'appdb');
	is($r->{exit}, 0, 'cycle with password_encryption = md5: exit 0') or diag($r->{stderr});
	my ($u, $p) = published();
	is($u, 'app_user_a', 'A is active again');
	like($node->safe_psql("SELECT rolpassword FROM pg_authid WHERE rolname = 'app_user_a'"),
		qr/^SCRAM-SHA-256\$\d+:[A-Za-z0-9+\/=]+\$[A-Za-z0-9+\/=]+:[A-Za-z0-9+\/=]+$/,
		'the new password is a SCRAM verifier in pg_authid');
	is($node->safe_psql("SELECT count(*) FROM pg_authid WHERE rolpassword LIKE 'md5%'"), '0',
		'no MD5 password anywhere');
	ok(login_works($node, $u, $p), 'and the credential logs in');
	my $log = $node->log_since($pos);
	unlike($log, qr/WARNING:.*MD5/i, 'no MD5 warning in the server log during the cycle');
	unlike($log, qr/\bmd5[0-9a-f]{32}\b/, 'no MD5 hash in the server log');

	# The other commands that write or clear passwords, on a second target:
	# init (its first credential), cycle --no-wait then revoke, --emergency.
	$node->create_database('md5db');
	$node->safe_psql('GRANT CREATE ON DATABASE md5db TO pgrotate_admin');
	my $msink = test_dir() . '/md5db.env';
	my $mconf = test_dir() . '/md5.conf';
	write_config($mconf, target_config(node => $node, target => 'md5db', dbname => 'md5db', group_role => 'md5_app',
			roles => [ 'md5_user_a', 'md5_user_b' ], sink_path => $msink));
	$pos = $node->log_position;
	for my $step ([ 'init', 'md5db' ], [ 'cycle', 'md5db', '--no-wait' ], [ 'revoke', 'md5db', 'OLD' ],
		[ 'cycle', 'md5db', '--emergency' ])
	{
		if ($step->[2] && $step->[2] eq 'OLD')
		{
			my ($active) = published($msink);
			$step->[2] = $active eq 'md5_user_a' ? 'md5_user_b' : 'md5_user_a';
		}
		$r = run_target($mconf, @$step);
		is($r->{exit}, 0, "@$step with password_encryption = md5: exit 0") or diag($r->{stderr});
	}
	my ($mu, $mp) = published($msink);
	my $other = $mu eq 'md5_user_a' ? 'md5_user_b' : 'md5_user_a';
	is($node->safe_psql("SELECT rolcanlogin || ':' || coalesce(substr(rolpassword, 1, 14), 'null')"
			  . " FROM pg_authid WHERE rolname = '$mu'"), 'true:SCRAM-SHA-256$',
		'after init, cycle, revoke and --emergency: the active role has a SCRAM verifier');
	is($node->safe_psql("SELECT rolcanlogin || ':' || coalesce(rolpassword, 'null')"
			  . " FROM pg_authid WHERE rolname = '$other'"), 'false:null', 'and the other role none');
	ok(login_works($node, $mu, $mp, 'md5db'), 'the published credential of the second target logs in');
	is($node->safe_psql("SELECT count(*) FROM pg_authid WHERE rolpassword LIKE 'md5%'"), '0',
		'still no MD5 password anywhere');
	$log = $node->log_since($pos);
	unlike($log, qr/WARNING:.*MD5/i, 'no MD5 warning in the server log from init, revoke or --emergency');

	SKIP:
	{
		skip 'MD5 passwords warn from PostgreSQL 18', 1 if $major < 18;
		# The control: the same server does warn when an MD5 password is set.
		my $cpos = $node->log_position;
		$node->safe_psql("CREATE ROLE md5_control; SET password_encryption = 'md5';"
			  . " SET log_statement = 'none'; ALTER ROLE md5_control PASSWORD 'control-pw-123'");
		ok($node->wait_for_log(qr/WARNING:  setting an MD5-encrypted password/, offset => $cpos,
				timeout => 10), '18 warns when a client sets an MD5 password (the control)');
		$node->safe_psql('DROP ROLE md5_control');
	}
	$node->safe_psql('ALTER SYSTEM RESET password_encryption');
	$node->reload;
	$node->poll_query_until('SHOW password_encryption', 'scram-sha-256', user => 'pgrotate_admin',
		password => $admin_pw, timeout => 10);
}

# ---- a server older than 14: check refuses it ----------------------------------
# No such server can run here, so a stand-in speaks just enough of the
# protocol (v3 startup, trust authentication, server_version 13.11, an
# answer of one empty text value to any query) for libpq to connect.
{
	my $fake = old_server('13.11');
	my $conf = write_config(test_dir() . '/old.conf', target_config(node => $node, target => 'old',
			admin => "host=127.0.0.1 port=$fake->{port} dbname=appdb user=pgrotate_admin sslmode=disable gssencmode=disable",
			sink_path => test_dir() . '/old.env'));
	$r = run_target($conf, 'check', 'old');
	is($r->{exit}, 1, 'check of a PostgreSQL 13 server: exit 1') or diag($r->{stdout} . $r->{stderr});
	like($r->{stdout}, qr/^  ok    admin connects\n  FAIL  server version: PostgreSQL 13\.11 is older than PostgreSQL 14, the oldest server pgrotate supports\n        fix: Upgrade the server to PostgreSQL 14 or later\.\n  skip  admin privileges: the server is not supported\n  skip  group and login roles: the server is not supported\n/m,
		'it names the version, the oldest supported and the fix, and skips the rest');
	like($r->{stdout}, qr/^  skip  pg_stat_activity of other roles visible: the server is not supported$/m,
		'pg_stat_activity skipped too');
	kill 'KILL', $fake->{pid};
	waitpid $fake->{pid}, 0;
}

SKIP:
{
	skip "ADMIN OPTION, INHERIT/SET and createrole_self_grant are PostgreSQL 16's", 1 if $major < 16;
	pg16_tests();
}

assert_no_secret_in(\@secrets, { 'server log' => $node->log_content });

done_testing();

# ---- 16 and later ------------------------------------------------------------

sub pg16_tests
{
	my @roles = qw(app app_user_a app_user_b);

	# -- the admin without ADMIN OPTION on a login role --
	# (the admin created the roles: its grant is the implicit one)
	is($node->safe_psql("SELECT admin_option FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid"
			  . " JOIN pg_roles a ON a.oid = m.member WHERE r.rolname = 'app_user_b'"
			  . " AND a.rolname = 'pgrotate_admin'"), 't', 'init left the admin ADMIN OPTION on B');
	$node->safe_psql('REVOKE app_user_b FROM pgrotate_admin');
	$r = run_target($t->{conf}, 'check', 'appdb');
	is($r->{exit}, 1, 'check without ADMIN OPTION on B: exit 1');
	my $grant = 'GRANT "app_user_b" TO "pgrotate_admin" WITH ADMIN OPTION, INHERIT FALSE, SET FALSE;';
	like($r->{stdout}, qr/^  FAIL  admin privileges: .*"app_user_b".*\n(?:        fix: .*\n)*        fix: \Q$grant\E$/m,
		'check names the GRANT that fixes it') or diag($r->{stdout});
	my $before = authid_snapshot(@roles);
	my $pos = $node->log_position;
	$r = run_target($t->{conf}, 'cycle', 'appdb');
	is($r->{exit}, 1, 'cycle without ADMIN OPTION: exit 1') or diag($r->{stderr});
	like($r->{stderr}, qr/\Q$grant\E/, 'cycle prints the GRANT');
	is(authid_snapshot(@roles), $before, 'pg_authid unchanged');
	unlike(admin_statements($pos), qr/ALTER ROLE/i, 'no ALTER ROLE reached the server');
	like(admin_statements($pos), qr/pg_has_role/, '(the check queries did)');
	$node->safe_psql($grant =~ s/;$//r);
	$r = run_target($t->{conf}, 'check', 'appdb');
	is($r->{exit}, 0, 'after the printed GRANT: check exit 0') or diag($r->{stdout});

	# -- the group granted with other INHERIT / SET options to each login role --
	as_admin('GRANT app TO app_user_a WITH SET FALSE');
	as_admin('GRANT app TO app_user_b WITH INHERIT FALSE');
	is($node->safe_psql("SELECT string_agg(u.rolname || ':' || m.inherit_option || ',' || m.set_option, ' '"
			  . ' ORDER BY u.rolname) FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid'
			  . " JOIN pg_roles u ON u.oid = m.member WHERE g.rolname = 'app' AND u.rolname LIKE 'app_user_%'"),
		'app_user_a:true,false app_user_b:false,true', 'the two grants differ (pg_auth_members)');
	$r = run_target($t->{conf}, 'check', 'appdb');
	is($r->{exit}, 1, 'check with the mismatched grants: exit 1');
	my $fix_a = 'GRANT "app" TO "app_user_a" WITH INHERIT TRUE, SET TRUE;';
	my $fix_b = 'GRANT "app" TO "app_user_b" WITH INHERIT TRUE, SET TRUE;';
	like($r->{stdout}, qr/^  FAIL  login role "app_user_a" is a member of "app": the membership of "app_user_a" in "app" lacks SET\n        fix: Run as the target's admin or as a superuser:\n        fix: \Q$fix_a\E$/m,
		'A: lacks SET, with the fix');
	like($r->{stdout}, qr/^  FAIL  login role "app_user_b" is a member of "app": the membership of "app_user_b" in "app" lacks INHERIT\n        fix: Run as the target's admin or as a superuser:\n        fix: \Q$fix_b\E$/m,
		'B: lacks INHERIT, with the fix');
	$before = authid_snapshot(@roles);
	$pos = $node->log_position;
	$r = run_target($t->{conf}, 'cycle', 'appdb');
	is($r->{exit}, 1, 'cycle refuses the mismatched grants: exit 1') or diag($r->{stderr});
	like($r->{stderr}, qr/\Q$fix_a\E/, 'cycle prints the fix for A');
	like($r->{stderr}, qr/\Q$fix_b\E/, 'and for B');
	is(authid_snapshot(@roles), $before, 'pg_authid unchanged');
	unlike(admin_statements($pos), qr/ALTER ROLE/i, 'no ALTER ROLE reached the server');
	as_admin($fix_a);
	as_admin($fix_b);
	$r = run_target($t->{conf}, 'check', 'appdb');
	is($r->{exit}, 0, 'after the fixes: check exit 0') or diag($r->{stdout});
	$r = run_target($t->{conf}, 'cycle', 'appdb');
	is($r->{exit}, 0, 'and a cycle succeeds') or diag($r->{stderr});
	my ($u, $p) = published();
	is(current_users($node, $u, $p), "$u|app", 'the credential works as the group');

	# -- createrole_self_grant: init works with '' and with 'set, inherit' --
	# The admin's grants of a role it creates: the implicit one (ADMIN
	# OPTION, from the bootstrap superuser), and with a createrole_self_grant
	# a second one, from itself, with those options.
	for my $c ([ 'sg_none', '', 'true,false,false' ],
		[ 'sg_set', 'set, inherit', 'true,false,false false,true,true' ])
	{
		my ($name, $value, $flags) = @$c;
		$node->safe_psql('ALTER ROLE pgrotate_admin SET createrole_self_grant = '
			  . PgRotateTest::quote_literal($value));
		my $sink = test_dir() . "/$name.env";
		my $conf = write_config(test_dir() . "/$name.conf", target_config(node => $node, target => $name,
				group_role => "${name}_grp", roles => [ "${name}_a", "${name}_b" ], sink_path => $sink));
		$r = run_target($conf, 'init', $name);
		is($r->{exit}, 0, "init with createrole_self_grant = '$value': exit 0") or diag($r->{stderr});
		is($node->safe_psql("SELECT string_agg(m.admin_option || ',' || m.inherit_option || ',' || m.set_option, ' '"
				  . ' ORDER BY m.admin_option DESC)'
				  . ' FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member'
				  . " WHERE g.rolname = '${name}_grp' AND u.rolname = 'pgrotate_admin'"),
			$flags, "the admin's grants of the group follow the setting ($flags)");
		is($node->safe_psql("SELECT string_agg(m.inherit_option || ',' || m.set_option, ' ')"
				  . ' FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member'
				  . " WHERE g.rolname = '${name}_grp' AND u.rolname LIKE '${name}\\_%' AND u.rolname <> '${name}_grp'"),
			'true,true true,true', 'the login roles are members WITH INHERIT TRUE, SET TRUE');
		my ($su, $sp) = published($sink);
		is(current_users($node, $su, $sp), "$su|${name}_grp", 'the credential works as the group');
		$r = run_target($conf, 'check', $name);
		is($r->{exit}, 0, 'check after init: exit 0') or diag($r->{stdout});
		$r = run_target($conf, 'cycle', $name);
		is($r->{exit}, 0, 'cycle: exit 0') or diag($r->{stderr});
	}
	$node->safe_psql('ALTER ROLE pgrotate_admin RESET createrole_self_grant');

	# -- roles someone else created --
	my @legacy = qw(legacy_grp legacy_a legacy_b);
	$node->safe_psql('CREATE ROLE legacy_grp NOLOGIN; CREATE ROLE legacy_a NOLOGIN; CREATE ROLE legacy_b NOLOGIN');
	my $lsink = test_dir() . '/legacy.env';
	my $lconf = write_config(test_dir() . '/legacy.conf', target_config(node => $node, target => 'legacy',
			group_role => 'legacy_grp', roles => [ 'legacy_a', 'legacy_b' ], sink_path => $lsink));
	$r = run_target($lconf, 'check', 'legacy');
	is($r->{exit}, 1, 'roles created by a superuser: check exit 1');
	for my $role (@legacy)
	{
		like($r->{stdout}, qr/^        fix: \QGRANT "$role" TO "pgrotate_admin" WITH ADMIN OPTION, INHERIT FALSE, SET FALSE;\E$/m,
			"check prints the GRANT of ADMIN OPTION on $role");
	}
	$before = authid_snapshot(@legacy);
	$r = run_target($lconf, 'init', 'legacy');
	isnt($r->{exit}, 0, 'init refuses them') or diag($r->{stderr});
	is(authid_snapshot(@legacy), $before, 'and changed nothing in pg_authid');
	ok(!-e $lsink, 'nothing published');
	$node->grant_admin_option('pgrotate_admin', @legacy);
	$r = run_target($lconf, 'init', 'legacy');
	is($r->{exit}, 0, 'after the GRANTs, init adopts them') or diag($r->{stderr});
	my ($lu, $lp) = published($lsink);
	is($lu, 'legacy_a', 'legacy_a is published');
	is(current_users($node, $lu, $lp), 'legacy_a|legacy_grp', 'and works as the group');
	$r = run_target($lconf, 'cycle', 'legacy');
	is($r->{exit}, 0, 'a cycle of the adopted roles') or diag($r->{stderr});
	is((published($lsink))[0], 'legacy_b', 'moves to legacy_b');
	is(role_row($node, 'legacy_a'), 'f|f', 'and revokes legacy_a');
}

# old_server($version): a forked stand-in for a PostgreSQL server of that
# version on 127.0.0.1; returns { port, pid }.  Answers SSL/GSS requests
# with 'N', trusts the startup packet, and answers any query (simple or
# extended protocol) with one row of one empty text column.
sub old_server
{
	my ($version) = @_;
	require IO::Socket::INET;
	my $ls = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 5, ReuseAddr => 1)
	  or die "cannot listen: $!";
	my $port = $ls->sockport;
	my $pid = fork // die "fork: $!";
	return { port => $port, pid => $pid } if $pid;
	local $SIG{ALRM} = sub { POSIX::_exit(0) };
	alarm 120;
	my $msg = sub { my ($type, $body) = @_; return $type . pack('N', 4 + length $body) . $body; };
	my $row = $msg->('T', pack('n', 1) . "c\0" . pack('NnNnNn', 0, 0, 25, -1 & 0xffff, 0xffffffff, 0))
	  . $msg->('D', pack('nN', 1, 0)) . $msg->('C', "SELECT 1\0");
	my $ready = $msg->('Z', 'I');
	while (my $c = $ls->accept)
	{
		binmode $c;
		my $read = sub { my $n = shift; my $b = ''; while (length $b < $n) { my $got = sysread($c, $b, $n - length $b, length $b); return undef unless $got; } return $b; };
		my $ok = eval {
			while (1)
			{
				my ($len, $code) = unpack('NN', $read->(8) // die);
				$read->($len - 8) // die if $len > 8;
				if ($code == 80877103 || $code == 80877104) { syswrite $c, 'N'; next; }
				last;
			}
			my $out = $msg->('R', pack('N', 0));
			$out .= $msg->('S', "$_->[0]\0$_->[1]\0") for ([ server_version => $version ],
				[ server_encoding => 'UTF8' ], [ client_encoding => 'UTF8' ], [ DateStyle => 'ISO, MDY' ],
				[ integer_datetimes => 'on' ], [ standard_conforming_strings => 'on' ]);
			$out .= $msg->('K', pack('NN', $$, 1)) . $ready;
			syswrite $c, $out;
			while (defined(my $h = $read->(5)))
			{
				my ($type, $len) = unpack('aN', $h);
				$read->($len - 4) // die if $len > 4;
				last if $type eq 'X';
				my %reply = (Q => $row . $ready, P => $msg->('1', ''), B => $msg->('2', ''),
					D => substr($row, 0, index($row, 'D' . pack('N', 10))), E => substr($row, index($row, 'D' . pack('N', 10))),
					S => $ready);
				syswrite $c, $reply{$type} if exists $reply{$type};
			}
			1;
		};
		close $c;
	}
	POSIX::_exit(0);
}
