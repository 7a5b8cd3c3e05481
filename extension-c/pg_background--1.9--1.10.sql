/* pg_background--1.9--1.10.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pg_background UPDATE" to load this file. \quit

-- Durable jobs (issue 11).  Every object of 1.9 stays the object it was,
-- except pg_background_fetch_v2: it gains an argument (after_seq) and an
-- output column (seq), and a function's result type cannot change in
-- place.  So it is dropped and created again, and the privileges granted on
-- the old one are granted on the new one.  A view or function that uses the
-- old fetch_v2 makes this update fail with core's dependency error: nothing
-- is dropped in cascade.
--
-- Inside an extension script every GRANT records the object's whole ACL as
-- its initial privileges (pg_init_privs), which pg_dump leaves out.  The
-- users' grants re-made here must stay ordinary grants, so the initial
-- privileges of the new fetch_v2 are set afterwards to what a fresh
-- installation records: the owner's and pgbackground_role's.  Grants are
-- re-made by the extension owner (their grantor changes to the owner).

DO $$
DECLARE
    saved pg_catalog.aclitem[];
    fresh pg_catalog.aclitem[];
    owner_oid pg_catalog.oid;
    fn pg_catalog.oid;
    g record;
BEGIN
    SELECT p.proacl, p.proowner INTO saved, owner_oid
      FROM pg_catalog.pg_proc p
     WHERE p.oid = 'pg_background_fetch_v2(pg_catalog.int4, pg_catalog.int8, pg_catalog.int4, pg_catalog.int4)'::pg_catalog.regprocedure;

    DROP FUNCTION pg_background_fetch_v2(pg_catalog.int4, pg_catalog.int8, pg_catalog.int4, pg_catalog.int4);
    CREATE FUNCTION pg_background_fetch_v2(pid pg_catalog.int4, cookie pg_catalog.int8,
                                           max_rows pg_catalog.int4 DEFAULT 10000,
                                           wait_ms pg_catalog.int4 DEFAULT 0,
                                           after_seq pg_catalog.int8 DEFAULT NULL)
        RETURNS TABLE (kind pg_catalog.text, stmt pg_catalog.int4, data pg_catalog.json,
                       seq pg_catalog.int8)
        AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
    fn := 'pg_background_fetch_v2(pg_catalog.int4, pg_catalog.int8, pg_catalog.int4, pg_catalog.int4, pg_catalog.int8)'::pg_catalog.regprocedure;

    -- as a fresh installation
    REVOKE ALL ON FUNCTION pg_background_fetch_v2(pg_catalog.int4, pg_catalog.int8, pg_catalog.int4, pg_catalog.int4, pg_catalog.int8) FROM PUBLIC;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgbackground_role') THEN
        GRANT EXECUTE ON FUNCTION pg_background_fetch_v2(pg_catalog.int4, pg_catalog.int8, pg_catalog.int4, pg_catalog.int4, pg_catalog.int8)
            TO pgbackground_role;
    END IF;
    SELECT p.proacl INTO fresh FROM pg_catalog.pg_proc p WHERE p.oid = fn;

    -- then what was granted on the old one (NULL: the default, PUBLIC had it)
    FOR g IN
        SELECT a.grantee, a.is_grantable
          FROM pg_catalog.aclexplode(coalesce(saved, pg_catalog.acldefault('f', owner_oid))) a
         WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> owner_oid
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s%s',
                                  fn::pg_catalog.regprocedure,
                                  CASE g.grantee WHEN 0 THEN 'PUBLIC'
                                       ELSE pg_catalog.quote_ident(g.grantee::pg_catalog.regrole::pg_catalog.text) END,
                                  CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;

    UPDATE pg_catalog.pg_init_privs
       SET initprivs = fresh
     WHERE objoid = fn AND classoid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND objsubid = 0;
END
$$;

-- New in 1.10 ---------------------------------------------------------------

CREATE TYPE pg_background_attachment AS (
    state       text,
    output      text,
    last_seq    int8,
    acked_seq   int8,
    launched_at timestamptz,
    sql_preview text,
    truncated   bool
);

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

REVOKE ALL ON TYPE pg_background_attachment FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_attach_v2(pg_catalog.int4, pg_catalog.int8, pg_catalog.int8, pg_catalog.bool) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_background_jobs_v2() FROM PUBLIC;

-- pgbackground_role gets what is new, as a fresh installation grants it,
-- unless an administrator dropped the role.  Roles given privileges
-- directly get nothing new on their own: they are named, so that the helper
-- can be run for them.
DO $$
DECLARE
    direct pg_catalog.text;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgbackground_role') THEN
        GRANT USAGE ON TYPE pg_background_attachment TO pgbackground_role;
        GRANT EXECUTE ON FUNCTION pg_background_attach_v2(pg_catalog.int4, pg_catalog.int8, pg_catalog.int8, pg_catalog.bool)
            TO pgbackground_role;
        GRANT EXECUTE ON FUNCTION pg_background_jobs_v2() TO pgbackground_role;
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
        RAISE WARNING 'roles given pg_background privileges directly get none on what this update adds: %', direct
            USING HINT = 'Run SELECT grant_pg_background_privileges(''role'') for each, or grant them pgbackground_role.';
    END IF;
END
$$;
