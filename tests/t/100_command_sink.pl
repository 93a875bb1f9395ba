# Command sinks in a real cycle: the json document on stdin, PGROTATE_*
# in the environment and the password in neither argv nor environment;
# output logged with secrets redacted; a failing command fails the publish
# (the old role stays active and valid); a command over its timeout is
# killed with its process group.
use strict;
use warnings;
use JSON::PP;
use Test::More;
use PgRotateTest;
use PgRotateSetup;

my $t = setup_target(config_opts => { defaults => { drain_timeout => '30s' } });
my $node = $t->{node};
my $dir = test_dir();
my $out = "$dir/hook";
mkdir $out or die;
my @secrets;
my $outputs = '';

# The hook: saves its stdin, /proc/self/environ and /proc/self/cmdline, and
# then behaves as its mode says.
my $hook = "$dir/hook.pl";
open my $fh, '>', $hook or die;
print $fh "#!$^X\n" . <<'EOF';
use strict;
use warnings;
my ($dir, $mode) = @ARGV;
my $in = do { local $/; <STDIN> } // '';
for my $f ([ 'stdin.json', $in ], map { [ $_, slurp("/proc/self/$_") ] } qw(environ cmdline))
{
	open my $o, '>', "$dir/$f->[0]" or die "$f->[0]: $!";
	print $o $f->[1];
	close $o;
}
$| = 1;
print "hook says hello\n";
print STDERR "hook warns on stderr\n";
if ($mode eq 'echo')
{
	my ($pw) = $in =~ /"password":"([^"]+)"/;
	print "leaking $pw\n";
}
if ($mode eq 'long')
{
	# 4042 bytes, then its input: the password crosses a 4096-byte cut;
	# then one line per offset that puts the cut inside the password.
	my ($pw) = $in =~ /"password":"([^"]+)"/;
	print 'x' x 4042, $in, "\n";
	print 'y' x (4096 - $_), $pw, "\n" for 1 .. length($pw) - 1;
}
if ($mode eq 'fail')
{
	print "failing on purpose\n";
	exit 3;
}
if ($mode eq 'slow')
{
	my $pid = fork // die;
	exec 'sleep', '60' if $pid == 0;
	open my $p, '>', "$dir/child.pid" or die;
	print $p $pid;
	close $p;
	sleep 60;
}
exit 0;

sub slurp
{
	open my $f, '<', $_[0] or die "$_[0]: $!";
	local $/;
	return <$f>;
}
EOF
close $fh;
chmod 0755, $hook;

