# On a terminal (issue 14, item 5): the drain's live progress line is
# cleared before any message, so an error is never glued to it; Ctrl-C
# (SIGINT) during the drain exits 3 with the target in the hint.
use strict;
use warnings;
use Test::More;
use IPC::Run qw(start);
use PgRotateTest;
use PgRotateSetup;

plan skip_all => 'needs script(1) from util-linux' unless -x '/usr/bin/script';

my $t = setup_target(config_opts => { defaults => { min_overlap => '30s', drain_timeout => '60s',
			poll_interval => '200ms' } });
my $node = $t->{node};
is(pgr($t, 'init', 'appdb')->{exit}, 0, 'init') or BAIL_OUT('init failed');

# pgrotate's stderr on a pseudo-terminal: script(1) runs it on one and
# copies what it prints to its own stdout.
my $cmd = join ' ', map { PgRotateTest::quote_literal($_) } ($ENV{PGROTATE_BIN}, '-c', $t->{conf}, 'cycle', 'appdb');
my ($in, $out) = ('', '');
my $h = start([ '/usr/bin/script', '-qfec', $cmd, '/dev/null' ], '<', \$in, '>', \$out, '2>&1',
	init => sub { PgRotateTest::_apply_env($t->{env}); }, IPC::Run::timeout(90));
ok(poll_until(sub { $h->pump_nb; $out =~ /\r\e\[Kdraining "app_user_[ab]": sessions/ },
		what => 'the live progress line on the terminal', timeout => 60), 'a live progress line is drawn');
my $apps = $node->safe_psql("SELECT application_name FROM pg_stat_activity WHERE application_name LIKE 'pgrotate:%'",
	dbname => 'appdb');
my ($pid) = $apps =~ /pgrotate:(\d+)@/;
ok($pid, 'the pgrotate process found by its application_name') or diag($apps);
kill 'INT', $pid;
eval { $h->finish; };
my $exit = $h->result(0);
is($exit, 3, 'Ctrl-C while draining exits 3: published, the old role valid, a re-run resumes');
unlike($out, qr{\d+s/\S+pgrotate: error}, 'the error is not glued to the live line');
like($out, qr/\r\e\[Kpgrotate: error: appdb: interrupted while draining role "app_user_[ab]"/,
	'the live line is cleared before the error');
like($out, qr/HINT: Run "pgrotate cycle appdb" to finish the drain and revoke\./, 'the hint names the target');
is($node->safe_psql("SELECT event FROM pgrotate.history ORDER BY id DESC LIMIT 1", dbname => 'appdb'),
	'interrupted', 'the interruption is in the history');
is(pgr($t, 'cycle', 'appdb', '--emergency')->{exit}, 0, 'a later run finishes the cycle');

done_testing();
