# Cancel versus detach.  Detach only forgets the handle: the job keeps running and its
# transaction commits.  Cancel stops the job: its transaction never commits.  A job that
# ignores the cancel request is terminated once the grace period is over.
#
# Jobs are held at a known point with an advisory lock that this test owns, so "still
# running" and "never committed" are facts, not timing guesses.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

my $node = new_node('cancel');
$node->safe_psql('postgres', 'CREATE TABLE t (id int)');

my $locker = open_session($node);
my $s = open_session($node);
my $spid = sql_ok($s, 'SELECT pg_backend_pid()');

sub has_row
{
	my ($id) = @_;
	return $node->safe_psql('postgres', "SELECT count(*) FROM t WHERE id = $id");
}

sub blocked_job
{
	my ($id) = @_;
	return "SELECT pg_advisory_xact_lock(77); INSERT INTO t VALUES ($id)";
}

# wait until the worker is actually waiting for our lock
sub wait_blocked
{
	my ($pid) = @_;
	ok( wait_until($node, "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $pid"),
		"worker $pid is blocked on the test's lock");
}

# --- detach_v2: the job commits ------------------------------------------------------
sql_ok($locker, 'SELECT pg_advisory_lock(77)');
my ($pid, $cookie) = launch($s, blocked_job(1));
wait_blocked($pid);
sql_ok($s, "SELECT pg_background_detach_v2($pid, $cookie)", 'detach_v2 succeeds');
is( sql_ok($s, list_sql()),
	'0', 'a detached handle is no longer listed');
sql_err($s, "SELECT * FROM pg_background_fetch_v2($pid, $cookie)", ['42704', '55000'],
	'a detached handle can no longer be fetched');
is(scalar(grep { $_ == $pid } worker_pids($node)), 1,
	'detach did not stop the worker');
sql_ok($locker, 'SELECT pg_advisory_unlock(77)');
ok(wait_until($node, 'SELECT count(*) = 1 FROM t WHERE id = 1'),
	'the detached job ran to the end and its INSERT committed');
wait_no_workers($node, 'the detached worker exited');

# --- v1 detach: the same --------------------------------------------------------------
sql_ok($locker, 'SELECT pg_advisory_lock(77)');
my $v1pid = sql_ok($s, "SELECT pg_background_launch('" . blocked_job(2) . "')");
wait_blocked($v1pid);
sql_ok($s, "SELECT pg_background_detach($v1pid)", 'v1 detach succeeds');
sql_ok($locker, 'SELECT pg_advisory_unlock(77)');
ok(wait_until($node, 'SELECT count(*) = 1 FROM t WHERE id = 2'),
	'the job detached through the v1 API committed');
wait_no_workers($node);

# --- cancel_v2: the job stops, nothing commits ----------------------------------------
sql_ok($locker, 'SELECT pg_advisory_lock(77)');
($pid, $cookie) = launch($s, blocked_job(3));
wait_blocked($pid);
sql_ok($s, "SELECT pg_background_cancel_v2($pid, $cookie)", 'cancel_v2 succeeds');
is(sql_ok($s, "SELECT pg_background_wait_v2_timeout($pid, $cookie, 60000)"),
	't', 'wait after cancel returns: the worker stopped');
my @msgs = drain($s, $pid, $cookie);
like((kinds('done', @msgs))[0], qr/"state"\s*:\s*"canceled"/,
	'fetch_v2 reports the job as canceled');
wait_no_workers($node);
sql_ok($locker, 'SELECT pg_advisory_unlock(77)');
is(has_row(3), '0', 'the canceled job never inserted, even once the lock was free');

# --- cancel while the job is busy producing rows ----------------------------------------
($pid, $cookie) = launch($s,
	'SELECT g FROM generate_series(1, 100000000) g; INSERT INTO t VALUES (4)', queue => 65536);
my $got = 0;
for (1 .. 100)
{
	$got += sql_ok($s, "SELECT count(*) FROM pg_background_fetch_v2($pid, $cookie, 100, 1000) WHERE kind = 'row'");
	last if $got > 0;
}
ok($got > 0, 'the streaming job produced rows');
sql_ok($s, "SELECT pg_background_cancel_v2($pid, $cookie)", 'cancel of a streaming job');
@msgs = drain($s, $pid, $cookie);
like((kinds('done', @msgs))[0], qr/"state"\s*:\s*"canceled"/,
	'the streaming job ends as canceled');
wait_no_workers($node);
is(has_row(4), '0', 'the canceled streaming job never reached its INSERT');

# --- result_v2 of a canceled job raises the cancellation -------------------------------
sql_ok($locker, 'SELECT pg_advisory_lock(77)');
($pid, $cookie) = launch($s, blocked_job(5));
wait_blocked($pid);
sql_ok($s, "SELECT pg_background_cancel_v2($pid, $cookie)");
sql_err($s, "SELECT * FROM pg_background_result_v2($pid, $cookie) AS (x text)", '57014',
	'result_v2 of a canceled job raises query_canceled');
sql_ok($locker, 'SELECT pg_advisory_unlock(77)');
wait_no_workers($node);
is(has_row(5), '0', 'no insert from the canceled job');

# --- a job that swallows cancel requests is terminated after the grace period ----------
my $stubborn = q{DO $$ BEGIN
  LOOP
    BEGIN
      PERFORM pg_sleep(3600);
    EXCEPTION WHEN query_canceled THEN
      RAISE NOTICE 'ignoring a cancel';
    END;
  END LOOP;
END $$; INSERT INTO t VALUES (6)};
($pid, $cookie) = launch($s, $stubborn);
ok(wait_until($node, "SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE pid = $pid"),
	'the stubborn job is sleeping');
sql_ok($s, "SELECT pg_background_cancel_v2_grace($pid, $cookie, 200)",
	'cancel_v2_grace succeeds');
ok(wait_until($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"),
	'the job ignoring cancel was terminated after the grace period');
@msgs = drain($s, $pid, $cookie);
like((kinds('done', @msgs))[0], qr/"state"\s*:\s*"(canceled|lost|error)"/,
	'fetch_v2 reports the terminated job as ended');
is(has_row(6), '0', 'the terminated job never inserted');

# --- submit_v2 never blocks on a full queue, even when nobody reads --------------------
($pid, $cookie) = launch($s,
	'SELECT g FROM generate_series(1, 200000) g; INSERT INTO t VALUES (7)', submit => 1);
ok(wait_until($node, 'SELECT count(*) = 1 FROM t WHERE id = 7'),
	'a submitted job producing far more output than its queue holds still completes');
is(sql_ok($s, "SELECT pg_background_wait_v2_timeout($pid, $cookie, 60000)"), 't',
	'wait on a submitted job returns');

# --- after everything: nothing left behind ----------------------------------------------
$s->quit;
$locker->quit;
wait_no_workers($node);
close_monitors();
$node->stop;
done_testing();
