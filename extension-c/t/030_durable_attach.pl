# Durable jobs (issue 11): a job outlives the session that launched it, and another session
# of the same role attaches and reads the rest, exactly once by sequence number.
#
#  - 1,000,000 rows, the launcher terminated after it stored >= 100,000: a new session
#    attaches after the last message stored and reads the rest; count and md5 of all rows,
#    in order, equal the query's own;
#  - the launcher terminated while a fetch_v2 batch is on its way (it is paused inside the
#    call by pg_background.test_pause_fetch_after): the batch was taken off the queue but
#    never delivered, and comes again;
#  - "delivered but lost on the wire": attaching after the message before a batch brings
#    that batch again, exactly; after its last message, not again;
#  - an attach without after_seq inside a result set starts with its columns, replayed;
#  - another role and a member of the owner's role are refused (42501); another database
#    too (55000); a live reader makes attach fail with 55006 unless it takes over, and the
#    taken-over session gets 55006 on its next call; of two sessions racing to attach,
#    exactly one gets 55006;
#  - cancel, wait and progress from a session that does not read the job (observers);
#  - list_v2 shows the attached job.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

my $node = new_node('attach');
$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	CREATE ROLE carol LOGIN IN ROLE alice;   -- a member of alice: not enough
	GRANT pgbackground_role TO alice, bob, carol;
	CREATE TABLE got (k text, seq int8, kind text, data json);
	GRANT ALL ON got TO alice;
	CREATE DATABASE other;
});
$node->safe_psql('other', 'CREATE EXTENSION pg_background');
$node->safe_psql('other', 'GRANT pgbackground_role TO alice');

sub session_pid
{
	my ($s) = @_;
	return sql_ok($s, 'SELECT pg_backend_pid()');
}

# the session ends as a dropped connection would: terminated
sub terminate
{
	my ($s, $spid, $what) = @_;
	is($node->safe_psql('postgres', "SELECT pg_terminate_backend($spid)"), 't', "$what: launcher terminated");
	# psql may be gone already (its connection was lost in the middle of a statement)
	eval { $s->quit };
	ok(wait_until($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $spid"),
		"$what: the launcher session is gone");
}

# one batch into got under key $k, after the last message stored there; returns the rows stored
sub store_batch
{
	my ($s, $k, $pid, $cookie, $batch) = @_;
	my ($out, $err) = sql($s, qq{
		WITH f AS (SELECT * FROM pg_background_fetch_v2($pid, $cookie, $batch, 5000,
		             (SELECT coalesce(max(seq), 0) FROM got WHERE k = '$k')))
		INSERT INTO got SELECT '$k', seq, kind, data FROM f});
	die "store_batch $k: $err" if $err =~ /ERROR/;
	return $out;
}

sub done_stored
{
	my ($k) = @_;
	return $node->safe_psql('postgres', "SELECT count(*) > 0 FROM got WHERE k = '$k' AND kind = 'done'") eq 't';
}

# every output row's first message follows the previous row's last one (rows: seq - n + 1)
sub contiguous
{
	my ($k) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT coalesce(bool_and(first = prev + 1), false) FROM (
		  SELECT seq - CASE WHEN kind = 'rows' THEN json_array_length(data) - 1 ELSE 0 END AS first,
		         lag(seq, 1, 0::int8) OVER (ORDER BY seq) AS prev
		    FROM got WHERE k = '$k') s});
}

