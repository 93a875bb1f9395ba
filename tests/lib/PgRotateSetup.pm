package PgRotateSetup;

# What the rotation tests share: a cluster with a database "appdb", a
# non-superuser admin (CREATEROLE, CREATE on appdb, pg_signal_backend) whose
# password comes from a .pgpass file, a config with one env file sink, and
# helpers to read the published credential and inspect roles.

use strict;
use warnings;
use Exporter 'import';
use Test::More;
use PgRotateTest;

our @EXPORT = qw(setup_target pgr read_env_sink role_row login_works
  current_users);

# setup_target(%opts): starts a cluster and returns a hash
#   { node, conf (path), env (for run_pgrotate), sink (path), admin_password }
# Options: node (reuse), config_opts (passed to target_config),
# extra_grants (for the admin), cluster_opts.
sub setup_target
{
	my (%o) = @_;
	my $node = $o{node};
	unless ($node)
	{
		$node = PgRotateTest::Cluster->new('primary', %{ $o{cluster_opts} || {} });
		$node->start;
	}
	my $dbname = $o{dbname} // 'appdb';
	$node->create_database($dbname) unless $o{node};
	my $admin_pw = $o{admin_password};
	unless ($o{node})
	{
		$admin_pw = $node->create_admin('pgrotate_admin', createrole => 1,
			extra_grants => [ "CREATE ON DATABASE $dbname", 'pg_signal_backend',
				@{ $o{extra_grants} || [] } ]);
	}
	my $dir = test_dir();
	my $pgpass = "$dir/pgpass";
	$node->write_pgpass($pgpass, [ [ 'pgrotate_admin', $admin_pw ] ]) unless $o{node};
	my $sink = $o{sink_path} // "$dir/" . ($o{config_opts}{target} // 'appdb') . '.env';
	my $conf = "$dir/" . ($o{conf_name} // 'pgrotate.conf');
	write_config($conf, target_config(node => $node, sink_path => $sink, %{ $o{config_opts} || {} }));
	return {
		node => $node,
		conf => $conf,
		env => { PGPASSFILE => $pgpass, PGROTATE_CONFIG => undef },
		sink => $sink,
		admin_password => $admin_pw,
		pgpass => $pgpass,
	};
}

# pgr($t, @args) / pgr($t, [args], %run_opts): run pgrotate against $t's config.
sub pgr
{
	my ($t, @rest) = @_;
	my ($args, %ro) = ref $rest[0] eq 'ARRAY' ? @rest : (\@rest);
	return run_pgrotate(args => $args, config => $t->{conf}, env => $t->{env}, %ro);
}

# (role, password) of an env sink file.
sub read_env_sink
{
	my ($path) = @_;
	my $text = slurp_file($path);
	my ($user) = $text =~ /^PGUSER=(.*)$/m;
	my ($pw) = $text =~ /^PGPASSWORD=(.*)$/m;
	return ($user, $pw);
}

# "canlogin|has_password" of a role, from pg_authid (superuser).
sub role_row
{
	my ($node, $role) = @_;
	return $node->safe_psql(
		"SELECT CASE WHEN rolcanlogin THEN 't' ELSE 'f' END || '|'"
		  . " || CASE WHEN rolpassword IS NOT NULL THEN 't' ELSE 'f' END FROM pg_authid WHERE rolname = "
		  . PgRotateTest::quote_literal($role), dbname => 'postgres');
}

# Does role/password log in to dbname?
sub login_works
{
	my ($node, $role, $pw, $dbname) = @_;
	my ($rc) = $node->psql('SELECT 1', user => $role, password => $pw, dbname => $dbname // 'appdb');
	return $rc == 0;
}

# "session_user|current_user" when logged in as role/password.
sub current_users
{
	my ($node, $role, $pw) = @_;
	return $node->safe_psql('SELECT session_user || \'|\' || current_user',
		user => $role, password => $pw, dbname => 'appdb');
}

1;
