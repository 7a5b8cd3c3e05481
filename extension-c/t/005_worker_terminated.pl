# The worker is killed with pg_terminate_backend while its launcher waits on it or
# reads from it.  The launcher must learn that the job ended (fetch_v2: 'done' with
# state lost/error/canceled; result_v2: an error; wait: returns) and never hang.  The
# harness bounds every statement (PG_TEST_TIMEOUT_DEFAULT), and the sessions also run
# with a statement_timeout, so a hang shows up as a failure, not as a stuck run.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

my $node = new_node('workerkill');
$node->safe_psql('postgres', 'CREATE TABLE t (id int)');
my $s = open_session($node);
sql_ok($s, "SET statement_timeout = '60s'");
my $killer = open_session($node);

sub kill_worker
{
	my ($pid) = @_;
	is(sql_ok($killer, "SELECT pg_terminate_backend($pid)"), 't',
		"pg_terminate_backend($pid)");
}

sub wait_sleeping
{
	my ($pid) = @_;
	wait_until($node, "SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE pid = $pid")
	  or die "worker $pid never started sleeping";
}

# --- fetch_v2 after the kill ------------------------------------------------------------
my ($pid, $cookie) = launch($s, 'SELECT pg_sleep(3600); INSERT INTO t VALUES (1)');
wait_sleeping($pid);
kill_worker($pid);
my @msgs = drain($s, $pid, $cookie);
like((kinds('done', @msgs))[0], qr/"state"\s*:\s*"(lost|error|canceled)"/,
	'fetch_v2 ends with done lost/error/canceled after the worker was terminated');
is(scalar(kinds('done', @msgs)), 1, 'exactly one done message');
sql_err($s, "SELECT * FROM pg_background_fetch_v2($pid, $cookie)", ['42704', '55000'],
	'fetch after done is a clear error');

# --- result_v2 raises an error ---------------------------------------------------------------
($pid, $cookie) = launch($s, 'SELECT pg_sleep(3600)');
wait_sleeping($pid);
kill_worker($pid);
my $err = sql_err($s, "SELECT * FROM pg_background_result_v2($pid, $cookie) AS (x text)",
	[ '57P01', '08006', '57014', '58000', 'XX000', '55000' ],
	'result_v2 after the kill raises an error');
unlike($err, qr/canceling statement due to statement timeout/,
	'result_v2 did not need the statement timeout to return');

# --- the kill arrives while the launcher is already blocked in result_v2 ------------------
($pid, $cookie) = launch($s, 'SELECT pg_sleep(3600)');
wait_sleeping($pid);
my $spid = sql_ok($s, 'SELECT pg_backend_pid()');
# send the result_v2 call, let the killer act once the launcher is waiting, then collect
$s->{stderr} = '';
$s->{stdin} .= "SELECT * FROM pg_background_result_v2($pid, $cookie) AS (x text);\n";
$s->{run}->pump_nb;
ok( wait_until($node, "SELECT state = 'active' AND query LIKE '%pg_background_result_v2%' FROM pg_stat_activity WHERE pid = $spid"),
	'the launcher is blocked in result_v2');
kill_worker($pid);
($_, $err) = sql($s, 'SELECT 1');
like($err, qr/ERROR/, 'the blocked result_v2 returned with an error once the worker died');
unlike($err, qr/statement timeout/, 'it did not need the statement timeout');

# --- wait_v2 and wait_v2_timeout return --------------------------------------------------------
($pid, $cookie) = launch($s, 'SELECT pg_sleep(3600)');
wait_sleeping($pid);
$s->{stderr} = '';
$s->{stdin} .= "SELECT pg_background_wait_v2($pid, $cookie);\n";
$s->{run}->pump_nb;
ok( wait_until($node, "SELECT state = 'active' AND query LIKE '%pg_background_wait_v2%' FROM pg_stat_activity WHERE pid = $spid"),
	'the launcher is blocked in wait_v2');
kill_worker($pid);
($_, $err) = sql($s, 'SELECT 1');
unlike($err, qr/ERROR/, 'wait_v2 returned normally once the worker died');
is(sql_ok($s, "SELECT pg_background_wait_v2_timeout($pid, $cookie, 50000)"), 't',
	'wait_v2_timeout on the dead worker returns true at once');
@msgs = drain($s, $pid, $cookie);
like((kinds('done', @msgs))[0], qr/"state"\s*:\s*"(lost|error|canceled)"/,
	'and fetch_v2 then reports how it ended');

# --- killed while streaming, some rows already read ---------------------------------------------
($pid, $cookie) = launch($s,
	'SELECT g FROM generate_series(1, 100000000) g', queue => 65536);
my $rows = 0;
for (1 .. 100)
{
	$rows += sql_ok($s, "SELECT count(*) FROM pg_background_fetch_v2($pid, $cookie, 1000, 1000) WHERE kind = 'row'");
	last if $rows >= 1000;
}
ok($rows >= 1000, 'read rows from the streaming job');
kill_worker($pid);
@msgs = drain($s, $pid, $cookie);
like((kinds('done', @msgs))[0], qr/"state"\s*:\s*"(lost|error|canceled)"/,
	'the streaming job killed midway ends as lost/error/canceled, not completed');

# --- list_v2 and the session stay usable; nothing is left --------------------------------------
is(sql_ok($s, list_sql(undef, "state = 'running'")),
	'0', 'no handle claims to be running');
($pid, $cookie) = launch($s, q{SELECT 'after'});
is(sql_ok($s, "SELECT * FROM pg_background_result_v2($pid, $cookie) AS (x text)"),
	'after', 'the session launches and reads normally afterwards');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), '0',
	'no killed job committed anything');

$s->quit;
$killer->quit;
wait_no_workers($node);
unlike(slurp_file($node->logfile), qr/PANIC|TRAP:|was terminated by signal (?!15)/,
	'no crash in the server log');
close_monitors();
$node->stop;
done_testing();
