# pg_background_stats_v2 counts every job of the session once, in exactly one outcome,
# also when its handle was released before the job ended (detached while running, or
# canceled and released at once): completed + failed + canceled = launched - active at
# every moment, and once all workers are gone active is 0.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

my $node = new_node('stats_outcomes');
$node->safe_psql('postgres', 'CREATE TABLE done_t (x int)');
my $s = open_session($node);
my $locker = open_session($node);

my $stats = 'SELECT workers_launched, workers_completed, workers_failed, workers_canceled, '
  . 'workers_active FROM pg_background_stats_v2()';

sub invariant_holds
{
	my ($l, $c, $f, $x, $a) = split /\|/, sql_ok($s, $stats);
	return $c + $f + $x == $l - $a;
}

# jobs held at a lock until we let them go
sql_ok($locker, 'SELECT pg_advisory_lock(7)');
my $held = 'SELECT pg_advisory_xact_lock_shared(7); ';

# 3 completed and read
for (1 .. 3)
{
	my ($p, $c) = launch($s, 'SELECT 1');
	sql_ok($s, "SELECT * FROM pg_background_result_v2($p, $c) AS (r int)");
}
# 2 detached while running, completing later
for (1 .. 2)
{
	my ($p, $c) = launch($s, $held . 'INSERT INTO done_t VALUES (1)');
	sql_ok($s, "SELECT pg_background_detach_v2($p, $c)");
}
# 1 failed and read, 1 failed after being detached while running
{
	my ($p, $c) = launch($s, 'SELECT 1/0');
	sql_err($s, "SELECT * FROM pg_background_result_v2($p, $c) AS (r int)", '22012',
		'a failing job fails');
	($p, $c) = launch($s, $held . 'SELECT 1/0');
	sql_ok($s, "SELECT pg_background_detach_v2($p, $c)");
}
# 2 canceled and waited for, 2 canceled and released at once (v2 and v1)
for (1 .. 2)
{
	my ($p, $c) = launch($s, 'SELECT pg_sleep(60)');
	sql_ok($s, "SELECT pg_background_cancel_v2($p, $c)");
	sql_ok($s, "SELECT pg_background_wait_v2($p, $c)");
	sql_ok($s, "SELECT pg_background_detach_v2($p, $c)");
}
{
	my ($p, $c) = launch($s, $held . 'SELECT pg_sleep(60)');
	sql_ok($s, "SELECT pg_background_cancel_v2($p, $c)");
	sql_ok($s, "SELECT pg_background_detach_v2($p, $c)");
	($p, $c) = launch($s, $held . 'SELECT pg_sleep(60)');
	sql_ok($s, "SELECT pg_background_cancel_v2_grace($p, $c, 0)");
	sql_ok($s, "SELECT pg_background_detach_v2($p, $c)");
}
# 1 submit job, waited for and released
{
	my ($p, $c) = launch($s, 'SELECT 1', submit => 1);
	sql_ok($s, "SELECT pg_background_wait_v2($p, $c)");
	sql_ok($s, "SELECT pg_background_detach_v2($p, $c)");
}

my (undef, undef, undef, undef, $active) = split /\|/, sql_ok($s, $stats);
cmp_ok($active, '>=', 3, 'the detached jobs held at the lock are still active');
ok(invariant_holds(), 'completed + failed + canceled = launched - active while jobs run');
is(sql_ok($s, list_sql()), '0', 'no handle is left to the user');

sql_ok($locker, 'SELECT pg_advisory_unlock(7)');
wait_no_workers($node, 'every worker is gone');
is($node->safe_psql('postgres', 'SELECT count(*) FROM done_t'), '2',
	'the detached jobs did their work');
is(sql_ok($s, $stats), '12|6|2|4|0',
	'every job counted once: 12 launched, 6 completed, 2 failed, 4 canceled, none active');
ok(invariant_holds(), 'and the invariant holds at the end');

# the original 1.8 suite's sequence shape: detached jobs that ran to the end count
{
	my $t = open_session($node);
	for (1 .. 3)
	{
		my ($p, $c) = launch($t, 'SELECT pg_sleep(0.2)');
		sql_ok($t, "SELECT pg_background_detach_v2($p, $c)");
	}
	wait_no_workers($node, 'the detached jobs are over');
	is(sql_ok($t, $stats), '3|3|0|0|0', 'jobs detached while running count as completed once over');
	$t->quit;
}

$s->quit;
$locker->quit;
close_monitors();
$node->stop;
done_testing();
