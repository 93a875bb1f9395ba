# No unbounded wait on a cancel: a query that times out is cancelled with
# a cancel request to the address of its connection, and PQcancel waits,
# without a limit of its own, for that end to close the cancel connection.
# Here the app path goes through a proxy that forwards sessions to the
# server but accepts cancel requests and never answers: the verify query
# (pg_sleep) times out, the cancel goes unanswered, and pgrotate must
# still give up in bounded time, roll back and exit 1.
use strict;
use warnings;
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Test::More;
use PgRotateTest;
use PgRotateSetup;

my $t = setup_target(cluster_opts => { tcp => 1 });
my $node = $t->{node};
my $dir = test_dir();
my $marker = "$dir/cancel-requests";

# The proxy: sessions are forwarded byte for byte to the server; a
# connection whose first packet is a CancelRequest (length 16, code
# 80877102) is kept open and never answered. Each one adds a line to
# $marker.
my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 16,
	Proto => 'tcp', ReuseAddr => 1) or die "listen: $!";
my $pport = $listen->sockport;
my $proxy = fork() // die "fork: $!";
if ($proxy == 0)
{
	my $sel = IO::Select->new($listen);
	my (%peer, @silent, %pending);
	for (;;)
	{
		for my $s ($sel->can_read(1))
		{
			if ($s == $listen)
			{
				my $c = $listen->accept or next;
				$pending{$c} = '';
				$sel->add($c);
				next;
			}
			my $n = sysread($s, my $buf, 65536);
			if (exists $pending{$s})
			{
				if (!$n) { $sel->remove($s); delete $pending{$s}; close $s; next; }
				$pending{$s} .= $buf;
				next if length($pending{$s}) < 8;
				my ($len, $code) = unpack('NN', $pending{$s});
				my $first = delete $pending{$s};
				if ($len == 16 && $code == 80877102)
				{
					$sel->remove($s);
					push @silent, $s;    # accepted, never answered, never closed
					open my $m, '>>', $marker or die;
					print $m "cancel request\n";
					close $m;
					next;
				}
				my $srv = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $node->port,
					Proto => 'tcp') or do { close $s; next };
				syswrite($srv, $first);
				$peer{$s} = $srv;
				$peer{$srv} = $s;
				$sel->add($srv);
				next;
			}
			my $other = $peer{$s} or next;
			if (!$n)
			{
				$sel->remove($_) for $s, $other;
				delete @peer{ $s, $other };
				close $_ for $s, $other;
				next;
			}
			syswrite($other, $buf);
		}
	}
	POSIX::_exit(0);
}
close $listen;
END { kill 'KILL', $proxy if $proxy; }

is(pgr($t, 'init', 'appdb')->{exit}, 0, 'init') or BAIL_OUT('init failed');
my ($active, $apw) = read_env_sink($t->{sink});
my $before = slurp_file($t->{sink});

my $conf = "$dir/proxy.conf";
write_config($conf, target_config(node => $node, sink_path => $t->{sink},
		app => "host=127.0.0.1 port=$pport dbname=appdb",
		defaults => { verify_query => 'SELECT pg_catalog.pg_sleep(25)' }));
my $start = time;
my $r = run_pgrotate(args => [ 'cycle', 'appdb' ], config => $conf, env => $t->{env}, timeout => 60);
my $took = time - $start;
ok(-e $marker, 'the cancel request reached the silent proxy');
is($r->{exit}, 1, 'the cycle fails (exit 1), it does not hang') or diag($r->{stderr});
ok($took < 22, "it gave up in bounded time (${took}s: 10s query deadline, 2s cancel, 2s confirmation)");
like($r->{stderr}, qr/no answer from the server in time/, 'the error says the server did not answer');
like($r->{stderr}, qr/rolled back/, 'the standby is rolled back');
is(slurp_file($t->{sink}), $before, 'nothing was published');
ok(login_works($node, $active, $apw), 'the active credential still logs in');
is(role_row($node, $active eq 'app_user_a' ? 'app_user_b' : 'app_user_a'), 'f|f', 'the standby is NOLOGIN with no password');

done_testing();
