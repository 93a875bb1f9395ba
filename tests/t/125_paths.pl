# Paths as root (SPEC section 5 "Paths"): a folder on a sink's path that
# another user can write, or that is swapped for a symlink to a root-only
# folder before or during a cycle, never makes root write or read there;
# a configuration file that another user could change is refused with the
# chown/chmod that fixes it, and so is a world-readable one holding an
# sslpassword.
use strict;
use warnings;
use Test::More;
use File::Path qw(make_path);
use PgRotateTest;
use PgRotateSetup;

plan skip_all => 'the path rules apply when pgrotate runs as root; not running as root'
  unless PgRotateTest::is_root();
my @nobody = getpwnam('nobody');
plan skip_all => 'needs a user "nobody" to own the attacker\'s folders' unless @nobody;
my ($nuid, $ngid) = @nobody[ 2, 3 ];

my $dir = test_dir();
make_path("$dir/sinks", "$dir/rootonly", "$dir/live/conf", "$dir/srv/app/conf");
chmod 0755, "$dir/sinks", "$dir/live", "$dir/live/conf", "$dir/srv", "$dir/srv/app", "$dir/srv/app/conf";
chmod 0700, "$dir/rootonly";
# root's own secret, next to which nothing may appear
_write_secret("$dir/rootonly/userlist.txt", qq("postgres" "SCRAM-SHA-256\$4096:root-only"\n));
chown $nuid, $ngid, "$dir/srv/app", "$dir/srv/app/conf";

my $t = setup_target(sink_path => "$dir/sinks/app.env");
my $node = $t->{node};
is(pgr($t, 'init', 'appdb')->{exit}, 0, 'init') or BAIL_OUT('init failed');

sub _write_secret
{
	my ($path, $text) = @_;
	open my $fh, '>', $path or die "cannot write $path: $!";
	print $fh $text;
	close $fh or die;
	chmod 0600, $path;
}

sub rootonly_untouched
{
	my ($name) = @_;
	opendir my $d, "$dir/rootonly" or die;
	my @f = sort grep { !/^\.\.?$/ } readdir $d;
	closedir $d;
	is_deeply(\@f, ['userlist.txt'], "$name: no file was created in the root-only folder");
	is(slurp_file("$dir/rootonly/userlist.txt"), qq("postgres" "SCRAM-SHA-256\$4096:root-only"\n),
		"$name: root's file there is unchanged");
	my @st = stat("$dir/rootonly/userlist.txt");
	is(sprintf('%d:%04o', $st[4], $st[2] & 07777), '0:0600', "$name: still root's, mode 0600");
}

sub phase
{
	return $node->safe_psql("SELECT phase FROM pgrotate.state WHERE target = 'appdb'", dbname => 'appdb');
}

# A config with the env sink in sinks/ plus $extra sinks.
sub conf_with
{
	my ($name, $extra) = @_;
	my $path = "$dir/$name.conf";
	write_config($path, target_config(node => $node, sink_path => "$dir/sinks/app.env",
			extra_sinks => $extra));
	return { %$t, conf => $path };
}

# A cycle that must fail at publish with $re, the old role still in use.
sub refused_at_publish
{
	my ($name, $c, $re) = @_;
	my ($active, $apw) = read_env_sink("$dir/sinks/app.env");
	my $r = pgr($c, 'cycle', 'appdb');
	is($r->{exit}, 1, "$name: exits 1") or diag($r->{stderr});
	like($r->{stderr}, $re, "$name: the error names the folder and the problem");
	like($r->{stderr}, qr/old role "\Q$active\E" stays active and valid/, "$name: the old role stays valid");
	is(phase(), 'verified', "$name: the state waits in verified");
	ok(login_works($node, $active, $apw), "$name: the active credential logs in");
	return $r;
}

# A plain cycle (the attack undone) completes.
sub finish
{
	my ($name) = @_;
	my $r = pgr($t, 'cycle', 'appdb');
	is($r->{exit}, 0, "$name: a plain cycle afterwards completes") or diag($r->{stderr});
	is(phase(), 'idle', "$name: phase idle");
}

