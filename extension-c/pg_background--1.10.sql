/* pg_background--1.10.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION pg_background" to load this file. \quit

-- Types ---------------------------------------------------------------------

CREATE TYPE pg_background_handle AS (pid int4, cookie int8);

CREATE TYPE pg_background_progress AS (progress_pct int4, progress_msg text);

CREATE TYPE pg_background_stats AS (
    workers_launched  int8,
    workers_completed int8,
    workers_failed    int8,
    workers_canceled  int8,
    workers_active    int4,
    avg_execution_ms  float8,
    max_workers       int4
);

CREATE TYPE pg_background_attachment AS (
    state       text,
    output      text,
    last_seq    int8,
    acked_seq   int8,
    launched_at timestamptz,
    sql_preview text,
    truncated   bool
);

-- Functions -----------------------------------------------------------------
-- None is STRICT: NULL arguments raise an error naming the argument instead
-- of silently returning NULL.  All are VOLATILE and PARALLEL UNSAFE: they
-- start processes and keep per-session state.

-- v1
CREATE FUNCTION pg_background_launch(sql pg_catalog.text,
                                     queue_size pg_catalog.int4 DEFAULT 0)
    RETURNS pg_catalog.int4
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION pg_background_result(pid pg_catalog.int4)
    RETURNS SETOF pg_catalog.record
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION pg_background_detach(pid pg_catalog.int4)
    RETURNS pg_catalog.void
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- v2
CREATE FUNCTION pg_background_launch_v2(sql pg_catalog.text,
                                        queue_size pg_catalog.int4 DEFAULT 0)
    RETURNS pg_background_handle
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION pg_background_submit_v2(sql pg_catalog.text,
                                        queue_size pg_catalog.int4 DEFAULT 0)
    RETURNS pg_background_handle
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION pg_background_result_v2(pid pg_catalog.int4, cookie pg_catalog.int8)
    RETURNS SETOF pg_catalog.record
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION pg_background_fetch_v2(pid pg_catalog.int4, cookie pg_catalog.int8,
                                       max_rows pg_catalog.int4 DEFAULT 10000,
                                       wait_ms pg_catalog.int4 DEFAULT 0,
                                       after_seq pg_catalog.int8 DEFAULT NULL)
    RETURNS TABLE (kind pg_catalog.text, stmt pg_catalog.int4, data pg_catalog.json,
                   seq pg_catalog.int8)
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION pg_background_detach_v2(pid pg_catalog.int4, cookie pg_catalog.int8)
    RETURNS pg_catalog.void
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION pg_background_cancel_v2(pid pg_catalog.int4, cookie pg_catalog.int8)
    RETURNS pg_catalog.void
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION pg_background_cancel_v2_grace(pid pg_catalog.int4, cookie pg_catalog.int8,
                                              grace_ms pg_catalog.int4)
    RETURNS pg_catalog.void
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION pg_background_wait_v2(pid pg_catalog.int4, cookie pg_catalog.int8)
    RETURNS pg_catalog.void
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION pg_background_wait_v2_timeout(pid pg_catalog.int4, cookie pg_catalog.int8,
                                              timeout_ms pg_catalog.int4)
    RETURNS pg_catalog.bool
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION pg_background_list_v2()
    RETURNS SETOF pg_catalog.record
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- 1.8 additions
CREATE FUNCTION pg_background_progress(pct pg_catalog.int4, msg pg_catalog.text DEFAULT NULL)
    RETURNS pg_catalog.void
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION pg_background_get_progress_v2(pid pg_catalog.int4, cookie pg_catalog.int8)
    RETURNS pg_background_progress
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION pg_background_stats_v2()
    RETURNS pg_background_stats
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- 1.10 additions: durable jobs
CREATE FUNCTION pg_background_attach_v2(pid pg_catalog.int4, cookie pg_catalog.int8,
                                        after_seq pg_catalog.int8 DEFAULT NULL,
                                        takeover pg_catalog.bool DEFAULT false)
    RETURNS pg_background_attachment
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION pg_background_jobs_v2()
    RETURNS TABLE (pid pg_catalog.int4, cookie pg_catalog.int8, role pg_catalog.name,
                   database pg_catalog.name, launched_at pg_catalog.timestamptz,
                   finished_at pg_catalog.timestamptz, state pg_catalog.text,
                   output pg_catalog.text, rows_held pg_catalog.int8,
                   bytes_held pg_catalog.int8, last_seq pg_catalog.int8,
                   acked_seq pg_catalog.int8, reader_pid pg_catalog.int4,
                   launcher_pid pg_catalog.int4, truncated pg_catalog.bool,
                   expires_at pg_catalog.timestamptz, sql_preview pg_catalog.text,
                   last_error pg_catalog.text, sqlstate pg_catalog.text)
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- Privilege helpers ---------------------------------------------------------
-- One internal function does the work for both verbs; it finds the
-- extension's objects from the catalog at run time, so it keeps working after
-- CREATE EXTENSION ... WITH SCHEMA or ALTER EXTENSION ... SET SCHEMA.  With
-- search_path = pg_catalog, regprocedure and regtype print every object
-- schema-qualified and quoted; role names go through format('%I') (review S1).
-- The grantable set is every pg_background_* function and the extension's
-- composite types; the admin functions below are never part of it.

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

CREATE FUNCTION grant_pg_background_privileges(role_name pg_catalog.text,
                                               print_commands pg_catalog.bool DEFAULT false)
    RETURNS pg_catalog.bool
    LANGUAGE sql VOLATILE
    RETURN _pg_background_privileges('GRANT', role_name, print_commands);

CREATE FUNCTION revoke_pg_background_privileges(role_name pg_catalog.text,
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

CREATE FUNCTION pg_background_drop_executor_role()
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

-- Privileges ----------------------------------------------------------------
-- Nothing for PUBLIC, types included (as in 1.8).  The NOLOGIN role
-- pgbackground_role carries EXECUTE on the pg_background_* functions and
-- USAGE on the types; grant it to users who may run jobs.  The helpers
-- stay with the extension owner (superuser).

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgbackground_role') THEN
        CREATE ROLE pgbackground_role NOLOGIN;
    END IF;
END
$$;

REVOKE ALL ON TYPE pg_background_handle FROM PUBLIC;
REVOKE ALL ON TYPE pg_background_progress FROM PUBLIC;
REVOKE ALL ON TYPE pg_background_stats FROM PUBLIC;
REVOKE ALL ON TYPE pg_background_attachment FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_launch(pg_catalog.text, pg_catalog.int4) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_result(pg_catalog.int4) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_detach(pg_catalog.int4) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_launch_v2(pg_catalog.text, pg_catalog.int4) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_submit_v2(pg_catalog.text, pg_catalog.int4) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_result_v2(pg_catalog.int4, pg_catalog.int8) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_fetch_v2(pg_catalog.int4, pg_catalog.int8, pg_catalog.int4, pg_catalog.int4, pg_catalog.int8) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_detach_v2(pg_catalog.int4, pg_catalog.int8) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_cancel_v2(pg_catalog.int4, pg_catalog.int8) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_cancel_v2_grace(pg_catalog.int4, pg_catalog.int8, pg_catalog.int4) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_wait_v2(pg_catalog.int4, pg_catalog.int8) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_wait_v2_timeout(pg_catalog.int4, pg_catalog.int8, pg_catalog.int4) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_list_v2() FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_progress(pg_catalog.int4, pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_get_progress_v2(pg_catalog.int4, pg_catalog.int8) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_stats_v2() FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_attach_v2(pg_catalog.int4, pg_catalog.int8, pg_catalog.int8, pg_catalog.bool) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_jobs_v2() FROM PUBLIC;
REVOKE ALL ON FUNCTION _pg_background_privileges(pg_catalog.text, pg_catalog.text, pg_catalog.bool) FROM PUBLIC;
REVOKE ALL ON FUNCTION grant_pg_background_privileges(pg_catalog.text, pg_catalog.bool) FROM PUBLIC;
REVOKE ALL ON FUNCTION revoke_pg_background_privileges(pg_catalog.text, pg_catalog.bool) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_drop_executor_role() FROM PUBLIC;

SELECT grant_pg_background_privileges('pgbackground_role');
