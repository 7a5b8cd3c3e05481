# Durable jobs (issue 11), the findings of review R3, each reproduced deterministically
# (advisory locks and SIGSTOP pin the worker where the defect lived, never a sleep):
#
#  - a slow job whose reader kept up (its replay log fully acknowledged) when the launcher
#    went: the held file must be numbered from the next message (it was one too high, and
#    every attach failed with "sent message number N where N+1 was expected");
#  - take-over while the old reader waits inside fetch_v2: the old reader gets 55006 (not a
#    made-up done "lost"), and acknowledges nothing on the taker's behalf;
#  - a taken-over launcher whose taker has gone since: 55006, not done "lost";
#  - an attach that fails (55000, 22023) leaves the current reader untouched;
#  - detach_v2 of an attached job in file mode: the worker stops writing its file;
#  - resume with after_seq = an error's seq: the error does not come again; with after_seq =
#    done's seq: zero rows and the handle (and registry entry) released;
#  - retention freeing a finished entry before its worker moved the output to a file leaves
#    no orphan file;
#  - SIGTERM of a worker waiting for its final acknowledgement: the output is held, not
#    dropped.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

my $node = new_node('review', 'pg_background.held_output_retention' => "'1d'");
$node->safe_psql('postgres', q{
	CREATE TABLE got (k text, seq int8, kind text, data json);
});
my $held_dir = $node->data_dir . '/base/pgsql_tmp/pgsql_tmp_pg_background';

sub session_pid
{
	my ($s) = @_;
	return sql_ok($s, 'SELECT pg_backend_pid()');
}

sub terminate
{
	my ($s, $spid, $what) = @_;
	is($node->safe_psql('postgres', "SELECT pg_terminate_backend($spid)"), 't', "$what: launcher terminated");
	eval { $s->quit };
	ok(wait_until($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $spid"),
		"$what: the launcher session is gone");
}

sub last_seq
{
	my ($k) = @_;
	return $node->safe_psql('postgres', "SELECT coalesce(max(seq), 0) FROM got WHERE k = '$k'");
}

# one batch into got under key $k, acknowledging everything stored there; returns stderr
sub store_batch
{
	my ($s, $k, $pid, $cookie, $wait) = @_;
	$wait //= 1000;
	my ($out, $err) = sql($s, qq{
		WITH f AS (SELECT * FROM pg_background_fetch_v2($pid, $cookie, 10000, $wait,
		             (SELECT coalesce(max(seq), 0) FROM got WHERE k = '$k')))
		INSERT INTO got SELECT '$k', seq, kind, data FROM f});
	return $err;
}

sub read_to_done
{
	my ($s, $k, $pid, $cookie) = @_;
	for (1 .. 200)
	{
		my $err = store_batch($s, $k, $pid, $cookie);
		return $err if $err =~ /ERROR/;
		return '' if $node->safe_psql('postgres',
			"SELECT count(*) > 0 FROM got WHERE k = '$k' AND kind = 'done'") eq 't';
	}
	return 'never done';
}

sub contiguous
{
	my ($k) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT coalesce(bool_and(first = prev + 1), false) FROM (
		  SELECT seq - CASE WHEN kind = 'rows' THEN json_array_length(data) - 1 ELSE 0 END AS first,
		         lag(seq, 1, 0::int8) OVER (ORDER BY seq) AS prev
		    FROM got WHERE k = '$k') s});
}

# contiguous, the first row (a replayed columns row aside) following what was acknowledged
sub contiguous_from
{
	my ($k) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT coalesce(bool_and(first = prev + 1), false) AND min(first) = 7 FROM (
		  SELECT seq - CASE WHEN kind = 'rows' THEN json_array_length(data) - 1 ELSE 0 END AS first,
		         lag(seq, 1, 6::int8) OVER (ORDER BY seq) AS prev
		    FROM got WHERE k = '$k' AND (data->>'replayed') IS NULL) s});
}

