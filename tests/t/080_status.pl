# pgrotate status: text, json and prometheus formats; each exit code
# (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN) and the worst across targets;
# sinks compared by fingerprint; sessions per role per node; lock holder;
# password expiry; replicas.
use strict;
use warnings;
use JSON::PP;
use Test::More;
use PgRotateTest;
use PgRotateSetup;

my $t = setup_target(config_opts => { defaults => { drain_timeout => '60s' } });
my $node = $t->{node};
my $dir = test_dir();
my @secrets;
my $outputs = '';

my $r = pgr($t, 'init', 'appdb');
is($r->{exit}, 0, 'init') or BAIL_OUT($r->{stderr});
my ($ua, $pa) = read_env_sink($t->{sink});
push @secrets, $pa;

# A config like the main one with other settings (same target, same sink).
sub conf_with
{
	my ($name, %o) = @_;
	my $path = "$dir/$name.conf";
	write_config($path, target_config(node => $node, sink_path => $t->{sink},
			defaults => { drain_timeout => '60s', %{ $o{defaults} || {} } },
			map { $_ => $o{$_} } grep { $_ ne 'defaults' } keys %o));
	return $path;
}

sub status
{
	my ($conf, @args) = @_;
	my $res = run_pgrotate(args => [ 'status', @args ], config => $conf // $t->{conf}, env => $t->{env});
	$outputs .= $res->{stdout} . $res->{stderr};
	return $res;
}

sub status_json
{
	my ($conf, @args) = @_;
	my $res = status($conf, '--format=json', @args);
	my $doc = eval { JSON::PP->new->decode($res->{stdout}) };
	ok($doc, 'json output parses') or diag("$@\n$res->{stdout}");
	return ($res, $doc);
}

# A small parser of the Prometheus text exposition format: every line is a
# comment (# HELP name text / # TYPE name type) or `name{labels} value`.
sub parse_prom
{
	my ($text) = @_;
	my (%help, %type, @samples, @errors, %seen_done);
	my $name_re = qr/[a-zA-Z_:][a-zA-Z0-9_:]*/;
	my $last = '';
	for my $line (split /\n/, $text)
	{
		if ($line =~ /^# HELP ($name_re) (.+)$/) { push @errors, "two HELP for $1" if $help{$1}++; next; }
		if ($line =~ /^# TYPE ($name_re) (counter|gauge|histogram|summary|untyped)$/) { $type{$1} = $2; next; }
		if ($line =~ /^($name_re)(?:\{(.*)\})? (-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|NaN|[-+]Inf)$/)
		{
			my ($name, $labels, $value) = ($1, $2 // '', $3);
			my %l;
			while ($labels =~ s/^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,?)//)
			{
				my ($k, $v, $comma) = ($1, $2, $3);
				$v =~ s/\\(.)/$1 eq 'n' ? "\n" : $1/ge;
				push @errors, "label $k twice in: $line" if exists $l{$k};
				$l{$k} = $v;
				last unless $comma;
			}
			push @errors, "bad labels in: $line" if $labels ne '';
			push @errors, "no TYPE before: $line" unless $type{$name};
			push @errors, "metric $name not grouped" if $name ne $last && $seen_done{$name};
			$seen_done{$last} = 1 if $name ne $last;
			$last = $name;
			push @samples, { name => $name, labels => \%l, value => $value };
			next;
		}
		push @errors, "bad line: \"$line\"";
	}
	for my $n (keys %{ { map { $_->{name} => 1 } @samples } })
	{
		push @errors, "no HELP for $n" unless $help{$n};
	}
	return (\@samples, \@errors);
}

# The value of the one sample of name whose labels include %want.
sub prom_value
{
	my ($samples, $name, %want) = @_;
	my @m = grep {
		my $s = $_;
		$s->{name} eq $name && !grep { ($s->{labels}{$_} // "\0") ne $want{$_} } keys %want
	} @$samples;
	return @m == 1 ? $m[0]{value} : undef;
}

sub status_prom
{
	my ($conf, @args) = @_;
	my $res = status($conf, '--format=prometheus', @args);
	my ($samples, $errors) = parse_prom($res->{stdout});
	is_deeply($errors, [], 'prometheus output parses, every metric has HELP and TYPE')
	  or diag($res->{stdout});
	return ($res, $samples);
}

# 1. OK, in all three formats.
$r = status(undef);
is($r->{exit}, 0, 'freshly initialised: OK, exit 0') or diag($r->{stdout} . $r->{stderr});
like($r->{stdout}, qr/^appdb: OK$/m, 'text: the target and its status');
like($r->{stdout}, qr/^  active role: +app_user_a \(generation 1\), standby app_user_b, group app$/m,
	'text: active role, generation, standby');
like($r->{stdout}, qr/^  phase: +idle for \S+ \(since \d{4}-\d\d-\d\dT/m, 'text: phase and for how long');
like($r->{stdout}, qr/^  next due: +\d{4}-.*\(in (?:29d23h|30d\))/m, 'text: next due');
like($r->{stdout}, qr/^  lock: +free$/m, 'text: lock free');
like($r->{stdout}, qr/^  sessions: +primary: app_user_a 0, app_user_b 0, app 0$/m, 'text: sessions per role');
like($r->{stdout}, qr/^  sink: +file \S+appdb\.env: ok$/m, 'text: the sink holds the active credential');

my ($jr, $doc) = status_json(undef);
is($jr->{exit}, 0, 'json: exit 0');
is($doc->{status}, 'OK', 'json: overall status');
my $js = $doc->{targets}[0];
is($js->{target}, 'appdb', 'json: target');
is($js->{active_role}, 'app_user_a', 'json: active role');
is($js->{generation}, 1, 'json: generation');
is($js->{phase}, 'idle', 'json: phase');
cmp_ok($js->{credential_age_seconds}, '>=', 0, 'json: credential age');
cmp_ok($js->{due_in_seconds}, '>', 29 * 86400, 'json: due in about 30 days');
is($js->{lock_holder}, undef, 'json: no lock holder');
is($js->{sinks}[0]{state}, 'ok', 'json: sink state ok');
ok(!$js->{sinks}[0]{stale}, 'json: sink not stale');
is($js->{sinks}[0]{compared_by}, 'fingerprint', 'json: compared by fingerprint');
is($js->{nodes}[0]{node}, 'primary', 'json: the primary node');
is($js->{nodes}[0]{sessions}{app_user_a}, 0, 'json: sessions of the active role');

my ($pr, $samples) = status_prom(undef);
is($pr->{exit}, 0, 'prometheus: exit 0');
is(prom_value($samples, 'pgrotate_up', target => 'appdb'), 1, 'pgrotate_up 1');
is(prom_value($samples, 'pgrotate_status', target => 'appdb'), 0, 'pgrotate_status 0');
is(prom_value($samples, 'pgrotate_generation', target => 'appdb'), 1, 'pgrotate_generation');
is(prom_value($samples, 'pgrotate_phase', target => 'appdb', phase => 'idle'), 1, 'pgrotate_phase idle 1');
is(prom_value($samples, 'pgrotate_phase', target => 'appdb', phase => 'draining'), 0, 'pgrotate_phase draining 0');
is(prom_value($samples, 'pgrotate_sink_stale', target => 'appdb', sink => $t->{sink}), 0, 'pgrotate_sink_stale 0');
cmp_ok(abs(prom_value($samples, 'pgrotate_last_rotation_timestamp_seconds', target => 'appdb') - time), '<', 600,
	'last rotation timestamp is now');
ok(defined prom_value($samples, 'pgrotate_credential_age_seconds', target => 'appdb'), 'credential age exported');

# 2. Sessions per role, and a sink path that needs escaping in a label.
{
	my $s = $node->background_session(user => $ua, password => $pa, dbname => 'appdb', application_name => 'st-app');
	my $odd = "$dir/we\"ird\\sink.env";
	open my $fh, '>', $odd or die;
	print $fh slurp_file($t->{sink});
	close $fh;
	my $conf = conf_with('odd', extra_sinks => sprintf('{ type = "file"; path = %s; }',
			PgRotateTest::cfg_quote($odd)));
	my ($res, $d) = status_json($conf);
	is($res->{exit}, 0, 'a second sink with the same credential: OK');
	is($d->{targets}[0]{nodes}[0]{sessions}{app_user_a}, 1, 'json: one session of the active role on the primary');
	($res, my $smp) = status_prom($conf);
	is(prom_value($smp, 'pgrotate_sessions', target => 'appdb', role => 'app_user_a', node => 'primary'), 1,
		'pgrotate_sessions counts it');
	is(prom_value($smp, 'pgrotate_sessions', target => 'appdb', role => 'app_user_b', node => 'primary'), 0,
		'none for the standby');
	is(prom_value($smp, 'pgrotate_sink_stale', target => 'appdb', sink => $odd), 0,
		'a label value with a quote and a backslash round-trips');
	$res = status($conf);
	like($res->{stdout}, qr/sessions: +primary: app_user_a 1, app_user_b 0, app 0/, 'text: the session is counted');
	$s->quit;
}

# 3. WARNING: due within warn_before (3d): as if rotated 28 days ago.
sub set_rotated_at
{
	my ($ago) = @_;
	$node->safe_psql("UPDATE pgrotate.state SET rotated_at = now() - interval '$ago'", dbname => 'appdb');
}
{
	set_rotated_at('28 days');
	my $res = status(undef);
	is($res->{exit}, 1, 'due within warn_before: WARNING, exit 1');
	like($res->{stdout}, qr/^appdb: WARNING$/m, 'text says WARNING');
	like($res->{stdout}, qr/WARNING: +rotation due in (?:1d23h\S*|2d) \(warn_before 3d\)/, 'and why');
	set_rotated_at('0 seconds');
	is(status(undef)->{exit}, 0, 'rotated now: OK again');
}

# 4. WARNING: draining, with the lock held by a running cycle.
{
	my $s = $node->background_session(user => $ua, password => $pa, dbname => 'appdb', application_name => 'st-held');
	my $bg = start_pgrotate(args => [ 'cycle', 'appdb' ], config => $t->{conf}, env => $t->{env}, timeout => 90);
	poll_until(sub {
			$node->safe_psql("SELECT phase FROM pgrotate.state", dbname => 'appdb') eq 'draining'
		}, what => 'the cycle is draining');
	my $pid = $bg->pid;
	my $res = status(undef);
	is($res->{exit}, 1, 'draining: WARNING, exit 1') or diag($res->{stdout});
	like($res->{stdout}, qr/^  lock: +held by host \S+, pgrotate pid $pid, since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(database role pgrotate_admin, client local socket, backend pid \d+ started \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)$/m, 'the lock holder is named');
	like($res->{stdout}, qr/draining for .*; a run holds the target's lock and is at it: wait for it to end/,
		'while a run holds the lock, status does not advise another cycle');
	unlike($res->{stdout}, qr/run "pgrotate cycle appdb"/, '(no "run pgrotate cycle" advice)');
	like($res->{stdout}, qr/^  phase: +draining for /m, 'phase draining');
	like($res->{stdout}, qr/WARNING: +draining for \S+: old role "app_user_a" stays valid/, 'the warning names the old role');
	like($res->{stdout}, qr/sessions: +primary: app_user_a 1, app_user_b 0/, 'the straggler is counted');
	my ($jres, $d) = status_json(undef);
	like($d->{targets}[0]{lock_holder}, qr/pgrotate pid $pid/, 'json: lock holder');
	is($d->{targets}[0]{active_role}, 'app_user_b', 'json: the new role is active');
	is($d->{targets}[0]{status}, 'WARNING', 'json: WARNING');
	my ($pres, $smp) = status_prom(undef);
	is(prom_value($smp, 'pgrotate_phase', target => 'appdb', phase => 'draining'), 1, 'pgrotate_phase draining 1');
	is(prom_value($smp, 'pgrotate_locked', target => 'appdb'), 1, 'pgrotate_locked 1');
	is(prom_value($smp, 'pgrotate_status', target => 'appdb'), 1, 'pgrotate_status 1');
	$s->quit;
	my $fin = $bg->finish;
	is($fin->{exit}, 0, 'the cycle finishes');
	$res = status(undef);
	is($res->{exit}, 0, 'after the cycle: OK again');
}
my ($ub, $pb) = read_env_sink($t->{sink});
push @secrets, $pb;
is($ub, 'app_user_b', 'B is active');

# 5. CRITICAL: a stale sink, then a missing one.
{
	my $orig = slurp_file($t->{sink});
	my $fake = random_password(32);
	PgRotateTest::_write_file($t->{sink}, "PGUSER=app_user_b\nPGPASSWORD=$fake\n", 0600);
	my ($res, $d) = status_json(undef);
	is($res->{exit}, 2, 'a sink with another password: CRITICAL, exit 2');
	is($d->{targets}[0]{sinks}[0]{state}, 'stale', 'json: sink stale');
	ok($d->{targets}[0]{sinks}[0]{stale}, 'json: stale true');
	unlike($res->{stdout}, qr/\Q$fake\E/, 'the value is not printed');
	my ($pres, $smp) = status_prom(undef);
	is(prom_value($smp, 'pgrotate_sink_stale', target => 'appdb', sink => $t->{sink}), 1, 'pgrotate_sink_stale 1');
	is(prom_value($smp, 'pgrotate_status', target => 'appdb'), 2, 'pgrotate_status 2');
	PgRotateTest::_write_file($t->{sink}, "PGUSER=app_user_a\nPGPASSWORD=$pa\n", 0600);
	$res = status(undef);
	is($res->{exit}, 2, 'a sink with the old role: CRITICAL');
	like($res->{stdout}, qr/holds role "app_user_a", not the active role "app_user_b"/, 'and why');
	unlink $t->{sink};
	$res = status(undef);
	is($res->{exit}, 2, 'a missing sink: CRITICAL');
	like($res->{stdout}, qr/sink: +file \S+appdb\.env: missing/, 'text: missing');
	PgRotateTest::_write_file($t->{sink}, $orig, 0600);
	is(status(undef)->{exit}, 0, 'restored: OK');
}

# 6. CRITICAL: overdue, as if rotated 31 days ago.
{
	set_rotated_at('31 days');
	my ($res, $d) = status_json(undef);
	is($res->{exit}, 2, 'overdue: CRITICAL, exit 2');
	like($d->{targets}[0]{problems}[0]{message}, qr/^overdue by 1d\S*: rotated 31d\S* ago, rotation_interval is 30d$/,
		'and why');
	cmp_ok($d->{targets}[0]{due_in_seconds}, '<', 0, 'json: due_in_seconds negative');
	($res, my $smp) = status_prom(undef);
	cmp_ok(prom_value($smp, 'pgrotate_credential_age_seconds', target => 'appdb'), '>=', 31 * 86400,
		'pgrotate_credential_age_seconds');
	set_rotated_at('0 seconds');
}

# 7. CRITICAL: the active password expires before the next due rotation.
{
	$node->safe_psql("ALTER ROLE app_user_b VALID UNTIL '2001-01-01 00:00:00+00'");
	my $res = status(undef);
	is($res->{exit}, 2, 'expired password: CRITICAL');
	like($res->{stdout}, qr/password of the active role "app_user_b" expired at 2001-01-01T00:00:00Z/, 'expired, named');
	$node->safe_psql('DO $$ BEGIN EXECUTE format(\'ALTER ROLE app_user_b VALID UNTIL %L\', now() + interval \'1 day\'); END $$');
	($res, my $d) = status_json(undef);
	is($res->{exit}, 2, 'expiring before the next rotation: CRITICAL');
	like($d->{targets}[0]{problems}[0]{message}, qr/expires at \S+, before the next due rotation/, 'and why');
	ok($d->{targets}[0]{password_valid_until}, 'json: password_valid_until');
	$node->safe_psql("ALTER ROLE app_user_b VALID UNTIL 'infinity'");
	is(status(undef)->{exit}, 0, 'VALID UNTIL infinity: OK');
	$node->safe_psql('ALTER ROLE app_user_b NOLOGIN');
	$res = status(undef);
	is($res->{exit}, 2, 'the active role NOLOGIN: CRITICAL');
	like($res->{stdout}, qr/CRITICAL: +the active role "app_user_b" cannot log in/, 'and why');
	$node->safe_psql('ALTER ROLE app_user_b LOGIN');
}

# 8. CRITICAL: a failed publish (last_error), then fixed by a cycle.
{
	my $conf = conf_with('badsink', sink_path => "$dir/nodir/app.env");
	my $res = run_pgrotate(args => [ 'cycle', 'appdb' ], config => $conf, env => $t->{env});
	is($res->{exit}, 1, 'a publish to a missing folder fails');
	$res = status(undef);
	is($res->{exit}, 2, 'failed cycle: CRITICAL');
	like($res->{stdout}, qr/CRITICAL: +the last run failed at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ in step publish: publishing to/, 'the failure is shown');
	like($res->{stdout}, qr/WARNING: +cycle in progress: phase verified/, 'and the cycle in progress');
	$res = pgr($t, 'cycle', 'appdb');
	is($res->{exit}, 0, 'a cycle with the good sink finishes it');
	is(status(undef)->{exit}, 0, 'OK again');
	push @secrets, (read_env_sink($t->{sink}))[1];
}

# 9. CRITICAL: a cycle stuck in phase provisioned past drain_timeout.
SKIP: {
	my $res = run_pgrotate(args => [ 'cycle', 'appdb' ], config => $t->{conf},
		env => { %{ $t->{env} }, PGROTATE_FAULT => 'after-provision' });
	skip 'not built with --enable-fault-injection', 3 unless $res->{signal} == 9;
	my $conf = conf_with('stuck', defaults => { drain_timeout => '1s' });
	my $st;
	poll_until(sub { $st = status($conf); $st->{exit} == 2 }, what => 'the cycle to be stuck');
	is($st->{exit}, 2, 'stuck in provisioned: CRITICAL');
	like($st->{stdout}, qr/CRITICAL: +cycle stuck in phase provisioned for \S+ \(longer than drain_timeout 1s\)/,
		'and why');
	$res = pgr($t, 'cycle', 'appdb');
	is($res->{exit}, 0, 'the cycle resumes');
	push @secrets, (read_env_sink($t->{sink}))[1];
}

# 9b. A pgbouncer auth_file sink holds a verifier: compared by role only.
{
	my $conf = conf_with('bouncer', extra_sinks => sprintf('{ type = "file"; path = %s; format = "pgbouncer"; }',
			PgRotateTest::cfg_quote("$dir/userlist.txt")));
	my $res = run_pgrotate(args => [ 'cycle', 'appdb' ], config => $conf, env => $t->{env});
	is($res->{exit}, 0, 'a cycle with a pgbouncer sink') or diag($res->{stderr});
	push @secrets, (read_env_sink($t->{sink}))[1];
	(my $sres, my $d) = status_json($conf);
	is($sres->{exit}, 0, 'status OK');
	my $b = $d->{targets}[0]{sinks}[1];
	is($b->{format}, 'pgbouncer', 'json: the pgbouncer sink');
	is($b->{compared_by}, 'role', 'json: compared by role only');
	is($b->{state}, 'ok', 'json: it holds the active role');
	like($b->{detail}, qr/SCRAM verifier/, 'json: and says why');
}

# 10. UNKNOWN, and the worst of several targets.
$node->safe_psql('CREATE DATABASE otherdb');
my $multi = "$dir/multi.conf";
write_config($multi, target_config(node => $node, sink_path => $t->{sink},
		extra_targets => target_block(node => $node, target => 'ghost', dbname => 'nosuchdb',
			sink_path => "$dir/ghost.env", roles => [ 'ghost_a', 'ghost_b' ], group_role => 'ghost')
		  . target_block(node => $node, target => 'fresh', dbname => 'otherdb',
			sink_path => "$dir/fresh.env", roles => [ 'fresh_a', 'fresh_b' ], group_role => 'fresh')));
{
	my $res = status($multi, 'ghost');
	is($res->{exit}, 3, 'unreachable database: UNKNOWN, exit 3');
	like($res->{stdout}, qr/^ghost: UNKNOWN\n  UNKNOWN: +cannot connect to the control database: .*nosuchdb/m,
		'the connection error is shown');
	$res = status($multi, 'fresh');
	is($res->{exit}, 3, 'not initialised: UNKNOWN');
	like($res->{stdout}, qr/not initialised \(no pgrotate schema in its database\): run "pgrotate init fresh"/,
		'with the fix');
	my ($jres, $d) = status_json($multi);
	is($jres->{exit}, 3, 'OK + UNKNOWN + UNKNOWN: exit 3');
	is($d->{status}, 'UNKNOWN', 'json: overall UNKNOWN');
	is_deeply([ map { "$_->{target}=$_->{status}" } @{ $d->{targets} } ],
		[ 'appdb=OK', 'ghost=UNKNOWN', 'fresh=UNKNOWN' ], 'json: each target, in file order');
	ok(!$d->{targets}[1]{up}, 'json: up false');
	my ($pres, $smp) = status_prom($multi);
	is(prom_value($smp, 'pgrotate_up', target => 'ghost'), 0, 'pgrotate_up 0 for the unreachable target');
	is(prom_value($smp, 'pgrotate_status', target => 'ghost'), 3, 'pgrotate_status 3');
	is(prom_value($smp, 'pgrotate_generation', target => 'ghost'), undef, 'no state metrics for it');
	my $orig = slurp_file($t->{sink});
	unlink $t->{sink};
	$res = status($multi, 'appdb', 'ghost');
	is($res->{exit}, 2, 'CRITICAL + UNKNOWN: the worst is CRITICAL, exit 2');
	PgRotateTest::_write_file($t->{sink}, $orig, 0600);
	$res = status($multi, 'appdb', 'ghost');
	is($res->{exit}, 3, 'OK + UNKNOWN: exit 3');
}

# 11. Usage errors are UNKNOWN for a monitoring check.
is(status(undef, '--format=xml')->{exit}, 3, 'bad --format: exit 3');
is(status(undef, 'nosuchtarget')->{exit}, 3, 'unknown target: exit 3');

# 12. Replicas: sessions per node; an unreachable replica is CRITICAL.
{
	my $replica = $node->backup_replica('replica');
	$replica->start;
	$node->wait_for_catchup($replica);
	$replica->write_pgpass($t->{pgpass}, [ [ 'pgrotate_admin', $t->{admin_password} ] ], append => 1);
	my ($u, $p) = read_env_sink($t->{sink});
	my $s = $replica->background_session(user => $u, password => $p, dbname => 'appdb', application_name => 'ro-app');
	my $conf = conf_with('replica', replicas => [$replica]);
	my ($res, $d) = status_json($conf);
	is($res->{exit}, 0, 'with a replica: OK') or diag($res->{stdout} . $res->{stderr});
	my $rn = $replica->host . ':' . $replica->port;
	is($d->{targets}[0]{nodes}[1]{node}, $rn, 'json: the replica is named host:port');
	is($d->{targets}[0]{nodes}[1]{sessions}{$u}, 1, 'json: its session of the active role');
	is($d->{targets}[0]{nodes}[0]{sessions}{$u}, 0, 'json: none on the primary');
	($res, my $smp) = status_prom($conf);
	is(prom_value($smp, 'pgrotate_sessions', target => 'appdb', role => $u, node => $rn), 1,
		'pgrotate_sessions on the replica');
	is(prom_value($smp, 'pgrotate_node_up', target => 'appdb', node => $rn), 1, 'pgrotate_node_up 1');
	$s->quit;
	my $bad = conf_with('badreplica', replicas => [ 'host=/nonexistent port=1 dbname=appdb user=pgrotate_admin' ]);
	$res = status($bad);
	is($res->{exit}, 2, 'an unreachable replica: CRITICAL');
	like($res->{stdout}, qr/sessions: +primary: .*\n +\/nonexistent:1: unreachable/, 'text: the replica is unreachable');
	like($res->{stdout}, qr/CRITICAL: +replica "\/nonexistent:1" unreachable/, 'and the problem names it');
	like($res->{stdout}, qr/CRITICAL: +replica "\/nonexistent:1" unreachable.*No such file or directory\n {19}Is the server running locally/,
		'the second line of the server error is indented under its item');
	unlike($res->{stdout}, qr/\n\tIs the server/, 'no raw tab-indented line breaks the layout');
}

assert_no_secret_in(\@secrets, { 'status output' => $outputs, 'server log' => $node->log_content });

done_testing();
