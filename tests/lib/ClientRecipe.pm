package ClientRecipe;

# What the contrib/clients tests (tests/t/18x_client_*.pl) share: an example
# application of contrib/clients started in the background with its real
# driver, under load, on the test cluster's private socket (or loopback),
# while pgrotate runs back-to-back cycles; then the application's own count
# of queries and failures.
#
# An application prints, when it gets SIGTERM, one line on stdout:
#   queries=N failures=N users=role:N,role:N
# and names its sessions with application_name (so the test can see it
# follow each new role in pg_stat_activity).

use strict;
use warnings;
use Exporter 'import';
use IPC::Run ();
use Test::More;
use Time::HiRes qw(time);
use PgRotateTest qw(:DEFAULT srcdir);
use PgRotateSetup;

our @EXPORT = qw(recipe_defaults recipe_dir start_app cycles_under_load
  stop_app finish_app app_backends node_modules_dir find_program);

# Settings of every recipe test: min_overlap just above the examples'
# re-read interval (RELOAD_MS 500), a drain that fails rather than
# terminates, a quick poll.
sub recipe_defaults
{
	my (%o) = @_;
	return {
		min_overlap => '1s',
		drain_timeout => '20s',
		poll_interval => '100ms',
		on_drain_timeout => 'fail',
		%o,
	};
}

# contrib/clients/NAME in the source tree.
sub recipe_dir
{
	my ($name) = @_;
	return srcdir() . "/contrib/clients/$name";
}

# The path of program $name (or of $ENV{$var} when set) in PATH, or undef.
sub find_program
{
	my ($name, $var) = @_;
	my $p = defined $var && defined $ENV{$var} ? $ENV{$var} : $name;
	return -x $p ? $p : undef if $p =~ m{/};
	for my $d (split /:/, $ENV{PATH} // '')
	{
		return "$d/$p" if -x "$d/$p" && !-d "$d/$p";
	}
	return undef;
}

# node_modules with pg, installed by "npm ci" from the committed lockfile
# (.ci/install-deps): $PGROTATE_NODE_MODULES, else
# /opt/pgrotate-ci/node-clients/node_modules, else the (gitignored)
# contrib/clients/node-postgres/node_modules.  undef when none has pg.
sub node_modules_dir
{
	for my $d ($ENV{PGROTATE_NODE_MODULES}, '/opt/pgrotate-ci/node-clients/node_modules',
		recipe_dir('node-postgres') . '/node_modules')
	{
		return $d if defined $d && -f "$d/pg/package.json";
	}
	return undef;
}

# start_app(name => 'label', cmd => [...], env => {...}): the application in
# the background, with no PG* variable of the harness (PGPASSFILE is the
# admin's) unless env sets it.
sub start_app
{
	my (%o) = @_;
	my %env = map { $_ => undef } grep { /^PG/ && !/^PGROTATE_/ } keys %ENV;
	%env = (%env, %{ $o{env} || {} });
	my $app = { name => $o{name}, out => '', err => '', t0 => time };
	$app->{h} = IPC::Run::start($o{cmd}, init => sub { chdir '/'; PgRotateTest::_apply_env(\%env); },
		'<', \'', '>', \$app->{out}, '2>', \$app->{err});
	PgRotateTest::_register_harness($app);
	note("started $o{name}: @{ $o{cmd} }");
	return $app;
}

sub _pump
{
	my ($app) = @_;
	local $SIG{PIPE} = 'IGNORE';
	eval { $app->{h}->pump_nb if $app->{h}->pumpable; 1 };
}

# Sessions of role $role on $node whose application_name starts with $appname.
sub app_backends
{
	my ($node, $appname, $role) = @_;
	return $node->safe_psql("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE '$appname%'"
		  . " AND usename = '$role'", dbname => 'postgres');
}

# The server log after byte $pos.
sub _log_after
{
	my ($node, $pos) = @_;
	open my $fh, '<', $node->log_file or return '';
	seek $fh, $pos, 0;
	local $/;
	my $text = <$fh>;
	close $fh;
	return $text // '';
}

# cycles_under_load($t, cycles => 10, apps => [ [$app, $appname, $check], ... ],
#   run => sub { pgrotate cycle result }, sink => env sink path):
# pgrotate cycle, cycles times; each must exit 0 and revoke the old role
# (pg_authid: NOLOGIN, no password), and every application must then open
# a connection as the new role: the server log's "connection authorized:
# user=NEW ... application_name=APPNAME" after the cycle started, or
# $check->($new) when given.  Returns the number of cycles that completed.
sub cycles_under_load
{
	my ($t, %o) = @_;
	my $node = $t->{node};
	my $sink = $o{sink} // $t->{sink};
	my $done = 0;
	for my $i (1 .. $o{cycles})
	{
		my ($old) = read_env_sink($sink);
		my $pos = $node->log_position;
		my $t0 = time;
		my $r = $o{run} ? $o{run}->() : pgr($t, [ 'cycle', 'appdb' ], timeout => 90);
		my $secs = sprintf('%.1f', time - $t0);
		my ($new) = read_env_sink($sink);
		my $ok = is($r->{exit}, 0, "cycle $i ($old -> $new, ${secs}s) completes under load");
		diag($r->{stderr}) unless $ok;
		$ok &&= is(role_row($node, $old), 'f|f', "cycle $i: the old role $old is revoked (pg_authid)");
		for my $a (@{ $o{apps} })
		{
			my ($app, $appname, $check) = @$a;
			$check //= sub {
				_log_after($node, $pos)
				  =~ /connection authorized: user=\Q$_[0]\E database=\S+ application_name=\Q$appname\E\b/;
			};
			_pump($app);
			$ok &&= poll_until(sub { $check->($new) }, timeout => 20,
				what => "cycle $i: $app->{name} to connect as $new");
		}
		$done++ if $ok;
		last unless $ok;
	}
	is($done, $o{cycles}, "$o{cycles} cycles completed, each revoking the old role");
	return $done;
}

