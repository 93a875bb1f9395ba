# contrib/: every shell script parses (sh -n / bash -n, shellcheck when
# installed); the command-sink hooks never put the password on a command
# line or in an environment (static heuristics, then a run against stub
# vault/kubectl/docker/systemctl that record what they get); the bash
# completion completes; the textfile wrapper writes atomically; the alert
# rules use documented metrics; the systemd units verify (when
# systemd-analyze is installed) and carry the hardening. No server needed.
use strict;
use warnings;
use Test::More;
use File::Find;
use File::Temp qw(tempdir);
use IPC::Run qw(run timeout);
use MIME::Base64 qw(encode_base64);

my $src = $ENV{PGROTATE_SRCDIR} or BAIL_OUT('PGROTATE_SRCDIR is not set');
my $contrib = "$src/contrib";
my $tmp = tempdir('131_contrib_XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{PGROTATE_KEEP_TMP});
my @hooks = qw(vault-kv kubernetes-secret docker-swarm-secret systemctl-reload);

sub slurp
{
	my ($f) = @_;
	open my $fh, '<', $f or die "cannot open $f: $!";
	local $/;
	my $c = <$fh>;
	return $c // '';
}

sub spew
{
	my ($f, $text, $mode) = @_;
	open my $fh, '>', $f or die "cannot write $f: $!";
	print $fh $text;
	close $fh;
	chmod($mode // 0644, $f);
}

sub cmd
{
	my ($c, %o) = @_;
	my ($in, $out, $err) = ($o{stdin} // '', '', '');
	local %ENV = (%ENV, %{ $o{env} || {} });
	local $SIG{PIPE} = 'IGNORE';    # a command may exit before reading stdin
	run $c, '<', \$in, '>', \$out, '2>', \$err, timeout(60);
	return ($? >> 8, $out, $err);
}

sub which
{
	my ($prog, @skip) = @_;
	for my $d (split /:/, $ENV{PATH} // '')
	{
		next if grep { $_ eq $d } @skip;
		return "$d/$prog" if -x "$d/$prog" && !-d "$d/$prog";
	}
	return undef;
}

# ---- every shell script parses ----
my (@sh, @bash);
find({ no_chdir => 1, wanted => sub {
			return unless -f $_;
			my $first = (split /\n/, slurp($_))[0] // '';
			push @sh, $_ if $first =~ m{^#!\s*/bin/sh\b};
			push @bash, $_ if $first =~ m{^#!\s*(?:/bin/bash|/usr/bin/env bash)\b};
		} }, $contrib);
ok((grep { m{/hooks/vault-kv$} } @sh) && (grep { m{/pgrotate-textfile\.sh$} } @sh),
	'found the POSIX sh scripts: ' . scalar(@sh));
my $dash = which('dash');
for my $f (sort @sh)
{
	my ($rc, undef, $err) = cmd([ 'sh', '-n', $f ]);
	is($rc, 0, "sh -n $f") or diag($err);
	if ($dash)
	{
		($rc, undef, $err) = cmd([ $dash, '-n', $f ]);
		is($rc, 0, "dash -n $f") or diag($err);
	}
}
my $completion = "$contrib/bash-completion/pgrotate";
for my $f (sort(@bash), $completion)
{
	my ($rc, undef, $err) = cmd([ 'bash', '-n', $f ]);
	is($rc, 0, "bash -n $f") or diag($err);
}
SKIP:
{
	my $sc = which('shellcheck');
	my @mine = grep { !m{/contrib/demo/} } @sh;
	skip 'shellcheck is not installed', scalar(@mine) + 1 unless $sc;
	for my $f (sort @mine)
	{
		my ($rc, $out) = cmd([ $sc, '-s', 'sh', '-S', 'warning', $f ]);
		is($rc, 0, "shellcheck -s sh $f") or diag($out);
	}
	my ($rc, $out) = cmd([ $sc, '-s', 'bash', '-S', 'warning', $completion ]);
	is($rc, 0, "shellcheck -s bash $completion") or diag($out);
}

# ---- hooks: static heuristics ----
for my $h (@hooks)
{
	my $f = "$contrib/hooks/$h";
	ok(-x $f, "hook $h is executable");
	my $text = slurp($f);
	like($text, qr/^# .*type = "command";/m, "hook $h shows its pgrotate.conf sink in the header");
	like($text, qr/^#\s+argv = \[ "[^"]*\Q$h\E"/m, "hook $h shows its argv in the header");
	my @bad;
	my $n = 0;
	for my $line (split /\n/, $text)
	{
		$n++;
		next if $line =~ /^\s*#/;
		# The document (the only holder of the password) may only be
		# written by the printf builtin: no exec, so never in an argv.
		(my $rest = $line) =~ s/\bprintf '%s' "\$doc"//g;
		push @bad, "$n: secret variable outside printf: $line"
		  if $rest =~ /\$\{?(?:doc|password|passwd|pw|secret|pass)\b/;
		push @bad, "$n: password as an argument: $line"
		  if $line =~ /password=(?![-\s]|\/dev\/stdin)/i && $line !~ /printf '[^']*PGPASSWORD='/;
		push @bad, "$n: --from-literal with a password: $line" if $line =~ /--from-literal=\w*pass/i;
		push @bad, "$n: exported secret: $line" if $line =~ /\bexport\b.*pass/i;
		push @bad, "$n: xtrace: $line" if $line =~ /\bset\s+-\w*x/;
	}
	is_deeply(\@bad, [], "hook $h never passes the password as an argument or in the environment");
}

# ---- hooks: a run against recording stubs ----
my $stubs = "$tmp/stubs";
my $log = "$tmp/log";
mkdir $stubs;
mkdir $log;
my $real_kubectl = which('kubectl');
my $recorder = <<'EOF';
#!/bin/sh
# records argv, environment and stdin of each call in $STUB_LOG (calls of
# one pipeline run at once: name the files by pid)
base="$STUB_LOG/$(basename "$0").$$"
printf '%s\n' "$@" >"$base.argv"
env >"$base.env"
EOF
spew("$stubs/vault", $recorder . "cat >\"\$base.stdin\"\n", 0755);
spew("$stubs/systemctl", $recorder . "cat >\"\$base.stdin\" </dev/null\n", 0755);
spew("$stubs/kubectl", $recorder . <<'EOF', 0755);
case " $* " in
*" create "*)
	if [ -n "${REAL_KUBECTL:-}" ]; then
		exec "$REAL_KUBECTL" "$@"
	fi
	pw=$(base64 | tr -d '\n')
	printf 'apiVersion: v1\ndata:\n  password: %s\nkind: Secret\nmetadata:\n  name: x\n' "$pw"
	;;
*) cat >"$base.stdin" ;;
esac
EOF
spew("$stubs/docker", $recorder . <<'EOF', 0755);
case "$1 $2" in
"secret inspect") exit 1 ;;
"secret create") cat >"$base.stdin" ;;
"service inspect") printf 'appdb_db_g6 \n' ;;
"secret ls") printf 'appdb_db_g4\nappdb_db_g5\nappdb_db_g6\nappdb_db_g7\n' ;;
esac
exit 0
EOF

my $pw = join '', map { ('A' .. 'Z', 'a' .. 'z', 0 .. 9)[ int rand 62 ] } 1 .. 32;
my $doc = qq({"target":"appdb","role":"app_user_b","password":"$pw","generation":7,)
  . qq("rotated_at":"2026-11-22T03:15:22Z"}\n);
my %henv = (PATH => "$stubs:$ENV{PATH}", STUB_LOG => $log, PGROTATE_TARGET => 'appdb',
	PGROTATE_ROLE => 'app_user_b', PGROTATE_GENERATION => '7',
	REAL_KUBECTL => $real_kubectl // '');

sub run_hook
{
	my ($hook, @args) = @_;
	system('rm', '-f', glob("$log/*"));
	my ($rc, $out, $err) = cmd([ "$contrib/hooks/$hook", @args ], stdin => $doc, env => \%henv);
	is($rc, 0, "hook $hook runs") or diag("stdout: $out\nstderr: $err");
	unlike("$out$err", qr/\Q$pw\E/, "hook $hook prints no password");
	my %calls;
	for my $f (sort glob("$log/*"))
	{
		my ($name, $n, $kind) = $f =~ m{/([^/.]+)\.(\d+)\.(\w+)$} or next;
		$calls{$name}[$n]{$kind} = slurp($f);
	}
	my @leaks = grep { /\.(?:argv|env)$/ && index(slurp($_), $pw) >= 0 } glob("$log/*");
	is_deeply(\@leaks, [], "hook $hook: no password in any argv or environment");
	return \%calls;
}

sub calls_of
{
	my ($calls, $name) = @_;
	return grep { defined } @{ $calls->{$name} || [] };
}

my $c = run_hook('vault-kv', 'secret/apps/appdb');
my ($v) = calls_of($c, 'vault');
like($v->{argv} // '', qr/\Akv\nput\nsecret\/apps\/appdb\npassword=-\nusername=app_user_b\ngeneration=7\n/,
	'vault-kv: vault kv put PATH password=- username=... generation=...');
is($v->{stdin}, $pw, 'vault-kv: the password alone on vault\'s stdin');

$c = run_hook('kubernetes-secret', 'shop', 'appdb-credentials');
my @k = calls_of($c, 'kubectl');
my ($apply) = grep { ($_->{argv} // '') =~ /^apply$/m } @k;
ok($apply, 'kubernetes-secret: kubectl apply ran');
like($apply->{argv} // '', qr/^--server-side$/m, 'kubernetes-secret: server-side apply (no last-applied annotation)');
like($apply->{argv} // '', qr/^--namespace=shop$/m, 'kubernetes-secret: in the namespace');
my $b64 = encode_base64($pw, '');
like($apply->{stdin} // '', qr/^  password: \Q$b64\E$/m, 'kubernetes-secret: the manifest on stdin carries the password');
SKIP:
{
	skip 'kubectl is not installed (a stub built the manifest)', 3 unless $real_kubectl;
	like($apply->{stdin}, qr/^  PGPASSWORD: \Q$b64\E$/m, 'kubernetes-secret: ... and PGPASSWORD');
	like($apply->{stdin}, qr/^  name: appdb-credentials$/m, 'kubernetes-secret: ... named');
	like($apply->{stdin}, qr/^    app\.kubernetes\.io\/managed-by: pgrotate$/m, 'kubernetes-secret: ... labelled');
}

$c = run_hook('docker-swarm-secret', 'appdb_db', 'shop_web');
my @d = calls_of($c, 'docker');
my ($create) = grep { ($_->{argv} // '') =~ /\Asecret\ncreate\n/ } @d;
is($create->{stdin} // '', "PGUSER=app_user_b\nPGPASSWORD=$pw\n", 'docker-swarm-secret: env content on stdin');
like($create->{argv} // '', qr/\nappdb_db_g7\n-\n\z/, 'docker-swarm-secret: docker secret create NAME_gN -');
my ($update) = grep { ($_->{argv} // '') =~ /\Aservice\nupdate\n/ } @d;
like($update->{argv} // '', qr/^--secret-rm\nappdb_db_g6\n--secret-add\nsource=appdb_db_g7,target=appdb_db\nshop_web\n\z/m,
	'docker-swarm-secret: the service moves from the old secret to the new one');
my @rm = map { (split /\n/, $_->{argv})[2] } grep { ($_->{argv} // '') =~ /\Asecret\nrm\n/ } @d;
is_deeply([ sort @rm ], [ 'appdb_db_g4', 'appdb_db_g5' ], 'docker-swarm-secret: prunes generations before the previous one');

$c = run_hook('systemctl-reload', 'app.service');
my ($s) = calls_of($c, 'systemctl');
is($s->{argv} // '', "--no-ask-password\nreload\napp.service\n", 'systemctl-reload: systemctl reload UNIT');

for my $h ([ 'vault-kv', 'secret/x' ], [ 'kubernetes-secret', 'ns', 'x' ], [ 'docker-swarm-secret', 'x' ])
{
	my ($hook, @args) = @$h;
	my ($rc, $out, $err) = cmd([ "$contrib/hooks/$hook", @args ], stdin => '{"role":"r"}', env => \%henv);
	ok($rc != 0 && $err =~ /no password in the JSON document/, "hook $hook fails without a password in the document")
	  or diag("exit $rc: $err");
}

# ---- bash completion ----
my $conf = "$tmp/pgrotate.conf";
spew($conf, <<'EOF');
state_dir = "/var/lib/pgrotate";
defaults = { min_overlap = "1m"; };
targets = {
  appdb = {
    roles = [ "app_user_a", "app_user_b" ];
    sinks = ( { type = "file"; path = "/etc/app/db.env"; } );
  };
  billing : {
    roles = [ "bill_a", "bill_b" ];
  };
};
EOF
my $driver = <<'EOF';
source "$1"; shift
COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=()
_pgrotate
printf '%s\n' "${COMPREPLY[*]}"
EOF
sub complete_words
{
	my (@words) = @_;
	my ($rc, $out, $err) = cmd([ 'bash', '-c', $driver, 'complete', $completion, 'pgrotate', @words ]);
	chomp $out;
	return $rc == 0 && $err eq '' ? $out : "error: $err";
}
is(complete_words(''), 'init cycle active status check revoke publish history', 'completion: commands');
is(complete_words('-c', $conf, 'cycle', ''), 'appdb billing', 'completion: target names from -c FILE');
is(complete_words('--config', '=', $conf, 'init', 'b'), 'billing', 'completion: --config=FILE, a prefix');
is(complete_words('-c', $conf, 'init', '--'), '--print-sql --adopt-group --help', 'completion: init options');
is(complete_words('-c', $conf, 'status', '--format', '=', ''), 'text json prometheus', 'completion: status formats');
is(complete_words('-c', $conf, 'revoke', 'appdb', 'app'), 'app_user_a app_user_b', 'completion: revoke ROLE');
{
	local $ENV{PGROTATE_CONFIG} = $conf;
	is(complete_words('check', 'a'), 'appdb', 'completion: targets from PGROTATE_CONFIG');
}

# ---- prometheus ----
my $fake = "$tmp/fake-pgrotate";
spew($fake, "#!/bin/sh\n[ -n \"\${FAKE_SILENT:-}\" ] || printf 'pgrotate_up{target=\"appdb\"} 1\\n'\n"
	  . "exit \${FAKE_RC:-0}\n", 0755);
my $tdir = "$tmp/textfile";
mkdir $tdir;
my ($rc, $out, $err) = cmd([ "$contrib/prometheus/pgrotate-textfile.sh", $tdir ],
	env => { PGROTATE => $fake, FAKE_RC => 2 });
is($rc, 0, 'textfile wrapper exits 0 with status CRITICAL') or diag($err);
my $prom = -e "$tdir/pgrotate.prom" ? slurp("$tdir/pgrotate.prom") : '';
like($prom, qr/^pgrotate_up\{target="appdb"\} 1$/m, 'the status metrics are written');
like($prom, qr/^pgrotate_textfile_status_exit_code 2$/m, 'with the exit code of status');
like($prom, qr/^pgrotate_textfile_success 1$/m, 'and success');
like($prom, qr/^pgrotate_textfile_timestamp_seconds \d+$/m, 'and a timestamp');
is((stat "$tdir/pgrotate.prom")[2] & 07777, 0644, 'the file is 0644 for node_exporter');
is_deeply([ grep { !/pgrotate\.prom$/ } glob("$tdir/* $tdir/.*[!.]*") ], [], 'no temporary file is left');
($rc) = cmd([ "$contrib/prometheus/pgrotate-textfile.sh", $tdir ], env => { PGROTATE => $fake, FAKE_RC => 9 });
$prom = slurp("$tdir/pgrotate.prom");
ok($rc == 0 && $prom !~ /pgrotate_up/ && $prom =~ /^pgrotate_textfile_status_exit_code 9$/m
	  && $prom =~ /^pgrotate_textfile_success 0$/m, 'a crashing status replaces the metrics by its failure');
($rc) = cmd([ "$contrib/prometheus/pgrotate-textfile.sh", $tdir ],
	env => { PGROTATE => $fake, FAKE_RC => 3, FAKE_SILENT => 1 });
$prom = slurp("$tdir/pgrotate.prom");
ok($rc == 0 && $prom =~ /^pgrotate_textfile_success 0$/m, 'a status without metrics (configuration error) is a failure');

my $alerts = slurp("$contrib/prometheus/alerts.yml");
for my $a (qw(PgrotateOverdue PgrotateStuck PgrotateSinkStale PgrotateUnreachable PgrotateLastRunFailed))
{
	like($alerts, qr/^\s+- alert: $a$/m, "alerts.yml has $a");
}
my $man = slurp("$src/doc/pgrotate.1");
my $wrapper = slurp("$contrib/prometheus/pgrotate-textfile.sh");
my %metrics = map { $_ => 1 } $alerts =~ /\b(pgrotate_[a-z_]+)\b/g;
for my $m (sort keys %metrics)
{
	ok($man =~ /^\.It Sy \Q$m\E$/m || $wrapper =~ /^\s*printf '\Q$m\E /m,
		"metric $m of alerts.yml is documented in pgrotate(1) or written by the wrapper");
}
SKIP:
{
	my ($prc) = cmd([ 'python3', '-c', 'import yaml' ]);
	skip 'python3 with PyYAML is not installed', 1 if $prc != 0 || !which('python3');
	my ($yrc, $yout, $yerr) = cmd([ 'python3', '-c',
			'import sys, yaml; d = yaml.safe_load(open(sys.argv[1]));'
			  . ' print(sum(len(g["rules"]) for g in d["groups"]))', "$contrib/prometheus/alerts.yml" ]);
	ok($yrc == 0 && $yout =~ /^[1-9]/, 'alerts.yml is valid YAML with rules') or diag($yerr);
}

# ---- cron ----
my @cron = grep { !/^\s*(?:#|$)/ && !/^\w+=/ } split /\n/, slurp("$contrib/cron/pgrotate");
ok(@cron >= 1, 'the cron file has jobs');
for my $line (@cron)
{
	my @f = split ' ', $line, 7;
	ok(@f == 7 && $f[5] =~ /^\w+$/, "cron line has 5 time fields, a user and a command: $line");
}
ok((grep { /pgrotate (?:-q )?cycle --all --due/ } @cron), 'cron runs cycle --all --due');

# ---- systemd ----
my $svc = slurp("$contrib/systemd/pgrotate-due.service");
my $timer = slurp("$contrib/systemd/pgrotate-due.timer");
like($svc, qr/^ExecStart=\S*pgrotate cycle --all --due$/m, 'the service runs cycle --all --due');
for my $k ('ProtectSystem=strict', 'ReadWritePaths=', 'PrivateTmp=yes', 'NoNewPrivileges=yes',
	'ProtectHome=yes', 'CapabilityBoundingSet=', 'MemoryDenyWriteExecute=yes',
	'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6', 'SystemCallFilter=@system-service')
{
	like($svc, qr/^\Q$k\E/m, "the service sets $k");
}
like($svc, qr/^#.*CAP_CHOWN/m, 'the service explains when CAP_CHOWN is needed');
# Only state_dir is writable as shipped: a sink folder that may not exist is
# commented out (a missing ReadWritePaths= folder stops the unit).
my @rw = $svc =~ /^ReadWritePaths=(.*)$/mg;
is_deeply(\@rw, ['/var/lib/pgrotate'], 'the only uncommented ReadWritePaths= names /var/lib/pgrotate');
like($svc, qr/^#ReadWritePaths=\S+/m, 'a sink folder example is there, commented out');
like($timer, qr/^RandomizedDelaySec=\S+$/m, 'the timer has a randomized delay');
SKIP:
{
	my $sa = which('systemd-analyze');
	skip 'systemd-analyze is not installed', 1 unless $sa;
	# Verify copies whose ExecStart is the built binary (verify checks that
	# it exists) with the man pages on MANPATH (for Documentation=).
	my $udir = "$tmp/units";
	mkdir $udir;
	my $bin = $ENV{PGROTATE_BIN} && -x $ENV{PGROTATE_BIN} ? $ENV{PGROTATE_BIN} : '/bin/true';
	(my $s2 = $svc) =~ s{^ExecStart=\S+}{ExecStart=$bin}m;
	spew("$udir/pgrotate-due.service", $s2);
	spew("$udir/pgrotate-due.timer", $timer);
	mkdir "$tmp/man";
	mkdir "$tmp/man/$_" for qw(man1 man5);
	spew("$tmp/man/man1/pgrotate.1", $man);
	spew("$tmp/man/man5/pgrotate.conf.5", slurp("$src/doc/pgrotate.conf.5"));
	my ($vrc, $vout, $verr) = cmd([ $sa, 'verify', "$udir/pgrotate-due.service", "$udir/pgrotate-due.timer" ],
		env => { MANPATH => "$tmp/man", SYSTEMD_LOG_LEVEL => 'warning' });
	ok($vrc == 0 && $verr !~ /pgrotate-due/, 'systemd-analyze verify accepts the units')
	  or diag("$vout$verr");
}

# The Debian package's unit: debian/pgrotate-due.service.sed applied to the
# contrib unit (as debian/rules does) must replace each comment block it
# names and leave the lines the package needs.
{
	my ($rc, $deb_svc, $err) = cmd([ 'sed', '-f', "$src/debian/pgrotate-due.service.sed",
			"$contrib/systemd/pgrotate-due.service" ]);
	is($rc, 0, 'the Debian sed script applies to the contrib unit') or diag($err);
	for my $line ('ExecStart=/usr/bin/pgrotate cycle --all --due', 'ReadWritePaths=/var/lib/pgrotate',
		'AmbientCapabilities=CAP_CHOWN', 'CapabilityBoundingSet=CAP_CHOWN',
		'# Installed by the Debian package pgrotate, neither enabled nor started.',
		'# The file system is read-only but for the state_dir. Add the folder of',
		'# CAP_CHOWN only, so that a file sink can give its file the "owner" and')
	{
		like($deb_svc, qr/^\Q$line\E$/m, "the package's unit has: $line");
	}
	unlike($deb_svc, qr{PLACEHOLDER|/usr/local|^ReadWritePaths=(?!/var/lib/pgrotate$)}m,
		"the package's unit names no /usr/local path and writes only its state folder");
	is(scalar(() = $deb_svc =~ /^(?:CapabilityBoundingSet|AmbientCapabilities)=/mg), 2,
		"the package's unit sets each capability line once");
}

# The installed contrib files call only what "make install" installs: the
# paths under the configured prefix named by the cron file and the unit.
{
	my $builddir = $ENV{PGROTATE_BIN} =~ s{/src/pgrotate$}{}r;
	my ($prefix) = slurp("$builddir/Makefile") =~ /^prefix = (\S+)$/m;
	my $dest = tempdir('install_XXXXXX', DIR => $tmp, CLEANUP => 1);
	my ($rc, $out, $err) = cmd([ 'make', '-s', '-C', $builddir, 'install', "DESTDIR=$dest" ]);
	is($rc, 0, 'make install into a DESTDIR') or diag("$out$err");
	my %refs;
	for my $f ("$contrib/cron/pgrotate", "$contrib/systemd/pgrotate-due.service")
	{
		my $text = slurp($f);
		$text =~ s/^\s*#.*$//mg;
		$refs{$1} = $f while $text =~ m{(\Q$prefix\E/[\w./-]+)}g;
	}
	ok(scalar(keys %refs) >= 2, 'the cron file and the unit name installed paths') or diag(join ' ', keys %refs);
	for my $p (sort keys %refs)
	{
		ok(-e "$dest$p", "installed: $p (named by $refs{$p})");
	}
}

done_testing();
