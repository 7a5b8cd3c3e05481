--
-- pg_background_fetch_v2: self-describing, non-blocking reads
--

-- several statements of different shapes, notices and tags
SELECT * FROM pg_background_launch_v2($$
    SELECT g AS n, md5(g::text) AS hash FROM generate_series(1, 3) g;
    CREATE TEMP TABLE pgbg_tmp (a int, b numeric(10,2), c varchar(5));
    INSERT INTO pgbg_tmp VALUES (1, 1.5, 'x'), (2, NULL, 'y"z');
    DO $do$BEGIN RAISE NOTICE 'between statements'; END$do$;
    SELECT * FROM pgbg_tmp ORDER BY a;
    UPDATE pgbg_tmp SET a = a + 10;
    SELECT 'tab	and "quote" and \' AS weird, NULL::int AS nothing
$$) \gset
SELECT * FROM pgbg_drain(:pid, :cookie);
-- after done the handle is gone
SELECT pgbg_try(format('SELECT * FROM pg_background_fetch_v2(%s, %s)', :pid, :cookie));
SELECT pgbg_try(format('SELECT pg_background_detach_v2(%s, %s)', :pid, :cookie));

-- batches: max_rows bounds the rows per call; nothing is lost in between
SELECT * FROM pg_background_launch_v2('SELECT g FROM generate_series(1, 7) g') \gset
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT * FROM pg_background_fetch_v2(:pid, :cookie, 3);
SELECT * FROM pg_background_fetch_v2(:pid, :cookie, 3);
SELECT * FROM pg_background_fetch_v2(:pid, :cookie, 3);
SELECT pgbg_try(format('SELECT * FROM pg_background_fetch_v2(%s, %s)', :pid, :cookie));

-- errors are data here: the failing statement's number and the position
SELECT * FROM pg_background_launch_v2('SELECT 1 AS one; SELEC 2') \gset
SELECT * FROM pgbg_drain(:pid, :cookie);
SELECT * FROM pg_background_launch_v2('SELECT 1 AS one; SELECT 1/0 AS boom') \gset
SELECT * FROM pgbg_drain(:pid, :cookie);
SELECT * FROM pg_background_launch_v2($q$DO $do$BEGIN RAISE EXCEPTION 'custom' USING DETAIL = 'some detail', HINT = 'a hint', ERRCODE = 'P0099'; END$do$$q$) \gset
SELECT * FROM pgbg_drain(:pid, :cookie);

-- submit_v2: no output at all, only the outcome
SELECT * FROM pg_background_submit_v2('INSERT INTO pgbg_t VALUES (50, ''submitted'')') \gset
SELECT * FROM pgbg_drain(:pid, :cookie);
SELECT v FROM pgbg_t WHERE id = 50;
SELECT * FROM pg_background_submit_v2('SELECT 1/0') \gset
SELECT * FROM pgbg_drain(:pid, :cookie);

-- a job that returns many rows flows through a small queue while we read
SELECT * FROM pg_background_launch_v2('SELECT g, repeat(''x'', 100) FROM generate_series(1, 20000) g', 4096) \gset
SELECT kind, count(*), min(stmt), max(stmt) FROM pgbg_drain(:pid, :cookie, 1000) GROUP BY kind ORDER BY kind;

-- COPY to the client is refused
SELECT * FROM pg_background_launch_v2('COPY pgbg_t TO STDOUT') \gset
SELECT * FROM pgbg_drain(:pid, :cookie);

-- argument checks
SELECT pgbg_try(format('SELECT * FROM pg_background_fetch_v2(%s, %s, 0)', :pid, :cookie));
SELECT pgbg_try(format('SELECT * FROM pg_background_fetch_v2(%s, %s, 10, -1)', :pid, :cookie));
SELECT pgbg_try(format('SELECT * FROM pg_background_fetch_v2(%s, %s, 10, 86400001)', :pid, :cookie));
SELECT pgbg_try(format('SELECT * FROM pg_background_fetch_v2(%s, %s, NULL)', :pid, :cookie));
SELECT pgbg_try('SELECT * FROM pg_background_fetch_v2(NULL, 1)');
