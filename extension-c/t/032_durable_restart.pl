
# The server-wide job registry across restarts (issue 11, DESIGN-durable-jobs.md 4.2):
#
# - an immediate-mode restart while jobs run: pg_background_jobs_v2 reports them as
#   'interrupted' (with last_error), a job that was freed before is not reported, and the
#   held-output directory is emptied by the registry's creation (a file put there after
#   the postmaster's own cleanup proves that it is our sweep);
# - kill -9 of a worker (the postmaster's crash-restart): the same, with
#   remove_temp_files_after_crash on and off (off: the file survives the crash-restart
#   until the first pg_background call);
# - a full registry (max_jobs = 16): 53400, then eviction of finished entries whose
#   output only waits;
# - retention: held_output_retention = 1s removes finished entries at a jobs_v2() call;
# - the same restart reporting on a cluster with shared_preload_libraries = pg_background.
use strict;
use warnings;
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

my $heldrel = 'base/pgsql_tmp/pgsql_tmp_pg_background';

sub held_dir
{
	my ($node) = @_;
	return $node->data_dir . "/$heldrel";
}

# A file in the held-output directory, as a job's held output would be.
sub plant_held_file
{
	my ($node, $name) = @_;
	my $dir = held_dir($node);
	make_path($dir);
	my $path = "$dir/$name";
	open(my $fh, '>', $path) or die "cannot create $path: $!";
	print $fh 'x' x 4096;
	close $fh;
	return $path;
}

# Number of files in the held-output directory (0 when the directory is gone: the
# postmaster's cleanup after a crash removes it whole).
sub held_files
{
	my ($node) = @_;
	opendir(my $dh, held_dir($node)) or return 0;
	my @f = grep { !/^\./ } readdir $dh;
	closedir $dh;
	return scalar(@f);
}

sub wait_sleeping
{
	my ($node, $pid) = @_;
	wait_until($node, "SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE pid = $pid")
	  or die "worker $pid never started sleeping";
}

# Rows of jobs_v2 for one job: "state|output|last_error", or '' when not listed.
sub job_row
{
	my ($node, $pid, $cookie) = @_;
	return $node->safe_psql('postgres',
		"SELECT state || '|' || output || '|' || coalesce(last_error, '') "
		  . "FROM pg_background_jobs_v2() WHERE pid = $pid AND cookie = $cookie");
}

# Waits until a crash-restarted postmaster accepts connections again (first until it has
# noticed the crash: a connection made right after the kill could still reach the old run).
sub wait_restarted
{
	my ($node, $log_offset) = @_;
	$node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset);
	$node->poll_query_until('postgres', 'SELECT 1', '1')
	  or die 'server did not come back after the crash';
}

