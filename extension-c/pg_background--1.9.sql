/* pg_background--1.9.sql */

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
                                       wait_ms pg_catalog.int4 DEFAULT 0)
    RETURNS TABLE (kind pg_catalog.text, stmt pg_catalog.int4, data pg_catalog.json)
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

-- Privilege helpers ---------------------------------------------------------
-- They work out the extension's functions from the catalog at run time, so
-- they keep working after CREATE EXTENSION ... WITH SCHEMA or ALTER
-- EXTENSION ... SET SCHEMA.  With search_path = pg_catalog, regprocedure
-- prints every function schema-qualified and quoted; role names go through
-- format('%I') (review S1).

CREATE FUNCTION grant_pg_background_privileges(user_name pg_catalog.text,
                                               print_commands pg_catalog.bool DEFAULT false)
    RETURNS pg_catalog.bool
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    fn pg_catalog.regprocedure;
    cmd pg_catalog.text;
BEGIN
    IF user_name IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'argument "user_name" must not be NULL';
    END IF;
    FOR fn IN
        SELECT p.oid::pg_catalog.regprocedure
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
          JOIN pg_catalog.pg_proc p ON p.oid = d.objid
         WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
           AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.deptype = 'e'
           AND e.extname = 'pg_background'
           AND p.proname LIKE 'pg\_background\_%'
         ORDER BY p.proname, p.oid
    LOOP
        cmd := pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %I', fn, user_name);
        EXECUTE cmd;
        IF print_commands THEN
            RAISE INFO 'Executed command: %', cmd;
        END IF;
    END LOOP;
    RETURN true;
END;
$$;

CREATE FUNCTION revoke_pg_background_privileges(user_name pg_catalog.text,
                                                print_commands pg_catalog.bool DEFAULT false)
    RETURNS pg_catalog.bool
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    fn pg_catalog.regprocedure;
    cmd pg_catalog.text;
BEGIN
    IF user_name IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'argument "user_name" must not be NULL';
    END IF;
    FOR fn IN
        SELECT p.oid::pg_catalog.regprocedure
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
          JOIN pg_catalog.pg_proc p ON p.oid = d.objid
         WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
           AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.deptype = 'e'
           AND e.extname = 'pg_background'
           AND p.proname LIKE 'pg\_background\_%'
         ORDER BY p.proname, p.oid
    LOOP
        cmd := pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM %I', fn, user_name);
        EXECUTE cmd;
        IF print_commands THEN
            RAISE INFO 'Executed command: %', cmd;
        END IF;
    END LOOP;
    RETURN true;
END;
$$;

-- Privileges ----------------------------------------------------------------
-- Nothing for PUBLIC.  The NOLOGIN role pgbackground_role carries EXECUTE on
-- the pg_background_* functions; grant it to users who may run jobs.  The
-- grant/revoke helpers stay with the extension owner (superuser).

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgbackground_role') THEN
        CREATE ROLE pgbackground_role NOLOGIN;
    END IF;
END
$$;

REVOKE ALL ON FUNCTION pg_background_launch(pg_catalog.text, pg_catalog.int4) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_result(pg_catalog.int4) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_detach(pg_catalog.int4) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_launch_v2(pg_catalog.text, pg_catalog.int4) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_submit_v2(pg_catalog.text, pg_catalog.int4) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_result_v2(pg_catalog.int4, pg_catalog.int8) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_fetch_v2(pg_catalog.int4, pg_catalog.int8, pg_catalog.int4, pg_catalog.int4) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_detach_v2(pg_catalog.int4, pg_catalog.int8) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_cancel_v2(pg_catalog.int4, pg_catalog.int8) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_cancel_v2_grace(pg_catalog.int4, pg_catalog.int8, pg_catalog.int4) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_wait_v2(pg_catalog.int4, pg_catalog.int8) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_wait_v2_timeout(pg_catalog.int4, pg_catalog.int8, pg_catalog.int4) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_list_v2() FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_progress(pg_catalog.int4, pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_get_progress_v2(pg_catalog.int4, pg_catalog.int8) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_stats_v2() FROM PUBLIC;
REVOKE ALL ON FUNCTION grant_pg_background_privileges(pg_catalog.text, pg_catalog.bool) FROM PUBLIC;
REVOKE ALL ON FUNCTION revoke_pg_background_privileges(pg_catalog.text, pg_catalog.bool) FROM PUBLIC;

SELECT grant_pg_background_privileges('pgbackground_role');
