# Concurrent launches from several sessions: every job runs exactly once, every session
# reads exactly its own results, and nothing is left afterwards.  pgbench drives eight
# sessions through launch, fetch/result and detach at the same time.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

# A worker's slot is free only once its process has exited and the postmaster has
# reaped it, which lags behind the job's end (the launcher already moved on); with fast
# launch loops finished-but-unreaped workers hold slots (pgbg_launch retries for a
# while).  This test is about isolation between sessions, not capacity (t/006 covers
# exhaustion), so it gives the eight clients ample slots.
my $node = new_node('concurrent', max_worker_processes => 128, max_connections => 40);
$node->safe_psql('postgres', q{
	CREATE TABLE t (client int, n int, via text);
	CREATE TABLE mismatch (client int, expected text, got text);
});
my $dsm_base = dsm_count($node);

my $clients = 8;
my $per_client = 15;

# Each transaction launches a job that records which client launched it, then reads the
# job's own row back in the launching session and checks it is that client's value.
$node->pgbench(
	"--no-vacuum --client=$clients --jobs=2 --transactions=$per_client",
	0,
	[qr{processed: @{[ $clients * $per_client ]}/@{[ $clients * $per_client ]}}],
	[qr{^$}],
	'pgbench: concurrent launch_v2 + result_v2, launch_v2 + fetch_v2, submit_v2, v1 launch',
	{
		'001_mix' => q{
\set tag random(1, 1000000000)
SELECT pid, cookie FROM pg_background_launch_v2('INSERT INTO t VALUES (' || :client_id || ', ' || :tag || ', ''result'') RETURNING n') \gset
SELECT n AS got FROM pg_background_result_v2(:pid, :cookie) AS (n int) \gset
INSERT INTO mismatch SELECT :client_id, :tag, :got WHERE :got <> :tag;
SELECT pid, cookie FROM pg_background_launch_v2('SELECT ' || :tag || ', ' || :client_id || '; INSERT INTO t VALUES (' || :client_id || ', ' || :tag || ', ''fetch'')') \gset
SELECT pg_background_wait_v2(:pid, :cookie);
INSERT INTO mismatch SELECT :client_id, :tag, coalesce(r, '<none>') || ' done=' || d FROM (SELECT string_agg(data::text, '') FILTER (WHERE kind = 'row') AS r, count(*) FILTER (WHERE kind = 'done') AS d FROM pg_background_fetch_v2(:pid, :cookie, 1000, 60000)) s WHERE d <> 1 OR r IS NULL OR r !~ ('^\[\s*"' || :tag || '"\s*,\s*"' || :client_id || '"\s*\]$');
SELECT pid, cookie FROM pg_background_submit_v2('INSERT INTO t VALUES (' || :client_id || ', ' || :tag || ', ''submit'')') \gset
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT pg_background_detach_v2(:pid, :cookie);
SELECT pg_background_launch('INSERT INTO t VALUES (' || :client_id || ', ' || :tag || ', ''v1'')') AS v1pid \gset
SELECT * FROM pg_background_result(:v1pid) AS (tag text);
}
	});

my $n = $clients * $per_client;
is($node->safe_psql('postgres', 'SELECT count(*) FROM mismatch'), '0',
	'every session read back exactly its own job\'s rows');
is($node->safe_psql('postgres', "SELECT via || ':' || count(*) FROM t GROUP BY via ORDER BY via"),
	"fetch:$n\nresult:$n\nsubmit:$n\nv1:$n",
	'every job ran exactly once');
is($node->safe_psql('postgres', 'SELECT count(DISTINCT client) FROM t'), $clients,
	'jobs came from every client');
wait_no_workers($node);
is(dsm_count($node), $dsm_base, 'no DSM segment left');

# Many sessions, each with several handles open at once, read them in reverse order.
my @sessions = map { open_session($node) } 1 .. 4;
my %handles;
for my $i (0 .. $#sessions)
{
	for my $j (1 .. 4)
	{
		push @{ $handles{$i} }, [ launch($sessions[$i], "SELECT $i * 100 + $j") ];
	}
}
my $ok = 1;
for my $i (0 .. $#sessions)
{
	my $j = 4;
	for my $h (reverse @{ $handles{$i} })
	{
		my $got = sql_ok($sessions[$i],
			"SELECT * FROM pg_background_result_v2($h->[0], $h->[1]) AS (x int)");
		$ok = 0 unless $got == $i * 100 + $j;
		$j--;
	}
	is(sql_ok($sessions[$i], list_sql()),
		'0', "session $i has no handle left");
}
ok($ok, 'four sessions with four handles each read every result in reverse order');
$_->quit for @sessions;
wait_no_workers($node);
is(dsm_count($node), $dsm_base, 'no DSM segment left at the end');
close_monitors();
$node->stop;
done_testing();