# ---- 1,000,000 rows; the launcher is terminated after storing >= 100,000 ----
{
	my $query = q{SELECT g, md5(g::text) AS h FROM generate_series(1, 1000000) g};
	my $l = open_session($node, user => 'alice');
	my $lpid = session_pid($l);
	sql_ok($l, 'SET pg_background.fetch_rows_per_tuple = 1000');
	my ($pid, $cookie) = launch($l, $query);
	my $rows = 0;
	for (1 .. 200)
	{
		store_batch($l, 'big', $pid, $cookie, 20000);
		$rows = $node->safe_psql('postgres',
			q{SELECT coalesce(sum(json_array_length(data)), 0) FROM got WHERE k = 'big' AND kind = 'rows'});
		last if $rows >= 100000;
	}
	cmp_ok($rows, '>=', 100000, 'the launcher stored at least 100,000 rows');
	cmp_ok($rows, '<', 1000000, '... and not all of them');
	terminate($l, $lpid, 'million');

	is($node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid"), '1',
		'the job runs on without its launcher');
	my $a = open_session($node, user => 'alice');
	sql_ok($a, 'SET pg_background.fetch_rows_per_tuple = 1000');
	my $att = sql_ok($a, qq{SELECT state, truncated FROM pg_background_attach_v2($pid, $cookie,
		(SELECT max(seq) FROM got WHERE k = 'big'))});
	like($att, qr/^(running|completed)\|f$/, 'a new session of the same role attaches to the job');
	for (1 .. 500)
	{
		store_batch($a, 'big', $pid, $cookie, 50000);
		last if done_stored('big');
	}
	ok(done_stored('big'), 'the attached session read to "done"');
	my $last = $node->safe_psql('postgres', q{SELECT max(seq) FROM got WHERE k = 'big'});
	is(sql_ok($a, "SELECT count(*) FROM pg_background_fetch_v2($pid, $cookie, 1, 0, $last)"), '0',
		'the final acknowledgement returns nothing');
	$a->quit;
	is(contiguous('big'), 't', 'the stored messages are contiguous by sequence number');
	# contiguous numbers and the count exclude a loss or a duplicate; the md5 checks content
	my $got = $node->safe_psql('postgres', q{
		SET work_mem = '256MB';
		SELECT count(*), md5(string_agg((x.e->>0) || ',' || (x.e->>1), E'\n' ORDER BY g.seq, x.o))
		  FROM got g, json_array_elements(g.data) WITH ORDINALITY AS x(e, o)
		 WHERE g.k = 'big' AND g.kind = 'rows'});
	my $want = $node->safe_psql('postgres', q{
		SET work_mem = '256MB';
		SELECT count(*), md5(string_agg(g || ',' || md5(g::text), E'\n' ORDER BY g))
		  FROM generate_series(1, 1000000) g});
	is($got, $want, 'count and md5 of all 1,000,000 rows in order equal the query\'s own');
	is($node->safe_psql('postgres', q{SELECT string_agg(kind, ',' ORDER BY seq) FROM got
		WHERE k = 'big' AND kind <> 'rows'}), 'columns,command,done', 'one columns, one command, one done');
	ok(wait_until($node, "SELECT count(*) = 0 FROM pg_background_jobs_v2() WHERE pid = $pid"),
		'the job left the registry once its output was delivered');
}

# ---- the launcher is terminated while a fetch_v2 batch is in flight ----
{
	my $l = open_session($node);
	my $lpid = session_pid($l);
	my ($pid, $cookie) = launch($l, 'SELECT g FROM generate_series(1, 20000) g');
	store_batch($l, 'paused', $pid, $cookie, 1000);
	sql_ok($l, 'SET pg_background.test_pause_fetch_after = 500');
	$l->{stdin} .= qq{INSERT INTO got SELECT 'paused', seq, kind, data
		FROM pg_background_fetch_v2($pid, $cookie, 3000, 5000, (SELECT max(seq) FROM got WHERE k = 'paused'));\n};
	$l->{run}->pump_nb;
	ok(wait_until($node, "SELECT wait_event = 'Extension' FROM pg_stat_activity WHERE pid = $lpid"),
		'in flight: the launcher is paused inside fetch_v2 with a batch taken off the queue');
	terminate($l, $lpid, 'in flight');
	my $have = $node->safe_psql('postgres', q{SELECT max(seq) FROM got WHERE k = 'paused'});
	my $a = open_session($node);
	sql_ok($a, "SELECT pg_background_attach_v2($pid, $cookie, $have)");
	for (1 .. 100)
	{
		store_batch($a, 'paused', $pid, $cookie, 5000);
		last if done_stored('paused');
	}
	is( $node->safe_psql('postgres', q{
			SELECT count(*), count(DISTINCT data->>0), min((data->>0)::int), max((data->>0)::int)
			  FROM got WHERE k = 'paused' AND kind = 'row'}),
		'20000|20000|1|20000', 'in flight: every row once, none lost, none twice');
	is(contiguous('paused'), 't', 'in flight: the numbers are contiguous');
	$a->quit;
}

