# A worker kept for reuse (pg_background.worker_idle_timeout) belongs to its launching
# session: when that session ends, however it ends, the worker must exit at once instead
# of holding a max_worker_processes slot until its idle timeout.
#
# The idle timeout here is the longest allowed (60 s) and each wait for the worker to go
# is limited to 15 s, so a worker that merely times out fails the test.  No new backend
# may connect while we wait: a new backend usually takes the PGPROC slot the launcher
# just gave back, which is the one case a worker used to notice.  All polling therefore
# runs in a session opened beforehand.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use PgbgTest;

my $node = new_node('idle_session_end');
my $monitor = open_session($node);

# Polls in the monitor session until the worker is gone, for at most 15 s (the idle
# timeout is 60 s).
sub gone_soon
{
	my ($pid) = @_;
	my $deadline = time + 15;
	while (time < $deadline)
	{
		return 1
		  if sql_ok($monitor, "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid") eq '0';
		select(undef, undef, undef, 0.05);
	}
	return 0;
}

# A session that ran one job and kept its worker; returns (session, its PID, worker PID).
sub session_with_idle_worker
{
	my ($what) = @_;
	my $s = open_session($node);
	my $spid = sql_ok($s, 'SELECT pg_backend_pid()');
	sql_ok($s, q{SET pg_background.worker_idle_timeout = '60s'});
	my ($pid, $cookie) = launch($s, 'SELECT 1');
	is(sql_ok($s, "SELECT * FROM pg_background_result_v2($pid, $cookie) AS (r int)"),
		'1', "$what: the job ran");
	my $idle = 0;
	for (1 .. 300)
	{
		$idle = sql_ok($monitor,
			"SELECT count(*) FROM pg_stat_activity WHERE pid = $pid AND state = 'idle'") eq '1';
		last if $idle;
		select(undef, undef, undef, 0.05);
	}
	ok($idle, "$what: the worker waits for another job");
	return ($s, $spid, $pid);
}

# --- the client disconnects -------------------------------------------------------------
{
	my ($s, $spid, $pid) = session_with_idle_worker('disconnect');
	$s->quit;
	ok(gone_soon($pid), 'disconnect: the idle worker exits with its session');
}

# --- the session is terminated ----------------------------------------------------------
{
	my ($s, $spid, $pid) = session_with_idle_worker('terminate');
	is(sql_ok($monitor, "SELECT pg_terminate_backend($spid)"), 't',
		'terminate: launcher terminated');
	ok(gone_soon($pid), 'terminate: the idle worker exits with its session');
	$s->quit;
}

# --- the session ends with a FATAL error of its own -------------------------------------
{
	my ($s, $spid, $pid) = session_with_idle_worker('idle_session_timeout');
	sql($s, q{SET idle_session_timeout = '200ms'});
	ok(gone_soon($pid), 'idle_session_timeout: the idle worker exits with its session');
	$s->quit;
}

$monitor->quit;
wait_no_workers($node);
close_monitors();
$node->stop;
done_testing();