sub restart_checks
{
	my ($node, $label) = @_;

	my $s = open_session($node);
	my ($pid1, $cookie1) = launch($s, 'SELECT pg_sleep(3600)');
	wait_sleeping($node, $pid1);
	# a job whose launcher left: nobody reads it, it keeps running
	my $gone = open_session($node);
	my ($pid2, $cookie2) = launch($gone, 'SELECT pg_sleep(3600)');
	wait_sleeping($node, $pid2);
	$gone->quit;
	# a job read to the end: freed, so a restart has nothing to report about it
	my ($pid3, $cookie3) = launch($s, 'SELECT 1');
	drain($s, $pid3, $cookie3);
	ok(wait_until($node,
			"SELECT count(*) = 0 FROM pg_background_jobs_v2() WHERE pid = $pid3 AND cookie = $cookie3"),
		"$label: a job read to the end leaves the registry");
	is(job_row($node, $pid1, $cookie1), 'running|live|', "$label: running job listed as live");
	# submitted jobs are freed as soon as they end, possibly before their launch returned
	my @submitted = map { [ launch($s, 'SELECT 1', submit => 1) ] } 1 .. 10;
	my $submitted_keys = join(', ', map { "($_->[0], $_->[1])" } @submitted);
	ok( wait_until($node,
			"SELECT count(*) = 0 FROM pg_background_jobs_v2() WHERE (pid, cookie) IN ($submitted_keys)"),
		"$label: ten finished submitted jobs left the registry");
	sql_ok($s, "SELECT pg_background_detach_v2($_->[0], $_->[1])") for @submitted;
	# a job whose output outgrew its queue, and whose launcher left: held in a file
	my $holder = open_session($node);
	my ($pid4, $cookie4) = launch($holder,
		"SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g", queue => 65536);
	$holder->quit;
	ok( wait_until($node,
			"SELECT output = 'held' AND bytes_held > 0 FROM pg_background_jobs_v2() "
			  . "WHERE pid = $pid4 AND cookie = $cookie4"),
		"$label: the output of a job whose launcher left is held");
	cmp_ok(held_files($node), '>=', 1, "$label: the held output is a file");

	close_monitors();
	$node->stop('immediate');
	$node->start;

	# after the postmaster's RemovePgTempFiles: only the registry's creation removes it
	my $planted = plant_held_file($node, "j${pid1}_planted");
	ok(-e $planted, "$label: a file sits in the held-output directory before any pg_background call");

	like(job_row($node, $pid1, $cookie1), qr/^interrupted\|none\|interrupted by a server restart$/,
		"$label: the running job is reported interrupted after an immediate restart");
	like(job_row($node, $pid2, $cookie2), qr/^interrupted\|none\|/,
		"$label: the job whose launcher had left is reported interrupted too");
	is(job_row($node, $pid3, $cookie3), '', "$label: the freed job is not reported");
	is( $node->safe_psql('postgres',
			"SELECT count(*) FROM pg_background_jobs_v2() WHERE (pid, cookie) IN ($submitted_keys)"),
		'0', "$label: nor are the finished submitted jobs");
	like(job_row($node, $pid4, $cookie4), qr/^interrupted\|none\|/,
		"$label: the job with held output is reported interrupted, without output");
	is(held_files($node), 0, "$label: the held-output directory is empty");
	# attaching to an interrupted job: its whole output is one done {"state":"interrupted"},
	# and reading it to the end frees the entry
	my $att = open_session($node);
	is(sql_ok($att, "SELECT state || '|' || output FROM pg_background_attach_v2($pid2, $cookie2)"),
		'interrupted|none', "$label: attach_v2 to an interrupted job says so");
	my @msgs = drain($att, $pid2, $cookie2);
	is(scalar(@msgs), 1, "$label: an interrupted job has no output but done");
	like($msgs[0], qr/^done\|.*"state"\s*:\s*"interrupted"/, "$label: done says interrupted");
	$att->quit;
	ok( wait_until($node,
			"SELECT count(*) = 0 FROM pg_background_jobs_v2() WHERE pid = $pid2 AND cookie = $cookie2"),
		"$label: the interrupted job read to its done leaves the registry");
	is( $node->safe_psql('postgres',
			"SELECT finished_at IS NOT NULL AND expires_at > now() AND reader_pid IS NULL "
			  . "FROM pg_background_jobs_v2() WHERE pid = $pid1 AND cookie = $cookie1"),
		't', "$label: an interrupted job has finished_at and expires under retention");

	# the interrupted entries survive a second restart (carried over by the journal)
	close_monitors();
	$node->restart;
	like(job_row($node, $pid1, $cookie1), qr/^interrupted\|/,
		"$label: still reported after another (clean) restart");
	return ($pid1, $cookie1);
}

# ---------------------------------------------------------------------------------------
# the test clusters turn restart_after_crash off by default; the kill -9 case needs it
my $node = new_node('restart', max_worker_processes => 32, restart_after_crash => 'on');
restart_checks($node, 'lazy registry');

# --- kill -9 of a worker: the postmaster's crash-restart -----------------------------------
for my $remove ('on', 'off')
{
	$node->safe_psql('postgres',
		"ALTER SYSTEM SET remove_temp_files_after_crash = $remove; SELECT pg_reload_conf()");
	my $s = open_session($node);
	my ($pid, $cookie) = launch($s, 'SELECT pg_sleep(3600)');
	wait_sleeping($node, $pid);
	my $planted = plant_held_file($node, "j${pid}_held");
	close_monitors();
	my $log_offset = -s $node->logfile;
	kill 'KILL', $pid;
	wait_restarted($node, $log_offset);
	$s->quit;

	if ($remove eq 'off')
	{
		ok(-e $planted,
			"kill -9, remove_temp_files_after_crash = off: the file outlived the crash-restart");
	}
	like(job_row($node, $pid, $cookie), qr/^interrupted\|none\|interrupted by a server restart$/,
		"kill -9 (remove_temp_files_after_crash = $remove): the job is reported interrupted");
	is(held_files($node), 0,
		"kill -9 (remove_temp_files_after_crash = $remove): the held-output directory is empty");
}
$node->safe_psql('postgres',
	'ALTER SYSTEM RESET remove_temp_files_after_crash; SELECT pg_reload_conf()');

