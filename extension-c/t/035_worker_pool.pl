# The server-wide pool of idle workers (issue 12, target 4; pgbg_pool.c).
#
# Off by default: a kept worker exits when its session ends (issue 9).  With
# pg_background.pool_size > 0 a session's kept worker outlives the session in a pool of
# its database and role, and the first job of a new session of exactly that database and
# role runs in it, with nothing of the previous session left.  Bounds: pool_size per
# database and role, a quarter of max_worker_processes server-wide, the pool's idle
# timeout; a launch that finds every slot taken retires a pooled worker of any role.
# A job whose output was not acknowledged never enters the pool; a crash-restart leaves
# nothing behind.  Nothing here is timed: each wait is a bounded poll.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use PgbgTest;

# max_worker_processes 8: the pool holds at most 2 workers server-wide
my $node = new_node('pool', max_worker_processes => 8, max_logical_replication_workers => 0,
	restart_after_crash => 'on',
	# every session knows the pool's settings (SHOW, pg_settings) without a LOAD
	session_preload_libraries => "'pg_background'");
$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	GRANT pgbackground_role TO alice, bob;
	GRANT bob TO alice;     -- alice may SET ROLE bob
	CREATE DATABASE db2;
});
$node->safe_psql('db2', 'CREATE EXTENSION pg_background');
my $dsm_base = dsm_count($node);

# A session in database $db as $user, keeping its worker for a minute.
sub session
{
	my ($user, $db) = @_;
	my $s = $node->background_psql($db // 'postgres',
		on_error_stop => 0,
		extra_params => [ '-v', 'VERBOSITY=verbose', '-U', $user ]);
	$s->set_query_timer_restart;
	sql_ok($s, q{SET pg_background.worker_idle_timeout = '60s'});
	return $s;
}

# Runs a job to the end in $s; returns (worker pid, the data of its rows).
sub run_job
{
	my ($s, $job) = @_;
	my ($pid, $cookie) = launch($s, $job);
	my @msgs = drain($s, $pid, $cookie);
	my @done = kinds('done', @msgs);
	like($done[0] // '', qr/"completed"/, "job in worker $pid completed");
	return ($pid, kinds('row', @msgs));
}

sub pooled_count
{
	my ($where) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_background'"
		  . " AND application_name = 'pg_background:pool'" . ($where ? " AND $where" : ''));
}

sub wait_pooled
{
	my ($pid, $name) = @_;
	ok( wait_until($node,
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE pid = $pid"
			  . " AND application_name = 'pg_background:pool'"),
		$name);
}

