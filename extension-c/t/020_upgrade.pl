
# In-place upgrade from the published versions that have the v2 API (1.6, 1.7, 1.8):
# ALTER EXTENSION pg_background UPDATE must reach 1.9, keep every object that exists
# (so views, functions and columns that use them survive), keep the privileges granted
# on them (and keep them out of pg_init_privs, or pg_dump would drop them), and end
# with exactly the objects and definitions of a fresh CREATE EXTENSION of 1.9.
#
# The older versions' base scripts are generated below from this file's own
# description of their objects (their signatures are public facts).  They point at the
# installed library, which exports every symbol they name.  CREATE EXTENSION ... VERSION
# reads base scripts only from the server's extension directory, which belongs to root;
# so the server of this test runs from a private installation tree: a copy of the
# binaries (the server finds its share directory relative to its own executable),
# symbolic links to everything else, and the generated scripts beside the installed
# ones.  Nothing outside this test's temporary directory is touched.
use strict;
use warnings;
use File::Path qw(make_path);
use File::Copy qw(copy);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $pg_config = $ENV{PG_CONFIG} // 'pg_config';
chomp(my $bindir = `$pg_config --bindir`);
chomp(my $sharedir = `$pg_config --sharedir`);
chomp(my $pkglibdir = `$pg_config --pkglibdir`);

# ---- the older versions, as this test describes them ----

# $q: the queue_size default, 65536 before 1.8; 1.8 added statistics and progress
sub old_base_script
{
	my ($version) = @_;
	my $q = $version eq '1.8' ? 0 : 65536;
	my $sql = <<"EOS";
CREATE FUNCTION pg_background_launch(sql text, queue_size int4 DEFAULT $q)
    RETURNS int4 AS 'MODULE_PATHNAME' LANGUAGE C STRICT;
CREATE FUNCTION pg_background_result(pid int4)
    RETURNS SETOF record AS 'MODULE_PATHNAME' LANGUAGE C STRICT;
CREATE FUNCTION pg_background_detach(pid int4)
    RETURNS void AS 'MODULE_PATHNAME' LANGUAGE C STRICT;
CREATE TYPE pg_background_handle AS (pid int4, cookie int8);
CREATE FUNCTION pg_background_launch_v2(sql text, queue_size int4 DEFAULT $q)
    RETURNS pg_background_handle AS 'MODULE_PATHNAME' LANGUAGE C STRICT;
CREATE FUNCTION pg_background_submit_v2(sql text, queue_size int4 DEFAULT $q)
    RETURNS pg_background_handle AS 'MODULE_PATHNAME' LANGUAGE C STRICT;
CREATE FUNCTION pg_background_result_v2(pid int4, cookie int8)
    RETURNS SETOF record AS 'MODULE_PATHNAME' LANGUAGE C STRICT;
CREATE FUNCTION pg_background_detach_v2(pid int4, cookie int8)
    RETURNS void AS 'MODULE_PATHNAME' LANGUAGE C STRICT;
CREATE FUNCTION pg_background_cancel_v2(pid int4, cookie int8)
    RETURNS void AS 'MODULE_PATHNAME' LANGUAGE C STRICT;
CREATE FUNCTION pg_background_cancel_v2_grace(pid int4, cookie int8, grace_ms int4)
    RETURNS void AS 'MODULE_PATHNAME' LANGUAGE C STRICT;
CREATE FUNCTION pg_background_wait_v2(pid int4, cookie int8)
    RETURNS void AS 'MODULE_PATHNAME' LANGUAGE C STRICT;
CREATE FUNCTION pg_background_wait_v2_timeout(pid int4, cookie int8, timeout_ms int4)
    RETURNS bool AS 'MODULE_PATHNAME' LANGUAGE C STRICT;
CREATE FUNCTION pg_background_list_v2()
    RETURNS SETOF record AS 'MODULE_PATHNAME' LANGUAGE C;
EOS
	$sql .= <<'EOS' if $version eq '1.8';
CREATE TYPE pg_background_stats AS (workers_launched int8, workers_completed int8,
    workers_failed int8, workers_canceled int8, workers_active int4,
    avg_execution_ms float8, max_workers int4);
CREATE TYPE pg_background_progress AS (progress_pct int4, progress_msg text);
CREATE FUNCTION pg_background_stats_v2()
    RETURNS pg_background_stats AS 'MODULE_PATHNAME' LANGUAGE C;
CREATE FUNCTION pg_background_progress(pct int4, msg text DEFAULT NULL)
    RETURNS void AS 'MODULE_PATHNAME' LANGUAGE C;
CREATE FUNCTION pg_background_get_progress_v2(pid int4, cookie int8)
    RETURNS pg_background_progress AS 'MODULE_PATHNAME' LANGUAGE C;
COMMENT ON FUNCTION pg_background_stats_v2() IS 'statistics (1.8 text)';
COMMENT ON FUNCTION pg_background_progress(int4, text) IS 'progress (1.8 text)';
COMMENT ON FUNCTION pg_background_get_progress_v2(int4, int8) IS 'read progress (1.8 text)';
EOS
	# the helpers: SECURITY DEFINER, parameter role_name, false (not an error) on failure
	$sql .= <<"EOS";
DO \$\$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgbackground_role') THEN
        CREATE ROLE pgbackground_role NOLOGIN INHERIT;
    END IF;
END \$\$;
@{[ old_helper('grant', 'GRANT', 'TO') ]}
@{[ old_helper('revoke', 'REVOKE', 'FROM') ]}
CREATE FUNCTION pg_background_drop_executor_role()
    RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS \$f\$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgbackground_role') THEN
        DROP ROLE pgbackground_role;
    END IF;
END \$f\$;
EOS
	$sql .= "SELECT grant_pg_background_privileges('pgbackground_role');\n";
	$sql .= <<'EOS';
DO $$
DECLARE
    obj record;
BEGIN
    FOR obj IN
        SELECT d.classid, d.objid FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
         WHERE e.extname = 'pg_background' AND d.deptype = 'e'
    LOOP
        IF obj.classid = 'pg_proc'::regclass THEN
            EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', obj.objid::regprocedure);
        ELSE
            EXECUTE format('REVOKE ALL ON TYPE %s FROM PUBLIC', obj.objid::regtype);
        END IF;
    END LOOP;
END $$;
EOS
	return $sql;
}

