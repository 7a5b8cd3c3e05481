// A stand-in for the original pg_background 1.8, built over our own extension, for the
// reduced-mode tests. It reproduces, and only claims to reproduce, the behaviours of 1.8 that
// the engine has to cope with (facts read from 1.8's source; no code of it is used):
//   - no pg_background_fetch_v2;
//   - result_v2 checks the caller's column definition list against each column's actual type
//     and raises 42804 on a mismatch, so `void` or `record` declared as `text` fails; a result
//     can be read once; a second RowDescription is an internal error; a job without rows
//     returns its first command tag as a single text column;
//   - result_v2 relays the worker's notices to the reading session as notices and its errors as
//     errors (SQLSTATE kept);
//   - cancel_v2 / cancel_v2_grace send SIGTERM, so a canceled worker dies with 57P01;
//   - list_v2 says `stopped` with no last_error for every finished job, whatever its outcome;
//   - wait_v2_timeout only reports whether the worker has exited.
// The wrapped functions of our extension move to schema pgbg_inner (out of the extension);
// wrappers with 1.8's names and signatures take their place in the extension.

import type pg from 'pg';
import { LIST_V2_COLUMNS as LIST_COLUMNS } from '../../src/core/drain.js';

const WRAPPED = [
  // 1.10 adds after_seq: whichever this build has (see fetchV2Signature)
  'FETCH_V2',
  'pg_background_result_v2(int4, int8)',
  'pg_background_cancel_v2(int4, int8)',
  'pg_background_cancel_v2_grace(int4, int8, int4)',
  'pg_background_wait_v2_timeout(int4, int8, int4)',
  'pg_background_list_v2()',
];

const WRAPPERS = [
  `CREATE FUNCTION public.pg_background_result_v2(pid int4, cookie int8) RETURNS SETOF record
   LANGUAGE plpgsql AS $$
   DECLARE
     m record;
     cols json;
     tags text[] := '{}';
     casts text;
   BEGIN
     LOOP
       FOR m IN SELECT * FROM pgbg_inner.pg_background_fetch_v2(pid, cookie, 1000, 1000) LOOP
         CASE m.kind
         WHEN 'notice' THEN
           IF m.data->>'severity' = 'WARNING' THEN
             RAISE WARNING USING MESSAGE = m.data->>'message', ERRCODE = m.data->>'sqlstate',
               DETAIL = coalesce(m.data->>'detail', ''), HINT = coalesce(m.data->>'hint', '');
           ELSE
             RAISE NOTICE USING MESSAGE = m.data->>'message', ERRCODE = m.data->>'sqlstate',
               DETAIL = coalesce(m.data->>'detail', ''), HINT = coalesce(m.data->>'hint', '');
           END IF;
         WHEN 'error' THEN
           RAISE EXCEPTION USING MESSAGE = m.data->>'message', ERRCODE = m.data->>'sqlstate',
             DETAIL = coalesce(m.data->>'detail', ''), HINT = coalesce(m.data->>'hint', '');
         WHEN 'columns' THEN
           IF cols IS NOT NULL THEN
             RAISE EXCEPTION 'multiple RowDescription messages' USING ERRCODE = 'XX000';
           END IF;
           cols := m.data;
           SELECT string_agg(format('(r->>%s)::%s', n - 1, c->>'type'), ', ' ORDER BY n) INTO casts
             FROM json_array_elements(cols) WITH ORDINALITY AS x(c, n);
           -- RETURN QUERY compares the query's column types with the caller's column definition
           -- list before any row (42804 on a mismatch): the check 1.8 makes on RowDescription.
           RETURN QUERY EXECUTE format('SELECT %s FROM (SELECT NULL::json AS r) s WHERE false', coalesce(casts, ''));
         WHEN 'row' THEN
           RETURN QUERY EXECUTE format('SELECT %s FROM (SELECT $1::json AS r) s', coalesce(casts, '')) USING m.data;
         WHEN 'command' THEN
           tags := tags || (m.data->>'tag');
         WHEN 'done' THEN
           IF m.data->>'state' = 'lost' THEN
             RAISE EXCEPTION 'lost connection to worker process with PID %', pid USING ERRCODE = '08006';
           END IF;
           IF cols IS NULL THEN
             RETURN QUERY EXECUTE 'SELECT $1::text WHERE $1 IS NOT NULL' USING tags[1];
           END IF;
           RETURN;
         ELSE
           NULL;
         END CASE;
       END LOOP;
     END LOOP;
   END $$`,
  `CREATE FUNCTION public.pg_background_cancel_v2(pid int4, cookie int8) RETURNS void
   LANGUAGE plpgsql AS $$
   BEGIN
     IF NOT EXISTS (SELECT FROM pgbg_inner.pg_background_list_v2() AS l(${LIST_COLUMNS})
                     WHERE l.pid = $1 AND l.cookie = $2) THEN
       RAISE EXCEPTION 'PID % is not attached to this session', pid USING ERRCODE = '42704';
     END IF;
     PERFORM pg_terminate_backend(pid);
   END $$`,
  `CREATE FUNCTION public.pg_background_cancel_v2_grace(pid int4, cookie int8, grace_ms int4) RETURNS void
   LANGUAGE sql AS $$ SELECT public.pg_background_cancel_v2(pid, cookie) $$`,
  `CREATE FUNCTION public.pg_background_wait_v2_timeout(pid int4, cookie int8, timeout_ms int4) RETURNS bool
   LANGUAGE plpgsql AS $$
   BEGIN
     RETURN pgbg_inner.pg_background_wait_v2_timeout(pid, cookie, timeout_ms);
   EXCEPTION WHEN object_not_in_prerequisite_state THEN
     -- ours says when the worker waits on a full queue; 1.8 only says it has not exited
     RETURN false;
   END $$`,
  `CREATE FUNCTION public.pg_background_list_v2() RETURNS SETOF record
   LANGUAGE sql AS $$
     SELECT pid, cookie, launched_at, user_id, queue_size,
            CASE WHEN state = 'running' THEN 'running' ELSE 'stopped' END, sql_preview, NULL::text, consumed
       FROM pgbg_inner.pg_background_list_v2() AS l(${LIST_COLUMNS})
   $$`,
];