# ---- delivered but lost on the wire; an attach without after_seq ----
{
	my $l = open_session($node);
	my $lpid = session_pid($l);
	my ($pid, $cookie) = launch($l, 'SELECT g FROM generate_series(1, 5000) g');
	my $b1 = sql_ok($l, "SELECT kind, data, seq FROM pg_background_fetch_v2($pid, $cookie, 100, 5000, 0)");
	my ($k1) = $b1 =~ /(\d+)$/;
	my $b2 = sql_ok($l, "SELECT kind, data, seq FROM pg_background_fetch_v2($pid, $cookie, 100, 5000, $k1)");
	my ($k2) = $b2 =~ /(\d+)$/;
	is($k2, $k1 + 100, 'lost on the wire: two batches read, the second one acknowledged by nobody');
	terminate($l, $lpid, 'lost on the wire');
	ok( wait_until($node, "SELECT state = 'completed' AND output = 'held' AND rows_held = 4900 AND acked_seq = $k1
		AND last_seq = 5003 FROM pg_background_jobs_v2() WHERE pid = $pid"),
		'lost on the wire: jobs_v2 shows the output held, 4,900 rows not acknowledged');

	my $a = open_session($node);
	sql_ok($a, "SELECT pg_background_attach_v2($pid, $cookie, $k1)");
	is(sql_ok($a, "SELECT kind, data, seq FROM pg_background_fetch_v2($pid, $cookie, 100, 5000, $k1)"), $b2,
		'attached after the message before the batch: that batch again, exactly');
	my $t = open_session($node);
	sql_ok($t, "SELECT pg_background_attach_v2($pid, $cookie, $k2, takeover => true)");
	my $next = sql_ok($t, "SELECT seq FROM pg_background_fetch_v2($pid, $cookie, 1, 5000, $k2)");
	is($next, $k2 + 1, 'attached after its last message: the batch does not come again');
	sql_err($a, "SELECT * FROM pg_background_fetch_v2($pid, $cookie)", '55006',
		'the taken-over session gets 55006 on its next call');
	sql_err($a, "SELECT * FROM pg_background_fetch_v2($pid, $cookie)", '55006',
		'... and on the one after');

	# without after_seq: from what was acknowledged, the result set's columns first
	my $n = open_session($node);
	sql_ok($n, "SELECT pg_background_attach_v2($pid, $cookie, takeover => true)");
	my $first = sql_ok($n, "SELECT kind, data->>'replayed', seq FROM pg_background_fetch_v2($pid, $cookie, 2, 5000) LIMIT 2");
	is($first, "columns|true|1\nrow||" . ($k2 + 1),
		'an attach without after_seq starts with the columns, replayed with their number, then what was not acknowledged');
	$_->quit for ($a, $t, $n);
}

# ---- the other functions on an attached handle: result_v2 after after_seq, wait, progress ----
{
	my $l = open_session($node);
	my $lpid = session_pid($l);
	my ($pid, $cookie) = launch($l,
		'SELECT pg_background_progress(60, \'rows\'); SELECT g FROM generate_series(1, 100) g');
	sql_ok($l, "SELECT pg_background_wait_v2($pid, $cookie)");
	my $b1 = sql_ok($l, "SELECT max(seq) FROM pg_background_fetch_v2($pid, $cookie, 10, 5000, 0)");
	sql_ok($l, "SELECT count(*) FROM pg_background_fetch_v2($pid, $cookie, 1, 5000, $b1)");
	terminate($l, $lpid, 'other functions');
	my $a = open_session($node);
	sql_ok($a, "SELECT pg_background_attach_v2($pid, $cookie, $b1)");
	sql_ok($a, "SELECT pg_background_wait_v2($pid, $cookie)", 'attached: wait_v2');
	is(sql_ok($a, "SELECT * FROM pg_background_get_progress_v2($pid, $cookie)"), '60|rows', 'attached: progress');
	my $r = sql_ok($a, "SELECT count(*), min(g), max(g) FROM pg_background_result_v2($pid, $cookie) AS (g int)");
	# before the rows: columns, the progress row, command, columns
	my $skipped = $b1 - 4;
	is($r, (100 - $skipped) . '|' . ($skipped + 1) . '|100',
		'attached: result_v2 returns the rows after after_seq, once');
	$a->quit;
}

# ---- attached while the finished worker waits for its final acknowledgement ----
{
	my $l = open_session($node);
	my ($pid, $cookie) = launch($l, 'SELECT g FROM generate_series(1, 100) g');
	sql_ok($l, "SELECT pg_background_wait_v2($pid, $cookie)");
	my $a = open_session($node);
	sql_ok($a, "SELECT pg_background_attach_v2($pid, $cookie, takeover => true)");
	my @m = drain($a, $pid, $cookie);
	is(scalar(kinds('row', @m)), 100,
		'attached at once after the job finished: the worker moves its output to the file, all of it is read');
	$_->quit for ($l, $a);
}

# ---- who may attach, and who reads ----
{
	my $l = open_session($node, user => 'alice');
	my $lpid = session_pid($l);
	my ($pid, $cookie) = launch($l, 'SELECT g FROM generate_series(1, 100) g');

	my $bob = open_session($node, user => 'bob');
	sql_err($bob, "SELECT pg_background_attach_v2($pid, $cookie)", '42501', 'another role may not attach');
	my $carol = open_session($node, user => 'carol');
	sql_err($carol, "SELECT pg_background_attach_v2($pid, $cookie)", '42501',
		'a member of the owner\'s role may not attach');
	sql_err($carol, "SELECT pg_background_attach_v2($pid, $cookie + 1)", '42704', 'a wrong cookie: 42704');
	my $o = $node->background_psql('other', on_error_stop => 0,
		extra_params => [ '-v', 'VERBOSITY=verbose', '-U', 'alice' ]);
	$o->set_query_timer_restart;
	sql_err($o, "SELECT pg_background_attach_v2($pid, $cookie)", '55000', 'attach from another database: 55000');
	$o->quit;

	my $a = open_session($node, user => 'alice');
	my $err = sql_err($a, "SELECT pg_background_attach_v2($pid, $cookie)", '55006',
		'the live launcher reads it: attach without takeover gets 55006');
	like($err, qr/takeover => true/, '... with the hint to take it over');
	sql_ok($a, "SELECT pg_background_attach_v2($pid, $cookie, takeover => true)");
	sql_err($l, "SELECT * FROM pg_background_fetch_v2($pid, $cookie)", '55006',
		'the launcher, taken over, gets 55006');
	is(sql_ok($a, list_sql('count(*)', "pid = $pid")), '1', 'list_v2 shows the attached job');
	my @m = drain($a, $pid, $cookie);
	is(scalar(kinds('row', @m)), 100, 'the new reader reads every row');
	$_->quit for ($l, $bob, $carol, $a);
}

# ---- two sessions racing to attach ----
{
	my $l = open_session($node);
	my $lpid = session_pid($l);
	my ($pid, $cookie) = launch($l, 'SELECT g FROM generate_series(1, 10) g');
	terminate($l, $lpid, 'race');
	my $m = open_session($node);
	sql_ok($m, 'SELECT pg_advisory_lock(77)');
	my @r = map { open_session($node) } 1 .. 2;
	for my $s (@r)
	{
		$s->{stderr} = '';
		$s->{stdin} .= "DO \$\$BEGIN PERFORM pg_advisory_lock_shared(77); PERFORM pg_background_attach_v2($pid, $cookie); END\$\$;\n";
		$s->{run}->pump_nb;
	}
	ok(wait_until($node, "SELECT count(*) = 2 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'DO%attach%'"),
		'race: both sessions wait at the start line');
	sql_ok($m, 'SELECT pg_advisory_unlock(77)');
	my @errs;
	for my $s (@r)
	{
		$s->query('SELECT 1');
		push @errs, $s->{stderr};
		$s->{stderr} = '';
	}
	is(scalar(grep { /55006/ } @errs), 1, 'race: exactly one of the two gets 55006');
	is(scalar(grep { !/ERROR/ } @errs), 1, 'race: the other one attached');
	$_->quit for (@r, $m);
}

# ---- observers: cancel, wait and progress from a session that does not read ----
{
	my $l = open_session($node, user => 'alice');
	my ($pid, $cookie) = launch($l,
		'SELECT pg_background_progress(30, \'warming up\'); SELECT pg_sleep(3600)');
	my $o = open_session($node, user => 'alice');
	ok(wait_until($node, "SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE pid = $pid"), 'observer: the job runs');
	is(sql_ok($o, "SELECT * FROM pg_background_get_progress_v2($pid, $cookie)"), '30|warming up',
		'observer: progress');
	is(sql_ok($o, "SELECT pg_background_wait_v2_timeout($pid, $cookie, 10)"), 'f',
		'observer: wait with a timeout gives up while it runs');
	my $bob = open_session($node, user => 'bob');
	sql_err($bob, "SELECT pg_background_cancel_v2($pid, $cookie)", '42501', 'observer: another role may not cancel');
	sql_ok($o, "SELECT pg_background_cancel_v2($pid, $cookie)");
	sql_ok($o, "SELECT pg_background_wait_v2($pid, $cookie)");
	is(sql_ok($o, "SELECT state FROM pg_background_jobs_v2() WHERE pid = $pid"), 'canceled',
		'observer: cancel and wait work; the job is canceled');
	my @m = drain($l, $pid, $cookie);
	like($m[-1], qr/^done\|\|\{"state":"canceled"\}/, 'the launcher still reads the outcome');
	$_->quit for ($l, $o, $bob);
}

wait_no_workers($node);
my $log = slurp_file($node->logfile);
unlike($log, qr/PANIC|server process .* was terminated by signal|TRAP:/, 'no crash in the server log');
close_monitors();
$node->stop;
done_testing();
