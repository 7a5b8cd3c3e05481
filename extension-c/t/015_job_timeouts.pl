# The statements of a job are timed as exec_simple_query times a client's statements:
# statement_timeout (carried in from the launcher, or SET inside the job) limits each
# statement, lock_timeout limits lock waits, and pg_background.worker_timeout limits the
# whole job on top.  A worker kept for the next job starts it with no timer left over.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

my $node = new_node('job_timeouts');
$node->safe_psql('postgres', 'CREATE TABLE locked_t (x int)');
my $s = open_session($node);
my $locker = open_session($node);

# Drains a job; returns (error rows, rows, done state).
sub outcome
{
	my ($pid, $cookie) = @_;
	my @msgs = drain($s, $pid, $cookie);
	my @errors = grep { /^error\|/ } @msgs;
	return (\@errors, [ kinds('row', @msgs) ], (kinds('done', @msgs))[0]);
}

# --- the launcher's statement_timeout is carried in and enforced -------------------------
{
	sql_ok($s, q{SET statement_timeout = '1s'});
	my ($pid, $cookie) = launch($s,
		q{SELECT current_setting('statement_timeout'); SELECT pg_sleep(3); SELECT 'ran past'});
	sql_ok($s, 'RESET statement_timeout');
	my ($errors, $rows, $done) = outcome($pid, $cookie);
	is($rows->[0], '["1s"]', 'carried in: the job sees the launcher\'s statement_timeout');
	is(scalar(@$errors), 1, 'carried in: the job fails');
	like($errors->[0] // '', qr/^error\|2\|.*"sqlstate":"57014".*canceling statement due to statement timeout/,
		'carried in: the sleeping statement is canceled by statement_timeout (57014)');
	ok(!grep({ /ran past/ } @$rows), 'carried in: no statement after it runs');
	is($done, '{"state":"error"}', 'carried in: a timeout is an error, not a cancel');
}

# --- SET inside the job applies from the next statement on --------------------------------
{
	my ($pid, $cookie) = launch($s,
		q{SET statement_timeout = '500ms'; SELECT pg_sleep(2); SELECT 'ran past'});
	my ($errors, $rows, $done) = outcome($pid, $cookie);
	like($errors->[0] // '', qr/^error\|2\|.*"sqlstate":"57014".*statement timeout/,
		'SET inside the job: the next statement is timed by it');
	ok(!grep({ /ran past/ } @$rows), 'SET inside the job: no statement after it runs');
}

# --- the limit is per statement, not per string -------------------------------------------
{
	sql_ok($s, q{SET statement_timeout = '1500ms'});
	my ($pid, $cookie) = launch($s,
		q{SELECT pg_sleep(0.8); SELECT pg_sleep(0.8); SELECT 'all ran'});
	sql_ok($s, 'RESET statement_timeout');
	my ($errors, $rows, $done) = outcome($pid, $cookie);
	is(scalar(@$errors), 0, 'per statement: statements that each stay under the limit pass');
	is($rows->[-1], '["all ran"]', 'per statement: the whole string runs');
	is($done, '{"state":"completed"}', 'per statement: the job completes');
}

# --- lock_timeout ---------------------------------------------------------------------------
{
	sql_ok($locker, 'BEGIN');
	sql_ok($locker, 'LOCK TABLE locked_t IN ACCESS EXCLUSIVE MODE');
	sql_ok($s, q{SET lock_timeout = '300ms'});
	my ($pid, $cookie) = launch($s, q{SELECT count(*) FROM locked_t; SELECT 'ran past'});
	sql_ok($s, 'RESET lock_timeout');
	my ($errors, $rows, $done) = outcome($pid, $cookie);
	like($errors->[0] // '', qr/^error\|1\|.*"sqlstate":"55P03".*canceling statement due to lock timeout/,
		'lock_timeout: the lock wait fails with 55P03');
	is($done, '{"state":"error"}', 'lock_timeout: the job ends with an error');
	sql_ok($locker, 'COMMIT');
}

# --- pg_background.worker_timeout limits the whole job on top -------------------------------
{
	sql_ok($s, q{SET pg_background.worker_timeout = '1s'});
	my ($pid, $cookie) = launch($s,
		q{SELECT pg_sleep(0.6); SELECT pg_sleep(0.6); SELECT pg_sleep(0.6); SELECT 'ran past'});
	my ($errors, $rows, $done) = outcome($pid, $cookie);
	like($errors->[0] // '', qr/^error\|\d\|.*"sqlstate":"57014".*"detail":"The job ran longer than pg_background.worker_timeout \(1000 ms\)\."/,
		'worker_timeout: statements under no statement_timeout still end at the job\'s deadline');
	ok(!grep({ /ran past/ } @$rows), 'worker_timeout: no statement after it runs');

	sql_ok($s, q{SET statement_timeout = '20s'});
	($pid, $cookie) = launch($s, q{SELECT pg_sleep(5)});
	sql_ok($s, 'RESET statement_timeout');
	($errors, $rows, $done) = outcome($pid, $cookie);
	like($errors->[0] // '', qr/pg_background.worker_timeout/,
		'worker_timeout: the earlier of the two limits ends the statement');

	sql_ok($s, q{SET statement_timeout = '300ms'});
	($pid, $cookie) = launch($s, q{SELECT pg_sleep(5)});
	sql_ok($s, 'RESET statement_timeout');
	($errors, $rows, $done) = outcome($pid, $cookie);
	like($errors->[0] // '', qr/"sqlstate":"57014".*statement timeout","detail":null/,
		'statement_timeout: when it comes first it is reported as such');
	sql_ok($s, 'RESET pg_background.worker_timeout');
}

# --- a kept worker starts its next job with no timer armed ----------------------------------
{
	sql_ok($s, q{SET pg_background.worker_idle_timeout = '30s'});
	sql_ok($s, q{SET pg_background.worker_timeout = '1s'});
	sql_ok($s, q{SET statement_timeout = '1s'});
	my ($p1, $c1) = launch($s, 'SELECT 1');
	sql_ok($s, 'RESET pg_background.worker_timeout');
	sql_ok($s, 'RESET statement_timeout');
	is(sql_ok($s, "SELECT * FROM pg_background_result_v2($p1, $c1) AS (r int)"), '1',
		'reuse: a first job under both limits completes');
	ok(wait_until($node, "SELECT count(*) = 1 FROM pg_stat_activity WHERE pid = $p1 AND state = 'idle'"),
		'reuse: the worker waits for the next job');
	my ($p2, $c2) = launch($s, q{SELECT pg_sleep(1.5); SELECT 'done'});
	is($p2, $p1, 'reuse: the next job runs in the same worker');
	my ($errors, $rows, $done) = outcome($p2, $c2);
	is(scalar(@$errors), 0, 'reuse: no limit of the previous job applies to the next');
	is($done, '{"state":"completed"}', 'reuse: the next job completes');
}

$s->quit;
$locker->quit;
wait_no_workers($node);
close_monitors();
$node->stop;
done_testing();
