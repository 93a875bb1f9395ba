# Failures are state (issue 14, item 2): a failed run records when, in
# which step and why, in the state and the history; status reports it
# CRITICAL in text, JSON and Prometheus until a later cycle succeeds.
use strict;
use warnings;
use JSON::PP;
use Test::More;
use PgRotateTest;
use PgRotateSetup;

my $t = setup_target(config_opts => { defaults => { min_overlap => '0' } });
my $node = $t->{node};
my $dir = test_dir();

my $r = pgr($t, 'init', 'appdb');
is($r->{exit}, 0, 'init') or BAIL_OUT($r->{stderr});

my $bad = "$dir/badverify.conf";
write_config($bad, target_config(node => $node, sink_path => $t->{sink},
		defaults => { min_overlap => '0', verify_query => 'SELECT * FROM no_such_table' }));
$r = run_pgrotate(args => [ 'cycle', 'appdb' ], config => $bad, env => $t->{env});
is($r->{exit}, 1, 'a cycle whose verify fails exits 1');

is($node->safe_psql("SELECT last_error_step, last_error ~ 'no_such_table', last_error_at > now() - interval '1 minute'"
		  . " FROM pgrotate.state", dbname => 'appdb'),
	'verify|t|t', 'the state records step, message and time');
is($node->safe_psql("SELECT event, detail FROM pgrotate.history ORDER BY id DESC LIMIT 1", dbname => 'appdb'),
	'failed|verify', 'the history records the failed run');

$r = pgr($t, 'status', 'appdb');
is($r->{exit}, 2, 'status: CRITICAL');
like($r->{stdout}, qr/CRITICAL: +the last run failed at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ in step verify: .*no_such_table/,
	'status names time, step and message');

$r = pgr($t, 'status', 'appdb', '--format=json');
my $d = eval { JSON::PP->new->decode($r->{stdout}) } or diag($r->{stdout});
my $ts = $d->{targets}[0];
like($ts->{last_error} // '', qr/no_such_table/, 'json: last_error');
is($ts->{last_error_step}, 'verify', 'json: last_error_step');
like($ts->{last_error_at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'json: last_error_at');

$r = pgr($t, 'status', 'appdb', '--format=prometheus');
like($r->{stdout}, qr/^pgrotate_last_cycle_success\{target="appdb"\} 0$/m, 'prometheus: last cycle failed');
like($r->{stdout}, qr/^pgrotate_last_error_timestamp_seconds\{target="appdb"\} \d{10}$/m,
	'prometheus: when it failed');

# A later cycle succeeds: the error is gone.
$r = pgr($t, 'cycle', 'appdb');
is($r->{exit}, 0, 'a good cycle') or diag($r->{stderr});
is($node->safe_psql("SELECT coalesce(last_error, 'none'), coalesce(last_error_step, 'none') FROM pgrotate.state",
		dbname => 'appdb'), 'none|none', 'the state error is cleared');
$r = pgr($t, 'status', 'appdb');
is($r->{exit}, 0, 'status: OK again') or diag($r->{stdout});
$r = pgr($t, 'status', 'appdb', '--format=prometheus');
like($r->{stdout}, qr/^pgrotate_last_cycle_success\{target="appdb"\} 1$/m, 'prometheus: success');
unlike($r->{stdout}, qr/^pgrotate_last_error_timestamp_seconds\{/m, 'prometheus: no error timestamp');

# A refusal before anything changes (a setup problem) is recorded too.
$node->safe_psql('ALTER ROLE app LOGIN');
$r = pgr($t, 'cycle', 'appdb');
is($r->{exit}, 1, 'a setup problem refuses');
$r = pgr($t, 'status', 'appdb');
like($r->{stdout}, qr/CRITICAL: +the last run failed at \S+ in step setup: the setup of target "appdb" has 1 problem, first: group role "app" is NOLOGIN/,
	'status shows the refusal');
$node->safe_psql('ALTER ROLE app NOLOGIN');

# A dry run or a run locked out records nothing.
$r = pgr($t, 'cycle', 'appdb');
is($r->{exit}, 0, 'the cycle succeeds once fixed') or diag($r->{stderr});
my $before = $node->safe_psql('SELECT count(*) FROM pgrotate.history', dbname => 'appdb');
$node->safe_psql('ALTER ROLE app LOGIN');
$r = pgr($t, 'cycle', 'appdb', '--dry-run');
isnt($r->{exit}, 0, 'a dry run reports the setup problem');
is($node->safe_psql("SELECT coalesce(last_error, 'none') || ' ' || (SELECT count(*) FROM pgrotate.history)"
		  . " FROM pgrotate.state", dbname => 'appdb'), "none $before", 'a dry run records nothing');
$node->safe_psql('ALTER ROLE app NOLOGIN');

done_testing();