# 1. The app user's folder is swapped for a symlink to a root-only folder
#    before the cycle.
{
	my $name = 'a folder of the app user swapped for a symlink';
	rename "$dir/srv/app/conf", "$dir/srv/app/conf.old" or die;
	symlink "$dir/rootonly", "$dir/srv/app/conf" or die;
	my $c = conf_with('swapped', sprintf('{ type = "file"; path = "%s"; format = "env"; }',
			"$dir/srv/app/conf/app.env"));
	refused_at_publish($name, $c, qr/"\Q$dir\E\/srv\/app\/conf" on the path of sink file .* is a symbolic link/);
	rootonly_untouched($name);
	finish($name);
}

# 2. The same with the pgbouncer format: root would read root's
#    userlist.txt, merge it and write it back for the sink's owner.
{
	my $name = 'an auth_file path through a swapped folder';
	my $c = conf_with('swapped_pgb', sprintf('{ type = "file"; path = "%s"; format = "pgbouncer"; owner = "nobody"; }',
			"$dir/srv/app/conf/userlist.txt"));
	refused_at_publish($name, $c, qr/"\Q$dir\E\/srv\/app\/conf" on the path of the auth_file .* is a symbolic link/);
	rootonly_untouched($name);
	unlink "$dir/srv/app/conf" or die;
	rename "$dir/srv/app/conf.old", "$dir/srv/app/conf" or die;
	finish($name);
}

# 3. No symlink yet, but the folder belongs to the app user, who could
#    swap it at any moment: refused, with the chown that fixes it.
{
	my $name = 'a folder on the path owned by the app user';
	my $c = conf_with('theirs', sprintf('{ type = "file"; path = "%s"; format = "env"; }',
			"$dir/srv/app/conf/app.env"));
	my $r = refused_at_publish($name, $c,
		qr/folder "\Q$dir\E\/srv\/app" on the path of sink file .* belongs to uid $nuid, who could replace what is in it[^\n]*\n(?:.*\n)*?HINT: Run "chown root \Q$dir\E\/srv\/app"/);
	opendir my $d, "$dir/srv/app/conf" or die;
	is_deeply([ grep { !/^\.\.?$/ } readdir $d ], [], "$name: nothing was written in it");
	closedir $d;
	my $chk = run_pgrotate(args => [ 'check', 'appdb' ], config => $c->{conf}, env => $c->{env});
	like($chk->{stdout}, qr/FAIL  file sink "\Q$dir\E\/srv\/app\/conf\/app.env" writable: folder "\Q$dir\E\/srv\/app" .*belongs to uid $nuid/,
		"$name: check fails the sink item the same way");
	finish($name);
}

# 4. The swap happens during the cycle: a command sink published first
#    replaces a folder of the next file sink's path with a symlink.
{
	my $name = 'a folder swapped for a symlink during the cycle';
	my $swap = "$dir/swap.sh";
	open my $fh, '>', $swap or die;
	print $fh "#!/bin/sh\ncat >/dev/null\nmv '$dir/live/conf' '$dir/live/conf.old' && ln -s '$dir/rootonly' '$dir/live/conf'\n";
	close $fh or die;
	chmod 0755, $swap;
	my $c = conf_with('during', sprintf('{ type = "command"; argv = [ "%s" ]; timeout = "30s"; },'
		  . ' { type = "file"; path = "%s"; format = "env"; }', $swap, "$dir/live/conf/app.env"));
	refused_at_publish($name, $c, qr/"\Q$dir\E\/live\/conf" on the path of sink file .* is a symbolic link/);
	ok(-l "$dir/live/conf", "$name: the swap did happen before the file sink");
	rootonly_untouched($name);
	unlink "$dir/live/conf";
	rename "$dir/live/conf.old", "$dir/live/conf";
	finish($name);
}

