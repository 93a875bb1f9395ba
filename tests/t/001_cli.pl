# The command line: help, version, usage errors and their exit codes,
# config errors naming file and line. No server needed.
use strict;
use warnings;
use Test::More;
use IPC::Run qw(run timeout);
use File::Temp qw(tempdir);

my $bin = $ENV{PGROTATE_BIN} or BAIL_OUT('PGROTATE_BIN is not set');
my $tmp = tempdir(CLEANUP => 1);

sub pgr
{
	my (@args) = @_;
	my ($out, $err) = ('', '');
	run [ $bin, @args ], '<', \undef, '>', \$out, '2>', \$err, timeout(30);
	return ($? >> 8, $out, $err);
}

my ($rc, $out, $err) = pgr('--help');
is($rc, 0, '--help exits 0');
for my $cmd (qw(init cycle active status check revoke history))
{
	like($out, qr/^  \Q$cmd\E\s/m, "--help lists $cmd");
}
like($out, qr/Exit codes: 0 success, 1 failure/, '--help names the exit codes');

($rc, $out) = pgr('--version');
is($rc, 0, '--version exits 0');
like($out, qr/^pgrotate \d+\.\d+\.\d+$/m, '--version prints the version');

# Every command that "pgrotate --help" lists has its own --help (and -?).
my @commands = ((pgr('--help'))[1] =~ /^Commands:\n((?:  \S.*\n)+)/m)[0] =~ /^  (\S+)/mg;
is_deeply([ sort @commands ], [qw(active check cycle history init publish revoke status)],
	'--help lists every command');
for my $cmd (@commands)
{
	for my $help ('--help', '-?')
	{
		($rc, $out, $err) = pgr($cmd, $help);
		is($rc, 0, "$cmd $help exits 0");
		like($out, qr/\Apgrotate \Q$cmd\E: \S/, "$cmd $help names the command");
		like($out, qr/^Usage:\n  pgrotate \[-c FILE\] \[-v\|-q\] \Q$cmd\E /m, "$cmd $help shows its usage");
		is($err, '', "$cmd $help writes nothing to stderr");
	}
}

($rc, $out, $err) = pgr('frobnicate');
is($rc, 2, 'unknown command exits 2');
like($err, qr/unknown command "frobnicate"\nTry "pgrotate --help"/, 'unknown command: one line and a hint');

($rc, $out, $err) = pgr('--frob', 'check');
is($rc, 2, 'unknown global option exits 2');
like($err, qr/unknown option "--frob"/, 'unknown option is named');

($rc, $out, $err) = pgr();
is($rc, 2, 'no command exits 2');

($rc, $out, $err) = pgr('--log-format=xml', 'check');
is($rc, 2, 'bad --log-format exits 2');

# A missing argument is reported as missing, an unknown option as unknown,
# each with the "Try" line of the command (or of pgrotate itself).
for my $case (
	[ [ '--log-format' ], 2, 'option "--log-format" requires an argument', '' ],
	[ [ '-c' ], 2, 'option "-c" requires an argument', '' ],
	[ [ 'cycle', '--jobs' ], 2, 'cycle: option "--jobs" requires an argument', ' cycle' ],
	[ [ 'cycle', 'appdb', '-j' ], 2, 'cycle: option "-j" requires an argument', ' cycle' ],
	[ [ 'history', 'appdb', '--limit' ], 2, 'history: option "--limit" requires an argument', ' history' ],
	[ [ 'status', '--format' ], 3, 'status: option "--format" requires an argument', ' status' ],
	[ [ 'cycle', '--frob' ], 2, 'cycle: unknown option "--frob"', ' cycle' ],
	[ [ 'cycle', '-xa' ], 2, 'cycle: invalid option "-x"', ' cycle' ],
	[ [ '-x', 'check' ], 2, 'invalid option "-x"', '' ],
	[ [ 'init', '--all=yes' ], 2, 'init: option "--all" takes no argument', ' init' ],
	[ [ '--verbose=1', 'check' ], 2, 'option "--verbose" takes no argument', '' ])
{
	my ($args, $code, $msg, $cmd) = @$case;
	($rc, $out, $err) = pgr(@$args);
	is($rc, $code, "@$args: exits $code");
	is($err, "pgrotate: error: $msg\nTry \"pgrotate$cmd --help\" for more information.\n",
		"@$args: $msg");
}
($rc, $out, $err) = pgr('--log-format=json', 'cycle', '--jobs');
like($err, qr/"msg":"cycle: option \\"--jobs\\" requires an argument","hint":"Try \\"pgrotate cycle --help\\"/,
	'--log-format=json: the missing argument and the hint in JSON');

# Usage errors of a command.
($rc, $out, $err) = pgr('cycle');
is($rc, 2, 'cycle without targets exits 2');
like($err, qr/name at least one target, or --all/, 'cycle without targets says what to do');
like($err, qr/Try "pgrotate cycle --help"/, 'and points to cycle --help');
($rc, $out, $err) = pgr('cycle', '--jobs', '0', 'x');
is($rc, 2, 'cycle --jobs 0 exits 2');

