# Cross-user denial: a handle belongs to the role that launched it.  Another role
# (another session, or the same session after SET ROLE) can neither read, fetch,
# wait on, cancel, detach nor list it, and the worker itself runs with exactly the
# launching role's rights.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

my $node = new_node('xuser');
$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	GRANT pgbackground_role TO alice, bob;
	GRANT bob TO alice;     -- lets alice SET ROLE bob; bob gains nothing of alice
	CREATE TABLE secret (x int);
	CREATE TABLE shared_t (who text);
	GRANT ALL ON shared_t TO alice, bob;
});

my $list_sql = list_sql('pid, cookie, user_id::regrole, state');

# Every handle operation and the v1 calls must fail with one of @$states.
sub deny_all
{
	my ($s, $who, $pid, $cookie, $states) = @_;
	reject_all($s, $who, $pid, $cookie, $states);
	sql_err($s, "SELECT * FROM pg_background_result($pid) AS (x text)",
		$states, "$who: v1 result rejected");
	sql_err($s, "SELECT pg_background_detach($pid)", $states,
		"$who: v1 detach rejected");
}

# --- same session, superuser launches as alice, then switches to bob ---------------
my $adm = open_session($node);
my $locker = open_session($node);
sql_ok($locker, 'SELECT pg_advisory_lock(4242)');

sql_ok($adm, 'SET ROLE alice');
# the job blocks on the advisory lock until we release it, so it is surely running
my ($pid, $cookie) = launch($adm,
	q{INSERT INTO shared_t SELECT current_user FROM (SELECT pg_advisory_lock_shared(4242)) s RETURNING who});
my $row = sql_ok($adm, $list_sql);
like($row, qr/^$pid\|$cookie\|alice\|running$/, 'alice sees her running job in list_v2');

sql_ok($adm, 'SET ROLE bob');
is(sql_ok($adm, $list_sql), '', 'after SET ROLE bob the job is not listed');
deny_all($adm, 'SET ROLE bob', $pid, $cookie, ['42501', '42704']);
sql_ok($adm, 'RESET ROLE');
sql_ok($adm, 'SET ROLE alice');
like(sql_ok($adm, $list_sql), qr/^$pid\|$cookie\|alice\|running$/,
	'the job survived every denied call, still running');

# --- alice's own login session, SET ROLE bob (alice is a member of bob) -----------
my $al = open_session($node, user => 'alice');
my ($pid2, $cookie2) = launch($al, q{SELECT 'alice2' FROM (SELECT pg_advisory_lock_shared(4242)) s});
sql_ok($al, 'SET ROLE bob');
is(sql_ok($al, $list_sql), '', 'alice session after SET ROLE bob lists nothing');
deny_all($al, 'alice session as bob', $pid2, $cookie2, ['42501', '42704']);
sql_ok($al, 'RESET ROLE');

# --- bob's own session: the handles of other sessions do not exist for him ----------
my $bob = open_session($node, user => 'bob');
is(sql_ok($bob, $list_sql), '', 'bob lists none of alice\'s workers');
deny_all($bob, 'bob session', $pid2, $cookie2, ['42501', '42704']);
sql_err($bob, "SELECT pg_cancel_backend($pid2)", '42501',
	'bob cannot signal alice\'s worker with pg_cancel_backend');
sql_err($bob, "SELECT pg_terminate_backend($pid2)", '42501',
	'bob cannot terminate alice\'s worker');
is( $node->safe_psql('postgres',
		"SELECT usename FROM pg_stat_activity WHERE pid = $pid2"),
	'alice', 'the worker of alice\'s session runs as alice (pg_stat_activity.usename)');
like(
	sql_ok($bob, "SELECT query FROM pg_stat_activity WHERE pid = $pid2"),
	qr/insufficient privilege/,
	'bob cannot read the worker\'s query text in pg_stat_activity');

# the rightful owner still gets everything
sql_ok($locker, 'SELECT pg_advisory_unlock(4242)');
is( sql_ok($adm,
		"SELECT * FROM pg_background_result_v2($pid, $cookie) AS (who text)"),
	'alice',
	'alice reads the result after all denied attempts; the job ran as alice');
my @msgs = drain($al, $pid2, $cookie2);
like(join(',', kinds('row', @msgs)), qr/^\[\s*"alice2"\s*\]$/,
	'alice\'s own session fetches its job');
like((kinds('done', @msgs))[0], qr/"state"\s*:\s*"completed"/, 'and it completed');

# --- the worker has exactly the launching role's rights --------------------------
my ($p3, $c3) = launch($al, 'SELECT count(*) FROM secret');
like((kinds('error', drain($al, $p3, $c3)))[0], qr/"sqlstate"\s*:\s*"42501"/,
	'a job of alice cannot read a table alice cannot read (error 42501 relayed)');
($p3, $c3) = launch($al, 'SET ROLE postgres; SELECT 1');
like((kinds('error', drain($al, $p3, $c3)))[0], qr/"sqlstate"\s*:\s*"42501"/,
	'a job of alice cannot SET ROLE to a role alice is not a member of');
sql_ok($adm, 'RESET ROLE');
($p3, $c3) = launch($adm, 'SELECT current_user::text, session_user::text');
is(sql_ok($adm, "SELECT * FROM pg_background_result_v2($p3, $c3) AS (a text, b text)"),
	'postgres|postgres', 'after RESET ROLE the job runs as the session user again');

is($node->safe_psql('postgres', 'SELECT who FROM shared_t'), 'alice',
	'the job of alice inserted as alice');

$_->quit for ($adm, $al, $bob, $locker);
wait_no_workers($node);
close_monitors();
$node->stop;
done_testing();
