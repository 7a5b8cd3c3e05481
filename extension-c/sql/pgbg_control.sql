--
-- wait, cancel, detach, list, progress, stats, pg_stat_activity, limits
--

-- pg_stat_activity shows the worker, its statement and who launched it
SELECT * FROM pg_background_launch_v2('SELECT pg_sleep(60)') \gset
SELECT pgbg_await(format($$EXISTS (SELECT 1 FROM pg_stat_activity
    WHERE pid = %s AND state = 'active' AND query = 'SELECT pg_sleep(60)')$$, :pid));
SELECT backend_type, application_name = 'pg_background:' || pg_backend_pid() AS app_ok,
       usename, datname = current_database() AS db_ok, query, state
  FROM pg_stat_activity WHERE pid = :pid;

-- list_v2 shows it as running
SELECT state, sql_preview, queue_size, consumed, last_error, user_id = 'postgres'::regrole AS uid_ok,
       launched_at <= now() AS ts_ok
  FROM pg_background_list_v2() AS (pid int4, cookie int8, launched_at timestamptz, user_id oid,
       queue_size int4, state text, sql_preview text, last_error text, consumed bool)
 WHERE pid = :pid;

-- wait with a timeout gives up
SELECT pg_background_wait_v2_timeout(:pid, :cookie, 10);

-- cancel: the statement fails with 57014, the outcome is 'canceled'
SELECT pg_background_cancel_v2(:pid, :cookie);
SELECT pg_background_wait_v2_timeout(:pid, :cookie, 60000);
SELECT state, last_error
  FROM pg_background_list_v2() AS (pid int4, cookie int8, launched_at timestamptz, user_id oid,
       queue_size int4, state text, sql_preview text, last_error text, consumed bool)
 WHERE pid = :pid;
SELECT * FROM pgbg_drain(:pid, :cookie);

-- cancel stops the current statement, and the rest of the job
SELECT * FROM pg_background_launch_v2('SELECT pg_sleep(60); INSERT INTO pgbg_t VALUES (60, ''after cancel'')') \gset
SELECT pg_background_cancel_v2_grace(:pid, :cookie, 10000);
SELECT kind, data FROM pgbg_drain(:pid, :cookie) WHERE kind = 'done';
SELECT count(*) FROM pgbg_t WHERE id = 60;

-- grace 0: terminated at once if the cancel did not already stop it
SELECT * FROM pg_background_launch_v2('SELECT pg_sleep(60)') \gset
SELECT pg_background_cancel_v2_grace(:pid, :cookie, 0);
SELECT kind, data FROM pgbg_drain(:pid, :cookie) WHERE kind = 'done';

-- cancel a job whose output is waiting for us: what was queued stays readable,
-- then the error and done 'canceled'
SELECT * FROM pg_background_launch_v2('SELECT g, repeat(''x'', 100) FROM generate_series(1, 100000) g', 4096) \gset
SELECT count(*) > 0 AS got_some FROM pg_background_fetch_v2(:pid, :cookie, 10, 60000);
SELECT pg_background_cancel_v2(:pid, :cookie);
SELECT kind, data->>'sqlstate' AS sqlstate, data->>'state' AS state
  FROM pgbg_drain(:pid, :cookie) WHERE kind IN ('error', 'done');

-- cancel after the job ended changes nothing
SELECT * FROM pg_background_launch_v2('SELECT 7') \gset
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT pg_background_cancel_v2(:pid, :cookie);
SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (x int);

-- detach never cancels: the job still commits
SELECT * FROM pg_background_launch_v2('SELECT pg_sleep(0.2); INSERT INTO pgbg_t VALUES (70, ''after detach'')') \gset
SELECT pg_background_detach_v2(:pid, :cookie);
SELECT pgbg_try(format('SELECT * FROM pg_background_result_v2(%s, %s) AS (a int)', :pid, :cookie));
SELECT pgbg_await('EXISTS (SELECT 1 FROM pgbg_t WHERE id = 70)');
-- v1 detach
SELECT pg_background_launch('SELECT 1') AS pid \gset
SELECT pg_background_detach(:pid);
SELECT pgbg_try(format('SELECT pg_background_detach(%s)', :pid));