# The old grant/revoke helpers: SECURITY DEFINER, parameter role_name, and a failure
# is a NOTICE and false rather than an error.  (1.6 and 1.7 differ only in these bodies,
# which no update keeps.)
sub old_helper
{
	my ($name, $verb, $prep) = @_;
	return <<"EOS";
CREATE FUNCTION ${name}_pg_background_privileges(role_name text, print_commands boolean DEFAULT false)
    RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS \$f\$
DECLARE
    obj text;
    cmd text;
BEGIN
    FOR obj IN
        SELECT CASE d.classid WHEN 'pg_proc'::regclass THEN 'FUNCTION ' || d.objid::regprocedure
                              ELSE 'TYPE ' || d.objid::regtype END
          FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
         WHERE e.extname = 'pg_background' AND d.deptype = 'e'
           AND (d.classid = 'pg_type'::regclass OR (d.classid = 'pg_proc'::regclass
                AND (SELECT proname FROM pg_proc WHERE oid = d.objid)
                    IN (SELECT proname FROM pg_proc WHERE proname LIKE 'pg\\_background\\_%'
                          AND proname <> 'pg_background_drop_executor_role')))
    LOOP
        cmd := format('$verb %s ON %s $prep %I',
                      CASE WHEN obj LIKE 'TYPE%' THEN 'USAGE' ELSE 'EXECUTE' END, obj, role_name);
        EXECUTE cmd;
        IF print_commands THEN RAISE INFO '%', cmd; END IF;
    END LOOP;
    RETURN true;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'failed for %: %', role_name, SQLERRM;
    RETURN false;
END \$f\$;
EOS
}

# ---- a private installation tree ----

my $tree = PostgreSQL::Test::Utils::tempdir('pgbg_tree');
(my $rel_lib = $pkglibdir) =~ s{^/}{};
(my $rel_share = $sharedir) =~ s{^/}{};
(my $rel_bin = $bindir) =~ s{^/}{};
my $inst = $tree . ($bindir =~ s{/bin$}{}r);
make_path("$tree/$rel_bin", "$tree/$rel_lib", "$tree/$rel_share/extension");
for my $f (glob("$bindir/*"))
{
	my $to = "$tree/$rel_bin/" . ($f =~ s{.*/}{}r);
	copy($f, $to) or die "copy $f: $!";
	chmod 0755, $to;
}
for my $f (glob("$pkglibdir/*"))
{
	symlink($f, "$tree/$rel_lib/" . ($f =~ s{.*/}{}r)) or die "symlink $f: $!";
}
for my $f (glob("$sharedir/*"))
{
	next if $f =~ m{/extension$};
	symlink($f, "$tree/$rel_share/" . ($f =~ s{.*/}{}r)) or die "symlink $f: $!";
}
for my $f (glob("$sharedir/extension/*"))
{
	symlink($f, "$tree/$rel_share/extension/" . ($f =~ s{.*/}{}r)) or die "symlink $f: $!";
}
for my $v ('1.6', '1.7', '1.8')
{
	open(my $fh, '>', "$tree/$rel_share/extension/pg_background--$v.sql") or die $!;
	print $fh old_base_script($v);
	close($fh);
}

