--
-- every input gets a clear error with a proper SQLSTATE
--

-- SQL text
SELECT pgbg_try('SELECT pg_background_launch(NULL)');
SELECT pgbg_try('SELECT pg_background_launch_v2(NULL)');
SELECT pgbg_try('SELECT pg_background_submit_v2(NULL)');
SELECT pgbg_try($$SELECT pg_background_launch('')$$);
SELECT pgbg_try($$SELECT pg_background_launch_v2(E' \n\t ')$$);

-- queue sizes
SELECT pgbg_try($$SELECT pg_background_launch('SELECT 1', 100)$$);
SELECT pgbg_try($$SELECT pg_background_launch('SELECT 1', -1)$$);
SELECT pgbg_try($$SELECT pg_background_launch_v2('SELECT 1', 268435457)$$);
SELECT pgbg_try($$SELECT pg_background_launch_v2('SELECT 1', NULL)$$);
SELECT pgbg_try($$SET pg_background.default_queue_size = 100$$);

-- unknown PIDs and wrong cookies
SELECT pgbg_try('SELECT * FROM pg_background_result(0) AS (a int)');
SELECT pgbg_try('SELECT * FROM pg_background_result_v2(0, 0) AS (a int)');
SELECT pgbg_try('SELECT pg_background_detach(NULL)');
SELECT pgbg_try('SELECT pg_background_wait_v2(NULL, 1)');
SELECT pgbg_try('SELECT pg_background_cancel_v2(1, NULL)');
SELECT * FROM pg_background_launch_v2('SELECT 1') \gset
SELECT pgbg_try(format('SELECT * FROM pg_background_result_v2(%s, %s) AS (a int)', :pid, :cookie + 1));
SELECT pgbg_try(format('SELECT pg_background_wait_v2(%s, %s)', :pid, :cookie - 1));
SELECT pgbg_try(format('SELECT pg_background_cancel_v2(%s, %s)', :pid, 0));
SELECT pgbg_try(format('SELECT * FROM pg_background_fetch_v2(%s, %s)', :pid, 12345));
SELECT pgbg_try(format('SELECT * FROM pg_background_get_progress_v2(%s, %s)', :pid, 12345));

-- timeouts and grace periods
SELECT pgbg_try(format('SELECT pg_background_wait_v2_timeout(%s, %s, -1)', :pid, :cookie));
SELECT pgbg_try(format('SELECT pg_background_wait_v2_timeout(%s, %s, 86400001)', :pid, :cookie));
SELECT pgbg_try(format('SELECT pg_background_wait_v2_timeout(%s, %s, NULL)', :pid, :cookie));
SELECT pgbg_try(format('SELECT pg_background_cancel_v2_grace(%s, %s, -5)', :pid, :cookie));
SELECT pgbg_try(format('SELECT pg_background_cancel_v2_grace(%s, %s, 3600001)', :pid, :cookie));
SELECT pgbg_try(format('SELECT pg_background_cancel_v2_grace(%s, %s, NULL)', :pid, :cookie));
SELECT pgbg_try($$SET pg_background.worker_timeout = -1$$);
SELECT pgbg_try($$SET pg_background.worker_idle_timeout = -1$$);
SELECT pgbg_try($$SET pg_background.worker_idle_timeout = '61s'$$);

-- column definition lists
SELECT pgbg_try(format('SELECT * FROM pg_background_result_v2(%s, %s) AS (a int, b int)', :pid, :cookie));
-- (that read consumed the results)
SELECT pgbg_try(format('SELECT * FROM pg_background_result_v2(%s, %s) AS (a int)', :pid, :cookie));
SELECT * FROM pg_background_launch_v2('SELECT ''not a number''') \gset
SELECT pgbg_try(format('SELECT * FROM pg_background_result_v2(%s, %s) AS (a int)', :pid, :cookie));
SELECT * FROM pg_background_launch_v2('SELECT 1') \gset
SELECT pgbg_try(format('SELECT pg_background_result_v2(%s, %s)', :pid, :cookie));
SELECT pgbg_try(format('SELECT * FROM pg_background_result_v2(%s, %s)', :pid, :cookie));
SELECT pg_background_detach_v2(:pid, :cookie);
SELECT pgbg_try('SELECT * FROM pg_background_list_v2() AS (pid int4)');
SELECT pgbg_try('SELECT * FROM pg_background_list_v2() AS (pid int8, cookie int8, launched_at timestamptz, user_id oid, queue_size int4, state text, sql_preview text, last_error text, consumed bool)');

-- the worker's errors keep their SQLSTATE
SELECT pgbg_try($$SELECT * FROM pg_background_result(pg_background_launch('SELECT 1/0')) AS (a int)$$);
SELECT pgbg_try($$SELECT * FROM pg_background_result(pg_background_launch('SELEC 1')) AS (a int)$$);
SELECT pgbg_try($$SELECT * FROM pg_background_result(pg_background_launch('SELECT * FROM no_such_table')) AS (a int)$$);
SELECT pgbg_try($$SELECT * FROM pg_background_result(pg_background_launch('COPY pgbg_t FROM STDIN')) AS (a text)$$);

-- reading a submitted job's results
SELECT * FROM pg_background_submit_v2('SELECT 1') \gset
SELECT pgbg_try(format('SELECT * FROM pg_background_result_v2(%s, %s) AS (a int)', :pid, :cookie));
SELECT pg_background_detach_v2(:pid, :cookie);

-- results being fetched cannot also be read by result_v2
SELECT * FROM pg_background_launch_v2('SELECT g FROM generate_series(1, 3) g') \gset
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT * FROM pg_background_fetch_v2(:pid, :cookie, 1);
SELECT pgbg_try(format('SELECT * FROM pg_background_result_v2(%s, %s) AS (a int)', :pid, :cookie));
SELECT pg_background_detach_v2(:pid, :cookie);

-- nothing left behind
SELECT count(*) FROM pg_background_list_v2() AS (pid int4, cookie int8, launched_at timestamptz, user_id oid,
       queue_size int4, state text, sql_preview text, last_error text, consumed bool);