-- a worker blocked on its full queue cannot finish while we wait: error, no hang
SELECT * FROM pg_background_launch_v2('SELECT g, repeat(''x'', 100) FROM generate_series(1, 100000) g', 4096) \gset
SELECT pgbg_try(format('SELECT pg_background_wait_v2(%s, %s)', :pid, :cookie));
SELECT pgbg_try(format('SELECT pg_background_wait_v2_timeout(%s, %s, 1000)', :pid, :cookie));
SELECT pg_background_detach_v2(:pid, :cookie);
-- with submit_v2 the same job never blocks
SELECT * FROM pg_background_submit_v2('SELECT g, repeat(''x'', 100) FROM generate_series(1, 100000) g', 4096) \gset
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT pg_background_wait_v2_timeout(:pid, :cookie, 0);
SELECT * FROM pgbg_drain(:pid, :cookie);
SELECT pgbg_try(format('SELECT * FROM pg_background_result_v2(%s, %s) AS (a int)', :pid, :cookie));

-- pg_background.worker_timeout cancels a job that runs too long
SET pg_background.worker_timeout = '200ms';
SELECT * FROM pg_background_launch_v2('SELECT pg_sleep(60)') \gset
RESET pg_background.worker_timeout;
SELECT * FROM pgbg_drain(:pid, :cookie);

-- progress reported by the job
SELECT * FROM pg_background_launch_v2($$SELECT pg_background_progress(40, 'reading'); SELECT pg_background_progress(75)$$) \gset
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT * FROM pg_background_get_progress_v2(:pid, :cookie);
SELECT * FROM pg_background_launch_v2($$SELECT pg_background_progress(40, 'reading')$$) \gset
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT * FROM pg_background_get_progress_v2(:pid, :cookie);
SELECT pg_background_detach_v2(:pid, :cookie);
SELECT * FROM pg_background_launch_v2('SELECT 1') \gset
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT * FROM pg_background_get_progress_v2(:pid, :cookie);
SELECT pg_background_detach_v2(:pid, :cookie);
SELECT pgbg_try('SELECT pg_background_progress(10)');
SELECT pgbg_try('SELECT pg_background_progress(101)');
SELECT pgbg_try('SELECT pg_background_progress(-1)');
SELECT pgbg_try('SELECT pg_background_progress(NULL)');

-- stats are per session: start a fresh one
\c
SELECT * FROM pg_background_stats_v2();
SELECT * FROM pg_background_launch_v2('SELECT 1') \gset
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT * FROM pg_background_launch_v2('SELECT 1/0') \gset
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT * FROM pg_background_launch_v2('SELECT pg_sleep(60)') \gset
SELECT pg_background_cancel_v2(:pid, :cookie);
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT * FROM pg_background_launch_v2('SELECT pg_sleep(60)') \gset
SELECT workers_launched, workers_completed, workers_failed, workers_canceled,
       workers_active, avg_execution_ms >= 0 AS avg_ok, max_workers
  FROM pg_background_stats_v2();
SELECT state, count(*)
  FROM pg_background_list_v2() AS (pid int4, cookie int8, launched_at timestamptz, user_id oid,
       queue_size int4, state text, sql_preview text, last_error text, consumed bool)
 GROUP BY state ORDER BY state;
SELECT pg_background_cancel_v2_grace(:pid, :cookie, 0);

-- per-session quota
SET pg_background.max_workers = 4;
SELECT pgbg_try('SELECT pg_background_launch(''SELECT 1'')');
RESET pg_background.max_workers;
SELECT pg_background_detach_v2(pid, cookie)
  FROM pg_background_list_v2() AS (pid int4, cookie int8, launched_at timestamptz, user_id oid,
       queue_size int4, state text, sql_preview text, last_error text, consumed bool);
SELECT count(*) FROM pg_background_list_v2() AS (pid int4, cookie int8, launched_at timestamptz, user_id oid,
       queue_size int4, state text, sql_preview text, last_error text, consumed bool);