# --- the journal stays bounded: rewritten from the live entries past 1 MB --------------------
{
	my $s = open_session($node);
	my ($pid, $cookie) = launch($s, 'SELECT pg_sleep(3600)');
	wait_sleeping($node, $pid);
	my $before = $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_background_jobs_v2() WHERE state = 'interrupted'");
	# two 256-byte records each: 2100 jobs would make 1.07 MB without compaction
	is( sql_ok($s,
			"SELECT count(r.x) FROM generate_series(1, 2100) g, "
			  . "LATERAL (SELECT l.pid, l.cookie FROM pg_background_launch_v2('SELECT ' || g) l) h, "
			  . "LATERAL pg_background_result_v2(h.pid, h.cookie) AS r(x int)"),
		'2100', '2100 jobs launched and read');
	my $size = -s $node->data_dir . '/pg_stat_tmp/pg_background.journal';
	cmp_ok($size, '<', 1024 * 1024, "the journal was compacted ($size bytes)");
	close_monitors();
	$node->stop('immediate');
	$node->start;
	$s->quit;
	like(job_row($node, $pid, $cookie), qr/^interrupted\|/,
		'a job launched before the compaction is reported interrupted');
	is( $node->safe_psql('postgres',
			"SELECT count(*) FROM pg_background_jobs_v2() WHERE state = 'interrupted'"),
		$before + 1, 'none of the 2100 freed jobs is reported');
}

# --- retention: finished entries go at a jobs_v2() call once expired ------------------------
my $kept = $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_background_jobs_v2() WHERE state = 'interrupted'");
cmp_ok($kept, '>=', 4, 'interrupted entries are kept under the default retention');
$node->safe_psql('postgres',
	"LOAD 'pg_background'; ALTER SYSTEM SET pg_background.held_output_retention = '1s'; "
	  . "SELECT pg_reload_conf()");
ok( wait_until($node,
		"SELECT count(*) = 0 FROM pg_background_jobs_v2() WHERE state = 'interrupted'"),
	'held_output_retention = 1s: the interrupted entries are gone at a jobs_v2() call');
$node->safe_psql('postgres',
	"LOAD 'pg_background'; ALTER SYSTEM RESET pg_background.held_output_retention; "
	  . "SELECT pg_reload_conf()");

# --- a full registry: 53400, then eviction -------------------------------------------------
$node->append_conf('postgresql.conf', 'pg_background.max_jobs = 16');
close_monitors();
$node->restart;
my $a = open_session($node);
my $b = open_session($node);
# finished but unread: their launchers still read them, nothing may be evicted
launch($a, 'SELECT 1') for 1 .. 10;
launch($b, 'SELECT 1') for 1 .. 6;
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_background_jobs_v2()'),
	'16', 'sixteen jobs fill a registry of max_jobs = 16');
my $err = sql_err($b, "SELECT pg_background_launch_v2('SELECT 1')", '53400',
	'a launch into a full registry fails with 53400');
like($err, qr/too many pg_background jobs on this server/, '53400 says what is full');
like($err, qr/pg_background\.max_jobs/, '53400 names the setting');
# the launcher of ten of them leaves: finished, no reader, their entries only wait
$a->quit;
ok( wait_until($node,
		"SELECT count(*) = 10 FROM pg_background_jobs_v2() WHERE reader_pid IS NULL"),
	'the finished jobs of the launcher that left have no reader');
my ($pid, $cookie) = launch($b, 'SELECT 2');
ok($pid, 'with finished jobs waiting, a launch into the full registry evicts one');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_background_jobs_v2() WHERE reader_pid IS NULL'),
	'9', 'exactly one finished entry was evicted');
ok($node->log_contains('job registry full, dropping finished job'),
	'the eviction is logged');
$b->quit;
close_monitors();
$node->stop;

# --- preloaded: the anchor is reserved at startup, behaviour is the same --------------------
my $pre = new_node('preload', shared_preload_libraries => "'pg_background'",
	max_worker_processes => 32);
restart_checks($pre, 'preloaded');
is( $pre->safe_psql('postgres',
		"SELECT count(*) FROM pg_shmem_allocations WHERE name = 'pg_background anchor'"),
	'1', 'preloaded: the anchor is in the main shared memory');
close_monitors();
$pre->stop;

done_testing();