sub wait_gone
{
	my ($pid, $name) = @_;
	ok(wait_until($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"), $name);
}

# ALTER SYSTEM and reload; returns once new sessions see the values.
# For an exit that must not wait for an idle timeout (60 s for a kept worker here, an
# hour for a pooled one): at most 15 s, as in 012_idle_session_end.pl.
sub gone_soon
{
	my ($pid, $name) = @_;
	my $deadline = time + 15;
	my $gone = 0;
	while (!$gone && time < $deadline)
	{
		$gone = $node->safe_psql('postgres',
			"SELECT count(*) FROM pg_stat_activity WHERE pid = $pid") eq '0';
		select(undef, undef, undef, 0.1) unless $gone;
	}
	ok($gone, $name);
}

sub set_pool
{
	my (%set) = @_;
	$node->safe_psql('postgres',
		join('', map { "ALTER SYSTEM SET pg_background.$_ = $set{$_};" } sort keys %set)
		  . 'SELECT pg_reload_conf();');
	for my $k (sort keys %set)
	{
		$node->poll_query_until('postgres',
			"SELECT setting FROM pg_settings WHERE name = 'pg_background.$k'",
			$set{$k})
		  or die "pg_background.$k did not become $set{$k}";
	}
}

# --- pool off (the default): the worker exits with its session --------------------------
is($node->safe_psql('postgres', 'SHOW pg_background.pool_size'), '0', 'the pool is off by default');
{
	my $s = session('alice');
	my ($pid) = run_job($s, 'SELECT 1');
	$s->quit;
	gone_soon($pid, 'pool off: the kept worker exits when its session ends');
	is(pooled_count(), '0', 'pool off: nothing pooled');
}

# --- pool on: the next session of the same role gets the worker, without its state ------
set_pool(pool_size => 1, pool_idle_timeout => 3600000);
my $pooled;
{
	my $a = session('alice');
	($pooled) = run_job($a, q{
		SET search_path = pg_catalog;
		SET work_mem = '7MB';
		SET lock_timeout = '7s';
		CREATE TEMP TABLE pool_t (x int);
		PREPARE pool_p AS SELECT 1;
		SELECT pg_advisory_lock(4242);
		SELECT 'a done'});
	$a->quit;
	wait_pooled($pooled, 'pool on: the ended session\'s worker is pooled');

	my $b = session('alice');
	my ($pid, @rows) = run_job($b, q{
		SELECT concat_ws(',',
			current_setting('lock_timeout'),
			current_setting('work_mem'),
			current_setting('search_path'),
			(SELECT count(*) FROM pg_prepared_statements),
			(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()),
			coalesce(to_regclass('pool_t')::text, 'no pool_t'),
			current_user)});
	is($pid, $pooled, 'the first job of a new session of the same role runs in the pooled worker');
	is($rows[0], '["0,4MB,\"$user\", public,0,0,no pool_t,alice"]',
		'... with none of the previous session\'s settings, prepared statements, advisory locks or temporary tables');
	$b->quit;
	wait_pooled($pooled, 'the worker goes back to the pool when that session ends');
}

# --- another role, another database: never that worker ---------------------------------
{
	my $b = session('bob');
	my ($pid) = run_job($b, 'SELECT 1');
	isnt($pid, $pooled, 'a session of another role gets another worker');
	is(pooled_count("pid = $pooled"), '1', '... and the pooled one stays pooled');
	my $d = session('alice', 'db2');
	my ($pid2) = run_job($d, 'SELECT 1');
	isnt($pid2, $pooled, 'a session of the same role in another database gets another worker');
	is(pooled_count("pid = $pooled"), '1', '... and the pooled one stays pooled');
	my $r = session('alice');
	sql_ok($r, 'SET ROLE bob');
	my ($pid3) = run_job($r, 'SELECT 1');
	isnt($pid3, $pooled, 'alice after SET ROLE bob does not get alice\'s pooled worker');
	isnt($pid3, $pid, '... nor one of bob\'s sessions');
	sql_ok($r, 'RESET ROLE');
	$b->quit;
	wait_pooled($pid, 'bob\'s worker is pooled for bob');
	$d->quit;
	wait_gone($pid2, 'the server-wide bound (2 of 8 slots) sends the third worker away');
	$r->quit;
	wait_gone($pid3, '... and the fourth');
	ok(wait_until($node, "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'pg_background'"),
		'two workers remain');
	is(pooled_count(), '2', '... both pooled');
}

# --- pool_size 0 empties the pool; nothing left mapped ---------------------------------
set_pool(pool_size => 0);
wait_no_workers($node, 'pool_size = 0: the pooled workers exit');
is(dsm_count($node), $dsm_base, 'no DSM segment left behind by pooled workers');

# --- the bound per database and role, and the server-wide bound ------------------------
set_pool(pool_size => 1);
{
	my @s = map { session('alice') } 1 .. 2;
	my @pids = map { (run_job($_, 'SELECT 1'))[0] } @s;
	$_->quit for @s;
	ok(wait_until($node, "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_background'"),
		'pool_size = 1: one of two ended sessions\' workers stays');
	is(pooled_count(), '1', '... pooled');
}
set_pool(pool_size => 0);
wait_no_workers($node, 'pool emptied');
set_pool(pool_size => 4);
{
	my @s = map { session('alice') } 1 .. 3;
	my @pids = map { (run_job($_, 'SELECT 1'))[0] } @s;
	$_->quit for @s;
	ok(wait_until($node, "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'pg_background'"),
		'pool_size = 4, max_worker_processes = 8: two of three workers stay (a quarter of the slots)');
	is(pooled_count(), '2', '... pooled');
}
set_pool(pool_size => 0);
wait_no_workers($node, 'pool emptied');

# --- the pool's idle timeout ---------------------------------------------------------------
set_pool(pool_size => 1, pool_idle_timeout => 1000);
{
	my $s = session('alice');
	my ($pid) = run_job($s, 'SELECT 1');
	$s->quit;
	wait_pooled($pid, 'pooled');
	wait_gone($pid, 'a pooled worker exits after pg_background.pool_idle_timeout');
}
set_pool(pool_idle_timeout => 3600000);

# --- output not acknowledged: never pooled -----------------------------------------------
{
	my $s = session('alice');
	my ($pid, $cookie) = launch($s, 'SELECT 1');
	$s->quit;
	wait_gone($pid, 'a job whose output was never read: its worker exits');
	is(pooled_count(), '0', '... and was not pooled');
	my $a = session('alice');
	sql_ok($a, "SELECT pg_background_attach_v2($pid, $cookie)");
	my @msgs = drain($a, $pid, $cookie);
	is_deeply([ kinds('row', @msgs) ], ['["1"]'], 'its held output is still there for the role');
	$a->quit;

	my $p = session('alice');
	my ($pid2, $cookie2) = launch($p, q{SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g});
	sql_ok($p, "SELECT count(*) FROM pg_background_fetch_v2($pid2, $cookie2, 10, 1000)");
	$p->quit;
	wait_gone($pid2, 'a job read only in part: its worker exits');
	is(pooled_count(), '0', '... and was not pooled');
}

# --- a durable job in a pooled worker: another session attaches ------------------------
{
	my $s = session('alice');
	my ($pid) = run_job($s, 'SELECT 1');
	$s->quit;
	wait_pooled($pid, 'pooled');
	my $l = session('alice');
	my ($jpid, $cookie) = launch($l, q{SELECT g FROM generate_series(1, 20000) g});
	is($jpid, $pid, 'the durable job runs in the pooled worker');
	$l->quit;
	my $a = session('alice');
	like(sql_ok($a, "SELECT state FROM pg_background_attach_v2($jpid, $cookie)"),
		qr/^(running|completed)$/, 'another session of the role attaches to it');
	my @msgs = drain($a, $jpid, $cookie);
	is(scalar(kinds('row', @msgs)), 20000, 'and reads all of its rows');
	like((kinds('done', @msgs))[0], qr/"completed"/, '... to "done"');
	$a->quit;
}

# --- review R4: a pooled worker re-checks its role when a new session claims it --------
set_pool(pool_size => 0);
wait_no_workers($node, 'pool emptied');
set_pool(pool_size => 1);
$node->safe_psql('postgres', q{
	CREATE ROLE carol LOGIN SUPERUSER;
	GRANT pgbackground_role TO carol;
});
{
	my $c = session('carol');
	my ($pid) = run_job($c, 'SELECT 1');
	$c->quit;
	wait_pooled($pid, 'demoted: the superuser\'s worker is pooled');
	$node->safe_psql('postgres', 'ALTER ROLE carol NOSUPERUSER');
	my $c2 = session('carol');
	my ($jpid, $jcookie) = launch($c2, q{SET SESSION AUTHORIZATION postgres; SELECT current_user});
	my @msgs = drain($c2, $jpid, $jcookie);
	isnt($jpid, $pid, 'demoted: a new session of the demoted role does not get the pooled worker');
	is_deeply([ kinds('row', @msgs) ], [], 'demoted: SET SESSION AUTHORIZATION returns no row');
	like(join(' ', @msgs), qr/permission denied to set session authorization/,
		'demoted: SET SESSION AUTHORIZATION is refused');
	wait_gone($pid, '... and the pooled worker exited');
	my ($pid2, @rows) = run_job($c2, q{SELECT current_setting('is_superuser')});
	is($rows[0], '["off"]', 'demoted: the next job runs, not as a superuser');
	$c2->quit;
}

# --- review R4: what DISCARD ALL leaves (libraries, custom variables, the seed) ---------
$node->safe_psql('postgres', q{
	CREATE EXTENSION dblink;
	CREATE ROLE erin LOGIN SUPERUSER;
});
# the worker of a session that ended, once it is pooled or gone; returns whether pooled
sub settled_pooled
{
	my ($pid) = @_;
	$node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"
		  . " AND application_name IS DISTINCT FROM 'pg_background:pool'")
	  or die "worker $pid did not settle";
	return pooled_count("pid = $pid");
}
{
	my $connstr = 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=erin';
	my $s = session('erin');
	my ($pid) = run_job($s, "SELECT dblink_connect('keep', '$connstr')");
	$s->quit;
	is(settled_pooled($pid), '0', 'isolation: a worker with an open dblink connection is not pooled');
	my $s2 = session('erin');
	# (dblink_get_connections() would load dblink into the new worker too)
	my ($pid2) = run_job($s2, 'SELECT 1');
	isnt($pid2, $pid, '... the next session gets a new worker');
	wait_gone($pid, '... the one with the connection exited');
	$s2->quit;
	wait_pooled($pid2, 'isolation: a worker that only ran SQL is pooled');

	my $predicted = (split /\n/,
		$node->safe_psql('postgres', 'SELECT setseed(0.5); SELECT random(); SELECT random()'))[-1];
	my $s3 = session('erin');
	my ($pid3, @r3) = run_job($s3, 'SELECT setseed(0.5); SELECT random()');
	is($pid3, $pid2, 'isolation: setseed runs in the pooled worker');
	$s3->quit;
	wait_pooled($pid3, '... which is pooled again');
	my $s4 = session('erin');
	my ($pid4, @r4) = run_job($s4, 'SELECT random()');
	is($pid4, $pid3, 'isolation: the next session gets that worker');
	isnt($r4[0], qq{["$predicted"]}, '... and its random() is not what the previous session\'s seed predicts');

	my ($pid5) = run_job($s4, q{LOAD 'auto_explain'});
	is($pid5, $pid4, 'isolation: LOAD runs in the kept worker');
	$s4->quit;
	is(settled_pooled($pid5), '0', 'isolation: a worker that LOADed a library is not pooled');

	my $s6 = session('erin');
	my ($pid6) = run_job($s6, q{SELECT set_config('app.tenant', '42', false)});
	$s6->quit;
	is(settled_pooled($pid6), '0', 'isolation: a worker with a custom variable is not pooled');
}
set_pool(pool_size => 0);
wait_no_workers($node, 'pool emptied');
set_pool(pool_size => 1);

# --- a crash-restart leaves no pooled worker and no segment -----------------------------
{
	my $s = session('alice');
	my ($pid) = run_job($s, 'SELECT 1');
	$s->quit;
	wait_pooled($pid, 'pooled before the crash');
	close_monitors();
	my $log_offset = -s $node->logfile;
	kill 'KILL', $pid;
	$node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset);
	$node->poll_query_until('postgres', 'SELECT 1', '1') or die 'server did not come back';
	is(pooled_count(), '0', 'after a crash-restart no worker is pooled');
	wait_no_workers($node, 'and no worker is left');
	$node->safe_psql('postgres', 'SELECT count(*) FROM pg_background_jobs_v2()');
	is(dsm_count($node), $dsm_base, 'no DSM segment is left behind');
	my $a = session('alice');
	my ($p1) = run_job($a, 'SELECT 1');
	$a->quit;
	wait_pooled($p1, 'the pool works again after the restart');
}
close_monitors();
$node->stop;