# 5. The configuration file: anyone who can change it can add a command
#    sink that root runs.
{
	my $good = "$dir/trusted.conf";
	write_config($good, target_config(node => $node, sink_path => "$dir/sinks/app.env"));
	my $text = slurp_file($good);
	my $check = sub {
		my ($path) = @_;
		return run_pgrotate(args => [ 'check', 'appdb' ], config => $path, env => $t->{env});
	};
	my $r = $check->($good);
	isnt($r->{exit}, 2, 'a root 0600 config in root\'s folders is accepted') or diag($r->{stderr});

	my $theirs = "$dir/theirs.conf";
	write_config($theirs, $text);
	chmod 0644, $theirs;
	chown $nuid, $ngid, $theirs;
	$r = $check->($theirs);
	is($r->{exit}, 2, 'a config owned by nobody: exit 2');
	like($r->{stderr}, qr/configuration file "\Q$theirs\E" belongs to uid $nuid.*\nHINT: Run "chown root \Q$theirs\E"\.$/m,
		'a config owned by nobody: the error gives the chown');

	my $gw = "$dir/groupw.conf";
	write_config($gw, $text);
	chmod 0664, $gw;
	$r = $check->($gw);
	is($r->{exit}, 2, 'a 0664 config: exit 2');
	like($r->{stderr}, qr/configuration file "\Q$gw\E" is writable by group or others \(mode 0664\).*\nHINT: Run "chmod go-w \Q$gw\E"\.$/m,
		'a 0664 config: the error gives the chmod');
	{
		require JSON::PP;
		my $j = run_pgrotate(args => [ '--log-format=json', 'check', 'appdb' ], config => $gw, env => $t->{env});
		my ($line) = grep { /"level":"error"/ } split /\n/, $j->{stderr};
		my $doc = $line ? JSON::PP::decode_json($line) : {};
		is($doc->{hint}, "Run \"chmod go-w $gw\".", 'with --log-format=json the hint is its own field');
		unlike($doc->{msg} // '', qr/hint/, 'and not in the message');
	}

	make_path("$dir/nobodys");
	chmod 0755, "$dir/nobodys";
	my $in = "$dir/nobodys/pgrotate.conf";
	write_config($in, $text);
	chown $nuid, $ngid, "$dir/nobodys";
	$r = $check->($in);
	is($r->{exit}, 2, 'a root 0600 config in a folder owned by nobody: exit 2');
	like($r->{stderr}, qr/folder "\Q$dir\E\/nobodys" on the path of configuration file .* belongs to uid $nuid.*\nHINT: Run "chown root \Q$dir\E\/nobodys",/,
		'a root 0600 config in a folder owned by nobody: the error names the folder and the chown');

	my $ssl = "$dir/sslpassword.conf";
	my $admin = $node->connstr(dbname => 'appdb', user => 'pgrotate_admin') . ' sslpassword=KeyPassphrase0';
	write_config($ssl, target_config(node => $node, sink_path => "$dir/sinks/app.env", admin => $admin));
	chmod 0644, $ssl;
	$r = $check->($ssl);
	is($r->{exit}, 2, 'sslpassword in a world-readable config: exit 2');
	like($r->{stderr}, qr/contains a password but is readable by group or others\n(?:DETAIL: .*\n)*HINT: Run "chmod 600 \Q$ssl\E"\./,
		'sslpassword in a world-readable config: refused like a password');
	unlike($r->{stderr}, qr/KeyPassphrase0/, 'the message does not show it');
}

# An owner or group of a sink that no user or group of this machine has:
# the cycle stops at publish, naming it and the fix; a number is taken as
# the id itself.
for my $case ([ 'owner', 'owner = "nosuch_pgr_user"', qr/owner "nosuch_pgr_user" is not a known user/,
		qr/HINT: Create the user or fix "owner" in the sink\./ ],
	[ 'group', 'owner = "4242"; group = "nosuch_pgr_group"', qr/group "nosuch_pgr_group" is not a known group/,
		qr/HINT: Create the group or fix "group" in the sink\./ ])
{
	my ($what, $keys, $re, $hint) = @$case;
	my $name = "an unknown sink $what";
	my $c = conf_with("unknown_$what", sprintf('{ type = "file"; path = "%s"; format = "env"; %s; }',
			"$dir/sinks/$what.env", $keys));
	my $r = refused_at_publish($name, $c, qr/sink file "\Q$dir\E\/sinks\/$what\.env": $re/);
	like($r->{stderr}, $hint, "$name: the hint says what to fix");
	ok(!-e "$dir/sinks/$what.env", "$name: nothing was written");
	finish($name);
}
{
	my $c = conf_with('numeric_ids', sprintf('{ type = "file"; path = "%s"; format = "env"; owner = "4242"; group = "4343"; }',
			"$dir/sinks/numeric.env"));
	my $r = pgr($c, 'cycle', 'appdb');
	is($r->{exit}, 0, 'a sink with a numeric owner and group: the cycle completes') or diag($r->{stderr});
	my @st = stat "$dir/sinks/numeric.env";
	is("$st[4]:$st[5]", '4242:4343', 'the file belongs to uid 4242 and gid 4343');
}

done_testing();
