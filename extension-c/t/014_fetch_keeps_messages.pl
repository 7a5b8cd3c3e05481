# fetch_v2 never loses a message it has taken off the queue: a column whose type the
# launcher cannot look up (made inside the job) is described with the name the worker
# sent, and an error while a batch is being built leaves the whole batch for the next
# call.  result_v2 refuses a column type it cannot fill before it reads anything.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

my $node = new_node('fetch_keeps');
my $s = open_session($node);

# Messages of a job drained with fetch_v2, whose first call must succeed (drain dies on
# an error).
sub check_type_job
{
	my ($what, $job, $tag, $type_re) = @_;
	my ($pid, $cookie) = launch($s, $job);
	my @msgs = drain($s, $pid, $cookie, batch => 100);
	my @cols = grep { /^columns\|2\|/ } @msgs;
	is(scalar(@cols), 1, "$what: the columns message is there");
	like($cols[0] // '', $type_re, "$what: it names the type");
	like($msgs[0], qr/^command\|1\|\{"tag":"$tag"/, "$what: nothing before it was lost");
	ok((grep { /^row\|2\|/ } @msgs), "$what: the row follows");
	is($msgs[-1], 'done||{"state":"completed"}', "$what: the job completes");
}

check_type_job('enum',
	q{CREATE TYPE mood3 AS ENUM ('happy'); SELECT 'happy'::mood3 AS m; SELECT pg_sleep(1)},
	'CREATE TYPE', qr/"name":"m","type":"mood3"/);
check_type_job('domain',
	q{CREATE DOMAIN dd AS int CHECK (VALUE > 0); SELECT 5::dd AS d, ARRAY[5]::dd[] AS a; SELECT pg_sleep(1); DROP DOMAIN dd},
	'CREATE DOMAIN', qr/"name":"d","type":"dd".*"name":"a","type":"dd\[\]"/);
check_type_job('temp table',
	q{CREATE TEMP TABLE tt AS SELECT 1 AS a, 'x'::text AS b; SELECT t FROM tt t; SELECT pg_sleep(1)},
	'SELECT 1', qr/"name":"t","type":"(pg_temp_\d+\.)?tt"/);

# --- an error while the batch is built: nothing taken off the queue is lost -------------
{
	my $n = 2000;
	my ($pid, $cookie) = launch($s,
		"SELECT g, repeat('x', 1000) AS pad FROM generate_series(1, $n) g", queue => 4194304);
	sql_ok($s, "SELECT pg_background_wait_v2($pid, $cookie)");
	# the batch (2 MB) spills beyond work_mem into a temporary file over its limit
	sql_ok($s, q{SET work_mem = '64kB'});
	sql_ok($s, q{SET temp_file_limit = '256kB'});
	sql_err($s, "SELECT count(*) FROM pg_background_fetch_v2($pid, $cookie, 100000, 0)", '53400',
		'a batch that cannot be stored fails');
	sql_err($s, "SELECT count(*) FROM pg_background_fetch_v2($pid, $cookie, 100000, 0)", '53400',
		'and fails again while it still cannot');
	sql_ok($s, 'RESET temp_file_limit');
	sql_ok($s, 'RESET work_mem');
	my @msgs = drain($s, $pid, $cookie, batch => 150);
	like($msgs[0], qr/^columns\|1\|\[\{"name":"g"/, 'after the failures the batch starts with the columns message');
	my @g = map { (split /\|/, $_, 3)[2] =~ /^\["(\d+)"/ ? $1 : () } grep { /^row\|/ } @msgs;
	is(scalar(@g), $n, 'every row is there');
	is(join(',', @g), join(',', 1 .. $n), 'once each, in order');
	is($msgs[-2], 'command|1|{"tag":"SELECT ' . $n . '","rows":' . $n . '}', 'the command tag follows');
	is($msgs[-1], 'done||{"state":"completed"}', 'and the job completed');
}

# --- max_rows still holds for what a failed call left behind -----------------------------
{
	my ($pid, $cookie) = launch($s, "SELECT g, repeat('x', 1000) FROM generate_series(1, 500) g",
		queue => 4194304);
	sql_ok($s, "SELECT pg_background_wait_v2($pid, $cookie)");
	sql_ok($s, q{SET work_mem = '64kB'});
	sql_ok($s, q{SET temp_file_limit = '128kB'});
	sql_err($s, "SELECT count(*) FROM pg_background_fetch_v2($pid, $cookie, 100000, 0)", '53400',
		'small batches: the big one fails');
	sql_ok($s, 'RESET temp_file_limit');
	sql_ok($s, 'RESET work_mem');
	is(sql_ok($s, "SELECT count(*) FILTER (WHERE kind = 'row') FROM pg_background_fetch_v2($pid, $cookie, 10, 0)"),
		'10', 'a later call returns at most max_rows of it');
	my @msgs = drain($s, $pid, $cookie, batch => 1000);
	is(scalar(grep { /^row\|/ } @msgs), 490, 'and the rest comes after');
}

# --- result_v2: a type it cannot fill is refused before anything is read ------------------
{
	my ($pid, $cookie) = launch($s, q{SELECT ROW(1, 'a') AS r});
	sql_ok($s, "SELECT pg_background_wait_v2($pid, $cookie)");
	my $err = sql_err($s, "SELECT * FROM pg_background_result_v2($pid, $cookie) AS (r record)",
		'42804', 'result_v2 AS (r record): a clear error');
	like($err, qr/type record, which cannot hold a pg_background result/, 'naming the type');
	is(sql_ok($s, "SELECT * FROM pg_background_result_v2($pid, $cookie) AS (r text)"), '(1,a)',
		'the results are still all there');
}

$s->quit;
wait_no_workers($node);
close_monitors();
$node->stop;
done_testing();