my $node = PostgreSQL::Test::Cluster->new('upgrade', install_path => $inst);
$node->init;
$node->append_conf('postgresql.conf', qq{
max_worker_processes = 16
max_parallel_workers_per_gather = 0
lc_messages = 'C'
});
$node->start;
is( $node->safe_psql('postgres',
		q{SELECT string_agg(version, ',' ORDER BY version) FROM pg_available_extension_versions
		   WHERE name = 'pg_background'}),
	'1.10,1.6,1.7,1.8,1.9',
	'the server of this test offers the described versions, 1.9 and 1.10');

$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;   -- given privileges directly, with the old helper
	CREATE ROLE bob LOGIN;     -- a member of pgbackground_role
	CREATE ROLE carol LOGIN;   -- given EXECUTE on two functions by hand
});

# ---- what a database looks like, to compare a fresh 1.9 with an updated one ----

# Every member of the extension with its full definition, its ACL restricted to PUBLIC,
# pgbackground_role and the owner, its initial privileges and its comment.
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
	       || ' | comment: ' || coalesce(obj_description(d.objid, (SELECT relname FROM pg_class WHERE oid = d.classid)), '-')
	       AS line
	  FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
	 WHERE e.extname = 'pg_background' AND d.deptype = 'e') s
};

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
# 1.9 is this test's target; 1.9 -> 1.10 is t/033_upgrade_1_10.pl
$node->safe_psql('fresh', "CREATE EXTENSION pg_background VERSION '1.9'");
my $fresh = $node->safe_psql('fresh', $describe);
like($fresh, qr/pg_background_fetch_v2/, 'the description covers the functions');

# ---- the upgrade from each version ----

