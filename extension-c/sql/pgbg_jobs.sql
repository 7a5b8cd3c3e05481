--
-- pg_background_jobs_v2: the server-wide job registry (issue 11)
--
SET client_min_messages = warning;
DROP ROLE IF EXISTS pgbg_jobs_carol;
DROP ROLE IF EXISTS pgbg_jobs_dave;
DROP ROLE IF EXISTS pgbg_jobs_erin;
RESET client_min_messages;
CREATE ROLE pgbg_jobs_carol;
CREATE ROLE pgbg_jobs_dave;
CREATE ROLE pgbg_jobs_erin;
GRANT pgbackground_role TO pgbg_jobs_carol, pgbg_jobs_dave, pgbg_jobs_erin;
-- erin is a member of carol: membership does not make carol's jobs hers
GRANT pgbg_jobs_carol TO pgbg_jobs_erin;

-- Wait (bounded) until the job's entry has left the registry.
CREATE FUNCTION pgbg_jobs_gone(p int4, c int8) RETURNS bool
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..600 LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_background_jobs_v2() j
                        WHERE j.pid = p AND j.cookie = c) THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN false;
END
$$;

-- Wait (bounded) until the job's entry shows a final state.
CREATE FUNCTION pgbg_jobs_settled(p int4, c int8) RETURNS bool
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..600 LOOP
        IF EXISTS (SELECT 1 FROM pg_background_jobs_v2() j
                    WHERE j.pid = p AND j.cookie = c AND j.state <> 'running') THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN false;
END
$$;
GRANT EXECUTE ON FUNCTION pgbg_jobs_gone(int4, int8), pgbg_jobs_settled(int4, int8)
    TO pgbg_jobs_carol, pgbg_jobs_dave, pgbg_jobs_erin;

-- a job is listed from its launch, with its launcher as reader
SET ROLE pgbg_jobs_carol;
SELECT * FROM pg_background_launch_v2('SELECT pg_sleep(60)') \gset
SELECT role, database = current_database() AS here, state, output,
       reader_pid = pg_backend_pid() AS read_here,
       launcher_pid = pg_backend_pid() AS launched_here,
       finished_at IS NULL AS unfinished, expires_at IS NULL AS no_expiry,
       rows_held, truncated, sql_preview, last_error, sqlstate
  FROM pg_background_jobs_v2() WHERE pid = :pid AND cookie = :cookie;
-- a role sees its own jobs only
SELECT count(*) AS others FROM pg_background_jobs_v2() WHERE role <> current_user;
RESET ROLE;
SET ROLE pgbg_jobs_dave;
SELECT count(*) AS dave_sees FROM pg_background_jobs_v2() WHERE pid = :pid;
RESET ROLE;
SET ROLE pgbg_jobs_erin;
SELECT count(*) AS member_sees FROM pg_background_jobs_v2() WHERE pid = :pid;
RESET ROLE;
-- a superuser sees every role's jobs, with the role and the cookie
SELECT role, cookie = :cookie AS cookie_shown, state
  FROM pg_background_jobs_v2() WHERE pid = :pid;

-- the outcome the worker records is mirrored into the listing
SET ROLE pgbg_jobs_carol;
SELECT pg_background_cancel_v2(:pid, :cookie);
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT pgbg_jobs_settled(:pid, :cookie);
SELECT state, output, last_error, sqlstate, finished_at >= launched_at AS finished,
       expires_at IS NULL AS no_expiry_while_read
  FROM pg_background_jobs_v2() WHERE pid = :pid AND cookie = :cookie;
-- released by its reader: the finished job leaves the registry
SELECT pg_background_detach_v2(:pid, :cookie);
SELECT pgbg_jobs_gone(:pid, :cookie);

-- read to completion: gone too
SELECT * FROM pg_background_launch_v2('SELECT 42 AS answer') \gset
SELECT kind, data FROM pgbg_drain(:pid, :cookie) WHERE kind IN ('row', 'command');
SELECT pgbg_jobs_gone(:pid, :cookie);

-- a submitted job has no output to wait for: gone when it finishes
SELECT * FROM pg_background_submit_v2('SELECT pg_sleep(60)') \gset
SELECT state, output FROM pg_background_jobs_v2() WHERE pid = :pid AND cookie = :cookie;
SELECT pg_background_cancel_v2(:pid, :cookie);
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT pgbg_jobs_gone(:pid, :cookie);
SELECT pg_background_detach_v2(:pid, :cookie);
RESET ROLE;

-- settings: ranges, units, and that they are server-wide (SIGHUP)
SELECT name, setting, unit, min_val, max_val, context
  FROM pg_settings
 WHERE name IN ('pg_background.max_jobs', 'pg_background.max_held_bytes',
                'pg_background.held_output_retention')
 ORDER BY name;
SET pg_background.max_jobs = 100;
ALTER SYSTEM SET pg_background.max_jobs = 15;
ALTER SYSTEM SET pg_background.max_jobs = 100001;
ALTER SYSTEM SET pg_background.max_held_bytes = 0;
ALTER SYSTEM SET pg_background.max_held_bytes = '5TB';
ALTER SYSTEM SET pg_background.held_output_retention = 0;
ALTER SYSTEM SET pg_background.held_output_retention = '31d';

DROP FUNCTION pgbg_jobs_gone(int4, int8);
DROP FUNCTION pgbg_jobs_settled(int4, int8);
DROP ROLE pgbg_jobs_erin;
DROP ROLE pgbg_jobs_dave;
DROP ROLE pgbg_jobs_carol;
