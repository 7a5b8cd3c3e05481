#!/usr/bin/env node
// Durable jobs (issue 11, item 6): what holding a job's output for a possible re-attach costs the
// common path, and what the durable path itself costs. One cluster, one run; the two settings
// are interleaved (off, on, off, on, ...) so that the machine's noise falls on both alike.
//
//   node --import tsx test/bench/durable.mjs        (cluster from PG* env; run.mjs passes it)
//   BENCH_DURABLE_PAIRS=5 BENCH_ROWS=1000000 ...     to tune
//
// Lines printed, each a median over the pairs:
//   (a) result_v2 read by its own launcher           pg_background.durable off | on
//   (b) fetch_v2 batches read by its own launcher    off: 1.9 calls | on: after_seq acknowledgements
//   (e) launch → fetch_v2 → the engine's store       off: durableJobs false, durable off | on: both on
//   with the ratio on/off and PASS when it is at most 1.05 (the issue's bound);
// then (g), the durable path: launch, read half the rows, terminate the launcher, attach from a
// new session and read the rest, with the time from attach to the last row and (g)/(b).
// A benchmark, not a test: it prints, and exits non-zero only when it cannot run at all.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { JobManager } from '../../src/core/jobManager.ts';

const PAIRS = Number(process.env.BENCH_DURABLE_PAIRS ?? 5);
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const BATCH = 10000;
const PER_TUPLE = 1000;
const QUERY = `SELECT g, md5(g::text) FROM generate_series(1,${ROWS}) g`;
const BOUND = 1.05;

const config = {
  host: process.env.PGHOST ?? '127.0.0.1',
  port: Number(process.env.PGPORT ?? 5432),
  user: process.env.PGUSER ?? 'postgres',
  database: process.env.PGDATABASE ?? 'postgres',
  password: process.env.PGPASSWORD,
};

const out = (s = '') => process.stdout.write(`${s}\n`);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmtS = (ms) => `${(ms / 1000).toFixed(3)} s`;

async function connect(extra = {}) {
  const c = new pg.Client({ ...config, application_name: 'pgbg-bench-durable', ...extra });
  await c.connect();
  return c;
}

async function timed(fn) {
  const t0 = performance.now();
  const r = await fn();
  return { ms: performance.now() - t0, r };
}

async function setup(c) {
  await c.query('CREATE EXTENSION IF NOT EXISTS pg_background');
  await c.query('CREATE SCHEMA IF NOT EXISTS bench');
  // (b) on: the launching session drains with acknowledgements, as a durable client does: every
  // call names the last seq it has, and the call after `done` is the final acknowledgement.
  // Rows are counted from the command tags, like bench.fetch_drain_batched in server.mjs.
  await c.query(`
    CREATE OR REPLACE FUNCTION bench.fetch_drain_acked(q text, batch int, per_tuple int) RETURNS bigint
    LANGUAGE plpgsql AS $$
    DECLARE
      h pg_background_handle;
      n bigint := 0;
      got bigint;
      fin bool;
      last bigint := 0;
      top bigint;
    BEGIN
      PERFORM set_config('pg_background.fetch_rows_per_tuple', per_tuple::text, true);
      h := pg_background_launch_v2(q);
      LOOP
        SELECT coalesce(max((data->>'rows')::bigint) FILTER (WHERE kind = 'command'), 0),
               coalesce(bool_or(kind = 'done'), false), max(seq)
          INTO got, fin, top
          FROM pg_background_fetch_v2(h.pid, h.cookie, batch, 1000, last);
        n := n + got;
        last := coalesce(top, last);
        EXIT WHEN fin;
      END LOOP;
      PERFORM * FROM pg_background_fetch_v2(h.pid, h.cookie, 1, 0, last);
      RETURN n;
    END $$`);
  await c.query(`
    CREATE OR REPLACE FUNCTION bench.fetch_drain_legacy(q text, batch int, per_tuple int) RETURNS bigint
    LANGUAGE plpgsql AS $$
    DECLARE
      h pg_background_handle;
      n bigint := 0;
      got bigint;
      fin bool;
    BEGIN
      PERFORM set_config('pg_background.fetch_rows_per_tuple', per_tuple::text, true);
      h := pg_background_launch_v2(q);
      LOOP
        SELECT coalesce(max((data->>'rows')::bigint) FILTER (WHERE kind = 'command'), 0),
               coalesce(bool_or(kind = 'done'), false)
          INTO got, fin
          FROM pg_background_fetch_v2(h.pid, h.cookie, batch, 1000);
        n := n + got;
        EXIT WHEN fin;
      END LOOP;
      RETURN n;
    END $$`);
}