for my $from ('1.6', '1.7', '1.8')
{
	my $db = 'from_' . ($from =~ s/\./_/r);
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, "CREATE EXTENSION pg_background VERSION '$from'");
	is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'pg_background'}),
		$from, "$from: created at $from");

	# what users built on it, and what they were granted
	$node->safe_psql($db, q{
		SELECT grant_pg_background_privileges('alice');
		GRANT pgbackground_role TO bob;
		GRANT EXECUTE ON FUNCTION pg_background_launch_v2(text, int4), pg_background_result_v2(int4, int8) TO carol;
		CREATE VIEW my_jobs AS
		  SELECT pid, state FROM pg_background_list_v2()
		    AS (pid int4, cookie int8, launched_at timestamptz, user_id oid, queue_size int4,
		        state text, sql_preview text, last_error text, consumed bool);
		GRANT SELECT ON my_jobs TO alice, bob;
		CREATE FUNCTION start_job(q text) RETURNS pg_background_handle
		  LANGUAGE sql BEGIN ATOMIC SELECT pg_background_launch_v2(q); END;
		GRANT EXECUTE ON FUNCTION start_job(text) TO bob;
		CREATE TABLE saved_handles (h pg_background_handle);
		INSERT INTO saved_handles VALUES (ROW(1, 2));
	});
	my $members_sql = q{
		SELECT string_agg(pg_describe_object(classid, objid, 0) || ' = ' || objid, E'\n' ORDER BY 1)
		  FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
		 WHERE e.extname = 'pg_background' AND d.deptype = 'e'};
	my @members_before = split /\n/, $node->safe_psql($db, $members_sql);
	my $alice_before = $node->safe_psql($db, q{
		SELECT count(*) FROM pg_proc p, aclexplode(p.proacl) a
		 WHERE a.grantee = 'alice'::regrole});
	cmp_ok($alice_before, '>=', 12, "$from: the old helper granted alice the functions");

	my ($ret, $out, $err) = $node->psql($db, "ALTER EXTENSION pg_background UPDATE TO '1.9'");
	is($ret, 0, "$from: ALTER EXTENSION pg_background UPDATE TO '1.9' succeeds") or diag($err);
	is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'pg_background'}),
		'1.9', "$from: now at 1.9");
	like($err, qr/roles given pg_background privileges directly get none on what this update adds: alice, carol/,
		"$from: the update names the roles that hold privileges directly") or diag("out: $out err: $err");

	# every object that existed is the same object
	my %after = map { $_ => 1 } split /\n/, $node->safe_psql($db, $members_sql);
	is_deeply([ grep { !$after{$_} } @members_before ], [], "$from: every object of $from kept its identity");

	# so what depends on them is still there and works
	is( $node->safe_psql($db, q{
			SELECT count(*) FROM pg_depend
			 WHERE classid = 'pg_rewrite'::regclass
			   AND objid = (SELECT oid FROM pg_rewrite WHERE ev_class = 'my_jobs'::regclass)
			   AND refobjid = 'pg_background_list_v2()'::regprocedure}),
		'1', "$from: the view still depends on list_v2");
	is($node->safe_psql($db, 'SELECT h FROM saved_handles'), '(1,2)', "$from: a column of the handle type kept its data");

	# grants: alice's are all there, and still dumped (not taken for initial privileges)
	is( $node->safe_psql($db, q{
			SELECT count(*) FROM pg_proc p, aclexplode(p.proacl) a WHERE a.grantee = 'alice'::regrole}),
		$alice_before, "$from: alice keeps every privilege she had");
	is( $node->safe_psql($db, q{
			SELECT count(*) FROM pg_init_privs ip, aclexplode(ip.initprivs) a
			 WHERE a.grantee IN ('alice'::regrole, 'carol'::regrole)}),
		'0', "$from: no user grant was turned into an initial privilege");
	is( $node->safe_psql($db, q{
			SELECT has_function_privilege('carol', 'pg_background_launch_v2(text, int4)', 'EXECUTE'),
			       has_function_privilege('carol', 'pg_background_fetch_v2(int4, int8, int4, int4)', 'EXECUTE'),
			       has_function_privilege('bob', 'pg_background_fetch_v2(int4, int8, int4, int4)', 'EXECUTE'),
			       has_table_privilege('bob', 'my_jobs', 'SELECT')}),
		't|f|t|t', "$from: carol keeps her two functions, pgbackground_role's members get fetch_v2");
	is($node->safe_psql($db, q{SELECT grant_pg_background_privileges(role_name => 'alice')}),
		't', "$from: the helper takes role_name => after the update");
	is( $node->safe_psql($db, q{
			SELECT has_function_privilege('alice', 'pg_background_fetch_v2(int4, int8, int4, int4)', 'EXECUTE')}),
		't', "$from: ... and gives alice what is new");

	# the object set and every definition equal a fresh 1.9
	my $updated = $node->safe_psql($db, $describe);
	is($updated, $fresh, "$from: the extension's objects equal a fresh CREATE EXTENSION of 1.9");

	# every function works, through what users built on them
	my $bob = $node->connstr($db) . ' user=bob';
	my $round_trip = $node->safe_psql('postgres', q{
		SELECT * FROM start_job('SELECT 41 + 1 AS answer') \gset
		SELECT string_agg(kind || ':' || coalesce(data::text, ''), ' ' ORDER BY ord)
		  FROM (SELECT f.*, row_number() OVER () AS ord
		          FROM pg_background_fetch_v2(:pid, :cookie, 100, 60000) f) s;
	}, connstr => $bob);
	like($round_trip, qr/^columns:.*"answer".* row:\["42"\] command:\{"tag":"SELECT 1","rows":1\}/,
		"$from: launch_v2 + fetch_v2 round trip as a member of pgbackground_role");
	my $all = $node->safe_psql('postgres', q{
		SELECT * FROM pg_background_result(pg_background_launch('SELECT ''v1''')) AS (t text);
		SELECT pg_background_detach(pg_background_launch('SELECT 1'));
		SELECT * FROM pg_background_launch_v2('SELECT 7 AS x FROM pg_background_progress(50, ''half'')') \gset
		SELECT pg_background_wait_v2(:pid, :cookie);
		SELECT progress_pct, progress_msg FROM pg_background_get_progress_v2(:pid, :cookie);
		SELECT count(*) FROM my_jobs WHERE pid = :pid;
		SELECT x FROM pg_background_result_v2(:pid, :cookie) AS (x int);
		SELECT * FROM pg_background_submit_v2('SELECT 1') \gset
		SELECT pg_background_wait_v2_timeout(:pid, :cookie, 60000);
		SELECT pg_background_detach_v2(:pid, :cookie);
		SELECT * FROM pg_background_launch_v2('SELECT pg_sleep(60)') \gset
		SELECT pg_background_cancel_v2(:pid, :cookie);
		SELECT * FROM pg_background_launch_v2('SELECT pg_sleep(60)') \gset
		SELECT pg_background_cancel_v2_grace(:pid, :cookie, 1000);
		SELECT workers_launched >= 6 FROM pg_background_stats_v2();
	}, connstr => $bob);
	is($all, "v1\n\n\n50|half\n1\n7\nt\n\n\n\nt",
		"$from: v1, progress, list, result, submit, wait, detach, cancel and stats work after the update");
	my ($r, $o, $e) = $node->psql('postgres', 'SELECT pg_background_wait_v2(NULL, 1)',
		connstr => $bob, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	like($e, qr/22004/, "$from: a NULL argument is an error (22004), not a silent NULL as in STRICT $from");
}

