# Whose handles are the jobs a SECURITY DEFINER function launches?  They run with the
# owner's privileges and their results are the owner's data, so only a role having the
# owner's privileges may see, read or release them.  The per-session quota
# (pg_background.max_workers) follows the same rule: a launch counts the handles its role
# can see and release.  So a caller's quota never fills with handles the caller cannot
# free, and the quota error's hint can always be followed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

my $node = new_node('definer_quota', 'pg_background.max_workers' => 4);
$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	GRANT pgbackground_role TO alice;
	CREATE FUNCTION launch_as_owner() RETURNS pg_background_handle
	  LANGUAGE sql SECURITY DEFINER
	  AS $$ SELECT * FROM pg_background_launch_v2('SELECT 1') $$;
	GRANT EXECUTE ON FUNCTION launch_as_owner() TO alice;
});
my $al = open_session($node, user => 'alice');

my @owned;
for (1 .. 4)
{
	my ($out, $err) = sql($al, 'SELECT pid, cookie FROM launch_as_owner()');
	is($err, '', "SECURITY DEFINER launch $_ by alice succeeds");
	push @owned, [ split /\|/, $out ];
}
is(sql_ok($al, list_sql()), '0', 'alice does not see the owner\'s handles');
sql_err($al, "SELECT pg_background_detach_v2($owned[0][0], $owned[0][1])", '42501',
	'nor can she release them');

# her own quota is untouched by them
my @hers;
for (1 .. 4)
{
	my ($out, $err) = sql($al, q{SELECT pid, cookie FROM pg_background_launch_v2('SELECT 1')});
	is($err, '', "alice's own launch $_ succeeds although the owner's jobs fill a quota");
	push @hers, [ split /\|/, $out ];
}
my $err = sql_err($al, q{SELECT pg_background_launch_v2('SELECT 1')}, '53400',
	'alice\'s fifth handle exceeds her quota');
like($err, qr/this session already holds 4 pg_background workers/, 'the error names the count');
is(sql_ok($al, list_sql()), '4', 'and list_v2 shows her exactly the handles that count');
sql_ok($al, "SELECT pg_background_detach_v2($hers[0][0], $hers[0][1])");
my ($out, $err2) = sql($al, q{SELECT pid, cookie FROM pg_background_launch_v2('SELECT 1')});
is($err2, '', 'following the hint (detach one) makes room');

# the owner's quota counts the handles the owner can manage: all of them here
sql_err($al, 'SELECT launch_as_owner()', '53400',
	'the owner\'s launches are limited by the handles the owner holds');

$al->quit;
wait_no_workers($node);
close_monitors();
$node->stop;
done_testing();
