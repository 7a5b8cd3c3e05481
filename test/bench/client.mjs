#!/usr/bin/env node
// Client-side benchmark (issues 3 and 12): rows arriving in this Node.js process through the engine the
// extension uses (JobManager: launch_v2 + fetch_v2 drained into the spooled ResultStore) beside
// the same query run directly with `pg`; then memory growth of this process while 10,000,000
// rows are drained (spooling keeps it flat). Prints, never fails.
//
//   node --import tsx test/bench/client.mjs         (cluster from PG* env; run.mjs passes it)
//   BENCH_RUNS=5 BENCH_BIG_ROWS=10000000 BENCH_SKIP_BIG=1 ...   to tune

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { JobManager } from '../../src/core/jobManager.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const ROWS = 1_000_000;
const BIG = Number(process.env.BENCH_BIG_ROWS ?? 10_000_000);
const SQL = (n) => `SELECT g, md5(g::text) FROM generate_series(1,${n}) g`;
// Values that cost the server almost nothing to compute: the transport is all there is to measure.
const SQL_CHEAP = (n) => `SELECT g, lpad(g::text, 32, 'x') FROM generate_series(1,${n}) g`;
const TARGET_RATIO = 1.0;

const config = {
  host: process.env.PGHOST ?? '127.0.0.1',
  port: Number(process.env.PGPORT ?? 5432),
  user: process.env.PGUSER ?? 'postgres',
  database: process.env.PGDATABASE ?? 'postgres',
  password: process.env.PGPASSWORD,
};

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmtMs = (ms) => `${(ms / 1000).toFixed(2)} s`;
const mb = (b) => `${(b / 1048576).toFixed(1)} MB`;
const cpuMs = (start) => {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1000;
};
// CPU of a server process from /proc (same host only; undefined elsewhere), in ms.
const procCpuMs = (pid) => {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  } catch {
    return undefined;
  }
};
// Samples a process's CPU while `run` goes: a worker may exit when its job ends.
async function withProcCpu(pid, run) {
  const first = procCpuMs(pid);
  let last = first;
  const timer = setInterval(() => {
    last = procCpuMs(pid) ?? last;
  }, 20);
  try {
    await run();
  } finally {
    clearInterval(timer);
    last = procCpuMs(pid) ?? last;
  }
  return first === undefined || last === undefined ? undefined : last - first;
}

let backendPid;
let launcherPid;

async function direct(client, sql = SQL) {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const b0 = procCpuMs(backendPid);
  const res = await client.query({ text: sql(ROWS), rowMode: 'array' });
  const ms = performance.now() - t0;
  const b1 = procCpuMs(backendPid);
  if (res.rows.length !== ROWS) throw new Error(`direct: ${res.rows.length} rows`);
  return { ms, cpu: cpuMs(c0), server: b0 === undefined || b1 === undefined ? undefined : `backend ${fmtMs(b1 - b0)}` };
}

async function viaEngine(jm, conn, sql = SQL) {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const l0 = procCpuMs(launcherPid);
  const job = await jm.launch(conn, sql(ROWS));
  const worker = await withProcCpu(jm.job(job.id).pid, () => jm.wait(job.id));
  const ms = performance.now() - t0;
  const l1 = procCpuMs(launcherPid);
  const info = jm.job(job.id);
  if (info.state !== 'completed' || info.rowsReceived !== ROWS) throw new Error(`engine: ${info.state} ${info.rowsReceived} rows ${info.error?.message ?? ''}`);
  const cpu = cpuMs(c0);
  jm.clear(job.id);
  const launcher = l0 === undefined || l1 === undefined ? undefined : l1 - l0;
  return { ms, cpu, server: launcher === undefined || worker === undefined ? undefined : `launcher ${fmtMs(launcher)}, worker ${fmtMs(worker)}` };
}

async function memoryRun(jm, conn) {
  global.gc?.();
  const base = process.memoryUsage();
  let peakRss = base.rss;
  let peakHeap = base.heapUsed;
  const sample = setInterval(() => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  }, 50);
  const t0 = performance.now();
  const job = await jm.launch(conn, SQL(BIG));
  await jm.wait(job.id);
  const ms = performance.now() - t0;
  clearInterval(sample);
  const info = jm.job(job.id);
  const store = jm.store(job.id);
  const spooled = store?.spooledBytes ?? 0;
  const last = store ? await store.getRows(1, BIG - 1, 1) : [];
  jm.clear(job.id);
  return { ms, info, spooled, last, rssGrowth: peakRss - base.rss, heapGrowth: peakHeap - base.heapUsed };
}

