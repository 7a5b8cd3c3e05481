# fetch_v2's batched form and delivery (issue 12, review R1 #3, #5 and the pending-memory
# nit): with pg_background.fetch_rows_per_tuple > 1 consecutive rows of one statement come
# as one 'rows' tuple, cut at max_rows; entries count as delivered only when the calling
# statement succeeds; a row too large to return does not stop the stream; a delivered
# batch does not keep its buffer.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

my $node = new_node('fetch_batched');
my $s = open_session($node);

sub fetch
{
	my ($pid, $cookie, $max) = @_;
	my ($out, $err) = sql($s,
		"SELECT kind, stmt, data FROM pg_background_fetch_v2($pid, $cookie, $max, 1000)");
	die "fetch_v2 failed: $err" if $err =~ /ERROR/;
	return grep { length } split /\n/, $out;
}

sub finished_job
{
	my ($job, %opt) = @_;
	my ($pid, $cookie) = launch($s, $job, %opt);
	sql_ok($s, "SELECT pg_background_wait_v2($pid, $cookie)");
	return ($pid, $cookie);
}

# --- the setting -------------------------------------------------------------------------
sql_ok($s, q{LOAD 'pg_background'});
sql_err($s, 'SET pg_background.fetch_rows_per_tuple = 0', '22023', 'rows per tuple below 1 is refused');
sql_err($s, 'SET pg_background.fetch_rows_per_tuple = 1000001', '22023', 'and above its maximum');
is(sql($s, 'SHOW pg_background.fetch_rows_per_tuple'), '1', 'one row per tuple by default');

# --- 'rows': grouped per statement, cut at max_rows, same encoding as 'row' ---------------
{
	my ($pid, $cookie) = finished_job(
		q{SELECT g, CASE WHEN g = 2 THEN NULL ELSE 'v"' || g END FROM generate_series(1, 10) g; SELECT 'a\b' AS t FROM generate_series(1, 3)});
	sql_ok($s, 'SET pg_background.fetch_rows_per_tuple = 4');
	my @m = fetch($pid, $cookie, 6);
	is_deeply(
		\@m,
		[
			'columns|1|[{"name":"g","type":"integer","type_oid":23,"typmod":-1},{"name":"case","type":"text","type_oid":25,"typmod":-1}]',
			'rows|1|[["1","v\"1"],["2",null],["3","v\"3"],["4","v\"4"]]',
			'rows|1|[["5","v\"5"],["6","v\"6"]]',
		],
		'rows of a statement grouped by 4, the call cut at max_rows');
	@m = fetch($pid, $cookie, 100);
	is_deeply(
		\@m,
		[
			'rows|1|[["7","v\"7"],["8","v\"8"],["9","v\"9"],["10","v\"10"]]',
			'command|1|{"tag":"SELECT 10","rows":10}',
			'columns|2|[{"name":"t","type":"text","type_oid":25,"typmod":-1}]',
			'rows|2|[["a\\\\b"],["a\\\\b"],["a\\\\b"]]',
			'command|2|{"tag":"SELECT 3","rows":3}',
			'done||{"state":"completed"}',
		],
		'never two statements in one tuple');
	sql_ok($s, 'RESET pg_background.fetch_rows_per_tuple');
}

# --- R1 #5: the calling statement fails after fetch_v2 returned ---------------------------
{
	my ($pid, $cookie) = finished_job('SELECT g FROM generate_series(1, 3) g');
	sql_err($s,
		"SELECT kind, 1 / (CASE WHEN kind = 'row' THEN 0 ELSE 1 END) FROM pg_background_fetch_v2($pid, $cookie, 100, 1000)",
		'22012', 'the statement that called fetch_v2 fails on its rows');
	my @m = fetch($pid, $cookie, 100);
	is(join(' ', map { (split /\|/)[0] } @m), 'columns row row row command done',
		'the next call returns the whole batch again, done included');
	is($m[1], 'row|1|["1"]', 'from the first row');
	sql_err($s, "SELECT * FROM pg_background_fetch_v2($pid, $cookie)", [ '55000', '42704' ],
		'the handle is released once done was delivered');
}

