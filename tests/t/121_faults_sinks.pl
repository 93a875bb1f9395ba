# Fault injection, part 2: the sinks. The sink folder removed or made
# read-only, a symlink planted at the sink path, a full disk (RLIMIT_FSIZE),
# a command sink that hangs past its timeout (and one that ignores
# SIGTERM). Each publish fails with a clear error, the content the sinks
# held before survives, the old role stays valid.
#
# Each case ends with the two assertions of the fault suite: a credential
# that the sinks hold logs in, and a plain "pgrotate cycle" afterwards
# completes and leaves exactly one role able to log in.
use strict;
use warnings;
use Test::More;
use File::Path qw(remove_tree);
use PgRotateTest;
use PgRotateSetup;

my $dir = test_dir();
mkdir "$dir/$_" or die "mkdir $_: $!" for qw(sinks json);
my $env_path = "$dir/sinks/app.env";
my $json_path = "$dir/json/app.json";
my $json_sink = sprintf('{ type = "file"; path = "%s"; format = "json"; }', $json_path);
my $t = setup_target(sink_path => $env_path,
	config_opts => { extra_sinks => $json_sink, defaults => { drain_timeout => '60s' } });
my $node = $t->{node};

is(pgr($t, 'init', 'appdb')->{exit}, 0, 'init') or BAIL_OUT('init failed');

sub phase
{
	return $node->safe_psql("SELECT phase FROM pgrotate.state WHERE target = 'appdb'", dbname => 'appdb');
}

sub logins
{
	return $node->safe_psql(
		"SELECT count(*) FROM pg_roles WHERE rolname IN ('app_user_a', 'app_user_b') AND rolcanlogin");
}

sub json_cred
{
	my $json = slurp_file($json_path);
	my ($u) = $json =~ /"role":"([^"]+)"/;
	my ($p) = $json =~ /"password":"([^"]+)"/;
	return ($u, $p);
}

# Assertion 1: what every sink that exists holds logs in.
sub sinks_log_in
{
	my ($name) = @_;
	if (-f $env_path && !-l $env_path)
	{
		my ($u, $p) = read_env_sink($env_path);
		ok(login_works($node, $u, $p), "$name: the env sink's credential ($u) logs in");
	}
	my ($ju, $jp) = json_cred();
	ok(login_works($node, $ju, $jp), "$name: the json sink's credential ($ju) logs in");
}

# Assertion 2: a plain cycle completes, exactly one role can log in.
sub finish_plain
{
	my ($name) = @_;
	my $r = pgr($t, 'cycle', 'appdb');
	is($r->{exit}, 0, "$name: a plain cycle afterwards completes") or diag($r->{stderr});
	is(phase(), 'idle', "$name: phase idle");
	is(logins(), '1', "$name: exactly one role can log in");
	sinks_log_in("$name, after");
	return $r;
}

# Files other than the sink in a sink folder (a temp file left behind).
sub litter
{
	my ($folder, $keep) = @_;
	opendir my $d, $folder or return ('(folder missing)');
	my @f = grep { $_ ne '.' && $_ ne '..' && $_ ne $keep } readdir $d;
	closedir $d;
	return @f;
}

# The checks after a publish that must have failed on a sink.
sub publish_failed
{
	my ($name, $r, $active, $apw, $re) = @_;
	is($r->{exit}, 1, "$name: exits 1") or diag($r->{stderr});
	like($r->{stderr}, $re, "$name: a clear error naming the problem");
	like($r->{stderr}, qr/old role "\Q$active\E" stays active and valid/, "$name: the old role stays valid");
	is(phase(), 'verified', "$name: the state waits in verified for a re-run");
	is(role_row($node, $active), 't|t', "$name: the active role is untouched");
	ok(login_works($node, $active, $apw), "$name: the active credential logs in");
}

# A wrapper that runs the pgrotate binary with something changed.
sub wrapper
{
	my ($name, $body, $prefix) = @_;
	my $path = "$dir/$name";
	$prefix //= '';
	open my $fh, '>', $path or die "cannot write $path: $!";
	print $fh "#!/bin/sh\n$body\nexec $prefix '$ENV{PGROTATE_BIN}' \"\$@\"\n";
	close $fh or die;
	chmod 0755, $path or die;
	return $path;
}

# 1. The sink's folder is removed.
{
	my $name = 'sink folder removed';
	my ($active, $apw) = read_env_sink($env_path);
	my $json_before = slurp_file($json_path);
	remove_tree("$dir/sinks");
	my $r = pgr($t, 'cycle', 'appdb');
	publish_failed($name, $r, $active, $apw, qr/cannot open folder "\Q$dir\E\/sinks" of sink file/);
	is(slurp_file($json_path), $json_before, "$name: the other sink keeps its content");
	sinks_log_in($name);
	mkdir "$dir/sinks" or die;
	my $pending = slurp_file("$dir/state/appdb.pending");
	my ($ppw) = $pending =~ /^password (\S+)$/m;
	finish_plain($name);
	is((read_env_sink($env_path))[1], $ppw, "$name: the re-run published the pending password");
}

# 2. The sink's folder is read-only. Root ignores mode bits, so then
# pgrotate runs without CAP_DAC_OVERRIDE (setpriv).
SKIP:
{
	my $name = 'sink folder read-only';
	my $bin;
	if (PgRotateTest::is_root())
	{
		skip 'needs setpriv (util-linux) to drop CAP_DAC_OVERRIDE as root', 15
		  unless -x '/usr/bin/setpriv';
		$bin = wrapper('no-dac.sh', '',
			'/usr/bin/setpriv --bounding-set=-dac_override,-dac_read_search --');
	}
	my $before = slurp_file($env_path);
	my ($active, $apw) = read_env_sink($env_path);
	chmod 0555, "$dir/sinks" or die;
	my $r = pgr($t, [ 'cycle', 'appdb' ], $bin ? (bin => $bin) : ());
	chmod 0755, "$dir/sinks" or die;
	publish_failed($name, $r, $active, $apw, qr/cannot create a temp file next to sink file .*Permission denied/);
	is(slurp_file($env_path), $before, "$name: the sink keeps its content");
	is_deeply([ litter("$dir/sinks", 'app.env') ], [], "$name: nothing left in the folder");
	sinks_log_in($name);
	finish_plain($name);
}

