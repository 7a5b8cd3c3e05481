# The launching session goes away while its job runs (client disconnects, or the
# session is terminated).  The job is autonomous: it finishes its work and commits, even
# when it was producing output that nobody reads; afterwards no worker, no dynamic shared
# memory segment and no lock is left behind.  Since 1.10 (durable jobs) the output that the
# launcher had not acknowledged is held for another session to attach to, in a file, and
# the worker exits all the same; a job released with detach_v2 still drops its output.
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
	sql_ok($s, 'SET pg_background.durable = off') if delete $opt{durable_off};
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
	return ($pid, $cookie);
}

sub held_files
{
	my ($pid) = @_;
	return scalar(glob($node->data_dir . "/base/pgsql_tmp/pgsql_tmp_pg_background/j${pid}_*"));
}

# the output of a job whose launcher left is held: another session attaches and reads it
# (all of it: the lock's row and the rows of the query)
sub output_held
{
	my ($how, $pid, $cookie, $rows) = @_;
	is($node->safe_psql('postgres', "SELECT state, output FROM pg_background_jobs_v2() WHERE pid = $pid"),
		'completed|held', "$how: the job completed and its output is held");
	ok(held_files($pid), "$how: in a file of the held-output directory");
	my $a = open_session($node);
	sql_ok($a, "SELECT pg_background_attach_v2($pid, $cookie)");
	my @m = drain($a, $pid, $cookie);
	is(scalar(kinds('row', @m)), $rows, "$how: another session attaches and reads all $rows rows");
	$a->quit;
	ok(wait_until($node, "SELECT count(*) = 0 FROM pg_background_jobs_v2() WHERE pid = $pid"),
		"$how: read to the end, the job leaves the registry");
	ok(!held_files($pid), "$how: and its file is gone");
}

launcher_dies(1, 'disconnect',
	'SELECT pg_advisory_xact_lock(5); INSERT INTO t VALUES (1)');
launcher_dies(2, 'terminate',
	'SELECT pg_advisory_xact_lock(5); INSERT INTO t VALUES (2)');
# output nobody reads: far more than the queue holds, produced after the launcher left
output_held('disconnect', launcher_dies(3, 'disconnect',
	'SELECT pg_advisory_xact_lock(5); SELECT g, repeat(\'x\', 100) FROM generate_series(1, 200000) g; INSERT INTO t VALUES (3)',
	queue => 16384), 200001);
output_held('terminate', launcher_dies(4, 'terminate',
	'SELECT pg_advisory_xact_lock(5); SELECT g FROM generate_series(1, 200000) g; INSERT INTO t VALUES (4)',
	queue => 16384), 200001);

# pg_background.durable = off at launch: 1.9's behaviour, the output dies with the launcher
{
	my ($pid, $cookie) = launcher_dies(7, 'durable off',
		'SELECT pg_advisory_xact_lock(5); SELECT g FROM generate_series(1, 200000) g; INSERT INTO t VALUES (7)',
		queue => 16384, durable_off => 1);
	ok(wait_until($node, "SELECT count(*) = 0 FROM pg_background_jobs_v2() WHERE pid = $pid"),
		'durable off: the job left the registry, its output was dropped');
	ok(!held_files($pid), 'durable off: no held file');
}

# a job released with detach_v2 before its launcher left: nobody will read, nothing is held
{
	sql_ok($locker, 'SELECT pg_advisory_lock(5)');
	my $s = open_session($node);
	my ($pid, $cookie) = launch($s,
		'SELECT pg_advisory_xact_lock(5); SELECT g FROM generate_series(1, 200000) g; INSERT INTO t VALUES (6)',
		queue => 16384);
	sql_ok($s, "SELECT pg_background_detach_v2($pid, $cookie)");
	$s->quit;
	sql_ok($locker, 'SELECT pg_advisory_unlock(5)');
	ok(wait_until($node, 'SELECT count(*) = 1 FROM t WHERE id = 6'), 'detached: the job committed');
	wait_no_workers($node, 'detached: the worker exited');
	is($node->safe_psql('postgres', "SELECT count(*) FROM pg_background_jobs_v2() WHERE pid = $pid"), '0',
		'detached: the job left the registry, its output was dropped');
	ok(!held_files($pid), 'detached: no held file');
}

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
	output_held('full queue', $pid, $cookie, 300000);
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
