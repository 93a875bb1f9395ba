# pgrotate(1) documents every command and option that --help shows, every
# exit code and the environment; both man pages render without a warning.
# No server needed. (Config keys: tests/unit/test_config.c.)
use strict;
use warnings;
use Test::More;
use IPC::Run qw(run timeout);

my $bin = $ENV{PGROTATE_BIN} or BAIL_OUT('PGROTATE_BIN is not set');
my $src = $ENV{PGROTATE_SRCDIR} or BAIL_OUT('PGROTATE_SRCDIR is not set');
my $page = "$src/doc/pgrotate.1";
my $conf_page = "$src/doc/pgrotate.conf.5";

sub slurp
{
	my ($f) = @_;
	open my $fh, '<', $f or die "cannot open $f: $!";
	local $/;
	return <$fh>;
}

sub cmd
{
	my (@c) = @_;
	my ($out, $err) = ('', '');
	run \@c, '<', \undef, '>', \$out, '2>', \$err, timeout(60);
	return ($? >> 8, $out, $err);
}

sub have
{
	my ($prog) = @_;
	return grep { -x "$_/$prog" } split /:/, ($ENV{PATH} // '');
}

my $man = slurp($page);
ok(length $man > 1000, 'doc/pgrotate.1 is not empty');

# An item of its own (".It Fl x ...", ".It Fl j Ar N , Fl -jobs ...") for
# an option, in mdoc source.
sub has_flag
{
	my ($text, $opt) = @_;
	(my $f = $opt) =~ s/^-//;
	return $text =~ /^\.It\b.*\bFl \Q$f\E(?![\w-])/m;
}

# Sections
my %section;
while ($man =~ /^\.Sh (.+)\n((?:(?!^\.Sh ).*\n)*)/mg)
{
	$section{$1} = $2;
}
for my $s ('NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'COMMANDS', 'THE CYCLE',
	'ADOPTING AN EXISTING DEPLOYMENT', 'ENVIRONMENT', 'FILES', 'EXIT STATUS', 'EXAMPLES',
	'SECURITY', 'SEE ALSO')
{
	ok(defined $section{$s}, "pgrotate.1 has section $s");
}
$section{$_} //= '' for qw(SYNOPSIS OPTIONS COMMANDS ENVIRONMENT), 'EXIT STATUS';

# APPLICATIONS names every recipe folder of contrib/clients.
for my $d (map { m{/([^/]+)/\z} ? $1 : () } glob("$src/contrib/clients/*/"))
{
	like($section{APPLICATIONS} // '', qr{^\.It .*\bTa Pa \Q$d\E/$}m, "APPLICATIONS lists contrib/clients/$d/");
}

# The commands and global options of "pgrotate --help".
my ($rc, $help) = cmd($bin, '--help');
is($rc, 0, 'pgrotate --help exits 0');
my ($cmd_block) = $help =~ /^Commands:\n(.*?)\n\n/ms;
my @commands = ($cmd_block // '') =~ /^  ([a-z]+)\s/mg;
cmp_ok(scalar @commands, '>=', 7, 'parsed the commands of --help: ' . join(' ', @commands));
my ($opt_block) = $help =~ /^Options:\n(.*?)\n\n/ms;
my @global = ($opt_block // '') =~ /(?<![\w-])(--?[A-Za-z?][\w-]*)/g;
ok((grep { $_ eq '--config' } @global) && (grep { $_ eq '-c' } @global),
	'parsed the global options of --help: ' . join(' ', @global));
for my $o (@global)
{
	ok(has_flag($section{OPTIONS}, $o), "global option $o is documented in OPTIONS");
}

# Each command: its item in COMMANDS and in the SYNOPSIS, its options and
# the values of its --format.
for my $c (@commands)
{
	like($section{SYNOPSIS}, qr/^\.Cm \Q$c\E$/m, "command $c is in the SYNOPSIS");
	my ($chunk) = $section{COMMANDS} =~ /^(\.It Xo\n\.Nm\n\.Cm \Q$c\E\n.*?)(?=^\.It Xo\n\.Nm\n\.Cm |\z)/ms;
	ok(defined $chunk, "command $c has an item in COMMANDS") or next;
	my ($crc, $chelp) = cmd($bin, $c, '--help');
	is($crc, 0, "pgrotate $c --help exits 0");
	my ($usage) = $chelp =~ /^Usage:\n(.*)$/m;
	my ($copts) = $chelp =~ /^Options:\n(.*?)(?:\n\n|\z)/ms;
	my %opts;
	$opts{$_} = 1 for ($usage // '') =~ /(?<![\w-])(--[a-z][\w-]*)/g;
	for my $line (split /\n/, $copts // '')
	{
		$opts{$1} = 1 if $line =~ /^\s+(-[A-Za-z]), /;
		$opts{$1} = 1 if $line =~ /^\s+(?:-[A-Za-z], )?(--[a-z][\w-]*)/;
	}
	delete @opts{ '--help', '-?' };
	for my $o (sort keys %opts)
	{
		ok(has_flag($chunk, $o), "$c: option $o is documented");
	}
	while (($usage // '') =~ /--([a-z][\w-]*)=([a-z|]+)/g)
	{
		my $opt = $1;
		for my $v (split /\|/, $2)
		{
			like($chunk, qr/\bCm \Q$v\E\b/, "$c: value $v of --$opt is documented");
		}
	}
}
ok((grep { $_ eq 'init' } @commands), 'init is among the commands');
like($section{COMMANDS}, qr/\bFl -adopt-group\b/, '--adopt-group is documented');

# Exit codes: those of --help, and status's monitoring codes.
my ($codes) = $help =~ /Exit codes: (.*?)\.\n(?:See|$)/s;
my @codes = ($codes // '') =~ /\b(\d+) [a-z]/g;
cmp_ok(scalar @codes, '>=', 5, 'parsed the exit codes of --help: ' . join(' ', @codes));
for my $n (@codes)
{
	like($section{'EXIT STATUS'}, qr/^\.It $n$/m, "exit code $n is documented");
}
for my $w (qw(OK WARNING CRITICAL UNKNOWN))
{
	like($section{'EXIT STATUS'}, qr/^\Q$w\E\b/m, "status code $w is documented");
}
for my $e (qw(PGROTATE_CONFIG PGPASSFILE))
{
	like($section{ENVIRONMENT}, qr/^\.It Ev $e$/m, "environment variable $e is documented");
}

# STATUS METRICS names what "status --format=prometheus" prints: each
# documented metric is a string in the binary.
{
	my $binary = do { open my $fh, '<:raw', $bin or die "cannot read $bin: $!"; local $/; <$fh> };
	my @metrics = ($section{'STATUS METRICS'} // '') =~ /^\.It Sy (pgrotate_\w+)$/mg;
	cmp_ok(scalar @metrics, '>=', 5, 'STATUS METRICS lists the metrics');
	for my $m (@metrics)
	{
		ok(index($binary, "$m\0") >= 0,
			"documented metric $m is in the binary");
	}
}

# Rendering: no warning from groff (all warnings on) nor from man -l.
SKIP:
{
	skip 'groff is not installed', 4 unless have('groff');
	for my $p ($page, $conf_page)
	{
		my ($grc, $gout, $gerr) = cmd('groff', '-mandoc', '-Tutf8', '-ww', '-z', $p);
		is($grc, 0, "groff renders $p");
		is($gerr, '', "groff -ww has no warning for $p");
	}
}
SKIP:
{
	skip 'man or groff is not installed', 6 unless have('man') && have('groff');
	local $ENV{MANWIDTH} = 80;
	local $ENV{MANPAGER} = 'cat';
	local $ENV{LC_ALL} = 'C.UTF-8';
	for my $p ($page, $conf_page)
	{
		my ($mrc, $mout, $merr) = cmd('man', '--warnings', '-l', $p);
		is($mrc, 0, "man -l renders $p");
		is($merr, '', "man -l has no warning for $p");
		like($mout, qr/\bpgrotate/, "man -l output of $p has text");
	}
}

done_testing();
