/* pg_background--1.8--1.9.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pg_background UPDATE" to load this file. \quit

-- Every object of 1.8 stays the object it was (same OID), so views,
-- functions and rules that use it, and the privileges granted on it, are
-- kept.  Only attributes change, through ALTER FUNCTION or CREATE OR REPLACE
-- with the same argument names and result type.  Nothing here grants or
-- revokes on an object that already existed: inside an extension script
-- that would record the object's whole ACL, administrators' grants
-- included, as initial privileges (pg_init_privs), which pg_dump omits.

-- Argument checks -----------------------------------------------------------
-- 1.8 declared most functions STRICT (a NULL argument made the call return
-- NULL without running); 1.9 runs them and raises 22004 naming the argument.

ALTER FUNCTION pg_background_result(pg_catalog.int4) CALLED ON NULL INPUT;
ALTER FUNCTION pg_background_detach(pg_catalog.int4) CALLED ON NULL INPUT;
ALTER FUNCTION pg_background_result_v2(pg_catalog.int4, pg_catalog.int8) CALLED ON NULL INPUT;
ALTER FUNCTION pg_background_detach_v2(pg_catalog.int4, pg_catalog.int8) CALLED ON NULL INPUT;
ALTER FUNCTION pg_background_cancel_v2(pg_catalog.int4, pg_catalog.int8) CALLED ON NULL INPUT;
ALTER FUNCTION pg_background_cancel_v2_grace(pg_catalog.int4, pg_catalog.int8, pg_catalog.int4) CALLED ON NULL INPUT;
ALTER FUNCTION pg_background_wait_v2(pg_catalog.int4, pg_catalog.int8) CALLED ON NULL INPUT;
ALTER FUNCTION pg_background_wait_v2_timeout(pg_catalog.int4, pg_catalog.int8, pg_catalog.int4) CALLED ON NULL INPUT;

-- The launch functions (STRICT too) also get 1.9's default queue size: 0, meaning
-- pg_background.default_queue_size.  A fresh 1.8 had that already; one
-- updated from 1.6 or 1.7 still said 65536.

CREATE OR REPLACE FUNCTION pg_background_launch(sql pg_catalog.text,
                                                queue_size pg_catalog.int4 DEFAULT 0)
    RETURNS pg_catalog.int4
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE OR REPLACE FUNCTION pg_background_launch_v2(sql pg_catalog.text,
                                                   queue_size pg_catalog.int4 DEFAULT 0)
    RETURNS pg_background_handle
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE OR REPLACE FUNCTION pg_background_submit_v2(sql pg_catalog.text,
                                                   queue_size pg_catalog.int4 DEFAULT 0)
    RETURNS pg_background_handle
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- 1.8 described three functions with comments on 1.8's behaviour; 1.9
-- documents its functions in the README and carries no comments.
COMMENT ON FUNCTION pg_background_stats_v2() IS NULL;
COMMENT ON FUNCTION pg_background_progress(pg_catalog.int4, pg_catalog.text) IS NULL;
COMMENT ON FUNCTION pg_background_get_progress_v2(pg_catalog.int4, pg_catalog.int8) IS NULL;

-- New in 1.9 ----------------------------------------------------------------

CREATE FUNCTION pg_background_fetch_v2(pid pg_catalog.int4, cookie pg_catalog.int8,
                                       max_rows pg_catalog.int4 DEFAULT 10000,
                                       wait_ms pg_catalog.int4 DEFAULT 0)
    RETURNS TABLE (kind pg_catalog.text, stmt pg_catalog.int4, data pg_catalog.json)
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- Privilege helpers ---------------------------------------------------------
-- As in pg_background--1.9.sql: the grant and revoke helpers keep their 1.8
-- signature (role_name, print_commands) and become thin wrappers over one
-- internal function.  Unlike 1.8's they are not SECURITY DEFINER and raise
-- an error instead of returning false.  pg_background_drop_executor_role()
-- keeps its signature and drops the role only when it is recognisably the
-- one this extension made.

CREATE FUNCTION _pg_background_privileges(verb pg_catalog.text,
                                          role_name pg_catalog.text,
                                          print_commands pg_catalog.bool)
    RETURNS pg_catalog.bool
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    target pg_catalog.text;
    cmd pg_catalog.text;
BEGIN
    IF verb IS NULL OR verb NOT IN ('GRANT', 'REVOKE') THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = pg_catalog.format('privilege verb must be GRANT or REVOKE, not %s',
                                        pg_catalog.quote_nullable(verb));
    END IF;
    IF role_name IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'argument "role_name" must not be NULL';
    END IF;
    -- checked up front so that nothing is half done, and so that PUBLIC
    -- (which is no row of pg_roles) is refused like any unknown name
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = role_name) THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = pg_catalog.format('role "%s" does not exist', role_name);
    END IF;
    FOR target IN
        SELECT 'TYPE ' || t.oid::pg_catalog.regtype::pg_catalog.text
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
          JOIN pg_catalog.pg_type t ON t.oid = d.objid
         WHERE d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass
           AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.deptype = 'e'
           AND e.extname = 'pg_background'
           AND t.typtype = 'c'
        UNION ALL
        SELECT 'FUNCTION ' || p.oid::pg_catalog.regprocedure::pg_catalog.text
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
          JOIN pg_catalog.pg_proc p ON p.oid = d.objid
         WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
           AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.deptype = 'e'
           AND e.extname = 'pg_background'
           AND p.proname LIKE 'pg\_background\_%'
           AND p.proname <> 'pg_background_drop_executor_role'
         ORDER BY 1
    LOOP
        cmd := pg_catalog.format('%s %s ON %s %s %I',
                                 verb,
                                 CASE WHEN target LIKE 'TYPE %' THEN 'USAGE' ELSE 'EXECUTE' END,
                                 target,
                                 CASE verb WHEN 'GRANT' THEN 'TO' ELSE 'FROM' END,
                                 role_name);
        EXECUTE cmd;
        IF print_commands THEN
            RAISE INFO 'Executed command: %', cmd;
        END IF;
    END LOOP;
    RETURN true;
END;
$$;

-- The helpers have SQL-standard bodies: the call is resolved once, when the
-- script runs, and is kept by OID, so it needs no search_path at run time and
-- follows the extension through SET SCHEMA.

CREATE OR REPLACE FUNCTION grant_pg_background_privileges(role_name pg_catalog.text,
                                               print_commands pg_catalog.bool DEFAULT false)
    RETURNS pg_catalog.bool
    LANGUAGE sql VOLATILE
    RETURN _pg_background_privileges('GRANT', role_name, print_commands);

CREATE OR REPLACE FUNCTION revoke_pg_background_privileges(role_name pg_catalog.text,
                                                print_commands pg_catalog.bool DEFAULT false)
    RETURNS pg_catalog.bool
    LANGUAGE sql VOLATILE
    RETURN _pg_background_privileges('REVOKE', role_name, print_commands);

-- DROP EXTENSION leaves pgbackground_role behind (roles are cluster-wide).
-- This drops it, but only when it is recognisably the role this extension
-- made: NOLOGIN, not a superuser, owning nothing, and holding privileges on
-- nothing but this extension's objects.  Anything else is refused, naming
-- what is in the way, so an administrator's own role of that name survives.
-- DROP ROLE itself then refuses if another database still depends on it.

CREATE OR REPLACE FUNCTION pg_background_drop_executor_role()
    RETURNS pg_catalog.void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    executor pg_catalog.pg_roles%ROWTYPE;
    blockers pg_catalog.text;
    members pg_catalog.text;
BEGIN
    SELECT * INTO executor FROM pg_catalog.pg_roles r WHERE r.rolname = 'pgbackground_role';
    IF NOT FOUND THEN
        RAISE NOTICE 'role "pgbackground_role" does not exist, skipping';
        RETURN;
    END IF;
    IF executor.rolcanlogin OR executor.rolsuper THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = 'role "pgbackground_role" is not the executor role pg_background creates',
            DETAIL = 'It can log in or is a superuser.',
            HINT = 'Drop it with DROP ROLE if that is what you want.';
    END IF;
    SELECT pg_catalog.string_agg(pg_catalog.pg_describe_object(s.classid, s.objid, s.objsubid)
                                 || CASE s.deptype WHEN 'o' THEN ' (owner)' ELSE '' END,
                                 ', ' ORDER BY 1)
      INTO blockers
      FROM pg_catalog.pg_shdepend s
     WHERE s.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass
       AND s.refobjid = executor.oid
       -- DROP OWNED would also revoke grants on shared objects (dbid 0)
       AND s.dbid IN (0, (SELECT d.oid FROM pg_catalog.pg_database d
                           WHERE d.datname = pg_catalog.current_database()))
       AND (s.deptype <> 'a' OR NOT EXISTS (
                SELECT 1 FROM pg_catalog.pg_depend x
                  JOIN pg_catalog.pg_extension e ON e.oid = x.refobjid
                 WHERE x.classid = s.classid AND x.objid = s.objid
                   AND x.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
                   AND x.deptype = 'e' AND e.extname = 'pg_background'));
    IF blockers IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'dependent_objects_still_exist',
            MESSAGE = 'role "pgbackground_role" is used by more than pg_background',
            DETAIL = pg_catalog.format('It owns or has privileges on: %s.', blockers),
            HINT = 'Revoke those privileges or reassign those objects first.';
    END IF;
    SELECT pg_catalog.string_agg(pg_catalog.quote_ident(m.rolname), ', ' ORDER BY m.rolname)
      INTO members
      FROM pg_catalog.pg_auth_members a
      JOIN pg_catalog.pg_roles m ON m.oid = a.member
     WHERE a.roleid = executor.oid;
    -- only this extension's grants are left, so this revokes exactly those
    DROP OWNED BY pgbackground_role;
    DROP ROLE pgbackground_role;
    IF members IS NOT NULL THEN
        RAISE NOTICE 'dropped role "pgbackground_role"; these roles were its members and lost what it granted: %',
            members;
    END IF;
END;
$$;


-- Privileges of the new objects ---------------------------------------------

REVOKE ALL ON FUNCTION pg_background_fetch_v2(pg_catalog.int4, pg_catalog.int8, pg_catalog.int4, pg_catalog.int4) FROM PUBLIC;
REVOKE ALL ON FUNCTION _pg_background_privileges(pg_catalog.text, pg_catalog.text, pg_catalog.bool) FROM PUBLIC;

-- pgbackground_role gets what is new, as a fresh installation grants it,
-- unless an administrator dropped the role.  Roles that were given
-- privileges directly (grant_pg_background_privileges('alice')) get nothing
-- new on their own: they are named, so the helper can be run for them.
DO $$
DECLARE
    direct pg_catalog.text;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgbackground_role') THEN
        GRANT EXECUTE ON FUNCTION pg_background_fetch_v2(pg_catalog.int4, pg_catalog.int8, pg_catalog.int4, pg_catalog.int4)
            TO pgbackground_role;
    END IF;
    SELECT pg_catalog.string_agg(DISTINCT pg_catalog.quote_ident(r.rolname), ', ')
      INTO direct
      FROM pg_catalog.pg_proc p,
           LATERAL pg_catalog.aclexplode(p.proacl) a
      JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
     WHERE p.oid = 'pg_background_launch_v2(pg_catalog.text, pg_catalog.int4)'::pg_catalog.regprocedure
       AND a.grantee <> p.proowner
       AND r.rolname <> 'pgbackground_role';
    IF direct IS NOT NULL THEN
        -- a WARNING: extension scripts run with client_min_messages >= warning
        RAISE WARNING 'roles given pg_background privileges directly get none on what this update adds: %', direct
            USING HINT = 'Run SELECT grant_pg_background_privileges(''role'') for each, or grant them pgbackground_role.';
    END IF;
END
$$;