/** Functions 1.8 does not have at all (durable jobs, 1.10): dropped from the stand-in. */
const ABSENT_IN_18 = ['pg_background_attach_v2', 'pg_background_jobs_v2'];

/** fetch_v2's argument types in this build: 4 (1.9) or 5 (1.10, after_seq). */
export async function fetchV2Signature(db: pg.Client): Promise<string> {
  const res = await db.query<{ args: string }>(
    `SELECT pg_get_function_identity_arguments(p.oid) AS args FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = 'public' AND p.proname = 'pg_background_fetch_v2'`,
  );
  const types = res.rows[0].args.split(',').map((a) => a.trim().split(/\s+/).pop()!.replace('integer', 'int4').replace('bigint', 'int8'));
  return `pg_background_fetch_v2(${types.join(', ')})`;
}

/** Turns a fresh database into the 1.8 stand-in (our extension installed in public). */
export async function installOriginal18StandIn(db: pg.Client): Promise<void> {
  await db.query('CREATE EXTENSION pg_background');
  await db.query('CREATE SCHEMA pgbg_inner');
  for (const name of ABSENT_IN_18) {
    const res = await db.query<{ sig: string }>(
      `SELECT p.oid::regprocedure::text AS sig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' AND p.proname = $1`,
      [name],
    );
    for (const { sig } of res.rows) {
      await db.query(`ALTER EXTENSION pg_background DROP FUNCTION public.${sig}`);
      await db.query(`DROP FUNCTION public.${sig}`);
    }
  }
  const fetchV2 = await fetchV2Signature(db);
  for (const wrapped of WRAPPED) {
    const f = wrapped === 'FETCH_V2' ? fetchV2 : wrapped;
    await db.query(`ALTER EXTENSION pg_background DROP FUNCTION public.${f}`);
    await db.query(`ALTER FUNCTION public.${f} SET SCHEMA pgbg_inner`);
  }
  for (const sql of WRAPPERS) {
    await db.query(sql);
    const name = /FUNCTION public\.(\w+\([^)]*\))/.exec(sql)![1].replace(/\b\w+ (int4|int8)\b/g, '$1');
    await db.query(`ALTER EXTENSION pg_background ADD FUNCTION public.${name}`);
  }
}
