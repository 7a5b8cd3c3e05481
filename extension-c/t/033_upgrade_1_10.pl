# ALTER EXTENSION pg_background UPDATE from 1.9 to 1.10 (durable jobs).  fetch_v2 gains an
# argument and an output column, so the update drops and re-creates it: the result must be
# exactly a fresh 1.10 (signatures, result types, ACLs, initial privileges), every privilege
# granted on the old fetch_v2 must be there on the new one (and stay an ordinary grant, not an
# initial privilege that pg_dump would leave out), and a view using the old fetch_v2 must stop
# the update instead of being dropped.  Before the update, the new library serves the 1.9
# catalog: fetch_v2 with four arguments and three columns.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgbgTest;

my $node = new_node('upgrade110');
$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;   -- given privileges directly, with the helper
	CREATE ROLE bob LOGIN;     -- a member of pgbackground_role
	CREATE ROLE carol LOGIN;   -- given EXECUTE on fetch_v2 by hand, with grant option
});

# Every member of the extension: identity, definition (signature and result type), ACL
# without the test's own roles, initial privileges.
my $describe = q{
	SELECT string_agg(line, E'\n' ORDER BY line) FROM (
	SELECT pg_describe_object(d.classid, d.objid, 0) || ' | ' ||
	       CASE d.classid
	         WHEN 'pg_proc'::regclass THEN pg_get_functiondef(d.objid)
	         WHEN 'pg_type'::regclass THEN
	           (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
	              FROM pg_attribute a WHERE a.attrelid = (SELECT typrelid FROM pg_type WHERE oid = d.objid))
	         ELSE '?' END
	       || ' | acl: ' || coalesce((SELECT string_agg(x.grantee::regrole::text || '=' || x.privilege_type
	                                                  || CASE WHEN x.is_grantable THEN '*' ELSE '' END, ',' ORDER BY 1)
	              FROM aclexplode(CASE d.classid WHEN 'pg_proc'::regclass THEN (SELECT proacl FROM pg_proc WHERE oid = d.objid)
	                                             ELSE (SELECT typacl FROM pg_type WHERE oid = d.objid) END) x
	             WHERE x.grantee NOT IN ('alice'::regrole, 'bob'::regrole, 'carol'::regrole)), '-')
	       || ' | init: ' || coalesce((SELECT ip.initprivs::text FROM pg_init_privs ip
	                                    WHERE ip.classoid = d.classid AND ip.objoid = d.objid AND ip.objsubid = 0), '-')
	       AS line
	  FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
	 WHERE e.extname = 'pg_background' AND d.deptype = 'e') s
};

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION pg_background');
is($node->safe_psql('fresh', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_background'}),
	'1.10', 'a fresh CREATE EXTENSION is 1.10');
my $fresh = $node->safe_psql('fresh', $describe);
like($fresh, qr/pg_background_attach_v2.*pg_background_fetch_v2\(integer,bigint,integer,integer,bigint\)/s,
	'the description covers the new functions');

# ---- a database at 1.9, used as 1.9 ----

$node->safe_psql('postgres', 'CREATE DATABASE old');
$node->safe_psql('old', q{
	CREATE EXTENSION pg_background VERSION '1.9';
	SELECT grant_pg_background_privileges('alice');
	GRANT pgbackground_role TO bob;
	GRANT EXECUTE ON FUNCTION pg_background_launch_v2(text, int4) TO carol;
	GRANT EXECUTE ON FUNCTION pg_background_fetch_v2(int4, int8, int4, int4) TO carol WITH GRANT OPTION;
});

# the library of 1.10 serves the 1.9 catalog: four arguments, three columns, done releases
my $legacy = $node->safe_psql('old', q{
	SELECT * FROM pg_background_launch_v2('SELECT 6 * 7 AS answer') \gset
	-- fetch_v2 waits for the first message only: let the job end, so one call reads it all
	SELECT pg_background_wait_v2(:pid, :cookie) AS waited \gset
	SELECT string_agg(kind || ':' || coalesce(data::text, ''), ' ' ORDER BY ord)
	  FROM (SELECT f.*, row_number() OVER () AS ord
	          FROM pg_background_fetch_v2(:pid, :cookie, 100, 60000) f) s;
	SELECT count(*) FROM pg_background_list_v2() AS (pid int4, cookie int8, launched_at timestamptz,
	  user_id oid, queue_size int4, state text, sql_preview text, last_error text, consumed bool);
}, connstr => $node->connstr('old') . ' user=alice');
like($legacy, qr/^columns:.*"answer".* row:\["42"\] command:\{"tag":"SELECT 1","rows":1\} done:\{"state":"completed"\}\n0$/,
	'1.9 catalog: fetch_v2 works with the new library, and done releases the handle');
is( $node->safe_psql('old', q{
		SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute
		 WHERE attrelid = (SELECT typrelid FROM pg_type WHERE oid =
		         (SELECT prorettype FROM pg_proc WHERE proname = 'pg_background_fetch_v2'))}),
	'', '1.9 catalog: fetch_v2 returns a record of its OUT columns (no composite type)');

# ---- a view on the old fetch_v2 stops the update; nothing is dropped ----

$node->safe_psql('postgres', 'CREATE DATABASE blocked');
$node->safe_psql('blocked', q{
	CREATE EXTENSION pg_background VERSION '1.9';
	CREATE VIEW peek AS SELECT * FROM pg_background_fetch_v2(0, 0);
});
my ($ret, $out, $err) = $node->psql('blocked', 'ALTER EXTENSION pg_background UPDATE',
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
isnt($ret, 0, 'a view using the old fetch_v2 makes the update fail');
like($err, qr/2BP01/, '... with the dependency error (2BP01)');
is($node->safe_psql('blocked', q{SELECT (SELECT extversion FROM pg_extension WHERE extname = 'pg_background')
		|| ' ' || (SELECT count(*) FROM pg_views WHERE viewname = 'peek')}),
	'1.9 1', '... and the extension stays at 1.9 with the view');

# ---- the update ----

my %acl_before = map { $_ => 1 } split /\n/, $node->safe_psql('old', q{
	SELECT a.grantee::regrole || '=' || a.privilege_type || CASE WHEN a.is_grantable THEN '*' ELSE '' END
	  FROM pg_proc p, aclexplode(p.proacl) a
	 WHERE p.proname = 'pg_background_fetch_v2'});
($ret, $out, $err) = $node->psql('old', 'ALTER EXTENSION pg_background UPDATE');
is($ret, 0, 'ALTER EXTENSION pg_background UPDATE succeeds') or diag($err);
is($node->safe_psql('old', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_background'}),
	'1.10', 'now at 1.10');
like($err, qr/roles given pg_background privileges directly get none on what this update adds: alice, carol/,
	'the update names the roles that hold privileges directly');

is($node->safe_psql('old', $describe), $fresh,
	'the updated extension equals a fresh 1.10: objects, signatures, result types, ACLs, initial privileges');

my %acl_after = map { $_ => 1 } split /\n/, $node->safe_psql('old', q{
	SELECT a.grantee::regrole || '=' || a.privilege_type || CASE WHEN a.is_grantable THEN '*' ELSE '' END
	  FROM pg_proc p, aclexplode(p.proacl) a
	 WHERE p.proname = 'pg_background_fetch_v2'});
is_deeply([ sort keys %acl_after ], [ sort keys %acl_before ],
	'the new fetch_v2 has every grant of the old one (alice, carol with grant option, pgbackground_role)');
is( $node->safe_psql('old', q{
		SELECT has_function_privilege('alice', 'pg_background_fetch_v2(int4, int8, int4, int4, int8)', 'EXECUTE'),
		       has_function_privilege('carol', 'pg_background_fetch_v2(int4, int8, int4, int4, int8)', 'EXECUTE WITH GRANT OPTION'),
		       has_function_privilege('bob', 'pg_background_fetch_v2(int4, int8, int4, int4, int8)', 'EXECUTE'),
		       has_function_privilege('bob', 'pg_background_attach_v2(int4, int8, int8, bool)', 'EXECUTE'),
		       has_function_privilege('alice', 'pg_background_attach_v2(int4, int8, int8, bool)', 'EXECUTE'),
		       has_function_privilege('carol', 'pg_background_launch_v2(text, int4)', 'EXECUTE')}),
	't|t|t|t|f|t', 'alice and carol keep fetch_v2; members of pgbackground_role get attach_v2; direct grantees do not');
is( $node->safe_psql('old', q{
		SELECT count(*) FROM pg_init_privs ip, aclexplode(ip.initprivs) a
		 WHERE a.grantee IN ('alice'::regrole, 'carol'::regrole)}),
	'0', 'no user grant was turned into an initial privilege');

# the new fetch_v2 works for alice, with seq and after_seq
my $round = $node->safe_psql('old', q{
	SELECT * FROM pg_background_launch_v2('SELECT 6 * 7 AS answer') \gset
	SELECT pg_background_wait_v2(:pid, :cookie);
	SELECT string_agg(kind || ':' || seq, ' ' ORDER BY seq) FROM pg_background_fetch_v2(:pid, :cookie, 100, 0, 0);
	SELECT count(*) FROM pg_background_fetch_v2(:pid, :cookie, 100, 0, 4);
}, connstr => $node->connstr('old') . ' user=alice');
is($round, "\ncolumns:1 row:2 command:3 done:4\n0", 'after the update: seq numbers and the final acknowledgement');

close_monitors();
$node->stop;
done_testing();