# A config whose sinks are the hook (first) and the env file.
sub conf
{
	my ($mode, $timeout) = @_;
	my $path = "$dir/$mode.conf";
	write_config($path, target_config(node => $node, sink_path => $t->{sink},
			defaults => { drain_timeout => '30s' },
			sinks => sprintf('{ type = "command"; argv = [ %s, %s, %s ]; timeout = %s; },'
				  . ' { type = "file"; path = %s; format = "env"; }',
				map { PgRotateTest::cfg_quote($_) } $hook, $out, $mode, $timeout // '10s', $t->{sink})));
	return $path;
}

# pgrotate's own environment holds the admin's PGPASSWORD (as a systemd unit
# may set it), a PGOPTIONS and unrelated variables: none may reach the hook.
my %run_env = (%{ $t->{env} },
	PGPASSWORD => $t->{admin_password},
	PGOPTIONS => '-c work_mem=8MB',
	PGAPPNAME => 'not-for-the-hook',
	SECRET_X => 'hush-hush-value',
	GCONV_PATH => '/nonexistent',
	LANG => 'C',
	LC_MESSAGES => 'C',
	TZ => 'UTC',
	PGROTATE_EXTRA => 'passed-on');

sub cycle
{
	my ($conf) = @_;
	my $r = run_pgrotate(args => [ 'cycle', 'appdb' ], config => $conf, env => \%run_env, timeout => 60);
	$outputs .= $r->{stdout} . $r->{stderr};
	return $r;
}

sub state
{
	return $node->safe_psql("SELECT active_role || '|' || phase FROM pgrotate.state", dbname => 'appdb');
}

my $r = pgr($t, 'init', 'appdb');
is($r->{exit}, 0, 'init with the file sink') or BAIL_OUT($r->{stderr});
my ($ua, $pa) = read_env_sink($t->{sink});
push @secrets, $pa;

# 1. Success: the document on stdin, the environment, no secret in argv/env.
{
	$r = cycle(conf('echo'));
	is($r->{exit}, 0, 'cycle with a command sink exits 0') or diag($r->{stderr});
	my ($u, $p) = read_env_sink($t->{sink});
	push @secrets, $p;
	is($u, 'app_user_b', 'B is published');
	my $doc = eval { JSON::PP->new->decode(slurp_file("$out/stdin.json")) };
	ok($doc, 'the command got a json document on stdin') or diag($@);
	is($doc->{target}, 'appdb', 'stdin: target');
	is($doc->{role}, 'app_user_b', 'stdin: role');
	is($doc->{password}, $p, 'stdin: the same password as the file sink');
	is($doc->{generation}, 2, 'stdin: generation');
	like($doc->{rotated_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'stdin: rotated_at');
	my %env = map { /^([^=]*)=(.*)$/s ? ($1 => $2) : () } split /\0/, slurp_file("$out/environ");
	is($env{PGROTATE_TARGET}, 'appdb', 'environment: PGROTATE_TARGET');
	is($env{PGROTATE_ROLE}, 'app_user_b', 'environment: PGROTATE_ROLE');
	is($env{PGROTATE_GENERATION}, '2', 'environment: PGROTATE_GENERATION');
	my @foreign = grep { !/^(PATH|HOME|LANG|LC_[A-Z_]+|TZ|PGROTATE_[A-Z_]+)$/ } sort keys %env;
	is_deeply(\@foreign, [], 'environment: only allowlisted names (PATH, HOME, LANG, LC_*, TZ, PGROTATE_*)')
	  or diag(join ' ', sort keys %env);
	ok(!exists $env{$_}, "environment: no $_") for qw(PGPASSWORD PGOPTIONS PGAPPNAME PGPASSFILE SECRET_X GCONV_PATH);
	is(join(',', map { $env{$_} // 'unset' } qw(LANG LC_MESSAGES TZ PGROTATE_EXTRA)), 'C,C,UTC,passed-on',
		'environment: LANG, LC_*, TZ and other PGROTATE_* are passed on');
	ok(defined $env{PATH}, 'environment: PATH is passed on');
	unlike(slurp_file("$out/environ"), qr/\Q$t->{admin_password}\E/, "the admin's password is not in its environment");
	my @argv = split /\0/, slurp_file("$out/cmdline");
	is_deeply([ @argv[-3 .. -1] ], [ $hook, $out, 'echo' ], 'argv as configured, no shell');
	assert_no_secret_in([$p], {
			'the command\'s argv' => slurp_file("$out/cmdline"),
			'the command\'s environment' => slurp_file("$out/environ") });
	like($r->{stderr}, qr/hook says hello/, 'its stdout is logged');
	like($r->{stderr}, qr/hook warns on stderr/, 'its stderr is logged');
	like($r->{stderr}, qr/leaking <redacted>/, 'a password it prints is redacted');
	unlike($r->{stderr}, qr/\Q$p\E/, 'and not shown');
	is(state(), 'app_user_b|idle', 'the cycle completed');
}

# 1b. A command printing 4042 bytes and then its input, and lines with
# the password across the 4096-byte cut at every offset: the password
# is redacted whole, no half of it reaches pgrotate's output.
{
	$r = cycle(conf('long'));
	is($r->{exit}, 0, 'cycle with a command printing long lines exits 0') or diag($r->{stderr});
	my ($u, $p) = read_env_sink($t->{sink});
	push @secrets, $p;
	my @pieces = grep { length($_) >= 10 } map { substr($p, $_, 10) } 0 .. length($p) - 10;
	my @found = grep { index($r->{stderr}, $_) >= 0 } @pieces;
	is_deeply(\@found, [], 'no 10 characters of the password appear in its logged output');
	my $masked = () = $r->{stderr} =~ /<redacted>/g;
	is($masked, length($p), 'the password is shown as <redacted> once per line that held it')
	  or diag(substr($r->{stderr}, 0, 2000));
	like($r->{stderr}, qr/x{100}\{/, 'the long line is logged');
}

# 2. Failure: the publish fails, the old role stays active and valid.
{
	my ($u, $p) = read_env_sink($t->{sink});
	my $before = slurp_file($t->{sink});
	unlink "$out/stdin.json";
	$r = cycle(conf('fail'));
	is($r->{exit}, 1, 'a command exiting 3 fails the cycle: exit 1');
	like($r->{stderr}, qr/command sink "\Q$hook\E" exited with status 3/, 'the error names the command and status');
	like($r->{stderr}, qr/failing on purpose/, 'its output is logged');
	like($r->{stderr}, qr/the old role "$u" stays active and valid/, 'the old role stays');
	is(state(), "$u|verified", 'state: the old role is active, the new one not published');
	is(pgr($t, 'active', 'appdb')->{stdout}, "$u\n", 'pgrotate active names the old role');
	is(role_row($node, $u), 't|t', 'the old role is untouched');
	ok(login_works($node, $u, $p), 'its credential logs in');
	is(slurp_file($t->{sink}), $before, 'the file sink after the command was not written');
	my $pending = (JSON::PP->new->decode(slurp_file("$out/stdin.json")))->{password};
	push @secrets, $pending;
	$r = cycle(conf('ok'));
	is($r->{exit}, 0, 'with the command fixed, the cycle completes') or diag($r->{stderr});
	my ($nu, $np) = read_env_sink($t->{sink});
	is($np, $pending, 'it publishes the same pending password');
	is((JSON::PP->new->decode(slurp_file("$out/stdin.json")))->{password}, $pending, 'to the command too');
	is(role_row($node, $u), 'f|f', 'and the old role is revoked');
}

# 3. Timeout: the command and its child are killed, the publish fails.
{
	my ($u) = read_env_sink($t->{sink});
	unlink "$out/child.pid";
	$r = cycle(conf('slow', '1s'));
	is($r->{exit}, 1, 'a command over its timeout fails the cycle: exit 1');
	cmp_ok($r->{elapsed}, '<', 20, 'promptly');
	like($r->{stderr}, qr/command sink "\Q$hook\E" did not finish within 1s and was killed/, 'the timeout is named');
	is(state(), "$u|verified", 'the old role stays active');
	my $child = -e "$out/child.pid" ? slurp_file("$out/child.pid") : undef;
	ok($child, 'the command had started a child');
	poll_until(sub { !PgRotateTest::Cluster::_pid_alive($child) }, what => "the command's child $child to be gone")
	  if $child;
	$r = cycle(conf('ok'));
	is($r->{exit}, 0, 'then a cycle completes');
	push @secrets, (read_env_sink($t->{sink}))[1];
}

assert_no_secret_in(\@secrets, { 'pgrotate output' => $outputs, 'server log' => $node->log_content });

done_testing();
