# A file sink whose owner is another user, written by a non-root pgrotate
# that has CAP_CHOWN and no other capability: how the Debian package's
# pgrotate-due.service runs it (User=pgrotate, AmbientCapabilities=
# CAP_CHOWN). init and cycle give the file its mode, owner and group (the
# mode is set before the owner: chmod of a file one no longer owns would
# need CAP_FOWNER too); check counts the capability. Without it, check
# names the owner and a cycle fails at the sink. Root only (setpriv runs
# pgrotate as the user postgres).
use strict;
use warnings;
use Test::More;
use File::Copy qw(copy);
use PgRotateTest;
use PgRotateSetup;

plan skip_all => 'needs root (setpriv to another user with CAP_CHOWN)' unless PgRotateTest::is_root();
my ($setpriv) = map { "$_/setpriv" } grep { -x "$_/setpriv" } split /:/, $ENV{PATH} // '';
plan skip_all => 'setpriv (util-linux) is not installed' unless $setpriv;
my $bin = $ENV{PGROTATE_BIN};
my @pg = getpwnam('postgres') or plan skip_all => 'no user postgres';
my ($uid, $gid) = @pg[ 2, 3 ];
my ($rc) = PgRotateTest::_run([ 'test', '-x', $bin ], as_postgres => 1, timeout => 30);
plan skip_all => "the user postgres cannot run $bin" if $rc != 0;

my $t = setup_target();
my $node = $t->{node};
my $dir = test_dir();
my $svc = "$dir/svc";
mkdir $_ or die "mkdir $_: $!" for $svc, "$svc/sink";
chown $uid, $gid, $svc, "$svc/sink" or die "chown: $!";
chmod 0700, $svc;
chmod 0755, "$svc/sink";
my $sink = "$svc/sink/appdb.env";
my $conf = "$svc/pgrotate.conf";
write_config($conf, target_config(node => $node, state_dir => "$svc/state",
		sinks => sprintf('{ type = "file"; path = %s; format = "env"; mode = "0640";'
			  . ' owner = "nobody"; group = "nogroup"; }', PgRotateTest::cfg_quote($sink))));
my $pgpass = "$svc/pgpass";
copy($t->{pgpass}, $pgpass) or die "copy: $!";
chmod 0600, $pgpass;
chown $uid, $gid, $conf, $pgpass or die "chown: $!";
my @nobody = getpwnam('nobody') or BAIL_OUT('no user nobody');
my @nogroup = getgrnam('nogroup') or BAIL_OUT('no group nogroup');

# wrappers: pgrotate as postgres, with CAP_CHOWN only, or with nothing
my %wrap;
for my $w ([ cap => '--inh-caps=-all,+chown --ambient-caps=-all,+chown --bounding-set=-all,+chown' ],
	[ nocap => '--inh-caps=-all --bounding-set=-all' ])
{
	my $f = "$dir/pgrotate-$w->[0]";
	open my $fh, '>', $f or die "$f: $!";
	print $fh "#!/bin/sh\nexec $setpriv --reuid=$uid --regid=$gid --init-groups $w->[1] '$bin' \"\$@\"\n";
	close $fh;
	chmod 0755, $f;
	$wrap{ $w->[0] } = $f;
}
my %env = (PGPASSFILE => $pgpass, PGROTATE_CONFIG => undef);
sub as
{
	my ($who, @args) = @_;
	return run_pgrotate(bin => $wrap{$who}, config => $conf, args => \@args, env => \%env);
}

# the wrapper really drops to postgres with CAP_CHOWN only
my $r = run_pgrotate(bin => $wrap{cap}, args => ['--version']);
is($r->{exit}, 0, 'the CAP_CHOWN wrapper runs pgrotate') or diag($r->{stderr});

$r = as('nocap', 'check', 'appdb');
isnt($r->{exit}, 0, 'check without the capability fails');
like($r->{stdout}, qr/FAIL  file sink .*owner "nobody": only root or CAP_CHOWN may give a file to another user/,
	'and names the owner and the capability');

$r = as('cap', 'init', 'appdb');
is($r->{exit}, 0, 'init as postgres with CAP_CHOWN only') or diag($r->{stderr});
my @st = stat $sink;
is(sprintf('%04o %d %d', $st[2] & 07777, $st[4], $st[5]), sprintf('0640 %d %d', $nobody[2], $nogroup[2]),
	'the sink file is 0640 nobody:nogroup');
my ($user) = read_env_sink($sink);
is($user, 'app_user_a', 'and names the first role');

$r = as('cap', 'check', 'appdb');
is($r->{exit}, 0, 'check with CAP_CHOWN passes (the capability counts)') or diag($r->{stdout} . $r->{stderr});

$r = as('cap', 'cycle', 'appdb');
is($r->{exit}, 0, 'cycle as postgres with CAP_CHOWN only') or diag($r->{stderr});
@st = stat $sink;
is(sprintf('%04o %d %d', $st[2] & 07777, $st[4], $st[5]), sprintf('0640 %d %d', $nobody[2], $nogroup[2]),
	'the new sink file is 0640 nobody:nogroup');
($user) = read_env_sink($sink);
is($user, 'app_user_b', 'and names the new role');

$r = as('nocap', 'cycle', 'appdb');
isnt($r->{exit}, 0, 'a cycle without the capability fails');
like($r->{stderr}, qr/cannot give sink file "\Q$sink\E" owner "nobody"/, 'at the sink, naming the file and owner');
like($r->{stderr}, qr/CAP_CHOWN/, 'and the hint names CAP_CHOWN');
($user) = read_env_sink($sink);
is($user, 'app_user_b', 'the published credential is unchanged');
is(role_row($node, 'app_user_b'), 't|t', 'the active role still logs in');

done_testing();