# --- every slot taken: our launch retires a pooled worker of another role --------------
my $full = new_node('pool_full', max_worker_processes => 4, max_logical_replication_workers => 0,
	session_preload_libraries => "'pg_background'");
$full->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	GRANT pgbackground_role TO alice;
});
{
	$node = $full;
	set_pool(pool_size => 1, pool_idle_timeout => 3600000);
	my $s = session('alice');
	my ($pid) = run_job($s, 'SELECT 1');
	$s->quit;
	wait_pooled($pid, 'one of four slots pooled');
	my $y = open_session($full);
	my @sleepers = map { [ launch($y, 'SELECT pg_sleep(60)') ] } 1 .. 3;
	is(worker_count($full), 4, 'three running jobs and the pooled worker take every slot');
	my $z = open_session($full);
	my ($zpid, $zcookie) = launch($z, 'SELECT 42');
	my @msgs = drain($z, $zpid, $zcookie);
	is_deeply([ kinds('row', @msgs) ], ['["42"]'], 'a launch with every slot taken still runs');
	wait_gone($pid, '... the pooled worker of another role made room');
	sql_ok($y, "SELECT pg_background_detach_v2($_->[0], $_->[1]); SELECT pg_terminate_backend($_->[0])")
	  for @sleepers;
	$y->quit;
	$z->quit;
	close_monitors();
}
$full->stop;

done_testing();
