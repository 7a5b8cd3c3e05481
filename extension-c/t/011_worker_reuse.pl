# Reuse of a finished worker for the next job of the same session
# (pg_background.worker_idle_timeout).  A reused worker must be indistinguishable from a
# new one except for its PID and its warm caches: no session state of the previous job
# survives, the launcher's current settings and role apply, only the launching session
# can reach it, a worker whose job failed is never reused, and an idle worker goes away
# when its timeout expires, when its session ends, or when the session needs its slot.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

my $node = new_node('reuse', max_worker_processes => 4);
$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	GRANT pgbackground_role TO alice;
	CREATE TABLE shared_t(x int);
	GRANT ALL ON shared_t TO alice;
});
my $s = open_session($node);
my $other = open_session($node);
my $dsm_base = dsm_count($node);

# generous, so that the reuse checks below never race the timeout
sql_ok($s, q{SET pg_background.worker_idle_timeout = '30s'});

# A released worker needs a moment to clean up before it waits for a job; a launch in that
# moment waits for it only briefly (then starts a process), so wait for "idle" where the
# test says a worker is reused, rather than depend on the machine's speed.
sub idle
{
	my ($pid) = @_;
	return wait_until($node,
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE pid = $pid AND state = 'idle'");
}

sub result
{
	my ($sess, $pid, $cookie, $cols) = @_;
	return sql_ok($sess, "SELECT * FROM pg_background_result_v2($pid, $cookie) AS ($cols)");
}

# --- a completed job's worker takes the next job; its state is gone ---------------------
my $launcher = sql_ok($s, 'SELECT pg_backend_pid()');
my ($p1, $c1) = launch($s, q{
	CREATE TEMP TABLE tt(x int);
	SET work_mem = '77MB';
	SET ROLE alice;
	SELECT pg_advisory_lock(42);
	PREPARE q AS SELECT 1;
	DECLARE cur CURSOR WITH HOLD FOR SELECT 1;
	CREATE TEMP SEQUENCE sq;
	SELECT nextval('sq')});
result($s, $p1, $c1, 'r text');
ok(wait_until($node,
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE pid = $p1 AND state = 'idle'"),
	'the worker waits for another job after it completed');
is( $node->safe_psql('postgres',
		"SELECT application_name FROM pg_stat_activity WHERE pid = $p1"),
	"pg_background:$launcher", 'an idle worker still names its launching session');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
	'0', 'the session advisory lock of the finished job is released');

my ($p2, $c2) = launch($s, q{
	SELECT current_setting('work_mem') || ' ' || current_user || ' ' ||
	  (SELECT count(*) FROM pg_prepared_statements) || ' ' ||
	  (SELECT count(*) FROM pg_cursors) || ' ' ||
	  (SELECT count(*) FROM pg_class WHERE relpersistence = 't')});
is($p2, $p1, 'the next launch reuses the idle worker');
isnt($c2, $c1, 'with a new cookie');
my $user = sql_ok($s, 'SELECT current_user');
is(result($s, $p2, $c2, 'r text'), "4MB $user 0 0 0",
	'settings, role, prepared statements, cursors and temporary objects of the previous job are gone');

# the previous handle stays dead although its PID is alive and serving this session
reject_all($s, 'handle of the previous job', $p1, $c1, [ '42704', '55000' ]);
sql_err($s, "SELECT * FROM pg_background_result_v2($p1, $c1) AS (r text)", '55000',
	'reading the first job again says it was consumed');

# --- the launcher's current settings apply to a reused worker; another role gets its own --
sql_ok($s, q{SET work_mem = '5MB'});
ok(idle($p1), 'the worker is idle again');
my ($p3, $c3) = launch($s, q{SELECT current_setting('work_mem') || ' ' || current_user});
is($p3, $p1, 'reused again');
is(result($s, $p3, $c3, 'r text'), "5MB $user", 'the job runs with the current settings');
sql_ok($s, 'SET ROLE alice');
ok(idle($p1), 'the worker is idle again');
my ($pa, $ca) = launch($s, q{SELECT current_setting('work_mem') || ' ' || current_user});
isnt($pa, $p1, 'a job of another role (SET ROLE) never runs in a worker that served this one');
is(result($s, $pa, $ca, 'r text'), '5MB alice', 'it runs with the current settings and role');
sql_ok($s, 'RESET ROLE');
sql_ok($s, 'RESET work_mem');

# --- fetch_v2, writes and a failed job ----------------------------------------------------
ok(idle($p1), 'the worker is idle again');
my ($p4, $c4) = launch($s, 'INSERT INTO shared_t SELECT generate_series(1, 3)');
is($p4, $p1, 'reused for a write');
my @msgs = drain($s, $p4, $c4);
is((kinds('done', @msgs))[0], '{"state":"completed"}', 'the write completes through fetch_v2');
is($node->safe_psql('postgres', 'SELECT count(*) FROM shared_t'), '3', 'and commits');

ok(idle($p1), 'the worker is idle again');
my ($p5, $c5) = launch($s, 'SELECT 1/0');
is($p5, $p1, 'reused for a job that fails');
sql_err($s, "SELECT * FROM pg_background_result_v2($p5, $c5) AS (r int)", '22012',
	'the failure is reported as usual');
ok(wait_until($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $p5"),
	'a worker whose job failed exits instead of waiting');
my ($p6, $c6) = launch($s, 'SELECT 6');
isnt($p6, $p5, 'so the next job gets a new worker');
is(result($s, $p6, $c6, 'r int'), '6', 'which runs it');

# --- a cancel aimed at a finished job does not reach the next one -------------------------
my ($p7, $c7) = launch($s, 'SELECT 7');
sql_ok($s, "SELECT pg_background_wait_v2($p7, $c7)");
sql_ok($s, "SELECT pg_background_cancel_v2($p7, $c7)");
is(result($s, $p7, $c7, 'r int'), '7', 'a job that completed before the cancel keeps its result');
ok(idle($p7), 'the worker of the canceled-after-completion job is idle');
my ($p8, $c8) = launch($s, 'SELECT pg_sleep(0.2), 8');
is($p8, $p7, 'and takes the next job');
is(result($s, $p8, $c8, 's text, r int'), '|8', 'the next job on that worker is not canceled');

# --- a job that leaves jobs of its own behind is not followed by another --------------------
ok(idle($p8), 'the worker is idle');
my ($p9n, $c9n) = launch($s, q{SELECT (pg_background_launch_v2('SELECT pg_sleep(0.5)')).pid});
is($p9n, $p8, 'a job that launches a job of its own runs on the idle worker');
my $inner = result($s, $p9n, $c9n, 'r int');
ok(wait_until($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $p9n"),
	'its worker exits instead of waiting: the handle it holds belongs to that job');
ok(wait_until($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $inner"),
	'and the job it launched still ends');

# --- v1 jobs never share a process: their handle is the PID alone --------------------------
my $v1a = sql_ok($s, q{SELECT pg_background_launch('SELECT 1')});
sql_ok($s, "SELECT * FROM pg_background_result($v1a) AS (r int)");
ok(wait_until($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $v1a"),
	'a v1 job\'s worker exits after its job');
my $v1b = sql_ok($s, q{SELECT pg_background_launch('SELECT 2')});
isnt($v1b, $v1a, 'and a v1 launch never takes an idle worker');
sql_err($s, "SELECT * FROM pg_background_result($v1a) AS (r int)", [ '42704', '55000' ],
	'so the first PID still means the first, consumed job');
is(sql_ok($s, "SELECT * FROM pg_background_result($v1b) AS (r int)"), '2', 'the second job reads fine');

# --- only the launching session can use its idle worker ----------------------------------
my ($q1, $d1) = launch($other, 'SELECT 1');
isnt($q1, $p8, 'another session never gets this session\'s idle worker');
result($other, $q1, $d1, 'r int');

# --- detach and submit do not pool --------------------------------------------------------
my ($p9, $c9) = launch($s, 'SELECT pg_sleep(0.3)');
sql_ok($s, "SELECT pg_background_detach_v2($p9, $c9)");
ok(wait_until($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $p9"),
	'a detached job\'s worker exits when the job ends');
my ($p10, $c10) = launch($s, 'SELECT 1', submit => 1);
sql_ok($s, "SELECT pg_background_wait_v2($p10, $c10)");
ok(wait_until($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $p10"),
	'a submit_v2 worker exits when the job ends');
sql_ok($s, "SELECT pg_background_detach_v2($p10, $c10)");

# --- the idle timeout, and 0 to switch reuse off -----------------------------------------
sql_ok($s, q{SET pg_background.worker_idle_timeout = 200});
my ($p11, $c11) = launch($s, 'SELECT 11');
result($s, $p11, $c11, 'r int');
ok(wait_until($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $p11"),
	'an idle worker exits when its timeout expires');
sql_ok($s, q{SET pg_background.worker_idle_timeout = 0});
my ($p12, $c12) = launch($s, 'SELECT 12');
result($s, $p12, $c12, 'r int');
ok(wait_until($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $p12"),
	'with worker_idle_timeout = 0 the worker exits after its job');
my ($p13, $c13) = launch($s, 'SELECT 13');
isnt($p13, $p12, 'and every job gets a new process');
result($s, $p13, $c13, 'r int');

# --- with the default timeout, idle workers never make another session's launch fail ----
# 4 slots, one taken by the logical replication launcher: 3 for us
sql_ok($s, 'RESET pg_background.worker_idle_timeout');
is(sql_ok($s, 'SHOW pg_background.worker_idle_timeout'), '1s', 'the default idle timeout is 1 s');
wait_no_workers($node, 'no worker left before the slot test');
my @h = map { [ launch($s, "SELECT $_") ] } 1 .. 2;
result($s, @$_, 'r int') for @h;
ok(wait_until($node,
		"SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'pg_background' AND state = 'idle'"),
	'two idle workers hold two of the three slots');
my ($l1, $m1) = launch($other, 'SELECT pg_sleep(2)');
my ($x1, $y1) = launch($other, 'SELECT 1');
ok($x1, 'a launch of another session that needs their slot waits for their timeout, then succeeds');
result($other, $x1, $y1, 'r int');
result($other, $l1, $m1, 'r text');

# --- the session ends: its idle workers exit at once --------------------------------------
my ($p14, $c14) = launch($s, 'SELECT 14');
result($s, $p14, $c14, 'r int');
ok(wait_until($node, "SELECT count(*) = 1 FROM pg_stat_activity WHERE pid = $p14 AND state = 'idle'"),
	'an idle worker is waiting');
$s->quit;
ok(wait_until($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'pg_background'"),
	'the idle workers exit when their session ends (long before their 30 s timeout)');
$other->quit;
$other = undef;
ok(wait_until($node, 'SELECT true') && dsm_count($node) <= $dsm_base,
	'no segment of the session is left behind');

close_monitors();
$node->stop;
done_testing();