# Configuration errors exit 2 and name file and line.
my $conf = "$tmp/bad.conf";
open my $fh, '>', $conf or die;
print $fh "state_dir = \"$tmp/state\";\ntargets = {\n  appdb = {\n    admin = \"dbname=x\";\n    app = \"dbname=x\";\n    roles = [\"a\", \"b\"];\n    min_overlapp = \"15m\";\n  };\n};\n";
close $fh;
chmod 0600, $conf;
($rc, $out, $err) = pgr('-c', $conf, 'check', 'appdb');
is($rc, 2, 'invalid config exits 2');
like($err, qr/\Q$conf\E:7: .*min_overlapp/, 'the error names file, line and key');
like($err, qr/did you mean "min_overlap"/, 'and suggests the near miss');

($rc, $out, $err) = pgr('-c', "$tmp/missing.conf", 'check');
is($rc, 2, 'missing config exits 2');
like($err, qr/missing\.conf/, 'missing config is named');

# PGROTATE_CONFIG names the default file.
{
	local $ENV{PGROTATE_CONFIG} = $conf;
	($rc, $out, $err) = pgr('check', 'appdb');
	is($rc, 2, 'PGROTATE_CONFIG is read');
	like($err, qr/\Q$conf\E:7:/, 'PGROTATE_CONFIG file is the one reported');
}

# Global options after the command, as psql and pg_dump accept them: the
# config named there is the one read (its error names it), in every form.
{
	local $ENV{PGROTATE_CONFIG} = "$tmp/not-this.conf";
	for my $args ([ 'check', 'appdb', '-c', $conf ], [ 'check', '-c', $conf, 'appdb' ],
		[ 'check', 'appdb', "-c$conf" ], [ 'check', 'appdb', "--config=$conf" ],
		[ 'check', 'appdb', '--config', $conf ], [ 'status', '-c', $conf ],
		[ '-c', "$tmp/first.conf", 'check', 'appdb', '-c', $conf ])
	{
		my $how = join(' ', map { $_ eq $conf ? 'FILE' : $_ } @$args);
		($rc, $out, $err) = pgr(@$args);
		# status exits 3 (UNKNOWN) for a config error, as monitoring expects
		is($rc, (grep { $_ eq 'status' } @$args) ? 3 : 2, "$how: the config is read (its error's exit code)");
		like($err, qr/\Q$conf\E:7: .*min_overlapp/, "$how: the error names that file and line");
	}
	($rc, $out, $err) = pgr('check', 'appdb', '-c');
	is($rc, 2, 'check appdb -c: exit 2');
	like($err, qr/check: option "-c" requires an argument\nTry "pgrotate check --help"/,
		'check appdb -c: requires an argument');
	($rc, $out, $err) = pgr('check', 'appdb', '-c', $conf, '--log-format=json');
	my @lines = grep { length } split /\n/, $err;
	ok(@lines && !grep({ !/^\{"time":".*\}$/ } @lines), '--log-format=json after the command: JSON lines')
	  or diag($err);
	($rc, $out, $err) = pgr('check', 'appdb', '-c', $conf, '--log-format=xml');
	is($rc, 2, 'a bad --log-format after the command exits 2');
	like($err, qr/invalid --log-format "xml"/, 'and is named');
	# a command option's value is never taken for a global option
	($rc, $out, $err) = pgr('-c', $conf, 'cycle', 'appdb', '--reason', '-c');
	is($rc, 2, 'cycle --reason -c: exit 2 (the config error)');
	like($err, qr/\Q$conf\E:7:/, 'cycle --reason -c: "-c" is the reason, not a global option');
	# whatever the command's option, long or short (each command's own table)
	for my $args ([ 'cycle', 'appdb', '-j', '-c' ], [ 'history', 'appdb', '--limit', '-c' ])
	{
		($rc, $out, $err) = pgr('-c', $conf, @$args);
		like($err, qr/invalid --\w+ "-c"/, "@$args: \"-c\" is the option's value");
	}
	# nor is anything after "--"
	($rc, $out, $err) = pgr('check', '--', '-c', $conf);
	unlike($err, qr/\Q$conf\E:7:/, 'check -- -c FILE: not a global option after "--"');
	# and "--help" still describes the command
	($rc, $out, $err) = pgr('status', '-c', $conf, '--help');
	is($rc, 0, 'status -c FILE --help exits 0');
	like($out, qr/^pgrotate status:/, 'and describes status');
}

# Every integration test file is run by make check.
SKIP: {
	my $src = $ENV{PGROTATE_SRCDIR};
	skip 'PGROTATE_SRCDIR not set', 1 unless $src;
	open my $mk, '<', "$src/Makefile.am" or die "Makefile.am: $!";
	my $text = do { local $/; <$mk> };
	my @missing = grep { index($text, "tests/t/$_") < 0 } map { m{([^/]+)$} } glob("$src/tests/t/*.pl");
	is_deeply(\@missing, [], 'every tests/t/*.pl is listed in INTEGRATION_TESTS of Makefile.am');
}

done_testing();