# 3. A symlink is planted at the sink path: refused, its target untouched.
{
	my $name = 'symlink at the sink path';
	my ($active, $apw) = read_env_sink($env_path);
	my $before = slurp_file($env_path);
	my $decoy = "$dir/decoy";
	open my $fh, '>', $decoy or die;
	print $fh "not a credential\n";
	close $fh;
	unlink $env_path or die;
	symlink $decoy, $env_path or die;
	my $r = pgr($t, 'cycle', 'appdb');
	publish_failed($name, $r, $active, $apw, qr/sink file "\Q$env_path\E" is a symbolic link/);
	is(slurp_file($decoy), "not a credential\n", "$name: the link's target is untouched");
	ok(-l $env_path, "$name: the link is still there");
	# the operator removes the link and restores the file
	unlink $env_path or die;
	open $fh, '>', $env_path or die;
	print $fh $before;
	close $fh;
	sinks_log_in($name);
	finish_plain($name);
}

# 4. A full disk (RLIMIT_FSIZE 0: every write fails with EFBIG).
{
	my $name = 'disk full';
	my $full = wrapper('fsize0.sh', 'ulimit -f 0 || exit 99');
	my ($active, $apw) = read_env_sink($env_path);
	my $before = slurp_file($env_path);
	my $json_before = slurp_file($json_path);

	# a: at provision, the pending file cannot be written: nothing changes
	my $r = pgr($t, [ 'cycle', 'appdb' ], bin => $full);
	is($r->{exit}, 1, "$name, at provision: exits 1") or diag($r->{stderr});
	is($r->{signal}, 0, "$name, at provision: not killed by SIGXFSZ");
	like($r->{stderr}, qr/cannot save the pending credential.*File too large/,
		"$name, at provision: a clear error");
	is(phase(), 'idle', "$name, at provision: phase idle, nothing changed on the server");
	is_deeply([ litter("$dir/state", '') ], [], "$name, at provision: no file left in state_dir");

	# b: at publish (a run before failed to publish: its folder was missing)
	rename "$dir/sinks", "$dir/sinks.away" or die;
	$r = pgr($t, 'cycle', 'appdb');
	rename "$dir/sinks.away", "$dir/sinks" or die;
	is(phase(), 'verified', "$name: a run before stopped in verified") or diag($r->{stderr});
	$r = pgr($t, [ 'cycle', 'appdb' ], bin => $full);
	is($r->{signal}, 0, "$name, at publish: not killed by SIGXFSZ");
	publish_failed("$name, at publish", $r, $active, $apw,
		qr/cannot write sink file "\Q$env_path\E": File too large/);
	is(slurp_file($env_path), $before, "$name, at publish: the sink keeps its content");
	is(slurp_file($json_path), $json_before, "$name, at publish: the other sink too");
	is_deeply([ litter("$dir/sinks", 'app.env') ], [], "$name, at publish: no temp file left");
	sinks_log_in($name);
	finish_plain($name);
}

# 5. A command sink that hangs past its timeout is killed with its process
# group; one that ignores SIGTERM gets SIGKILL. The file sinks after it
# keep their content.
for my $case ([ 'hanging command sink', 'echo $$ > "$1"; exec sleep 600' ],
	[ 'command sink ignoring SIGTERM',
		'trap "" TERM; echo $$ > "$1"; i=0; while [ $i -lt 600 ]; do sleep 1; i=$((i+1)); done' ])
{
	my ($name, $sh) = @$case;
	my $pidfile = "$dir/cmd.pid";
	unlink $pidfile;
	my $conf = "$dir/hang.conf";
	(my $shq = $sh) =~ s/(["\\])/\\$1/g;
	write_config($conf, target_config(node => $node, sink_path => $env_path,
			sinks => "{ type = \"command\"; argv = [ \"/bin/sh\", \"-c\", \"$shq\", \"sh\", \"$pidfile\" ]; timeout = \"1s\"; },\n"
			  . sprintf('      { type = "file"; path = "%s"; format = "env"; }', $env_path),
			extra_sinks => $json_sink, defaults => { drain_timeout => '60s' }));
	my ($active, $apw) = read_env_sink($env_path);
	my $before = slurp_file($env_path);
	my $json_before = slurp_file($json_path);
	my $r = run_pgrotate(args => [ 'cycle', 'appdb' ], config => $conf, env => $t->{env}, timeout => 60);
	publish_failed($name, $r, $active, $apw, qr/command sink "\/bin\/sh" did not finish within 1s and was killed/);
	cmp_ok($r->{elapsed}, '<', 20, "$name: pgrotate did not hang");
	my $pid = -e $pidfile ? slurp_file($pidfile) : '';
	chomp $pid;
	like($pid, qr/^\d+$/, "$name: the command ran");
	ok($pid && poll_until(sub { !PgRotateTest::Cluster::_pid_alive($pid) }, timeout => 10,
			what => "command sink process $pid to be gone"), "$name: the command was killed");
	is(slurp_file($env_path), $before, "$name: the file sink keeps its content");
	is(slurp_file($json_path), $json_before, "$name: the json sink keeps its content");
	sinks_log_in($name);
	finish_plain($name);
}

done_testing();
