# --log-format=json: every line on stderr is one JSON object with time,
# level, target, event and msg, through init, a drain timeout, a resumed
# cycle, a failing command sink, revoke and the read-only commands; and no
# secret in any of it (a command sink that prints the password included).
use strict;
use warnings;
use JSON::PP;
use Test::More;
use PgRotateTest;
use PgRotateSetup;

my $t = setup_target(config_opts => { defaults => { drain_timeout => '1s' } });
my $node = $t->{node};
my $dir = test_dir();
my @secrets;
my @runs;

# A command sink that prints the password it is given, then fails.
my $hook = "$dir/leaky-hook.pl";
open my $fh, '>', $hook or die;
print $fh "#!$^X\n" . <<'EOF';
my $in = do { local $/; <STDIN> };
my ($pw) = $in =~ /"password":"([^"]+)"/;
print "got password $pw\n";
print STDERR "and \"quotes\", a tab\there and a backslash \\ too\n";
exit 2;
EOF
close $fh;
chmod 0755, $hook;
my $failconf = "$dir/fail.conf";
write_config($failconf, target_config(node => $node, sink_path => $t->{sink},
		defaults => { drain_timeout => '1s' },
		extra_sinks => sprintf('{ type = "command"; argv = [ %s ]; timeout = "10s"; }',
			PgRotateTest::cfg_quote($hook))));

sub jrun
{
	my ($what, $args, %o) = @_;
	my $r = run_pgrotate(args => [ '--log-format=json', '-v', @$args ], config => $o{config} // $t->{conf},
		env => $t->{env});
	push @runs, [ $what, $r ];
	is($r->{exit}, $o{exit} // 0, "$what: exit " . ($o{exit} // 0)) or diag($r->{stderr});
	return $r;
}

jrun('init', [ 'init', 'appdb' ]);
my ($ua, $pa) = read_env_sink($t->{sink});
push @secrets, $pa;

my $s = $node->background_session(user => $ua, password => $pa, dbname => 'appdb', application_name => 'json-held');
my $r = jrun('cycle with a drain timeout', [ 'cycle', 'appdb' ], exit => 3);
push @secrets, (read_env_sink($t->{sink}))[1];
$s->quit;
jrun('resumed cycle', [ 'cycle', 'appdb' ]);
jrun('dry run', [ 'cycle', 'appdb', '--dry-run' ]);
$r = jrun('cycle with a failing command sink', [ 'cycle', 'appdb' ], config => $failconf, exit => 1);
my $pending = slurp_file("$dir/state/appdb.pending") =~ /^password (\S+)$/m ? $1 : undef;
ok($pending, 'a pending password is kept');
push @secrets, $pending;
jrun('revoke of the active role', [ 'revoke', 'appdb', (read_env_sink($t->{sink}))[0] ], exit => 1);
jrun('cycle', [ 'cycle', 'appdb' ]);
push @secrets, (read_env_sink($t->{sink}))[1];
my $standby = (read_env_sink($t->{sink}))[0] eq 'app_user_a' ? 'app_user_b' : 'app_user_a';
jrun('revoke of the standby', [ 'revoke', 'appdb', $standby, '--terminate', '--reason', "with \"quotes\"\nand a newline" ]);
jrun('status', [ 'status' ]);
jrun('history', [ 'history', 'appdb' ]);
jrun('active', [ 'active', 'appdb' ]);

my %events;
for my $run (@runs)
{
	my ($what, $res) = @$run;
	my @lines = split /\n/, $res->{stderr}, -1;
	is(pop(@lines), '', "$what: stderr ends with a newline") if @lines;
	my @bad;
	for my $line (@lines)
	{
		my $o = eval { JSON::PP->new->decode($line) };
		if (ref $o ne 'HASH')
		{
			push @bad, "not a JSON object: $line";
			next;
		}
		for my $k (qw(time level target event msg))
		{
			push @bad, "no \"$k\" in: $line" unless defined $o->{$k} && !ref $o->{$k} && $o->{$k} ne '';
		}
		push @bad, "bad time in: $line" unless ($o->{time} // '') =~ /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
		push @bad, "bad level in: $line" unless ($o->{level} // '') =~ /^(?:error|warning|info|debug)$/;
		push @bad, "target is not appdb in: $line" unless ($o->{target} // '') eq 'appdb';
		$events{ $o->{event} // '' }++;
	}
	is_deeply(\@bad, [], "$what: every stderr line is one JSON object with time, level, target, event, msg");
}
ok($events{$_}, "event \"$_\" seen") for qw(published drain_timeout revoked refused sink_output);

my $all = join '', map { $_->[1]{stderr} . $_->[1]{stdout} } @runs;
like($all, qr/got password <redacted>/, 'the password a command sink prints is redacted');
assert_no_secret_in(\@secrets, { 'json log and output' => $all });

done_testing();
