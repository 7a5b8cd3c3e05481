--
-- privileges, cross-user access, grant/revoke helpers, relocation
--
SET client_min_messages = warning;
DROP ROLE IF EXISTS pgbg_nobody;
DROP ROLE IF EXISTS pgbg_alice;
DROP ROLE IF EXISTS pgbg_bob;
DROP ROLE IF EXISTS "we""ird role";
RESET client_min_messages;
CREATE ROLE pgbg_nobody;
CREATE ROLE pgbg_alice;
CREATE ROLE pgbg_bob;
CREATE ROLE "we""ird role";
GRANT pgbackground_role TO pgbg_alice, pgbg_bob;

-- nothing is granted to PUBLIC, every function is revoked from it
SELECT p.proname
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
  JOIN pg_extension e ON e.oid = d.refobjid AND d.refclassid = 'pg_extension'::regclass
 WHERE e.extname = 'pg_background'
   AND (p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0))
 ORDER BY 1;
-- a fresh role can execute none of them; pgbackground_role all but the admin helpers
SELECT p.proname,
       has_function_privilege('pgbg_nobody', p.oid, 'EXECUTE') AS fresh_role,
       has_function_privilege('pgbackground_role', p.oid, 'EXECUTE') AS pgbackground_role
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
  JOIN pg_extension e ON e.oid = d.refobjid AND d.refclassid = 'pg_extension'::regclass
 WHERE e.extname = 'pg_background'
 ORDER BY 1;
SELECT rolcanlogin FROM pg_roles WHERE rolname = 'pgbackground_role';
-- the types are not PUBLIC's either (as in 1.8); pgbackground_role may use them
SELECT t.typname,
       has_type_privilege('pgbg_nobody', t.oid, 'USAGE') AS fresh_role,
       has_type_privilege('pgbackground_role', t.oid, 'USAGE') AS pgbackground_role
  FROM pg_type t JOIN pg_depend d ON d.objid = t.oid AND d.classid = 'pg_type'::regclass
  JOIN pg_extension e ON e.oid = d.refobjid AND d.refclassid = 'pg_extension'::regclass
 WHERE e.extname = 'pg_background'
 ORDER BY 1;

SET ROLE pgbg_nobody;
SELECT pgbg_try($$SELECT pg_background_launch('SELECT 1')$$);
RESET ROLE;

-- a job runs as the launching user, with that user's privileges
CREATE TABLE pgbg_secret (s text);
INSERT INTO pgbg_secret VALUES ('hidden');
GRANT SELECT ON pgbg_t TO pgbg_alice;
SET ROLE pgbg_alice;
SELECT * FROM pg_background_result(pg_background_launch('SELECT current_user, (SELECT count(*) FROM pgbg_t) > 0'))
    AS (cu name, ok bool);
SELECT pgbg_try($$SELECT * FROM pg_background_result(pg_background_launch('SELECT * FROM pgbg_secret')) AS (s text)$$);

-- another user cannot see, wait on, cancel, read or detach alice's worker
SELECT * FROM pg_background_launch_v2('SELECT 1') \gset
SET ROLE pgbg_bob;
SELECT pgbg_try(format('SELECT * FROM pg_background_result_v2(%s, %s) AS (a int)', :pid, :cookie));
SELECT pgbg_try(format('SELECT * FROM pg_background_fetch_v2(%s, %s)', :pid, :cookie));
SELECT pgbg_try(format('SELECT pg_background_wait_v2(%s, %s)', :pid, :cookie));
SELECT pgbg_try(format('SELECT pg_background_wait_v2_timeout(%s, %s, 0)', :pid, :cookie));
SELECT pgbg_try(format('SELECT pg_background_cancel_v2(%s, %s)', :pid, :cookie));
SELECT pgbg_try(format('SELECT pg_background_cancel_v2_grace(%s, %s, 0)', :pid, :cookie));
SELECT pgbg_try(format('SELECT pg_background_detach_v2(%s, %s)', :pid, :cookie));
SELECT pgbg_try(format('SELECT * FROM pg_background_get_progress_v2(%s, %s)', :pid, :cookie));
SELECT pgbg_try(format('SELECT * FROM pg_background_result(%s) AS (a int)', :pid));
SELECT pgbg_try(format('SELECT pg_background_detach(%s)', :pid));
SELECT count(*) FROM pg_background_list_v2() AS (pid int4, cookie int8, launched_at timestamptz, user_id oid,
       queue_size int4, state text, sql_preview text, last_error text, consumed bool);
