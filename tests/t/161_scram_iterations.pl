# The SCRAM verifier uses the server's scram_iterations (PostgreSQL 16 and
# later; 4096 before), and the pgbouncer sink carries the very string
# stored in pg_authid. The scram_iterations part needs a 16+ server
# (PG_BINDIR) and is skipped otherwise.
use strict;
use warnings;
use Test::More;
use PgRotateTest;
use PgRotateSetup;

my ($major) = `'${\ PgRotateTest::pg_bindir()}/postgres' --version` =~ /(\d+)(?:\.\d+)*\s*(?:\(|$)/m;
my $new = defined $major && $major >= 16;
my $bouncer = test_dir() . '/auth_file.txt';
my $t = setup_target(
	cluster_opts => $new ? { extra_conf => 'scram_iterations = 10000' } : {},
	config_opts => { extra_sinks => sprintf('{ type = "file"; path = %s; format = "pgbouncer"; }',
			PgRotateTest::cfg_quote($bouncer)) });
my $node = $t->{node};
my $want = $new ? 10000 : 4096;

sub rolpassword
{
	return $node->safe_psql('SELECT rolpassword FROM pg_authid WHERE rolname = '
		  . PgRotateTest::quote_literal($_[0]));
}

sub check_generation
{
	my ($what) = @_;
	my ($u, $p) = read_env_sink($t->{sink});
	my $stored = rolpassword($u);
	like($stored, qr/^SCRAM-SHA-256\$$want:[A-Za-z0-9+\/]{22}==\$[A-Za-z0-9+\/]{43}=:[A-Za-z0-9+\/]{43}=$/,
		"$what: pg_authid holds a verifier with $want iterations and a 16-byte salt");
	my @lines = grep { /^"\Q$u\E" / } split /\n/, slurp_file($bouncer);
	is_deeply(\@lines, [qq("$u" "$stored")], "$what: the pgbouncer sink carries the same string");
	is(current_users($node, $u, $p), "$u|app", "$what: the published password logs in");
	return $stored;
}

my $r = pgr($t, 'init', 'appdb');
is($r->{exit}, 0, 'init') or BAIL_OUT($r->{stderr});
my $first = check_generation('init');
$r = pgr($t, 'cycle', 'appdb');
is($r->{exit}, 0, 'cycle') or diag($r->{stderr});
my $second = check_generation('cycle');
my ($salt1) = $first =~ /:([^\$]+)\$/;
my ($salt2) = $second =~ /:([^\$]+)\$/;
isnt($salt1, $salt2, 'each verifier has a fresh salt');
SKIP:
{
	skip "PostgreSQL $major has no scram_iterations (set PG_BINDIR to a 16+ server)", 1 unless $new;
	is($node->safe_psql('SHOW scram_iterations'), '10000', 'the server asks for 10000 iterations');
}
done_testing();
