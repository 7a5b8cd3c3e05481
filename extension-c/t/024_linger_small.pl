# A job released before its outcome is known (detached while it runs) lingers in its
# session only until the outcome is counted.  What lingers must be small: the job's own
# segment, with its queue, goes away when the worker exits, not at the session's next
# pg_background call (an idle pooled connection may never make one).  The outcome is still
# counted once, and a failure keeps its error.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

my $node = new_node('linger_small');
my $s = open_session($node);
my $stats = 'SELECT workers_launched, workers_completed, workers_failed, workers_canceled, workers_active FROM pg_background_stats_v2()';

# bytes of all dynamic shared memory segments of the cluster (mmap: files in pg_dynshmem/)
sub dsm_bytes
{
	my $dir = $node->data_dir . '/pg_dynshmem';
	opendir(my $dh, $dir) or return 0;
	my $sum = 0;
	$sum += -s "$dir/$_" for grep { !/^\./ } readdir $dh;
	closedir $dh;
	return $sum;
}

my $queue = 64 * 1024 * 1024;
my $before = dsm_bytes();

my ($pid, $cookie) = launch($s, q{SELECT pg_sleep(1)}, queue => $queue);
ok(dsm_bytes() - $before >= $queue, 'the running job\'s segment holds its 64 MB queue');
sql_ok($s, "SELECT pg_background_detach_v2($pid, $cookie)");
my ($p2, $c2) = launch($s, q{SELECT pg_sleep(1); SELECT 1 / 0}, queue => $queue);
sql_ok($s, "SELECT pg_background_detach_v2($p2, $c2)");

# no further call from the session: its workers finish on their own
wait_no_workers($node, 'the detached jobs finish');
ok(wait_until($node, 'SELECT true'), 'monitor is up');
cmp_ok(dsm_bytes() - $before, '<', 1024 * 1024,
	'once the workers have exited, the released jobs hold no queue memory');

is(sql_ok($s, $stats), '2|1|1|0|0', 'both outcomes are counted once at the next call');
is(sql_ok($s, q{SELECT count(*) FROM pg_background_list_v2() AS (pid int4, cookie int8, launched_at timestamptz, user_id oid, queue_size int4, state text, sql_preview text, last_error text, consumed bool)}),
	'0', 'the released handles are not listed');
cmp_ok(dsm_bytes() - $before, '<', 64 * 1024, 'and nothing of them is left');

$s->quit;
close_monitors();
$node->stop;
done_testing();