async function setDurable(c, on) {
  await c.query(`SET pg_background.durable = ${on ? 'on' : 'off'}`);
}

const resultV2 = (c) => async () => {
  const h = (await c.query('SELECT pid, cookie FROM pg_background_launch_v2($1)', [QUERY])).rows[0];
  const r = await c.query(`SELECT count(*) AS n FROM pg_background_result_v2(${h.pid}, ${h.cookie}) AS (g int, m text)`);
  return Number(r.rows[0].n);
};

const fetchDrain = (c, fn) => async () =>
  Number((await c.query(`SELECT bench.${fn}($1, $2, $3) AS n`, [QUERY, BATCH, PER_TUPLE])).rows[0].n);

async function viaEngine(jm, conn) {
  const job = await jm.launch(conn, QUERY);
  await jm.wait(job.id);
  const info = jm.job(job.id);
  jm.clear(job.id);
  if (info.state !== 'completed') throw new Error(`engine job ${info.state}: ${info.error?.message ?? ''}`);
  return info.rowsReceived;
}

/** Runs off/on pairs, alternating which goes first, and returns the medians. */
async function pairs(label, off, on) {
  await off();
  await on();
  const t = { off: [], on: [] };
  for (let i = 0; i < PAIRS; i++) {
    const order = i % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
    for (const which of order) {
      const { ms, r } = await timed(which === 'off' ? off : on);
      if (r !== ROWS) out(`   !! ${label} ${which} returned ${r} rows, expected ${ROWS}`);
      t[which].push(ms);
    }
  }
  process.stderr.write(`[bench] ${label}: off ${t.off.map((x) => x.toFixed(0)).join(' ')} | on ${t.on.map((x) => x.toFixed(0)).join(' ')} ms\n`);
  return { off: median(t.off), on: median(t.on) };
}

function line(label, r) {
  const ratio = r.on / r.off;
  out(`   ${label.padEnd(46)} ${fmtS(r.off).padStart(10)} ${fmtS(r.on).padStart(10)} ${`${ratio.toFixed(3)}x`.padStart(8)}  ${ratio <= BOUND ? 'PASS' : 'MISS'}`);
}

/**
 * (g): a launcher reads half the rows with acknowledgements, is terminated from another session,
 * and a new session attaches after the last seq it acknowledged and reads the rest. Counts
 * every row on both sides, so a lost or duplicated batch shows as a wrong total.
 */
