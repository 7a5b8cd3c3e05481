# How a job that ends in 57014 is reported.  "canceled" means a cancel was asked for
# (cancel_v2); statement_timeout and pg_background.worker_timeout are errors like
# lock_timeout.  worker_timeout is named in the message itself, so a reader that gets
# the error from the status block (the worker was blocked on a full queue and gave up
# its output) still learns which limit it was, and it is named only when the job's
# deadline fired, not when a statement_timeout is raised after the deadline.  A cancel
# that arrives while a failed job reports its error does not lose that error.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

my $node = new_node('timeout_outcomes');
my $s = open_session($node);
my $stats = 'SELECT workers_completed, workers_failed, workers_canceled FROM pg_background_stats_v2()';

sub outcome
{
	my ($pid, $cookie) = @_;
	my @msgs = drain($s, $pid, $cookie);
	return ([ grep { /^error\|/ } @msgs ], (kinds('done', @msgs))[0]);
}

# --- statement_timeout is an error, not a cancel ----------------------------------------
{
	sql_ok($s, q{SET statement_timeout = '300ms'});
	my ($pid, $cookie) = launch($s, q{SELECT pg_sleep(5)});
	sql_ok($s, 'RESET statement_timeout');
	my ($errors, $done) = outcome($pid, $cookie);
	like($errors->[0] // '', qr/"sqlstate":"57014".*statement timeout/,
		'statement_timeout: 57014 is reported');
	is($done, '{"state":"error"}', 'statement_timeout: the job ends with an error');
	is(sql_ok($s, $stats), '0|1|0', 'statement_timeout: counted as failed');
}

# --- worker_timeout while the worker waits on a full queue ------------------------------
{
	sql_ok($s, q{SET pg_background.worker_timeout = '1s'});
	# 10 MB of rows: more than the queue and the worker's overflow buffer hold
	my ($pid, $cookie) = launch($s,
		q{SELECT repeat('x', 1000) FROM generate_series(1, 10000)}, queue => 65536);
	sql_ok($s, 'RESET pg_background.worker_timeout');
	ok( wait_until($node,
			"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"),
		'worker_timeout on a full queue: the worker gives up and exits');
	my ($errors, $done) = outcome($pid, $cookie);
	like($errors->[0] // '', qr/"sqlstate":"57014".*pg_background\.worker_timeout/,
		'worker_timeout on a full queue: the error names pg_background.worker_timeout')
	  or diag(join("\n", @$errors));
	is($done, '{"state":"error"}', 'worker_timeout on a full queue: the job ends with an error');
}

# --- a statement_timeout raised after the deadline is not blamed on worker_timeout ------
{
	sql_ok($s, q{SET statement_timeout = '500ms'});
	sql_ok($s, q{SET pg_background.worker_timeout = '1s'});
	# the statement's timer fires at 0.5 s; the block catches it, waits past the job's
	# deadline (which was never armed: one timer serves both, and it was armed for the
	# statement) and raises it again at 2 s
	my ($pid, $cookie) = launch($s,
		q{DO $$BEGIN PERFORM pg_sleep(5); EXCEPTION WHEN query_canceled THEN PERFORM pg_sleep(1.5); RAISE; END$$});
	sql_ok($s, 'RESET statement_timeout');
	sql_ok($s, 'RESET pg_background.worker_timeout');
	my ($errors, $done) = outcome($pid, $cookie);
	like($errors->[0] // '', qr/"sqlstate":"57014"/, 'attribution: 57014 is reported');
	unlike($errors->[0] // '', qr/worker_timeout/,
		'attribution: a statement_timeout is not reported as worker_timeout');
}

# --- a cancel while a failed job reports its error --------------------------------------
{
	# 3 MB of rows fit the worker's overflow buffer; the error that follows must wait for
	# the reader, and the cancel arrives while it waits
	my ($pid, $cookie) = launch($s,
		q{SELECT CASE WHEN g < 3000 THEN repeat('x', 1000) ELSE (1 / (g - 3000))::text END FROM generate_series(1, 3000) g},
		queue => 65536);
	ok( wait_until($node,
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE pid = $pid AND wait_event = 'MessageQueueSend'"),
		'cancel while reporting: the failed job waits for its reader');
	sql_ok($s, "SELECT pg_background_cancel_v2($pid, $cookie)");
	my ($errors, $done) = outcome($pid, $cookie);
	like($errors->[0] // '', qr/"sqlstate":"22012".*division by zero/,
		'cancel while reporting: the job\'s own error is not lost')
	  or diag(join("\n", @$errors));
	is($done, '{"state":"error"}', 'cancel while reporting: the job failed before the cancel');
	my $log = slurp_file($node->logfile);
	unlike($log, qr/ERROR:  canceling statement due to user request/,
		'cancel while reporting: the late cancel raises no second error in the worker');
}

$s->quit;
wait_no_workers($node);
close_monitors();
$node->stop;
done_testing();