# ---- an extension in its own schema (1.8 can be created WITH SCHEMA) ----

$node->safe_psql('postgres', 'CREATE DATABASE fresh_schema');
$node->safe_psql('postgres', 'CREATE DATABASE from_1_8_schema');
for my $db ('fresh_schema', 'from_1_8_schema')
{
	my $version = $db eq 'fresh_schema' ? '1.9' : '1.8';
	$node->safe_psql($db, qq{CREATE SCHEMA "pgbg ext";
		CREATE EXTENSION pg_background WITH SCHEMA "pgbg ext" VERSION '$version'});
}
$node->safe_psql('from_1_8_schema', "ALTER EXTENSION pg_background UPDATE TO '1.9'");
is( $node->safe_psql('from_1_8_schema', $describe),
	$node->safe_psql('fresh_schema', $describe),
	'1.8 in a schema of its own: the update equals a fresh 1.9 in that schema');
is( $node->safe_psql('from_1_8_schema', q{
		SELECT "pgbg ext".grant_pg_background_privileges('carol'),
		       has_function_privilege('carol', '"pgbg ext".pg_background_fetch_v2(int4, int8, int4, int4)', 'EXECUTE'),
		       has_type_privilege('carol', '"pgbg ext".pg_background_stats', 'USAGE')}),
	't|t|t', '1.8 in a schema of its own: the helpers find the objects there');
$node->safe_psql('postgres', "DROP DATABASE $_") for ('fresh_schema', 'from_1_8_schema');

# ---- pg_background_drop_executor_role() ----

# while another database still grants pgbackground_role something, nothing is dropped
my ($ret, $out, $err) = $node->psql('from_1_8', 'SELECT pg_background_drop_executor_role()',
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/2BP01/, 'drop_executor_role: refused while other databases depend on the role');
like($err, qr/other databases|in database/, 'drop_executor_role: ... which DROP ROLE names');
is( $node->safe_psql('from_1_8', q{
		SELECT pg_has_role('bob', 'pgbackground_role', 'MEMBER'),
		       has_function_privilege('pgbackground_role', 'pg_background_launch_v2(text, int4)', 'EXECUTE')}),
	't|t', 'drop_executor_role: the refusal changed nothing');

# nor while the role holds anything besides this extension's grants
$node->safe_psql('postgres', "DROP DATABASE $_") for ('fresh', 'from_1_6', 'from_1_7');
$node->safe_psql('from_1_8', 'CREATE TABLE other_t (x int); GRANT SELECT ON other_t TO pgbackground_role');
($ret, $out, $err) = $node->psql('from_1_8', 'SELECT pg_background_drop_executor_role()',
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/2BP01.*table public\.other_t/s, 'drop_executor_role: refused, naming what else the role holds');
$node->safe_psql('from_1_8', 'DROP TABLE other_t');

($ret, $out, $err) = $node->psql('from_1_8', 'SELECT pg_background_drop_executor_role()');
is($ret, 0, 'drop_executor_role: drops the role once only this extension uses it') or diag($err);
like($err, qr/members and lost what it granted: bob/, 'drop_executor_role: names the members who lost access');
is($node->safe_psql('from_1_8', q{SELECT count(*) FROM pg_roles WHERE rolname = 'pgbackground_role'}),
	'0', 'drop_executor_role: the role is gone');
is( $node->safe_psql('from_1_8', q{
		SELECT has_function_privilege('alice', 'pg_background_launch_v2(text, int4)', 'EXECUTE'),
		       has_function_privilege('bob', 'pg_background_launch_v2(text, int4)', 'EXECUTE')}),
	't|f', 'drop_executor_role: direct grants stay, the members lose access');
($ret, $out, $err) = $node->psql('from_1_8', 'SELECT pg_background_drop_executor_role()');
like($err, qr/does not exist, skipping/, 'drop_executor_role: a second call is a notice');

$node->stop;
done_testing();