# finish_app($app): SIGTERM, wait, parse its summary line.  Returns
# { exit, queries, failures (-1 without a summary), users => {role => N} }.
sub finish_app
{
	my ($app) = @_;
	my $h = $app->{h};
	$h->signal('TERM');
	my $ok = eval { local $SIG{PIPE} = 'IGNORE'; $h->finish(IPC::Run::timer(30)); 1 };
	eval { $h->kill_kill(grace => 2) } unless $ok;
	my %s = (exit => $ok ? $h->result(0) : -1, queries => 0, failures => -1, users => {});
	if ($app->{out} =~ /^queries=(\d+) failures=(\d+) users=(\S*)$/m)
	{
		@s{qw(queries failures)} = ($1, $2);
		$s{users} = { map { split /:/ } split /,/, $3 };
	}
	$s{secs} = sprintf('%.0f', time - $app->{t0});
	note("RESULT $app->{name}: queries $s{queries}, failures $s{failures} in $s{secs}s");
	return \%s;
}

# stop_app($app, roles => N): finish_app, asserting a clean exit, queries
# run, none failed, and queries run as N (2) roles.
sub stop_app
{
	my ($app, %o) = @_;
	my $s = finish_app($app);
	is($s->{exit}, 0, "$app->{name} stopped cleanly") or diag("stdout:\n$app->{out}\nstderr:\n$app->{err}");
	cmp_ok($s->{queries}, '>', 0, "$app->{name} ran queries ($s->{queries})");
	is($s->{failures}, 0, "$app->{name}: 0 failed queries") or diag($app->{err});
	cmp_ok(scalar keys %{ $s->{users} }, '>=', $o{roles} // 2,
		"$app->{name} ran queries as both login roles (" . join(', ', sort keys %{ $s->{users} }) . ')');
	return $s;
}

1;
