# The launcher's memory stays flat: reading millions of rows (result_v2 and fetch_v2)
# and launching and releasing hundreds of handles leaves the session's memory contexts
# and its private (anonymous) resident memory where they were.  Memory, not time, is
# asserted.  Also: the lifecycle log lines of pg_background.log_level.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

my $node = new_node('memory', "pg_background.log_level" => 'log', work_mem => "'4MB'");
$node->safe_psql('postgres', q{
	CREATE FUNCTION fetch_drain(q text) RETURNS bigint LANGUAGE plpgsql AS $$
	DECLARE h pg_background_handle; n bigint := 0; got bigint; fin bool;
	BEGIN
	  h := pg_background_launch_v2(q);
	  LOOP
	    SELECT count(*) FILTER (WHERE kind = 'row'), coalesce(bool_or(kind = 'done'), false)
	      INTO got, fin FROM pg_background_fetch_v2(h.pid, h.cookie, 10000, 1000);
	    n := n + got;
	    EXIT WHEN fin;
	  END LOOP;
	  RETURN n;
	END $$});
my $s = open_session($node);
my $spid = sql_ok($s, 'SELECT pg_backend_pid()');

sub contexts_kb
{
	return sql_ok($s, 'SELECT sum(total_bytes) / 1024 FROM pg_backend_memory_contexts');
}

sub anon_kb
{
	my $status = slurp_file("/proc/$spid/status");
	return $status =~ /^RssAnon:\s+(\d+) kB/m ? $1 : 0;
}

my $rows = 2_000_000;
my $q = "SELECT g, md5(g::text) FROM generate_series(1, $rows) g";

# warm up every code path once so that caches and plans exist before the baseline
for (1 .. 2)
{
	my ($p, $c) = launch($s, 'SELECT 1, md5(1::text)');
	sql_ok($s, "SELECT count(*) FROM pg_background_result_v2($p, $c) AS (g int, m text)");
	sql_ok($s, q{SELECT fetch_drain('SELECT 1, md5(1::text)')});
	contexts_kb();
}
my ($cxt0, $anon0) = (contexts_kb(), anon_kb());
note "baseline: contexts $cxt0 kB, RssAnon $anon0 kB";

my ($p, $c) = launch($s, $q);
is(sql_ok($s, "SELECT count(*) FROM pg_background_result_v2($p, $c) AS (g int, m text)"),
	$rows, "result_v2 read $rows rows");
my ($cxt1, $anon1) = (contexts_kb(), anon_kb());
note "after result_v2: contexts $cxt1 kB, RssAnon $anon1 kB";
is(sql_ok($s, "SELECT fetch_drain('$q')"), $rows, "fetch_v2 batches read $rows rows");
my ($cxt2, $anon2) = (contexts_kb(), anon_kb());
note "after fetch_v2: contexts $cxt2 kB, RssAnon $anon2 kB";

cmp_ok($cxt1 - $cxt0, '<', 512, 'memory contexts did not grow with result_v2 rows (< 512 kB)');
cmp_ok($cxt2 - $cxt0, '<', 512, 'memory contexts did not grow with fetch_v2 rows (< 512 kB)');
cmp_ok($anon2 - $anon0, '<', 10 * 1024, 'private resident memory grew by less than 10 MB');

# hundreds of handles launched and released: nothing per handle stays behind
for my $i (1 .. 150)
{
	my ($hp, $hc) = launch($s, "SELECT $i");
	if ($i % 3 == 0)
	{
		sql_ok($s, "SELECT * FROM pg_background_result_v2($hp, $hc) AS (x int)");
	}
	elsif ($i % 3 == 1)
	{
		# the job is over after wait_v2, so one fetch returns everything up to 'done'
		sql_ok($s, "SELECT pg_background_wait_v2($hp, $hc)");
		sql_ok($s, "SELECT count(*) FROM pg_background_fetch_v2($hp, $hc, 100, 10000)");
	}
	else
	{
		sql_ok($s, "SELECT pg_background_detach_v2($hp, $hc)");
	}
}
my $cxt3 = contexts_kb();
note "after 150 handles: contexts $cxt3 kB";
cmp_ok($cxt3 - $cxt2, '<', 256, '150 launched and released handles left no memory behind (< 256 kB)');
is(sql_ok($s, list_sql()),
	'0', 'no handle left');

# lifecycle logging at the configured level
$s->quit;
wait_no_workers($node);
my $log = slurp_file($node->logfile);
like($log, qr/LOG:\s+pg_background: launched worker \d+/, 'launch is logged at pg_background.log_level');
like($log, qr/LOG:\s+pg_background: worker for session \d+ started/, 'worker start is logged');
like($log, qr/LOG:\s+pg_background: released worker \d+/, 'release is logged');
close_monitors();
$node->stop;
done_testing();
