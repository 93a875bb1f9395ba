# contrib/clients/java: pgjdbc with HikariCP, whose user and password are
# changed at run time through HikariConfigMXBean and whose connections are
# soft-evicted when the env file sink changes, under load (loopback TCP:
# pgjdbc has no Unix sockets) while pgrotate runs 10 cycles with
# min_overlap just above its re-read interval and on_drain_timeout =
# "fail": no query fails, every cycle completes and revokes the old role.
# Needs a JDK 11+ (default-jdk-headless), libpostgresql-jdbc-java,
# libhikaricp-java and libslf4j-java.
use strict;
use warnings;
use Test::More;
use PgRotateTest;
use PgRotateSetup;
use ClientRecipe;

my $java = find_program('java', 'PGROTATE_JAVA');
my $jars = $ENV{PGROTATE_JAVA_JARS} // '/usr/share/java';
plan skip_all => 'java is not installed (Debian default-jdk-headless, see .ci/install-deps)' unless $java;
# java runs a source file with the JDK's compiler (a JRE alone cannot)
plan skip_all => 'no JDK: javac is not installed (Debian default-jdk-headless)' unless find_program('javac');
my @cp = map { "$jars/$_" } qw(HikariCP.jar postgresql.jar slf4j-api.jar slf4j-nop.jar);
for my $j (@cp)
{
	plan skip_all => "$j is missing (Debian libhikaricp-java, libpostgresql-jdbc-java, libslf4j-java;"
	  . ' see .ci/install-deps)' unless -f $j;
}

my $t = setup_target(cluster_opts => { tcp => 1 }, config_opts => { defaults => recipe_defaults() });
my $node = $t->{node};
my $r = pgr($t, 'init', 'appdb');
is($r->{exit}, 0, 'init') or BAIL_OUT($r->{stderr});

my $app = start_app(name => 'pgjdbc + HikariCP',
	cmd => [ $java, '-XX:TieredStopAtLevel=1', '-Xshare:auto', '-cp', join(':', @cp),
		recipe_dir('java') . '/RotatingHikari.java' ],
	env => { DB_CREDENTIALS => $t->{sink}, RELOAD_MS => 500, APP_NAME => 'hikaricp-recipe',
		JDBC_URL => 'jdbc:postgresql://127.0.0.1:' . $node->port . '/appdb' });
poll_until(sub { app_backends($node, 'hikaricp-recipe', 'app_user_a') > 0 }, timeout => 60,
	what => 'the application to connect as app_user_a', on_timeout => 'die');

# pgjdbc sets application_name after the login (unless
# assumeMinServerVersion), so the server log's "connection authorized" line
# does not name it: look for the pool's sessions of the new role instead.
cycles_under_load($t, cycles => 10,
	apps => [ [ $app, 'hikaricp-recipe', sub { app_backends($node, 'hikaricp-recipe', $_[0]) > 0 } ] ]);
stop_app($app);
done_testing();
