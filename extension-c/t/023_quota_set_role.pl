# pg_background.max_workers is a ceiling for the session: switching roles with SET ROLE
# (to roles that cannot see each other's handles) must not give each role a quota of its
# own.  The quota error says how many of the held handles the current role cannot see
# and how to release them (SET ROLE back), and following the hint works.  Jobs of a
# SECURITY DEFINER function owned by a role the caller can act as (here: her own) count
# against her session like any other.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

my $node = new_node('quota_set_role', 'pg_background.max_workers' => 3);
$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	CREATE ROLE r1; CREATE ROLE r2;
	GRANT r1, r2 TO alice;
	GRANT pgbackground_role TO alice, r1, r2;
	GRANT CREATE ON SCHEMA public TO alice;
});
my $al = open_session($node, user => 'alice');

my @r1;
sql_ok($al, 'SET ROLE r1');
for (1 .. 3)
{
	my ($out, $err) = sql($al, q{SELECT pid, cookie FROM pg_background_launch_v2('SELECT 1')});
	is($err, '', "launch $_ as r1 succeeds");
	push @r1, [ split /\|/, $out ];
}
sql_ok($al, 'SET ROLE r2');
is(sql_ok($al, list_sql()), '0', 'r2 does not see r1\'s handles');
my $err = sql_err($al, q{SELECT pg_background_launch_v2('SELECT 1')}, '53400',
	'r2 gets no quota of its own: the session already holds the maximum');
like($err, qr/this session already holds 3 pg_background workers/, 'the error counts the session\'s handles');
like($err, qr/3 of them were launched under another role and are not shown to role "r2"/,
	'the error says they are hidden from the current role');
like($err, qr/SET ROLE to the launching role/, 'the hint says how to release them');

sql_ok($al, 'RESET ROLE');
sql_err($al, q{SELECT pg_background_launch_v2('SELECT 1')}, '53400',
	'nor does the login role get one');

# following the hint makes room
sql_ok($al, 'SET ROLE r1');
sql_ok($al, "SELECT pg_background_detach_v2($r1[0][0], $r1[0][1])");
sql_ok($al, 'SET ROLE r2');
my ($out, $err2) = sql($al, q{SELECT pid, cookie FROM pg_background_launch_v2('SELECT 1')});
is($err2, '', 'after r1 released one, r2 may launch');

# her own SECURITY DEFINER function is no way around the ceiling
sql_ok($al, 'RESET ROLE');
sql_ok($al, q{CREATE FUNCTION my_launch() RETURNS pg_background_handle LANGUAGE sql SECURITY DEFINER
	AS $$ SELECT * FROM pg_background_launch_v2('SELECT 1') $$});
sql_err($al, 'SELECT my_launch()', '53400',
	'a SECURITY DEFINER function of her own counts against her session');

$al->quit;
wait_no_workers($node);
close_monitors();
$node->stop;
done_testing();
