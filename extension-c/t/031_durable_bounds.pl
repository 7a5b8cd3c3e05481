# Durable jobs (issue 11): held output is bounded, per job (pg_background.max_held_bytes_per_job,
# captured at launch) and server-wide (pg_background.max_held_bytes), and removed after
# pg_background.held_output_retention.  At a bound the job keeps running and commits; its
# output ends with one WARNING notice (53400) saying it was cut, "done" says "truncated",
# jobs_v2 shows truncated; nothing waits, and other sessions' jobs are not affected.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

my $node = new_node('bounds');
$node->safe_psql('postgres', 'CREATE TABLE t (id int)');
my $dir = $node->data_dir . '/base/pgsql_tmp/pgsql_tmp_pg_background';
my $locker = open_session($node);

sub held_bytes
{
	my ($pid) = @_;
	my $sum = 0;
	$sum += -s $_ for glob(defined $pid ? "$dir/j${pid}_*" : "$dir/*");
	return $sum;
}

# A job whose launcher is gone before it produces anything: all its output goes to the
# held file.  It waits for a lock we hold until its launcher was terminated.
sub held_job
{
	my ($id, $sql, @settings) = @_;
	sql_ok($locker, 'SELECT pg_advisory_lock(9)');
	my $s = open_session($node);
	my $spid = sql_ok($s, 'SELECT pg_backend_pid()');
	sql_ok($s, $_) for @settings;
	my ($pid, $cookie) = launch($s, "SELECT pg_advisory_xact_lock_shared(9); $sql; INSERT INTO t VALUES ($id)");
	ok(wait_until($node, "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $pid"),
		"job $id: waiting for its start");
	$node->safe_psql('postgres', "SELECT pg_terminate_backend($spid)");
	eval { $s->quit };
	ok(wait_until($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $spid"),
		"job $id: its launcher is gone");
	sql_ok($locker, 'SELECT pg_advisory_unlock(9)');
	ok(wait_until($node, "SELECT count(*) = 1 FROM t WHERE id = $id"), "job $id: committed");
	ok(wait_until($node, "SELECT state <> 'running' FROM pg_background_jobs_v2() WHERE pid = $pid"),
		"job $id: finished");
	return ($pid, $cookie);
}

# attach and read everything: (rows, the last notice's "sqlstate|message", done's data)
sub read_held
{
	my ($pid, $cookie) = @_;
	my $a = open_session($node);
	sql_ok($a, "SELECT pg_background_attach_v2($pid, $cookie)");
	my @m = drain($a, $pid, $cookie);
	$a->quit;
	my @notices = kinds('notice', @m);
	my $n = '';
	$n = $node->safe_psql('postgres',
		qq{SELECT ((\$j\$$notices[-1]\$j\$::json)->>'sqlstate') || '|' || ((\$j\$$notices[-1]\$j\$::json)->>'message')})
	  if @notices;
	my @done = kinds('done', @m);
	return (scalar(kinds('row', @m)), $n, $done[-1]);
}

# ---- per job: 1 MB, about 10 MB produced ----
my ($p1, $c1) = held_job(1, q{SELECT g, repeat('x', 100) FROM generate_series(1, 100000) g},
	q{SET pg_background.max_held_bytes_per_job = '1MB'});
is($node->safe_psql('postgres', "SELECT state, output, truncated FROM pg_background_jobs_v2() WHERE pid = $p1"),
	'completed|held|t', 'per job: the job completed, its output is held and truncated');
my $size = held_bytes($p1);
cmp_ok($size, '>', 512 * 1024, "per job: it holds up to its bound ($size bytes)");
cmp_ok($size, '<=', 1024 * 1024 + 1024, 'per job: and not more than the bound and one notice');
my ($rows, $notice, $done) = read_held($p1, $c1);
cmp_ok($rows, '>', 1000, "per job: the rows up to the bound are readable ($rows)");
cmp_ok($rows, '<', 100000, 'per job: the rest was discarded');
like($notice, qr/^53400\|output of pg_background worker $p1 exceeded pg_background\.max_held_bytes_per_job \(1024 kB\); the rest of its output is discarded$/,
	'per job: the output ends with the 53400 notice');
is($done, '{"state":"completed","truncated":true}', 'per job: done says completed and truncated');
ok(wait_until($node, "SELECT count(*) = 0 FROM pg_background_jobs_v2() WHERE pid = $p1"),
	'per job: read to the end, the job leaves the registry');
is(held_bytes($p1), 0, 'per job: its file is gone');

# ---- server-wide: 4 MB; two jobs of 1.5 MB hold 2 MB each, the third is cut ----
$node->append_conf('postgresql.conf', "pg_background.max_held_bytes = '4MB'");
$node->reload;
ok(wait_until($node, q{SELECT current_setting('pg_background.max_held_bytes') = '4MB'}), 'server-wide: 4 MB');
my $sql15 = q{SELECT g, repeat('y', 100) FROM generate_series(1, 14000) g};
my @jobs = map { [ held_job(10 + $_, $sql15) ] } 1 .. 2;
is( $node->safe_psql('postgres',
		'SELECT string_agg(truncated::text, \',\' ORDER BY pid) FROM pg_background_jobs_v2() WHERE pid IN ('
		  . join(',', map { $_->[0] } @jobs) . ')'),
	'false,false', 'server-wide: the first two jobs hold all of their output');

# a fourth session's job, read as it runs, streams while the third is cut
my $n = open_session($node);
my ($np, $nc) = launch($n, q{SELECT g, repeat('z', 100) FROM generate_series(1, 50000) g});
my ($p3, $c3) = held_job(13, $sql15);
my @nm = drain($n, $np, $nc, batch => 5000);
is(scalar(kinds('row', @nm)), 50000, 'server-wide: a normal job of another session streams all its rows');
is($nm[-1], 'done||{"state":"completed"}', '... and is not truncated');
is($node->safe_psql('postgres', "SELECT state, truncated FROM pg_background_jobs_v2() WHERE pid = $p3"),
	'completed|t', 'server-wide: the third job completed, truncated');
($rows, $notice, $done) = read_held($p3, $c3);
like($notice, qr/^53400\|output of pg_background worker $p3 exceeded pg_background\.max_held_bytes \(4 MB\); the rest of its output is discarded$/,
	'server-wide: its output ends with the 53400 notice');
is($done, '{"state":"completed","truncated":true}', 'server-wide: done says truncated');
cmp_ok(held_bytes(), '<=', 4 * 1024 * 1024, 'server-wide: the directory holds no more than the bound');
$n->quit;

# ---- retention: 1 s ----
$node->append_conf('postgresql.conf', "pg_background.held_output_retention = '1s'");
$node->reload;
ok(wait_until($node, q{SELECT current_setting('pg_background.held_output_retention') = '1s'}), 'retention: 1 s');
ok(held_bytes($jobs[0][0]) > 0, 'retention: a held job has its file');
ok( wait_until($node,
		'SELECT count(*) = 0 FROM pg_background_jobs_v2() WHERE pid IN (' . join(',', map { $_->[0] } @jobs) . ')'),
	'retention: expired entries are gone after a jobs_v2() call');
is(held_bytes(), 0, 'retention: and so are their files');
my $a = open_session($node);
sql_err($a, "SELECT pg_background_attach_v2($jobs[0][0], $jobs[0][1])", '42704', 'retention: attach gives 42704');
$a->quit;

$locker->quit;
wait_no_workers($node);
close_monitors();
$node->stop;
done_testing();