sub row_values
{
	my ($k) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT string_agg(v, ',' ORDER BY seq, o) FROM (
		  SELECT seq, o, v FROM got, json_array_elements_text(
		      CASE WHEN kind = 'rows' THEN data ELSE json_build_array(data) END)
		      WITH ORDINALITY AS r(x, o),
		      LATERAL (SELECT (x::json)->>0) AS t(v)
		   WHERE k = '$k' AND kind IN ('row', 'rows')) s
		 WHERE v <> ''});
}

sub worker_waits_on_lock
{
	my ($pid, $key) = @_;
	return wait_until($node, "SELECT count(*) > 0 FROM pg_locks WHERE pid = $pid
		AND locktype = 'advisory' AND objid = $key AND NOT granted");
}

sub held_files
{
	opendir(my $dh, $held_dir) or return ();
	my @f = grep { /^j/ } readdir($dh);
	closedir($dh);
	return @f;
}

sub file_size
{
	my ($pid) = @_;
	my ($f) = grep { /^j${pid}_/ } held_files();
	return -1 unless defined $f;
	return -s "$held_dir/$f";
}

my $m = open_session($node);	# holds the advisory locks the jobs wait for

# ---- R3 #3: a slow job, its reader kept up, the launcher goes, the rest is read exactly ----
{
	sql_ok($m, 'SELECT pg_advisory_lock(3001)');
	my $l = open_session($node);
	my $lpid = session_pid($l);
	# every row is flushed on its own (the 50 ms between rows), and the job stops while
	# computing row 6: the launcher can have (and acknowledge) everything produced
	my ($pid, $cookie) = launch($l, 'SELECT g, CASE WHEN g = 6 THEN pg_advisory_lock(3001) IS NULL END AS x, '
		. 'pg_sleep(0.05) FROM generate_series(1, 25) g');
	ok(worker_waits_on_lock($pid, 3001), 'slow: the job waits while computing row 6');
	# read (and acknowledge) everything produced so far, as the engine does
	for (1 .. 20)
	{
		my $err = store_batch($l, 'slow', $pid, $cookie, 200);
		die $err if $err =~ /ERROR/;
	}
	my $have = last_seq('slow');
	is($have, 6, 'slow: the launcher has the first five rows');
	is(store_batch($l, 'slow', $pid, $cookie, 0), '', 'slow: and acknowledged it all');
	terminate($l, $lpid, 'slow');
	sql_ok($m, 'SELECT pg_advisory_unlock(3001)');
	my $a = open_session($node);
	sql_ok($a, "SELECT pg_background_attach_v2($pid, $cookie, $have)", 'slow: attach after the last message');
	is(read_to_done($a, 'slow', $pid, $cookie), '', 'slow: the rest is read to done without error');
	is(row_values('slow'), join(',', 1 .. 25), 'slow: every row once, in order');
	is(contiguous('slow'), 't', 'slow: the numbers are contiguous');
	is($node->safe_psql('postgres', "SELECT data->>'state' FROM got WHERE k = 'slow' AND kind = 'done'"),
		'completed', 'slow: done says completed');
	$a->quit;

	# the same with a legacy reader (after_seq NULL) and an attach without after_seq
	sql_ok($m, 'SELECT pg_advisory_lock(3002)');
	$l = open_session($node);
	$lpid = session_pid($l);
	($pid, $cookie) = launch($l, 'SELECT g, CASE WHEN g = 6 THEN pg_advisory_lock(3002) IS NULL END AS x, '
		. 'pg_sleep(0.05) FROM generate_series(1, 10) g');
	ok(worker_waits_on_lock($pid, 3002), 'slow legacy: the job waits while computing row 6');
	my $n = 0;
	for (1 .. 20)
	{
		$n += scalar(grep { /^row/ } split /\n/,
			sql_ok($l, "SELECT kind FROM pg_background_fetch_v2($pid, $cookie, 1000, 200)"));
	}
	is($n, 5, 'slow legacy: the launcher read the first five rows');
	terminate($l, $lpid, 'slow legacy');
	sql_ok($m, 'SELECT pg_advisory_unlock(3002)');
	$a = open_session($node);
	sql_ok($a, "SELECT pg_background_attach_v2($pid, $cookie)", 'slow legacy: attach');
	my $err = '';
	for (1 .. 100)
	{
		(undef, $err) = sql($a, "INSERT INTO got SELECT 'slowl', seq, kind, data
			FROM pg_background_fetch_v2($pid, $cookie, 1000, 1000)");
		last if $err =~ /ERROR/;
		last if $node->safe_psql('postgres', "SELECT count(*) > 0 FROM got WHERE k = 'slowl' AND kind = 'done'") eq 't';
	}
	is($err, '', 'slow legacy: the held output reads without error');
	is(row_values('slowl'), '6,7,8,9,10', 'slow legacy: the rest, exactly');
	is(contiguous_from('slowl'), 't', 'slow legacy: numbered on from the acknowledged');
	$a->quit;
}

# ---- R3 #4: take-over while the old reader waits inside fetch_v2 ----
for my $mode ('after_seq', 'legacy')
{
	my $key = $mode eq 'legacy' ? 3011 : 3012;
	my $k = "to_$mode";
	sql_ok($m, "SELECT pg_advisory_lock($key)");
	my $v = open_session($node);
	my $vpid = session_pid($v);
	my ($pid, $cookie) = launch($v, 'SELECT g FROM generate_series(1, 5) g; '
		. "SELECT pg_advisory_lock($key); SELECT g FROM generate_series(6, 10) g");
	ok(worker_waits_on_lock($pid, $key), "$k: the job waits between its statements");
	my $after = $mode eq 'legacy' ? '' : ", (SELECT coalesce(max(seq), 0) FROM got WHERE k = '$k')";
	for (1 .. 5)
	{
		my ($o, $e) = sql($v, "INSERT INTO got SELECT '$k', seq, kind, data
			FROM pg_background_fetch_v2($pid, $cookie, 1000, 200$after)");
		die $e if $e =~ /ERROR/;
	}
	my $have = last_seq($k);
	# the old reader waits for more, inside fetch_v2
	$v->{stderr} = '';
	$v->{stdin} .= "INSERT INTO got SELECT '$k', seq, kind, data FROM pg_background_fetch_v2($pid, $cookie, 1000, 600000$after);\n";
	$v->{run}->pump_nb;
	ok(wait_until($node, "SELECT wait_event = 'MessageQueueReceive' FROM pg_stat_activity WHERE pid = $vpid"),
		"$k: the old reader waits inside fetch_v2");
	my $t = open_session($node);
	sql_ok($t, "SELECT pg_background_attach_v2($pid, $cookie, $have, takeover => true)",
		"$k: another session takes the job over");
	sql_ok($m, "SELECT pg_advisory_unlock($key)");
	$v->query('SELECT 1');
	like($v->{stderr}, qr/55006/, "$k: the old reader's waiting call ends with 55006");
	$v->{stderr} = '';
	is($node->safe_psql('postgres', "SELECT count(*) FROM got WHERE k = '$k' AND kind = 'done'"), '0',
		"$k: the old reader got no made-up done");
	sql_err($v, "SELECT * FROM pg_background_fetch_v2($pid, $cookie)", '55006',
		"$k: and 55006 on its next call");
	is(read_to_done($t, $k, $pid, $cookie), '', "$k: the taker reads to done");
	is(row_values($k), join(',', 1 .. 10), "$k: every row once, none acknowledged for the taker by the old reader");
	is(contiguous($k), 't', "$k: the numbers are contiguous");
	$_->quit for ($v, $t);
}

# ---- R3 #5: a taken-over launcher whose taker has gone ----
{
	sql_ok($m, 'SELECT pg_advisory_lock(3021)');
	my $v = open_session($node);
	my ($pid, $cookie) = launch($v, 'SELECT g FROM generate_series(1, 3) g; '
		. 'SELECT pg_advisory_lock(3021); SELECT g FROM generate_series(4, 6) g');
	ok(worker_waits_on_lock($pid, 3021), 'gone taker: the job waits');
	sql_ok($v, "INSERT INTO got SELECT 'gone', seq, kind, data FROM pg_background_fetch_v2($pid, $cookie, 1000, 1000)");
	is(last_seq('gone'), 5, 'gone taker: the launcher read the first statement');
	my $t = open_session($node);
	sql_ok($t, "SELECT pg_background_attach_v2($pid, $cookie, takeover => true)", 'gone taker: taken over');
	$t->quit;
	ok(wait_until($node, "SELECT reader_pid IS NULL AND output = 'held' FROM pg_background_jobs_v2() WHERE pid = $pid"),
		'gone taker: the taker has gone, the output is held');
	sql_ok($m, 'SELECT pg_advisory_unlock(3021)');
	my $err = sql_err($v, "SELECT kind, seq, data FROM pg_background_fetch_v2($pid, $cookie, 1000, 2000)", '55006',
		'gone taker: the launcher gets 55006, not a made-up done');
	like($err, qr/taken over by another session/, '... saying it was taken over');
	ok(wait_until($node, "SELECT state = 'completed' FROM pg_background_jobs_v2() WHERE pid = $pid"),
		'gone taker: the job completes');
	my $a = open_session($node);
	is($node->safe_psql('postgres', "SELECT acked_seq FROM pg_background_jobs_v2() WHERE pid = $pid"), '5',
		'gone taker: nothing was acknowledged on the way');
	sql_ok($a, "SELECT pg_background_attach_v2($pid, $cookie)", 'gone taker: a new session attaches');
	is(read_to_done($a, 'gone', $pid, $cookie), '', 'gone taker: a new attacher reads to done');
	is(row_values('gone'), '1,2,3,4,5,6', 'gone taker: every row');
	$_->quit for ($v, $a);
}

# ---- R3 #6: a failed attach leaves the current reader untouched ----
{
	sql_ok($m, 'SELECT pg_advisory_lock(3031)');
	my $v = open_session($node);
	my $vpid = session_pid($v);
	my ($pid, $cookie) = launch($v, 'SELECT g FROM generate_series(1, 3) g; '
		. 'SELECT pg_advisory_lock(3031); SELECT g FROM generate_series(4, 6) g');
	ok(worker_waits_on_lock($pid, 3031), 'failed attach: the job waits');
	for (1 .. 5)
	{
		my $e = store_batch($v, 'fa', $pid, $cookie, 200);
		die $e if $e =~ /ERROR/;
	}
	is(store_batch($v, 'fa', $pid, $cookie, 0), '', 'failed attach: the launcher acknowledged the first statement');
	my $t = open_session($node);
	sql_err($t, "SELECT pg_background_attach_v2($pid, $cookie, 0, takeover => true)", '55000',
		'failed attach: after_seq below the acknowledged messages: 55000');
	is($node->safe_psql('postgres', "SELECT reader_pid = $vpid AND output = 'live' FROM pg_background_jobs_v2() WHERE pid = $pid"),
		't', 'failed attach: the launcher is still the reader');
	sql_ok($m, 'SELECT pg_advisory_unlock(3031)');
	is(read_to_done($v, 'fa', $pid, $cookie), '', 'failed attach: the launcher reads on to done');
	is(row_values('fa'), '1,2,3,4,5,6', 'failed attach: every row');
	is($node->safe_psql('postgres', "SELECT data->>'state' FROM got WHERE k = 'fa' AND kind = 'done'"),
		'completed', 'failed attach: done says completed');
	$_->quit for ($v, $t);

	# held in a file, read by an attached session: a take-over beyond the last message fails
	my $l = open_session($node);
	my $lpid = session_pid($l);
	($pid, $cookie) = launch($l, 'SELECT g FROM generate_series(1, 3) g');
	terminate($l, $lpid, 'failed attach (file)');
	ok(wait_until($node, "SELECT output = 'held' AND state = 'completed' FROM pg_background_jobs_v2() WHERE pid = $pid"),
		'failed attach (file): the output is held');
	my $a = open_session($node);
	my $apid = session_pid($a);
	sql_ok($a, "SELECT pg_background_attach_v2($pid, $cookie, 0)", 'failed attach (file): attached');
	$t = open_session($node);
	sql_err($t, "SELECT pg_background_attach_v2($pid, $cookie, 1000000, takeover => true)", '22023',
		'failed attach (file): after_seq beyond the last message: 22023');
	is($node->safe_psql('postgres', "SELECT reader_pid = $apid AND output = 'attached' FROM pg_background_jobs_v2() WHERE pid = $pid"),
		't', 'failed attach (file): the attached session is still the reader');
	is(read_to_done($a, 'fa2', $pid, $cookie), '', 'failed attach (file): it reads to done');
	is(row_values('fa2'), '1,2,3', 'failed attach (file): every row');
	$_->quit for ($a, $t);
}

# ---- R3 #6b: detach_v2 of an attached job in file mode stops the file ----
{
	sql_ok($m, 'SELECT pg_advisory_lock(3041), pg_advisory_lock(3042), pg_advisory_lock(3043)');
	my $l = open_session($node);
	my $lpid = session_pid($l);
	my ($pid, $cookie) = launch($l, q{SELECT 1; SELECT pg_advisory_lock(3041);
		SELECT repeat('y', 1000) FROM generate_series(1, 3000);
		SELECT pg_advisory_lock(3042); SELECT repeat('z', 1000) FROM generate_series(1, 3000);
		SELECT pg_advisory_lock(3043)});
	ok(worker_waits_on_lock($pid, 3041), 'detach file: the job waits');
	terminate($l, $lpid, 'detach file');
	sql_ok($m, 'SELECT pg_advisory_unlock(3041)');
	ok(worker_waits_on_lock($pid, 3042), 'detach file: the second part is held in the file');
	my $before = file_size($pid);
	ok($before > 3_000_000, "detach file: the file holds it ($before bytes)");
	my $a = open_session($node);
	sql_ok($a, "SELECT pg_background_attach_v2($pid, $cookie)", 'detach file: attached');
	sql_ok($a, "SELECT pg_background_detach_v2($pid, $cookie)", 'detach file: detached');
	sql_ok($m, 'SELECT pg_advisory_unlock(3042)');
	ok(worker_waits_on_lock($pid, 3043), 'detach file: the job produced its third part');
	my $after = file_size($pid);
	ok($after >= 0 && $after <= $before, "detach file: the file did not grow after the detach ($before -> $after)");
	is($node->safe_psql('postgres', "SELECT output || ' ' || (bytes_held < 1000000) FROM pg_background_jobs_v2() WHERE pid = $pid"),
		'discarded true', 'detach file: jobs_v2 says discarded, nothing held');
	sql_ok($m, 'SELECT pg_advisory_unlock(3043)');
	ok(wait_until($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"),
		'detach file: the job ended');
	is($node->safe_psql('postgres', "SELECT count(*) FROM pg_background_jobs_v2() WHERE pid = $pid"), '0',
		'detach file: the entry is freed');
	is(file_size($pid), -1, 'detach file: its held file is gone');
	$a->quit;
}

# ---- R3 #2: resume after an error, and at the final acknowledgement ----
{
	my $l = open_session($node);
	my ($pid, $cookie) = launch($l, 'SELECT g FROM generate_series(1, 3) g; SELECT 1/0');
	ok(wait_until($node, "SELECT state = 'error' FROM pg_background_jobs_v2() WHERE pid = $pid"), 'error: the job failed');
	is(sql_ok($l, "SELECT string_agg(kind || ':' || seq, ',' ORDER BY seq) FROM pg_background_fetch_v2($pid, $cookie, 100, 1000, 0)"),
		'columns:1,row:2,row:3,row:4,command:5,error:6,done:7', 'error: the launcher read it all, done not acknowledged');
	my $a = open_session($node);
	sql_ok($a, "SELECT pg_background_attach_v2($pid, $cookie, 6, takeover => true)");
	is(sql_ok($a, "SELECT string_agg(kind || ':' || seq, ',' ORDER BY seq) FROM pg_background_fetch_v2($pid, $cookie, 100, 1000, 6)"),
		'done:7', 'error: after the error only done comes, the error not twice');
	my $b = open_session($node);
	sql_ok($b, "SELECT pg_background_attach_v2($pid, $cookie, 7, takeover => true)");
	is(sql_ok($b, "SELECT count(*) FROM pg_background_fetch_v2($pid, $cookie, 100, 1000, 7)"), '0',
		'error: after_seq = done: zero rows (the final acknowledgement)');
	ok(wait_until($node, "SELECT count(*) = 0 FROM pg_background_jobs_v2() WHERE pid = $pid"),
		'error: the entry is freed');
	sql_err($b, "SELECT * FROM pg_background_fetch_v2($pid, $cookie, 100, 0, 7)", '55000',
		'error: the handle was released');

	my ($pid2, $cookie2) = launch($l, 'SELECT g FROM generate_series(1, 3) g');
	ok(wait_until($node, "SELECT state = 'completed' FROM pg_background_jobs_v2() WHERE pid = $pid2"), 'completed: the job ended');
	is(sql_ok($l, "SELECT max(seq) FROM pg_background_fetch_v2($pid2, $cookie2, 100, 5000, 0)"), '6',
		'completed: done is 6');
	sql_ok($a, "SELECT pg_background_attach_v2($pid2, $cookie2, 6, takeover => true)");
	is(sql_ok($a, "SELECT count(*) FROM pg_background_fetch_v2($pid2, $cookie2, 100, 1000, 6)"), '0',
		'completed: after_seq = done: zero rows');
	ok(wait_until($node, "SELECT count(*) = 0 FROM pg_background_jobs_v2() WHERE pid = $pid2"),
		'completed: the entry is freed');
	$_->quit for ($l, $a, $b);
}

# ---- R3 residual: retention frees a finished entry before its worker made the file ----
{
	$node->append_conf('postgresql.conf', "pg_background.held_output_retention = '1s'");
	$node->reload;
	my $l = open_session($node);
	my $lpid = session_pid($l);
	my ($pid, $cookie) = launch($l, 'SELECT g FROM generate_series(1, 5) g');
	ok(wait_until($node, "SELECT state = 'completed' FROM pg_background_jobs_v2() WHERE pid = $pid"), 'orphan: the job ended');
	is(sql_ok($l, "SELECT max(seq) FROM pg_background_fetch_v2($pid, $cookie, 100, 5000, 0)"), '8',
		'orphan: the launcher read everything, acknowledged nothing');
	ok(wait_until($node, "SELECT wait_event = 'Extension' FROM pg_stat_activity WHERE pid = $pid"),
		'orphan: the worker waits for its final acknowledgement');
	kill 'STOP', $pid;
	is($node->safe_psql('postgres', "SELECT output FROM pg_background_jobs_v2() WHERE pid = $pid"), 'live',
		'orphan: stopped while its output is still in the queue');
	terminate($l, $lpid, 'orphan');
	ok(wait_until($node, "SELECT count(*) = 0 FROM pg_background_jobs_v2() WHERE pid = $pid"),
		'orphan: retention freed the entry');
	kill 'CONT', $pid;
	ok(wait_until($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"), 'orphan: the worker exited');
	is(file_size($pid), -1, 'orphan: no held file without an entry');
	$node->append_conf('postgresql.conf', "pg_background.held_output_retention = '1d'");
	$node->reload;
}

# ---- R3 residual: SIGTERM during the final-acknowledgement wait ----
{
	my $l = open_session($node);
	my $lpid = session_pid($l);
	my ($pid, $cookie) = launch($l, 'SELECT g FROM generate_series(1, 5) g');
	ok(wait_until($node, "SELECT state = 'completed' FROM pg_background_jobs_v2() WHERE pid = $pid"), 'sigterm: the job ended');
	is(sql_ok($l, "SELECT max(seq) FROM pg_background_fetch_v2($pid, $cookie, 100, 5000, 0)"), '8',
		'sigterm: the launcher read everything, acknowledged nothing');
	ok(wait_until($node, "SELECT wait_event = 'Extension' FROM pg_stat_activity WHERE pid = $pid"),
		'sigterm: the worker waits for its final acknowledgement');
	kill 'STOP', $pid;
	is($node->safe_psql('postgres', "SELECT output FROM pg_background_jobs_v2() WHERE pid = $pid"), 'live',
		'sigterm: stopped while its output is still in the queue');
	terminate($l, $lpid, 'sigterm');
	kill 'TERM', $pid;
	kill 'CONT', $pid;
	ok(wait_until($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"), 'sigterm: the worker exited');
	my $a = open_session($node);
	sql_ok($a, "SELECT pg_background_attach_v2($pid, $cookie, 0)", 'sigterm: attach');
	is(read_to_done($a, 'sigterm', $pid, $cookie), '', 'sigterm: read to done');
	is(row_values('sigterm'), '1,2,3,4,5', 'sigterm: the output was held, every row');
	is($node->safe_psql('postgres', "SELECT string_agg(kind || ':' || seq, ',' ORDER BY seq) FROM got WHERE k = 'sigterm' AND kind <> 'row'"),
		'columns:1,command:7,done:8', 'sigterm: numbered as the worker did');
	$a->quit;
}

# ---- R4 #1: the taker read to done and freed the entry; the launcher must not read again ----
{
	my $l = open_session($node);
	my ($pid, $cookie) = launch($l, 'SELECT g FROM generate_series(1, 5) g');
	ok(wait_until($node, "SELECT state = 'completed' FROM pg_background_jobs_v2() WHERE pid = $pid"),
		'taker done: the job ended, nothing read');
	my $t = open_session($node);
	sql_ok($t, "SELECT pg_background_attach_v2($pid, $cookie, NULL, true)", 'taker done: taken over');
	is(sql_ok($t, "SELECT string_agg(kind || ':' || seq, ',' ORDER BY seq) FROM pg_background_fetch_v2($pid, $cookie, 1000, 5000, 0)"),
		'columns:1,row:2,row:3,row:4,row:5,row:6,command:7,done:8', 'taker done: the taker reads everything');
	is(sql_ok($t, "SELECT count(*) FROM pg_background_fetch_v2($pid, $cookie, 1000, 500, 8)"), '0',
		'taker done: final acknowledgement');
	ok(wait_until($node, "SELECT count(*) = 0 FROM pg_background_jobs_v2() WHERE pid = $pid"),
		'taker done: the entry is freed');
	my ($out, $err) = sql($l, "SELECT kind, seq, data FROM pg_background_fetch_v2($pid, $cookie, 1000, 1000, 0)");
	is($out, '', 'taker done: the launcher gets no rows');
	like($err, qr/55006/, 'taker done: the launcher gets 55006');
	like($err, qr/taken over by another session/, '... saying it was taken over');
	$_->quit for ($l, $t);
}

eval { $m->quit };
close_monitors();
done_testing();