async function durablePath(admin) {
  const launcher = await connect({ application_name: 'pgbg-bench-launcher' });
  launcher.on('error', () => undefined);
  const t0 = performance.now();
  await launcher.query(`SET pg_background.fetch_rows_per_tuple = ${PER_TUPLE}`);
  const h = (await launcher.query('SELECT pid, cookie FROM pg_background_launch_v2($1)', [QUERY])).rows[0];
  const launcherPid = (await launcher.query('SELECT pg_backend_pid() AS p')).rows[0].p;
  let rows = 0;
  let last = 0;
  const countRows = (res) => {
    let done = false;
    for (const [kind, , data, seq] of res.rows) {
      if (kind === 'row') rows++;
      else if (kind === 'rows') rows += data.length;
      else if (kind === 'done') done = true;
      else if (kind === 'error') throw new Error(JSON.stringify(data));
      last = Number(seq);
    }
    return done;
  };
  const fetch = (c) =>
    c.query({ text: `SELECT kind, stmt, data, seq FROM pg_background_fetch_v2(${h.pid}, ${h.cookie}, ${BATCH}, 1000, ${last})`, rowMode: 'array' });
  while (rows < ROWS / 2) {
    if (countRows(await fetch(launcher))) break;
  }
  const half = rows;
  await admin.query('SELECT pg_terminate_backend($1)', [launcherPid]);
  await launcher.end().catch(() => undefined);
  const reader = await connect({ application_name: 'pgbg-bench-attacher' });
  try {
    const ta = performance.now();
    await reader.query(`SELECT * FROM pg_background_attach_v2(${h.pid}, ${h.cookie}, after_seq => ${last}, takeover => true)`);
    for (;;) {
      if (countRows(await fetch(reader))) break;
    }
    await fetch(reader); // the final acknowledgement
    const end = performance.now();
    return { rows, half, total: end - t0, attached: end - ta };
  } finally {
    await reader.end().catch(() => undefined);
  }
}

async function main() {
  out(`\n== durable jobs bench (issue 11, item 6): ${ROWS.toLocaleString('en-US')} rows, ${PAIRS} off/on pairs, ` +
      `${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(1)}`);
  const c = await connect();
  const storageDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgbg-bench-durable-'));
  const engineSettings = (durableJobs) => ({
    queueSize: 0,
    fetchBatchSize: BATCH,
    pollIntervalMs: 500,
    memoryRowBudget: 100000,
    defaultGraceMs: 5000,
    durableJobs,
  });
  const jmOff = new JobManager({ storageDir: path.join(storageDir, 'off'), settings: () => engineSettings(false) });
  const jmOn = new JobManager({ storageDir: path.join(storageDir, 'on'), settings: () => engineSettings(true) });
  try {
    await setup(c);
    const attach = (await c.query("SELECT 1 FROM pg_proc WHERE proname = 'pg_background_attach_v2'")).rowCount > 0;
    if (!attach) {
      out('   pg_background here has no attach_v2: nothing to measure');
      return;
    }
    await jmOff.openConnection('off', { ...config, options: '-c pg_background.durable=off' });
    await jmOn.openConnection('on', config);
    out(`   ${'case'.padEnd(46)} ${'off'.padStart(10)} ${'on'.padStart(10)} ${'on/off'.padStart(8)}  (bound ${BOUND}x)`);
    const a = await pairs('a result_v2', async () => {
      await setDurable(c, false);
      return resultV2(c)();
    }, async () => {
      await setDurable(c, true);
      return resultV2(c)();
    });
    line('(a) result_v2, read by its launcher', a);
    const b = await pairs('b fetch_v2', async () => {
      await setDurable(c, false);
      return fetchDrain(c, 'fetch_drain_legacy')();
    }, async () => {
      await setDurable(c, true);
      return fetchDrain(c, 'fetch_drain_acked')();
    });
    line(`(b) fetch_v2 batches, ${PER_TUPLE} rows/tuple`, b);
    await setDurable(c, true);
    const e = await pairs('e engine', () => viaEngine(jmOff, 'off'), () => viaEngine(jmOn, 'on'));
    line('(e) launch → fetch_v2 → store (engine)', e);
    out('');
    const g = await durablePath(c);
    const ok = g.rows === ROWS;
    out(`   (g) durable path: launcher read ${g.half.toLocaleString('en-US')} rows, was terminated, a new session ` +
        `attached and read the rest: ${g.rows.toLocaleString('en-US')} rows ${ok ? '(exact)' : `!! expected ${ROWS}`}`);
    out(`       total ${fmtS(g.total)}; attach to last row ${fmtS(g.attached)}; (g)/(b on) ${(g.total / b.on).toFixed(2)}x`);
  } catch (err) {
    out(`   !! durable bench failed: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await jmOff.dispose();
    await jmOn.dispose();
    await c.end().catch(() => undefined);
    fs.rmSync(storageDir, { recursive: true, force: true });
  }
}

await main();
