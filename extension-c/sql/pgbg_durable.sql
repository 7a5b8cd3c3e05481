--
-- Durable jobs: sequence numbers, after_seq and the final acknowledgement
--

-- Read a job to its end with after_seq (the durable mode), batch rows at a
-- time, then send the final acknowledgement.
CREATE FUNCTION pgbg_durable_drain(p int4, c int8, batch int4 DEFAULT 3)
RETURNS TABLE (kind text, stmt int4, data json, seq int8)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    last int8 := 0;
    finished bool := false;
BEGIN
    WHILE NOT finished LOOP
        FOR r IN SELECT * FROM pg_background_fetch_v2(p, c, batch, 1000, last) f LOOP
            kind := r.kind; stmt := r.stmt; data := r.data; seq := r.seq;
            RETURN NEXT;
            last := r.seq;
            finished := finished OR r.kind = 'done';
        END LOOP;
    END LOOP;
    -- zero rows, and the handle is released
    FOR r IN SELECT * FROM pg_background_fetch_v2(p, c, batch, 0, last) f LOOP
        RAISE EXCEPTION 'the final acknowledgement returned a row: %', r;
    END LOOP;
END
$$;

-- The first number an output row stands for: a "rows" row stands for as
-- many messages as it holds.
CREATE FUNCTION pgbg_first_seq(kind text, data json, seq int8) RETURNS int8
LANGUAGE sql AS $$
    SELECT seq - CASE WHEN kind = 'rows' THEN json_array_length(data) - 1 ELSE 0 END
$$;

-- numbers are contiguous from 1 over statements, notices, batched rows and
-- an error, and the made-up "done" follows the error
SET pg_background.fetch_rows_per_tuple = 4;
SELECT * FROM pg_background_launch_v2($$
    SELECT g FROM generate_series(1, 10) g;
    DO $do$BEGIN RAISE NOTICE 'between'; END$do$;
    SELECT 'x' || g AS s FROM generate_series(1, 5) g;
    SELECT 1/0
$$) \gset
CREATE TEMP TABLE out1 AS
  SELECT row_number() OVER () AS ord, * FROM pgbg_durable_drain(:pid, :cookie);
SELECT ord, kind, stmt, data, seq FROM out1 ORDER BY ord;
SELECT bool_and(pgbg_first_seq(kind, data, seq) = coalesce(prev, 0) + 1) AS contiguous,
       max(seq) AS last
  FROM (SELECT *, lag(seq) OVER (ORDER BY ord) AS prev FROM out1) s;
-- the final acknowledgement released the handle
SELECT pgbg_try(format('SELECT * FROM pg_background_fetch_v2(%s, %s)', :pid, :cookie));

-- the same job read with the legacy calls (after_seq NULL) gets the same
-- numbers, and "done" releases the handle as in 1.9
SELECT * FROM pg_background_launch_v2($$
    SELECT g FROM generate_series(1, 10) g;
    DO $do$BEGIN RAISE NOTICE 'between'; END$do$;
    SELECT 'x' || g AS s FROM generate_series(1, 5) g;
    SELECT 1/0
$$) \gset
CREATE TEMP TABLE out2 AS
  SELECT row_number() OVER () AS ord, f.* FROM pgbg_drain(:pid, :cookie, 3) d,
       LATERAL (SELECT d.kind, d.stmt, d.data) f;
SELECT count(*) = (SELECT count(*) FROM out1) AS same_count FROM out2;
SELECT pgbg_try(format('SELECT * FROM pg_background_fetch_v2(%s, %s)', :pid, :cookie));
RESET pg_background.fetch_rows_per_tuple;

-- after_seq: acknowledged messages are gone (55000), numbers not produced
-- yet do not exist (22023), a negative one is out of range
SELECT * FROM pg_background_launch_v2('SELECT g FROM generate_series(1, 8) g') \gset
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT kind, data, seq FROM pg_background_fetch_v2(:pid, :cookie, 3, 0, 0);
SELECT kind, data, seq FROM pg_background_fetch_v2(:pid, :cookie, 3, 0, 4);
SELECT pgbg_try(format('SELECT * FROM pg_background_fetch_v2(%s, %s, 3, 0, 3)', :pid, :cookie));
SELECT pgbg_try(format('SELECT * FROM pg_background_fetch_v2(%s, %s, 3, 0, 1000)', :pid, :cookie));
SELECT pgbg_try(format('SELECT * FROM pg_background_fetch_v2(%s, %s, 3, 0, -1)', :pid, :cookie));
-- the client did not get the last batch (it has up to 5 of 7): again,
-- from 6, exactly
SELECT kind, data, seq FROM pg_background_fetch_v2(:pid, :cookie, 3, 0, 5);
SELECT kind, data, seq FROM pg_background_fetch_v2(:pid, :cookie, 3, 0, 8);
-- "done" was returned, but the handle waits for its acknowledgement: a
-- client that lost that batch asks again and gets it again
SELECT kind, data, seq FROM pg_background_fetch_v2(:pid, :cookie, 3, 0, 8);
-- the final acknowledgement returns nothing and releases the handle
SELECT kind, data, seq FROM pg_background_fetch_v2(:pid, :cookie, 3, 0, 11);
SELECT pgbg_try(format('SELECT * FROM pg_background_fetch_v2(%s, %s)', :pid, :cookie));

-- a "rows" output row cut by after_seq keeps its rows after it
SET pg_background.fetch_rows_per_tuple = 3;
SELECT * FROM pg_background_launch_v2('SELECT g FROM generate_series(1, 8) g') \gset
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT kind, data, seq FROM pg_background_fetch_v2(:pid, :cookie, 3, 0, 0);
SELECT kind, data, seq FROM pg_background_fetch_v2(:pid, :cookie, 3, 0, 2);
RESET pg_background.fetch_rows_per_tuple;
SELECT pg_background_detach_v2(:pid, :cookie);

-- result_v2 checks the numbers too (a mismatch would be 08P01)
SELECT * FROM pg_background_launch_v2('SELECT 1; SELECT 2') \gset
SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (x int);

-- pg_background.durable = off: the same numbers (only holding is off)
SET pg_background.durable = off;
SELECT * FROM pg_background_launch_v2('SELECT 1 AS a; SELECT 2 AS b') \gset
SELECT kind, seq FROM pgbg_durable_drain(:pid, :cookie);
RESET pg_background.durable;

-- settings
SELECT pgbg_try('SET pg_background.max_held_bytes_per_job = ''512kB''');
SELECT pgbg_try('SET pg_background.max_held_bytes_per_job = 0');
SELECT pgbg_try('SET pg_background.max_held_bytes_per_job = ''2TB''');
SET pg_background.max_held_bytes_per_job = '16MB';
SHOW pg_background.max_held_bytes_per_job;
RESET pg_background.max_held_bytes_per_job;
SHOW pg_background.durable;
