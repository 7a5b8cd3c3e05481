// A million-row job drained into the store, other sessions' workers, history across reloads,
// and the reduced-mode read path (Describe + result_v2) exercised on the real server.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import pg from 'pg';
import { after, before, describe, it } from 'node:test';
import { LauncherSession } from '../../src/core/launcherSession.js';
import { planReducedRead, readResultV2 } from '../../src/core/reducedMode.js';
import os from 'node:os';
import path from 'node:path';
import type { EngineSettings } from '../../src/core/jobManager.js';
import { CONN, clusterConfig, openHarness, untilQuery, type Harness } from './support.js';

let h: Harness;
/** Read by the engine on every use: a test may change it for its own jobs. */
const settings: Partial<EngineSettings> = { fetchBatchSize: 10000, memoryRowBudget: 50000 };
before(async () => {
  h = await openHarness(settings);
});
after(async () => h?.close());

const md5 = (s: string) => crypto.createHash('md5').update(s).digest('hex');

describe('big results, other sessions, history, reduced mode', { timeout: 600_000 }, () => {
  it('drains a 1,000,000-row job into the store', async () => {
    const job = await h.jm.launch(CONN, 'SELECT g, md5(g::text) FROM generate_series(1,1000000) g');
    assert.equal(await h.jm.wait(job.id), 'done');
    const j = h.jm.job(job.id)!;
    assert.equal(j.state, 'completed');
    assert.equal(j.rowsReceived, 1_000_000);
    const store = h.jm.store(job.id)!;
    const st = store.statements()[0];
    assert.equal(st.rowCount, 1_000_000);
    assert.equal(st.commandTag, 'SELECT 1000000');
    assert.deepEqual(st.columns?.map((c) => c.type), ['integer', 'text']);
    for (const g of [1, 2, 49_999, 50_001, 123_457, 777_777, 1_000_000]) {
      assert.deepEqual(await store.getRows(1, g - 1, 1), [[String(g), md5(String(g))]], `row ${g}`);
    }
    const spool = fs.readdirSync(h.storageDir).filter((f) => f.endsWith('.spool'));
    assert.equal(spool.length, 1, 'rows beyond the memory budget are spooled');
    h.jm.clear(job.id);
    assert.deepEqual(fs.readdirSync(h.storageDir), [], 'clearing the job deletes its spool (and a durable job\'s journal)');
  });

  it('lists workers of other sessions (not ours) and can cancel them', async () => {
    const mine = await h.jm.launch(CONN, 'SELECT pg_sleep(60)');
    // "Another window": a plain client launching its own worker.
    const r = await h.other.query(`SELECT (h).pid FROM (SELECT pg_background_launch_v2('SELECT pg_sleep(60)') AS h) s`);
    const foreignPid: number = r.rows[0].pid;
    await untilQuery<{ n: number }>(h.other, `SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ANY($1) AND state = 'active'`, [[foreignPid, mine.pid]], (x) => x[0].n === 2);
    const workers = await h.jm.foreignWorkers(CONN);
    const w = workers.find((x) => x.pid === foreignPid);
    assert.ok(w, 'the other session worker is listed');
    assert.equal(w.launcherPid, (await h.other.query('SELECT pg_backend_pid() AS p')).rows[0].p);
    assert.match(w.query, /pg_sleep/);
    assert.ok(!workers.some((x) => x.pid === mine.pid), 'our own worker is not foreign');
    assert.equal(await h.jm.terminateForeign(CONN, foreignPid), true);
    await untilQuery<{ n: number }>(h.other, 'SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [foreignPid], (x) => x[0].n === 0);
    assert.equal(await h.jm.cancelForeign(CONN, foreignPid), false, 'a gone worker reports false');
    await h.jm.cancel(mine.id);
    await h.jm.wait(mine.id);
  });

  it('history survives a reload; running non-durable jobs come back as lost with a note', async (t) => {
    // Durable jobs come back running and re-attach (durable.test.ts); this is the path without attach.
    settings.durableJobs = false;
    t.after(() => {
      delete settings.durableJobs;
    });
    const done = await h.jm.launch(CONN, 'SELECT 1');
    await h.jm.wait(done.id);
    const running = await h.jm.launch(CONN, 'SELECT pg_sleep(60)');
    assert.match(running.note ?? '', /^Not durable: durable jobs are turned off/);
    const records = JSON.parse(JSON.stringify(h.jm.toHistory()));
    const { JobManager } = await import('../../src/core/jobManager.js');
    // Its own storage: restoring collects store files no record refers to.
    const freshDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgbg-fresh-'));
    t.after(() => fs.rmSync(freshDir, { recursive: true, force: true }));
    const fresh = new JobManager({ storageDir: freshDir });
    const restored = fresh.restoreHistory(records);
    const r1 = restored.find((x) => x.id === done.id)!;
    assert.equal(r1.state, 'completed');
    assert.equal(r1.hasResult, false);
    const r2 = restored.find((x) => x.id === running.id)!;
    assert.equal(r2.state, 'lost');
    assert.match(r2.note ?? '', /may still be running.*Not durable: durable jobs are turned off/);
    assert.equal(fresh.restoreHistory(records).length, 0, 'restoring twice adds nothing');
    assert.equal(fresh.clearFinished(), restored.length);
    await fresh.dispose();
    await h.jm.cancel(running.id);
    await h.jm.wait(running.id);
  });

  it('reduced mode: describes the statement and reads result_v2 with a column list', async () => {
    const session = new LauncherSession('reduced', clusterConfig(), () => undefined);
    try {
      const sql = `SELECT g AS n, g::text AS n, now()::date AS d, NULL::numeric(10,2) AS x FROM generate_series(1, 3) g`;
      const rows = await session.run(async (c) => {
        const plan = await planReducedRead(c, sql);
        assert.ok(plan);
        assert.deepEqual(plan.columns.map((col) => [col.name, col.type]), [['n', 'integer'], ['n', 'text'], ['d', 'date'], ['x', 'numeric(10,2)']]);
        const res = await c.query(`SELECT (h).pid, (h).cookie::text AS cookie FROM (SELECT pg_background_launch_v2($1) AS h) s`, [sql]);
        return readResultV2(c, res.rows[0].pid, res.rows[0].cookie, plan);
      });
      assert.equal(rows.length, 3);
      assert.deepEqual(rows[2].slice(0, 2), ['3', '3']);
      assert.match(String(rows[0][2]), /^\d{4}-\d{2}-\d{2}$/, 'values arrive as their text output');
      assert.equal(rows[0][3], null);
      const multi = await session.run((c) => planReducedRead(c, 'SELECT 1; SELECT 2'));
      assert.equal(multi, undefined, 'several statements cannot be described');
      const command = await session.run((c) => planReducedRead(c, 'CREATE TEMP TABLE tt(a int)'));
      assert.equal(command?.commandOnly, true);
    } finally {
      await session.close();
    }
  });

  it('connection failures are readable', async () => {
    const { JobManager } = await import('../../src/core/jobManager.js');
    const jm = new JobManager({ storageDir: h.storageDir });
    const cfg = clusterConfig();
    await assert.rejects(jm.openConnection('bad-db', { ...cfg, database: 'pgbg_no_such_db' }), (err: Error & { kind?: string }) => {
      assert.equal(err.kind, 'database');
      return true;
    });
    // A port nobody listens on: grab a free one from the OS and release it.
    const net = await import('node:net');
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    await assert.rejects(jm.openConnection('refused', { ...cfg, port }), (err: Error & { kind?: string }) => {
      assert.equal(err.kind, 'refused');
      return true;
    });
    await jm.dispose();
    void pg;
  });
});
