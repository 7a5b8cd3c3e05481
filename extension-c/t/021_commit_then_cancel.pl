# A job whose last transaction has committed is completed, whatever happens while it
# waits for the launcher to take its final messages: neither pg_background.worker_timeout
# nor cancel_v2 may turn it into "canceled" (a client would run the INSERT again).  The
# output that did not reach the queue is given up; the reader learns the outcome from the
# status block when the worker's queue ends.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

my $node = new_node('commit_then_cancel');
$node->safe_psql('postgres', 'CREATE TABLE wt (i int, pad text)');
my $s = open_session($node);

# 3000 rows of 1 kB: more than a 64 kB queue holds, so the worker waits for a reader at
# the end of the statement, after it has committed.
my $job = q{INSERT INTO wt SELECT g, repeat('x', 1000) FROM generate_series(1, 3000) g RETURNING pad};

sub check_completed
{
	my ($what, $pid, $cookie, $rows_before) = @_;
	my @msgs = drain($s, $pid, $cookie);
	my @errors = grep { /^error\|/ } @msgs;
	is(scalar(@errors), 0, "$what: no error is reported for a committed job")
	  or diag(join("\n", @errors));
	is((kinds('done', @msgs))[0], '{"state":"completed"}', "$what: the job ends completed");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM wt'), $rows_before + 3000,
		"$what: its rows are committed");
	is( sql_ok($s, 'SELECT workers_completed, workers_canceled FROM pg_background_stats_v2()'),
		$what eq 'worker_timeout' ? '1|0' : '2|0',
		"$what: counted as completed");
}

# --- worker_timeout fires while the committed job waits for its reader ----------------
{
	sql_ok($s, q{SET pg_background.worker_timeout = '2s'});
	my ($pid, $cookie) = launch($s, $job, queue => 65536);
	sql_ok($s, 'RESET pg_background.worker_timeout');
	ok(wait_until($node, 'SELECT count(*) = 3000 FROM wt'), 'worker_timeout: the INSERT commits');
	# past the deadline: the worker has been waiting for us with the rows in its queue
	sql_ok($s, 'SELECT pg_sleep(3)');
	check_completed('worker_timeout', $pid, $cookie, 0);
}

# --- cancel_v2 after the commit ----------------------------------------------------------
{
	my ($pid, $cookie) = launch($s, $job, queue => 65536);
	ok(wait_until($node, 'SELECT count(*) = 6000 FROM wt'), 'cancel: the INSERT commits');
	ok( wait_until($node,
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE pid = $pid AND wait_event = 'MessageQueueSend'"),
		'cancel: the worker waits for its reader');
	sql_ok($s, "SELECT pg_background_cancel_v2($pid, $cookie)");
	check_completed('cancel', $pid, $cookie, 3000);
}

$s->quit;
wait_no_workers($node);
close_monitors();
$node->stop;
done_testing();
