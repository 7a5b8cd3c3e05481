# Exhaustion of background worker slots.  With a small max_worker_processes the launch
# that finds no free slot fails with SQLSTATE 53000 and a hint naming the setting;
# failed launches leave nothing behind (no handle, no DSM segment), and launching works
# again as soon as slots are free.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

# 4 slots, one of them taken by the logical replication launcher
my $node = new_node('slots', max_worker_processes => 4);
my $s = open_session($node);
my $other = open_session($node);
my $list = list_sql();

my $dsm_base = dsm_count($node);

# fill every slot with jobs that wait for a lock we hold
sql_ok($other, 'SELECT pg_advisory_lock(1)');
my @jobs;
my $err = '';
for (1 .. 10)
{
	my ($out, $e) = sql($s,
		q{SELECT pid, cookie FROM pg_background_launch_v2('SELECT pg_advisory_xact_lock_shared(1)')});
	if ($e =~ /ERROR/)
	{
		$err = $e;
		last;
	}
	push @jobs, [ split /\|/, $out ];
}
my $k = scalar @jobs;
ok($k >= 1 && $k <= 3, "$k jobs took the free slots before launching failed");
sqlstate_is($err, '53000', 'the launch without a free slot fails with 53000');
like($err, qr/HINT:.*max_worker_processes/, 'its hint names max_worker_processes');
note $err;

# a failed launch keeps failing cleanly and leaks nothing
for my $fn ('pg_background_launch_v2', 'pg_background_submit_v2')
{
	for (1 .. 10)
	{
		sql_err($s, "SELECT $fn('SELECT 1')", '53000', "$fn without a slot: 53000")
		  if $_ == 1;
		sql($s, "SELECT $fn('SELECT 1')") if $_ > 1;
	}
}
sql_err($s, q{SELECT pg_background_launch('SELECT 1')}, '53000', 'v1 launch without a slot: 53000');
sql_err($other, q{SELECT pg_background_launch_v2('SELECT 1')}, '53000',
	'another session finds no slot either');
is(sql_ok($s, $list), $k, 'only the launched jobs are listed; failed launches left no handle');
is(dsm_count($node), $dsm_base + $k, 'one DSM segment per running job, none from failed launches');
is(sql_ok($s, 'SELECT 1'), '1', 'the session is fine after the failures');

# free the slots: everything works again
sql_ok($other, 'SELECT pg_advisory_unlock(1)');
for my $j (@jobs)
{
	sql_ok($s, "SELECT pg_background_wait_v2($j->[0], $j->[1])");
	sql_ok($s, "SELECT pg_background_detach_v2($j->[0], $j->[1])");
}
wait_no_workers($node, 'all jobs ended');
is(dsm_count($node), $dsm_base, 'every DSM segment was released');
my ($pid, $cookie) = launch($s, q{SELECT 'again'});
is(sql_ok($s, "SELECT * FROM pg_background_result_v2($pid, $cookie) AS (x text)"),
	'again', 'launching works again once slots are free');
($pid, $cookie) = launch($other, q{SELECT 'other'});
is(sql_ok($other, "SELECT * FROM pg_background_result_v2($pid, $cookie) AS (x text)"),
	'other', 'in the other session too');

# the extension's own per-session quota, pg_background.max_workers, is a configuration
# limit (53400) whose hint names the setting
sql_ok($other, 'SELECT pg_advisory_lock(1)');
sql_ok($s, 'SET pg_background.max_workers = 1');
my ($p1, $c1) = launch($s, 'SELECT pg_advisory_xact_lock_shared(1)');
$err = sql_err($s, q{SELECT pg_background_launch_v2('SELECT 1')}, '53400',
	'pg_background.max_workers reached: 53400');
like($err, qr/HINT:.*pg_background\.max_workers/, 'its hint names pg_background.max_workers');
sql_ok($other, 'SELECT pg_advisory_unlock(1)');
sql_ok($s, "SELECT pg_background_wait_v2($p1, $c1)");
sql_ok($s, "SELECT pg_background_detach_v2($p1, $c1)");
sql_ok($s, 'RESET pg_background.max_workers');

$s->quit;
$other->quit;
wait_no_workers($node);
is(dsm_count($node), $dsm_base, 'no DSM segment left at the end');
close_monitors();
$node->stop;
done_testing();