-- alice herself, and a superuser (who has the privileges of every role), can
SET ROLE pgbg_alice;
SELECT count(*) FROM pg_background_list_v2() AS (pid int4, cookie int8, launched_at timestamptz, user_id oid,
       queue_size int4, state text, sql_preview text, last_error text, consumed bool);
RESET ROLE;
SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (a int);

-- grant/revoke helpers quote identifiers
SELECT grant_pg_background_privileges('we"ird role', true);
SELECT has_function_privilege('we"ird role', 'pg_background_launch_v2(text, int4)', 'EXECUTE');
SELECT revoke_pg_background_privileges('we"ird role', true);
SELECT has_function_privilege('we"ird role', 'pg_background_launch_v2(text, int4)', 'EXECUTE');
-- 1.8's parameter names, so that named notation keeps working
SELECT grant_pg_background_privileges(role_name => 'pgbg_nobody', print_commands => false);
SELECT has_function_privilege('pgbg_nobody', 'pg_background_wait_v2(int4, int8)', 'EXECUTE'),
       has_type_privilege('pgbg_nobody', 'pg_background_handle', 'USAGE');
SELECT revoke_pg_background_privileges(role_name => 'pgbg_nobody');
SELECT has_function_privilege('pgbg_nobody', 'pg_background_wait_v2(int4, int8)', 'EXECUTE'),
       has_type_privilege('pgbg_nobody', 'pg_background_handle', 'USAGE');
-- the admin functions are never part of what the helpers hand out
SELECT has_function_privilege('pgbg_alice', 'pg_background_drop_executor_role()', 'EXECUTE');
SELECT pgbg_try($$SELECT grant_pg_background_privileges('pgbg_no_such_role')$$);
SELECT pgbg_try($$SELECT revoke_pg_background_privileges('pgbg_no_such_role')$$);
SELECT pgbg_try($$SELECT grant_pg_background_privileges('public')$$);
SELECT pgbg_try($$SELECT grant_pg_background_privileges(NULL)$$);
SELECT pgbg_try($$SELECT _pg_background_privileges('ALTER', 'pgbg_alice', false)$$);
SET ROLE pgbg_alice;
SELECT pgbg_try($$SELECT grant_pg_background_privileges('pgbg_alice')$$);
RESET ROLE;

-- relocatable: install into another schema, move it back
DROP EXTENSION pg_background;
CREATE SCHEMA "pgbg ext";
CREATE EXTENSION pg_background WITH SCHEMA "pgbg ext";
SELECT * FROM "pgbg ext".pg_background_result("pgbg ext".pg_background_launch('SELECT ''relocated''')) AS (t text);
SELECT (h).pid AS pid, (h).cookie AS cookie
  FROM (SELECT "pgbg ext".pg_background_launch_v2('SELECT 2') AS h) s \gset
SET search_path = public, "pgbg ext";
SELECT * FROM pgbg_drain(:pid, :cookie);
RESET search_path;
SELECT "pgbg ext".grant_pg_background_privileges('we"ird role', true);
SELECT has_function_privilege('we"ird role', '"pgbg ext".pg_background_fetch_v2(int4, int8, int4, int4, int8)', 'EXECUTE');
SELECT "pgbg ext".revoke_pg_background_privileges('we"ird role');
ALTER EXTENSION pg_background SET SCHEMA public;
SELECT * FROM pg_background_result(pg_background_launch('SELECT ''moved back''')) AS (t text);
SELECT grant_pg_background_privileges('we"ird role');
SELECT has_function_privilege('we"ird role', 'pg_background_stats_v2()', 'EXECUTE');
SELECT revoke_pg_background_privileges('we"ird role');
DROP SCHEMA "pgbg ext";

DROP TABLE pgbg_secret;
REVOKE ALL ON pgbg_t FROM pgbg_alice;
DROP ROLE pgbg_nobody;
DROP ROLE pgbg_alice;
DROP ROLE pgbg_bob;
DROP ROLE "we""ird role";
