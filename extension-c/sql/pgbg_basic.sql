--
-- v1 and v2 result paths, autonomous commits, notices, GUC propagation
--

-- v1: launch + result with a column definition list
SELECT * FROM pg_background_result(pg_background_launch('SELECT 1 AS a, ''x'' AS b'))
    AS (a int, b text);

-- rows of several types, NULLs, converted with the caller's input functions
SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT g, g * 1.5, CASE WHEN g % 2 = 0 THEN NULL ELSE md5(g::text) END, now() IS NOT NULL
       FROM generate_series(1, 5) g'))
    AS (i int, n numeric, t text, b bool);

-- statements without rows yield their command tag into a single text column
SELECT * FROM pg_background_result(pg_background_launch(
    'INSERT INTO pgbg_t VALUES (1, ''one''), (2, ''two'')')) AS (result text);
SELECT * FROM pg_background_result(pg_background_launch('VACUUM pgbg_t')) AS (result text);
SELECT * FROM pg_background_result(pg_background_launch('VACUUM (ANALYZE) pgbg_t')) AS (result text);

-- ... and are skipped when the definition list is not a single string column
SELECT * FROM pg_background_result(pg_background_launch(
    'UPDATE pgbg_t SET v = upper(v); SELECT count(*) FROM pgbg_t')) AS (n bigint);

-- autonomous transaction: the worker commits even if the caller rolls back
BEGIN;
SELECT * FROM pg_background_result(pg_background_launch(
    'INSERT INTO pgbg_t VALUES (3, ''autonomous'')')) AS (result text);
ROLLBACK;
SELECT * FROM pgbg_t ORDER BY id;

-- transaction control inside the job
SELECT * FROM pg_background_result(pg_background_launch(
    'BEGIN; INSERT INTO pgbg_t VALUES (4, ''rolled back''); ROLLBACK;
     INSERT INTO pgbg_t VALUES (5, ''kept'')')) AS (result text);
SELECT * FROM pgbg_t WHERE id >= 4 ORDER BY id;

-- an implicit block: a failing later statement undoes the earlier ones
SELECT pgbg_try($$SELECT * FROM pg_background_result(pg_background_launch(
    'INSERT INTO pgbg_t VALUES (6, ''undone''); SELECT 1/0')) AS (result text)$$);
SELECT count(*) FROM pgbg_t WHERE id = 6;

-- VACUUM cannot run inside the implicit block of a multi-statement string
SELECT pgbg_try($$SELECT * FROM pg_background_result(pg_background_launch(
    'SELECT 1; VACUUM pgbg_t')) AS (result text)$$);

-- BEGIN without COMMIT: warned and rolled back
SELECT * FROM pg_background_result(pg_background_launch(
    'BEGIN; INSERT INTO pgbg_t VALUES (7, ''never'')')) AS (result text);
SELECT count(*) FROM pgbg_t WHERE id = 7;

-- notices are relayed while the result is read
SELECT * FROM pg_background_result(pg_background_launch(
    'DO $$BEGIN RAISE NOTICE ''hello from the worker''; RAISE WARNING ''careful''; END$$')) AS (result text);

-- a string with no statement at all
SELECT * FROM pg_background_result(pg_background_launch('-- just a comment')) AS (result text);

-- settings, search_path, user and application_name come from the launcher
CREATE SCHEMA pgbg_other;
CREATE TABLE pgbg_other.pgbg_t (id int, v text);
INSERT INTO pgbg_other.pgbg_t VALUES (100, 'other schema');
SET search_path = pgbg_other, public;
SET datestyle = 'German';
SET pg_background.default_queue_size = '128kB';
SELECT * FROM pg_background_result(pg_background_launch(
    $$SELECT current_setting('search_path'), (SELECT v FROM pgbg_t),
             current_setting('datestyle'), current_setting('pg_background.default_queue_size'),
             current_user, current_database()$$))
    AS (search_path text, v text, datestyle text, qs text, usr name, db name);
RESET search_path;
RESET datestyle;
RESET pg_background.default_queue_size;
SELECT app = 'pg_background:' || pg_backend_pid() AS app_ok
  FROM pg_background_result(pg_background_launch($$SELECT current_setting('application_name')$$))
    AS (app text);

-- v2: launch, wait, result
SELECT * FROM pg_background_launch_v2('SELECT 42 AS answer') \gset
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (answer int);
-- results are consumed once
SELECT pgbg_try(format('SELECT * FROM pg_background_result_v2(%s, %s) AS (a int)', :pid, :cookie));
SELECT pgbg_try(format('SELECT * FROM pg_background_result(%s) AS (a int)', :pid));

-- a handle type value works too
SELECT (h).pid AS pid, (h).cookie AS cookie
  FROM (SELECT pg_background_launch_v2('SELECT ''via handle''') AS h) s \gset
SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (t text);

-- an error position in the worker's SQL is shown against that SQL
-- (its CONTEXT line names the worker's PID, which varies, so hide it)
\set SHOW_CONTEXT never
SELECT * FROM pg_background_launch_v2('SELECT 1;
SELECT nosuchcolumn FROM pgbg_t') \gset
SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (a int);
\set SHOW_CONTEXT errors

-- strings cross the queue in the server encoding and are converted once,
-- for the launcher's client, whatever client_encoding the launcher uses
SET client_encoding = 'LATIN1';
SELECT t = 'caf' || chr(233) AS row_ok, length(t)
  FROM pg_background_result(pg_background_launch($$SELECT 'caf' || chr(233)$$)) AS (t text);
SELECT pgbg_try($$SELECT * FROM pg_background_result(pg_background_launch('SELECT * FROM "caf' || chr(233) || '"')) AS (t text)$$)
       = '42P01: relation "caf' || chr(233) || '" does not exist' AS error_ok;
SELECT data->>0 = 'caf' || chr(233) AS fetch_ok
  FROM pg_background_launch_v2($$SELECT 'caf' || chr(233)$$) h,
       LATERAL pgbg_drain(h.pid, h.cookie) WHERE kind = 'row';
RESET client_encoding;
