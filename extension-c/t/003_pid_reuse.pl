# PID reuse protection.  A handle is (pid, cookie): a wrong or stale cookie never
# reaches a worker, and a handle whose worker finished and was released stays dead even
# when the operating system hands the same PID to a new worker of the same session.
#
# The last part makes the PID really come back: a small helper burns through PIDs with
# vfork() until the next PID to be handed out is the old worker's, then the session
# launches again.  Other processes on the machine may take that PID first; then the
# attempt is repeated and, if it never lands, the test is skipped (the fabricated stale
# pair above checks the same rule).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

my $node = new_node('pidreuse');
my $s = open_session($node);
my $locker = open_session($node);

# every handle operation, in session $s, must reject the handle
sub reject
{
	my ($what, $pid, $cookie) = @_;
	reject_all($s, $what, $pid, $cookie, [ '42704', '55000', '42501' ]);
}

sub alive
{
	my ($pid) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE pid = $pid AND backend_type = 'pg_background'");
}

# --- wrong cookies against a live worker ------------------------------------------------
sql_ok($locker, 'SELECT pg_advisory_lock(9)');
my ($pid, $cookie) = launch($s, q{SELECT 'live' FROM (SELECT pg_advisory_xact_lock(9)) s});
isnt($cookie, '0', 'the cookie is not zero');
for my $bad ($cookie + 1, $cookie - 1, 0, -$cookie, '9223372036854775807')
{
	next if $bad eq $cookie;
	reject("live pid, cookie $bad", $pid, $bad);
}
is(alive($pid), '1', 'no call with a wrong cookie stopped the worker');
like(sql_ok($s, list_sql('state', "pid = $pid AND cookie = $cookie")),
	qr/^running$/, 'the handle is still listed as running');

# --- a finished and released handle is dead for good -------------------------------------
my ($opid, $ocookie) = launch($s, q{SELECT 'old'});
is(sql_ok($s, "SELECT * FROM pg_background_result_v2($opid, $ocookie) AS (x text)"),
	'old', 'the old job is read once');
reject('consumed handle', $opid, $ocookie);
sql_err($s, "SELECT * FROM pg_background_result($opid) AS (x text)", ['42704', '55000'],
	'v1 result of the consumed worker is rejected');

# a stale pair that carries a live worker's PID with an older cookie is what PID reuse
# looks like from the session's side; it must not reach the live worker
reject('live pid with an old cookie', $pid, $ocookie);
is(alive($pid), '1', 'the live worker was not touched by the stale handle');
sql_ok($locker, 'SELECT pg_advisory_unlock(9)');
is(sql_ok($s, "SELECT * FROM pg_background_result_v2($pid, $cookie) AS (x text)"),
	'live', 'the live worker is still reachable with its own cookie');

# --- cookies do not repeat ----------------------------------------------------------------
my %seen;
for (1 .. 25)
{
	my ($p, $c) = launch($s, 'SELECT 1');
	$seen{$c}++;
	sql_ok($s, "SELECT pg_background_detach_v2($p, $c)");
}
is(scalar(keys %seen), 25, '25 launches gave 25 different cookies');
ok(!exists $seen{0}, 'no cookie is zero');
wait_no_workers($node);

# --- the real thing: the same PID handed to a new worker ----------------------------------
SKIP:
{
	my $helper = "$PostgreSQL::Test::Utils::tmp_check/pidcycle";
	open my $src, '>', "$helper.c" or die;
	print $src <<'C';
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
/* vfork until the PID just before argv[1] was handed out; exit 0 when it was */
int
main(int argc, char **argv)
{
	long target = atol(argv[1]);
	long limit = atol(argv[2]);
	for (long n = 0; n < limit; n++)
	{
		pid_t p = vfork();
		if (p == 0)
			_exit(0);
		if (p < 0)
			return 2;
		waitpid(p, NULL, 0);
		if (p == target - 1)
			return 0;
	}
	return 1;
}
C
	close $src;
	skip 'no C compiler for the PID cycling helper', 12
	  if system("cc -O2 -o $helper $helper.c >/dev/null 2>&1") != 0;

	my $landed = 0;
	my ($npid, $ncookie, $rpid, $rcookie);
	for my $attempt (1 .. 6)
	{
		($rpid, $rcookie) = launch($s, q{SELECT 'first'});
		sql_ok($s, "SELECT * FROM pg_background_result_v2($rpid, $rcookie) AS (x text)");
		wait_until($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $rpid");
		next if $rpid < 400;    # the kernel skips low PIDs on wrap-around
		next if system($helper, $rpid, 200000) != 0;
		# the next PID is $rpid: the postmaster forks the new worker right away
		sql_ok($locker, 'SELECT pg_advisory_lock(9)');
		($npid, $ncookie) =
		  launch($s, q{SELECT 'second' FROM (SELECT pg_advisory_xact_lock(9)) s});
		if ($npid == $rpid)
		{
			$landed = 1;
			last;
		}
		note "attempt $attempt: new worker got PID $npid, not $rpid";
		sql_ok($s, "SELECT pg_background_cancel_v2($npid, $ncookie)");
		sql_ok($s, "SELECT pg_background_detach_v2($npid, $ncookie)");
		sql_ok($locker, 'SELECT pg_advisory_unlock(9)');
		wait_no_workers($node, "attempt $attempt cleaned up");
	}
	skip 'other processes kept taking the PID; the stale-pair checks above stand', 12
	  unless $landed;

	pass("PID $rpid was reused by a new worker of the same session");
	reject('released handle whose PID now belongs to a new worker', $rpid, $rcookie);
	is(alive($npid), '1', 'the new worker survived every call made with the old handle');
	sql_ok($locker, 'SELECT pg_advisory_unlock(9)');
	is(sql_ok($s, "SELECT * FROM pg_background_result_v2($npid, $ncookie) AS (x text)"),
		'second', 'the new worker is read with its own cookie');
}

$s->quit;
$locker->quit;
wait_no_workers($node);
close_monitors();
$node->stop;
done_testing();
