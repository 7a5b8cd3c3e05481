/* pg_background--1.7--1.8.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pg_background UPDATE" to load this file. \quit

-- 1.8 added session statistics and progress reporting: two composite types
-- and three functions.  They are declared here as 1.9 declares them.

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

CREATE FUNCTION pg_background_progress(pct pg_catalog.int4, msg pg_catalog.text DEFAULT NULL)
    RETURNS pg_catalog.void
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION pg_background_get_progress_v2(pid pg_catalog.int4, cookie pg_catalog.int8)
    RETURNS pg_background_progress
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION pg_background_stats_v2()
    RETURNS pg_background_stats
    AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;

REVOKE ALL ON TYPE pg_background_progress FROM PUBLIC;
REVOKE ALL ON TYPE pg_background_stats FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_progress(pg_catalog.int4, pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_get_progress_v2(pg_catalog.int4, pg_catalog.int8) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_stats_v2() FROM PUBLIC;

-- The new objects get the grants a fresh installation gives them.  Update
-- scripts GRANT or REVOKE only on objects they create: a GRANT inside an
-- extension script records the object's whole ACL as its initial privileges
-- (pg_init_privs), and pg_dump leaves initial privileges out, so touching an
-- existing object would make the grants an administrator gave on it vanish
-- from dumps.  Roles given privileges directly are named by the step to 1.9.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgbackground_role') THEN
        GRANT USAGE ON TYPE pg_background_progress TO pgbackground_role;
        GRANT USAGE ON TYPE pg_background_stats TO pgbackground_role;
        GRANT EXECUTE ON FUNCTION pg_background_progress(pg_catalog.int4, pg_catalog.text) TO pgbackground_role;
        GRANT EXECUTE ON FUNCTION pg_background_get_progress_v2(pg_catalog.int4, pg_catalog.int8) TO pgbackground_role;
        GRANT EXECUTE ON FUNCTION pg_background_stats_v2() TO pgbackground_role;
    END IF;
END
$$;