# ... inside a subtransaction, and cut differently by the next call
{
	my ($pid, $cookie) = finished_job('SELECT g FROM generate_series(1, 10) g');
	sql_ok($s, 'SET pg_background.fetch_rows_per_tuple = 100');
	sql_ok($s, qq{
		DO \$\$
		DECLARE n int;
		BEGIN
		  BEGIN
		    PERFORM 1 / (CASE WHEN kind = 'rows' THEN 0 ELSE 1 END)
		      FROM pg_background_fetch_v2($pid, $cookie, 100, 1000);
		  EXCEPTION WHEN division_by_zero THEN
		    NULL;
		  END;
		  SELECT count(*) INTO n FROM pg_background_fetch_v2($pid, $cookie, 100, 0);
		  IF n <> 4 THEN
		    RAISE EXCEPTION 'the second call returned % tuples', n;
		  END IF;
		END \$\$}, 'a failed subtransaction hands its entries back to the same transaction');
	sql_err($s, "SELECT * FROM pg_background_fetch_v2($pid, $cookie)", [ '55000', '42704' ],
		'the call that returned them again delivered done');

	my ($pid2, $cookie2) = finished_job('SELECT g FROM generate_series(1, 10) g');
	sql_err($s,
		"SELECT 1 / (CASE WHEN kind = 'rows' THEN 0 ELSE 1 END) FROM pg_background_fetch_v2($pid2, $cookie2, 100, 1000)",
		'22012', 'a batch of ten rows in one tuple fails');
	my @first = fetch($pid2, $cookie2, 3);
	is_deeply(\@first,
		[ 'columns|1|[{"name":"g","type":"integer","type_oid":23,"typmod":-1}]', 'rows|1|[["1"],["2"],["3"]]' ],
		'a smaller max_rows cuts the returned tuple at any row');
	my @rest = fetch($pid2, $cookie2, 100);
	is_deeply(\@rest,
		[ 'rows|1|[["4"],["5"],["6"],["7"],["8"],["9"],["10"]]', 'command|1|{"tag":"SELECT 10","rows":10}', 'done||{"state":"completed"}' ],
		'the rest follows, nothing twice');
	sql_ok($s, 'RESET pg_background.fetch_rows_per_tuple');
}

# --- R1 #3: a row whose JSON could never be returned ---------------------------------------
{
	# 180,000,000 control characters become 1,080,000,000 bytes of \u0001 escapes
	my ($pid, $cookie) = launch($s,
		q{SELECT repeat(chr(1), 180000000) AS big; SELECT 'after' AS x});
	my @m = drain($s, $pid, $cookie, batch => 100, wait_ms => 5000);
	my @errors = grep { /^error\|/ } @m;
	is(scalar(@errors), 1, 'one error entry');
	like($errors[0] // '', qr/^error\|1\|\{"severity":"ERROR","sqlstate":"54000","message":"row of 1080000004 bytes as JSON is too large/,
		'it names the row and its size');
	ok((grep { $_ eq 'row|2|["after"]' } @m), 'the next statement\'s row follows');
	is($m[-1], 'done||{"state":"completed"}', 'and the job completes');
}

# --- R1 nit: a delivered batch does not keep a batch-sized buffer --------------------------
{
	my @jobs;
	for (1 .. 3)
	{
		push @jobs, [ finished_job(q{SELECT repeat('x', 700) FROM generate_series(1, 8000)},
			queue => 16777216) ];
	}
	for my $j (@jobs)
	{
		# 8000 rows of 700 bytes: about 6 MB of JSON in one call, the job not done yet
		is(sql($s, "SELECT count(*) FROM pg_background_fetch_v2($j->[0], $j->[1], 8000, 0)"),
			'8001', 'a large batch is returned');
	}
	my $bytes = sql($s,
		q{SELECT coalesce(sum(total_bytes), 0) FROM pg_backend_memory_contexts WHERE name = 'pg_background handle'});
	cmp_ok($bytes, '<', 3 * 1024 * 1024, 'the handles hold no batch buffers afterwards')
	  or diag("handles hold $bytes bytes");
	for my $j (@jobs)
	{
		my @m = drain($s, $j->[0], $j->[1]);
		is($m[-1], 'done||{"state":"completed"}', 'the rest of each job is there');
	}
}

$s->quit;
$node->stop;
done_testing();
