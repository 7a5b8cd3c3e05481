# The launching session goes away while its job runs (client disconnects, or the
# session is terminated).  The job is autonomous: it finishes its work and commits, even
# when it was producing output that nobody will ever read; afterwards no worker, no
# dynamic shared memory segment and no lock is left behind.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

my $node = new_node('launcherdeath');
$node->safe_psql('postgres', 'CREATE TABLE t (id int)');
my $locker = open_session($node);

# baseline of DSM segments after a warm-up job
{
	my $w = open_session($node);
	my ($p, $c) = launch($w, 'SELECT 1');
	sql_ok($w, "SELECT * FROM pg_background_result_v2($p, $c) AS (x int)");
	$w->quit;
	wait_no_workers($node, 'warm-up worker gone');
}
my $dsm_base = dsm_count($node);
note "DSM segments at baseline: $dsm_base";

sub launcher_dies
{
	my ($id, $how, $job, %opt) = @_;
	sql_ok($locker, 'SELECT pg_advisory_lock(5)');
	my $s = open_session($node);
	my $spid = sql_ok($s, 'SELECT pg_backend_pid()');
	my ($pid, $cookie) = launch($s, $job, %opt);
	ok( wait_until($node, "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $pid"),
		"$how: the job is running and held at the lock");
	if ($how eq 'disconnect')
	{
		$s->quit;
	}
	else
	{
		is($node->safe_psql('postgres', "SELECT pg_terminate_backend($spid)"),
			't', "$how: launcher terminated");
		$s->quit;
	}
	ok( wait_until($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $spid"),
		"$how: the launcher session is gone");
	is(scalar(grep { $_ == $pid } worker_pids($node)), 1,
		"$how: the worker outlives its launcher");
	sql_ok($locker, 'SELECT pg_advisory_unlock(5)');
	ok(wait_until($node, "SELECT count(*) = 1 FROM t WHERE id = $id"),
		"$how: the job finished its work and committed");
	wait_no_workers($node, "$how: the worker exited");
}

launcher_dies(1, 'disconnect',
	'SELECT pg_advisory_xact_lock(5); INSERT INTO t VALUES (1)');
launcher_dies(2, 'terminate',
	'SELECT pg_advisory_xact_lock(5); INSERT INTO t VALUES (2)');
# output nobody reads: far more than the queue holds, produced after the launcher left
launcher_dies(3, 'disconnect',
	'SELECT pg_advisory_xact_lock(5); SELECT g, repeat(\'x\', 100) FROM generate_series(1, 200000) g; INSERT INTO t VALUES (3)',
	queue => 16384);
launcher_dies(4, 'terminate',
	'SELECT pg_advisory_xact_lock(5); SELECT g FROM generate_series(1, 200000) g; INSERT INTO t VALUES (4)',
	queue => 16384);

# the launcher leaves while the worker is stuck on a full queue
{
	my $s = open_session($node);
	my $spid = sql_ok($s, 'SELECT pg_backend_pid()');
	my ($pid, $cookie) = launch($s,
		'SELECT g, repeat(\'y\', 200) FROM generate_series(1, 300000) g; INSERT INTO t VALUES (5)',
		queue => 16384);
	ok( wait_until($node, "SELECT wait_event IN ('MessageQueueSend', 'MessageQueuePutMessage') FROM pg_stat_activity WHERE pid = $pid"),
		'full queue: the worker waits for its reader');
	$s->quit;
	ok(wait_until($node, 'SELECT count(*) = 1 FROM t WHERE id = 5'),
		'full queue: once the reader left, the job finished and committed');
	wait_no_workers($node, 'full queue: the worker exited');
}

# a launcher with several running jobs disappears
{
	sql_ok($locker, 'SELECT pg_advisory_lock(5)');
	my $s = open_session($node);
	launch($s, "SELECT pg_advisory_xact_lock_shared(5); INSERT INTO t VALUES (10 + $_)")
	  for 1 .. 4;
	ok( wait_until($node, "SELECT count(*) = 4 FROM pg_stat_activity WHERE backend_type = 'pg_background' AND wait_event_type = 'Lock'"),
		'four jobs running');
	$s->quit;
	sql_ok($locker, 'SELECT pg_advisory_unlock(5)');
	ok(wait_until($node, 'SELECT count(*) = 4 FROM t WHERE id > 10'),
		'all four jobs of the vanished launcher committed');
	wait_no_workers($node);
}

is(dsm_count($node), $dsm_base, 'no dynamic shared memory segment leaked');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT pid = ANY (SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend')"),
	'0', 'no advisory lock left by a worker');
$locker->quit;
my $log = slurp_file($node->logfile);
unlike($log, qr/PANIC|server process .* was terminated by signal|TRAP:/,
	'no crash in the server log');
close_monitors();
$node->stop;
done_testing();
