# The PID a launch returns names a backend at once: pg_terminate_backend() and
# pg_cancel_backend() right after launch_v2 find the worker (it announces itself only
# once it is in the ProcArray), instead of warning "PID ... is not a PostgreSQL backend
# process".  Several launches in a row, because the old window was a race.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

my $node = new_node('pid_visible_at_launch');
my $s = open_session($node);
my $detach_all = 'SELECT pg_background_detach_v2(pid, cookie) FROM pg_background_list_v2() '
  . 'AS (pid int4, cookie int8, launched_at timestamptz, user_id oid, queue_size int4, '
  . 'state text, sql_preview text, last_error text, consumed bool)';

for my $i (1 .. 20)
{
	my ($out, $err) = sql($s,
		q{SELECT pg_terminate_backend(pid) FROM pg_background_launch_v2('SELECT pg_sleep(30)')});
	is($out, 't', "launch $i: pg_terminate_backend finds the worker at once");
	unlike($err, qr/not a PostgreSQL backend process/, "launch $i: no warning about the PID");
	# release the handles, or the session quota ends the loop
	sql_ok($s, $detach_all);
}
my ($out, $err) = sql($s,
	q{SELECT pg_cancel_backend(pid) FROM pg_background_submit_v2('SELECT pg_sleep(30)')});
is($out, 't', 'submit: pg_cancel_backend finds the worker at once');

sql_ok($s, $detach_all);
$s->quit;
wait_no_workers($node);
close_monitors();
$node->stop;
done_testing();
