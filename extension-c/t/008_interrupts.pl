# Interruptible waits.  While the launcher waits in result_v2, fetch_v2 (wait_ms),
# wait_v2 or wait_v2_timeout, a statement_timeout or a cancel request
# (pg_cancel_backend on the launcher) ends the wait with SQLSTATE 57014; the session
# stays usable and the job can still be managed afterwards.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

my $node = new_node('interrupts');
my $s = open_session($node);
my $spid = sql_ok($s, 'SELECT pg_backend_pid()');
my $other = open_session($node);

my @waits = (
	[ 'result_v2', 'SELECT * FROM pg_background_result_v2(%d, %s) AS (x text)' ],
	[ 'fetch_v2 wait_ms', 'SELECT * FROM pg_background_fetch_v2(%d, %s, 100, 3600000)' ],
	[ 'wait_v2', 'SELECT pg_background_wait_v2(%d, %s)' ],
	[ 'wait_v2_timeout', 'SELECT pg_background_wait_v2_timeout(%d, %s, 3600000)' ],);

sub handle_listed
{
	my ($pid, $cookie) = @_;
	return sql_ok($s, list_sql(undef, "pid = $pid AND cookie = $cookie")) eq '1';
}

# a job that produces nothing for an hour: a utility statement sends no column
# description up front (a SELECT would, and fetch_v2 would return it at once)
sub quiet_job
{
	my ($pid, $cookie) = launch($s, 'DO $$BEGIN PERFORM pg_sleep(3600); END$$');
	return ($pid, $cookie);
}

# Stop a job: through its handle when the session still has it, otherwise (result_v2
# releases the handle when it fails, see REVIEW-ANSWERS) by signalling the worker.
sub finish_job
{
	my ($pid, $cookie) = @_;
	if (handle_listed($pid, $cookie))
	{
		sql_ok($s, "SELECT pg_background_cancel_v2($pid, $cookie)");
		sql_ok($s, "SELECT pg_background_detach_v2($pid, $cookie)");
	}
	else
	{
		sql_ok($other, "SELECT pg_cancel_backend($pid)");
	}
	ok(wait_until($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"),
		"job $pid stopped after cancel");
}

# --- statement_timeout ----------------------------------------------------------------------
for my $w (@waits)
{
	my ($pid, $cookie) = quiet_job();
	sql_ok($s, "SET statement_timeout = '300ms'");
	my $err = sql_err($s, sprintf($w->[1], $pid, $cookie), '57014',
		"$w->[0]: statement_timeout interrupts the wait");
	like($err, qr/statement timeout/, "$w->[0]: reported as a statement timeout");
	sql_ok($s, 'RESET statement_timeout');
	is(sql_ok($s, 'SELECT 42'), '42', "$w->[0]: the session is usable afterwards");
	is(scalar(grep { $_ == $pid } worker_pids($node)), 1,
		"$w->[0]: the job itself is untouched by the launcher's timeout");
	if ($w->[0] eq 'result_v2')
	{
		# reading releases the handle, also when the read fails (C-NOTES): the job
		# goes on detached, and a second read says so
		ok(!handle_listed($pid, $cookie), 'result_v2: an interrupted read released the handle');
		sql_err($s, sprintf($w->[1], $pid, $cookie), '55000',
			'result_v2: reading again reports the results as consumed');
	}
	else
	{
		ok(handle_listed($pid, $cookie), "$w->[0]: the handle is still there");
	}
	finish_job($pid, $cookie);
}

# --- cancel request from another session --------------------------------------------------------
for my $w (@waits)
{
	my ($pid, $cookie) = quiet_job();
	$s->{stderr} = '';
	$s->{stdin} .= sprintf($w->[1], $pid, $cookie) . ";\n";
	$s->{run}->pump_nb;
	ok( wait_until($node, "SELECT state = 'active' AND query LIKE '%pg_background_%' FROM pg_stat_activity WHERE pid = $spid"),
		"$w->[0]: the launcher is waiting");
	is(sql_ok($other, "SELECT pg_cancel_backend($spid)"), 't', "$w->[0]: cancel sent");
	my (undef, $err) = sql($s, 'SELECT 1');
	sqlstate_is($err, '57014', "$w->[0]: the wait ends with 57014");
	like($err, qr/canceling statement due to user request/, "$w->[0]: user cancel");
	finish_job($pid, $cookie);
}

# --- a wait interrupted midway through a large result leaves the handle manageable --------------
{
	my ($pid, $cookie) = launch($s,
		'SELECT g FROM generate_series(1, 1000000000) g', queue => 65536);
	sql_ok($s, "SET statement_timeout = '500ms'");
	sql_err($s, "SELECT count(*) FROM pg_background_result_v2($pid, $cookie) AS (g int)",
		'57014', 'statement_timeout interrupts result_v2 while rows stream');
	sql_ok($s, 'RESET statement_timeout');
	finish_job($pid, $cookie);
}

$s->quit;
$other->quit;
wait_no_workers($node);
close_monitors();
$node->stop;
done_testing();