async function main() {
  const storageDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgbg-bench-client-'));
  const settings = {
    queueSize: Number(process.env.BENCH_QUEUE_SIZE ?? 0),
    fetchBatchSize: Number(process.env.BENCH_BATCH ?? 10000),
    pollIntervalMs: 500,
    memoryRowBudget: 100000,
    defaultGraceMs: 5000,
  };
  const jm = new JobManager({ storageDir, settings: () => settings });
  const conn = 'bench';
  const client = new pg.Client(config);
  try {
    launcherPid = (await jm.openConnection(conn, config)).launcherPid;
    await client.connect();
    backendPid = (await client.query('SELECT pg_backend_pid() AS p')).rows[0].p;
    process.stdout.write(`\n== client bench (Node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(1)}; ${RUNS} runs; batch ${settings.fetchBatchSize}, queue ${settings.queueSize || 'server default'})\n`);
    // (e) uses the configured queue size (server default unless BENCH_QUEUE_SIZE); (e') a 1 MB
    // queue, which lets each fetch_v2 call return a full batch instead of one queue's worth;
    // (e0) the engine as it was before issue 12: one fetch_v2 tuple (kind `row`) per row.
    const bigQueue = 1 << 20;
    const withSettings = async (patch, sql) => {
      const saved = { ...settings };
      Object.assign(settings, patch);
      try {
        return await viaEngine(jm, conn, sql);
      } finally {
        // Restore exactly: a key the patch added must go too (assigning `saved` back kept
        // fetchRowsPerTuple = 1 after the first (e0), so every later (e) ran one row per tuple).
        for (const k of Object.keys(settings)) if (!(k in saved)) delete settings[k];
        Object.assign(settings, saved);
      }
    };
    const runSet = async (sql, label) => {
      const d = [];
      const e = [];
      const e0 = [];
      const e2 = [];
      // Warm-up (plans, worker start, JIT of our parsing code), then alternate to share any noise.
      await direct(client, sql);
      await viaEngine(jm, conn, sql);
      for (let i = 0; i < RUNS; i++) {
        e.push(await viaEngine(jm, conn, sql));
        d.push(await direct(client, sql));
        e0.push(await withSettings({ fetchRowsPerTuple: 1 }, sql));
        e2.push(await withSettings({ queueSize: bigQueue }, sql));
      }
      const dm = median(d.map((x) => x.ms));
      const cases = [
        [`(f) 1M rows ${label}, direct pg query`, d],
        [`(e) launch → fetch_v2 → store, queue ${settings.queueSize || 'default'}`, e],
        ['(e0) same, before: one row per fetch_v2 tuple', e0],
        ["(e') same as (e), queue 1 MB", e2],
      ];
      process.stdout.write(`${'case'.padEnd(58)}${'median wall'.padStart(13)}${'client CPU'.padStart(12)}${'vs (f)'.padStart(9)}\n`);
      for (const [name, xs] of cases) {
        const m = median(xs.map((x) => x.ms));
        process.stdout.write(`${name.padEnd(58)}${fmtMs(m).padStart(13)}${fmtMs(median(xs.map((x) => x.cpu))).padStart(12)}${`${(m / dm).toFixed(2)}x`.padStart(9)}\n`);
      }
      const ratio = median(e.map((x) => x.ms)) / dm;
      const before = median(e0.map((x) => x.ms)) / dm;
      process.stdout.write(
        `target 2 (${label}): (e)/(f) ${ratio.toFixed(2)}x <= ${TARGET_RATIO.toFixed(1)}x with the default queue: ${ratio <= TARGET_RATIO ? 'PASS' : 'MISS'} ` +
          `(baseline, before this change: (e0)/(f) ${before.toFixed(2)}x; issue's starting point 1.17x)\n`,
      );
      // Where the CPU goes (server processes read from /proc, in the run of median wall time):
      // the engine's three processes share the cores where the direct query has two.
      const serverCpu = (xs) => {
        const m = median(xs.map((x) => x.ms));
        return xs.find((x) => x.ms === m)?.server ?? xs[Math.floor(xs.length / 2)].server;
      };
      if (d[0].server !== undefined && e[0].server !== undefined) {
        process.stdout.write(`server CPU, run of median wall: (f) ${serverCpu(d) ?? '?'}; (e) ${serverCpu(e) ?? '?'}; (e') ${serverCpu(e2) ?? '?'}\n`);
      }
      process.stdout.write(
        `runs (e): ${e.map((x) => fmtMs(x.ms)).join(', ')} | (e0): ${e0.map((x) => fmtMs(x.ms)).join(', ')} | (e'): ${e2.map((x) => fmtMs(x.ms)).join(', ')} | (f): ${d.map((x) => fmtMs(x.ms)).join(', ')}\n`,
      );
    };
    await runSet(SQL, 'md5');
    if (!process.env.BENCH_SKIP_CHEAP) await runSet(SQL_CHEAP, 'lpad, transport-bound');

    if (!process.env.BENCH_SKIP_BIG) {
      const m = await memoryRun(jm, conn);
      const ok = m.info.state === 'completed' && m.info.rowsReceived === BIG;
      process.stdout.write(
        `${BIG.toLocaleString('en-US')} rows via the engine: ${ok ? 'complete' : `INCOMPLETE (${m.info.state}, ${m.info.rowsReceived} rows)`} in ${fmtMs(m.ms)}; ` +
          `spooled ${mb(m.spooled)}; last row ${JSON.stringify(m.last[0] ?? null)}\n`,
      );
      process.stdout.write(
        `memory growth of this process: RSS ${mb(m.rssGrowth)}, heap ${mb(m.heapGrowth)} — target 5 (extension host < 200 MB): ${Math.max(m.rssGrowth, m.heapGrowth) < 200 * 1048576 ? 'PASS' : 'MISS'} ` +
          `(baseline, README before issue 12: +27–34 MB)\n`,
      );
    }
  } catch (err) {
    process.stdout.write(`client bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  } finally {
    await client.end().catch(() => undefined);
    await jm.dispose();
    fs.rmSync(storageDir, { recursive: true, force: true });
  }
}

await main();
