// Durable jobs through the real engine and server (issue 11): the launcher backend terminated
// mid-stream (and in the middle of a fetch_v2 batch), a new engine on the same storage (a
// window reload), the server-wide job list with Attach/Cancel/Wait/Discard, giving up on an
// unreachable server, and servers without attach (1.9) staying as they were.
// Exactness is checked against the query's own count and checksum, computed by the server.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { after, before, describe, it } from 'node:test';
import { JobManager, type ConnectionStateEvent, type EngineSettings } from '../../src/core/jobManager.js';
import type { JobInfo, ResultStore } from '../../src/core/model.js';
import type { SpooledResultStore } from '../../src/core/resultStore.js';
import { CONN, clusterConfig, openHarness, openScratchDatabase, until, untilQuery, type Harness } from './support.js';

/**
 * A million rows whose stream takes a few seconds whatever the machine: the worker sleeps 0.3 s
 * at every 200,000th row, so a launcher terminated after the first 100,000 rows is mid-stream.
 */
const MILLION = `SELECT g, md5(g::text) AS h FROM generate_series(1, 1000000) g
  WHERE CASE WHEN g % 200000 = 0 THEN (SELECT true FROM pg_sleep(0.3)) ELSE true END`;

const BASE_SETTINGS: EngineSettings = { queueSize: 0, fetchBatchSize: 5000, pollIntervalMs: 100, memoryRowBudget: 20000, defaultGraceMs: 1000 };

let h: Harness;
const settings: Partial<EngineSettings> = {};
before(async () => {
  h = await openHarness(settings);
});
after(async () => h?.close());

/** The query's own row count and checksum (md5 over "g:h" lines in g order), by the server. */
async function expected(client: pg.Client, sql: string, database?: string): Promise<{ n: number; sum: string }> {
  let c = client;
  if (database) {
    c = new pg.Client({ ...clusterConfig(), database });
    await c.connect();
  }
  try {
    const r = await c.query<{ n: number; sum: string }>(`SELECT count(*)::int AS n, md5(string_agg(g::text || ':' || h, E'\\n' ORDER BY g)) AS sum FROM (${sql}) q`);
    return r.rows[0];
  } finally {
    if (database) await c.end();
  }
}

/** The same over the store, which must hold every row once and in order. */
async function stored(store: ResultStore): Promise<{ n: number; sum: string }> {
  const md5 = crypto.createHash('md5');
  let n = 0;
  let prev = 0;
  for await (const row of store.iterateRows(1)) {
    const g = Number(row[0]);
    assert.equal(g, prev + 1, `row ${n + 1}: g=${g} after ${prev} (a row missing or twice)`);
    prev = g;
    md5.update(`${n > 0 ? '\n' : ''}${row[0]}:${row[1]}`);
    n++;
  }
  return { n, sum: md5.digest('hex') };
}

function recordStates(jm: JobManager, id: string): JobInfo[] {
  const seen: JobInfo[] = [];
  jm.onDidChangeJob((j) => {
    if (j.id === id) seen.push(j);
  });
  return seen;
}

function connectionEvents(jm: JobManager): ConnectionStateEvent[] {
  const events: ConnectionStateEvent[] = [];
  jm.onDidChangeConnection((e) => events.push(e));
  return events;
}

/** Polls the server registry until the job's entry is gone (freed by the final acknowledgement). */
async function untilFreed(client: pg.Client, pid: number): Promise<void> {
  await untilQuery<{ n: number }>(client, 'SELECT count(*)::int AS n FROM pg_background_jobs_v2() WHERE pid = $1', [pid], (r) => r[0].n === 0);
}

describe('durable jobs', { timeout: 600_000 }, () => {
  it('the server has attach_v2: jobs are durable', async () => {
    const caps = await h.jm.capabilities(CONN);
    assert.equal(caps.attach, true, `pg_background ${caps.version} here has no pg_background_attach_v2`);
    const job = await h.jm.launch(CONN, 'SELECT 1 AS one');
    assert.equal(job.durable, true);
    assert.equal(job.note, undefined);
    assert.equal(await h.jm.wait(job.id), 'done');
    assert.equal(h.jm.job(job.id)!.state, 'completed');
    await untilFreed(h.other, job.pid!);
  });

  it('launcher backend terminated mid-stream of 1,000,000 rows: reconnects, re-attaches, the store is complete and exact', async () => {
    const want = await expected(h.other, MILLION);
    assert.equal(want.n, 1_000_000);
    const caps = await h.jm.capabilities(CONN);
    const events = connectionEvents(h.jm);
    const job = await h.jm.launch(CONN, MILLION);
    const seen = recordStates(h.jm, job.id);
    await until(h.jm, job.id, (j) => j.rowsReceived >= 100_000);
    await h.other.query('SELECT pg_terminate_backend($1)', [caps.launcherPid]);
    assert.equal(await h.jm.wait(job.id), 'done');
    const j = h.jm.job(job.id)!;
    assert.equal(j.state, 'completed', j.note);
    assert.ok(seen.some((s) => s.reconnecting === true && s.state === 'running'), 'the job was shown re-attaching, not lost');
    assert.ok(events.some((e) => e.state === 'reconnecting' && e.attempt === 1 && typeof e.nextInMs === 'number'), 'the connection said it was reconnecting');
    assert.ok(h.logs.some((l) => l.includes(`job ${job.id} re-attached`)), 'the job was re-attached');
    assert.ok(rowsBefore(seen) < 1_000_000, 'terminated before the last row arrived');
    assert.equal(j.rowsReceived, 1_000_000);
    assert.deepEqual(await stored(h.jm.store(job.id)!), want);
    assert.equal(h.jm.store(job.id)!.statements()[0].commandTag, 'SELECT 1000000');
    assert.notEqual((await h.jm.capabilities(CONN)).launcherPid, caps.launcherPid);
    await untilFreed(h.other, job.pid!);
    h.jm.clear(job.id);
  });

  it('a new engine on the same storage (a window reload) re-attaches and finishes the job exactly', async () => {
    const want = await expected(h.other, MILLION);
    const storageDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgbg-reload-'));
    try {
      const first = new JobManager({ storageDir, settings: () => BASE_SETTINGS });
      await first.openConnection(CONN, clusterConfig());
      const job = await first.launch(CONN, MILLION);
      await until(first, job.id, (j) => j.rowsReceived >= 50_000);
      // The history is saved now; the window goes on reading before it closes, so the store's
      // journal is ahead of the saved lastSeq (the journal must win: nothing twice).
      const records = JSON.parse(JSON.stringify(first.toHistory()));
      await until(first, job.id, (j) => j.rowsReceived >= 150_000);
      const rowsAtClose = first.job(job.id)!.rowsReceived;
      await first.dispose();
      assert.ok(fs.readdirSync(storageDir).some((f) => f.endsWith('.meta')), 'the store and its journal outlive the window');

      const second = new JobManager({ storageDir, settings: () => BASE_SETTINGS });
      second.registerConnection(CONN, clusterConfig());
      const restored = second.restoreHistory(records);
      const back = restored.find((r) => r.id === job.id)!;
      assert.equal(back.state, 'running');
      assert.equal(back.reconnecting, true);
      assert.ok(back.rowsReceived >= rowsAtClose, `the reopened store holds what the first window committed (${back.rowsReceived} < ${rowsAtClose})`);
      await second.reattachAll();
      assert.equal(await second.wait(job.id), 'done');
      const j = second.job(job.id)!;
      assert.equal(j.state, 'completed', j.note);
      assert.equal(j.rowsReceived, 1_000_000);
      assert.deepEqual(await stored(second.store(job.id)!), want);
      await untilFreed(h.other, job.pid!);
      // After a second reload the finished job's grid still reads (its store reopens read-only).
      const again = JSON.parse(JSON.stringify(second.toHistory()));
      await second.dispose();
      const third = new JobManager({ storageDir, settings: () => BASE_SETTINGS });
      const done = third.restoreHistory(again).find((r) => r.id === job.id)!;
      assert.equal(done.state, 'completed');
      assert.equal(done.hasResult, true);
      assert.equal(third.store(job.id)!.complete, true);
      assert.deepEqual(await stored(third.store(job.id)!), want);
      third.clear(job.id);
      assert.deepEqual(fs.readdirSync(storageDir), [], 'clearing the job deletes its files');
      await third.dispose();
    } finally {
      fs.rmSync(storageDir, { recursive: true, force: true });
    }
  });

  it('many reloads of one 1,000,000-row job, each engine disposed at a random point of its pump: never acknowledged past its journal', async () => {
    // Each engine is disposed while its pump is somewhere in a fetch_v2 round trip or in applying
    // a batch; the next engine reopens the store from its journal and attaches with after_seq =
    // the journal's last seq. The server refuses (55000) an after_seq below what it was told the
    // reader holds, so one acknowledgement beyond the journal ends the job lost.
    // Short sleeps make the worker slower than the reader now and then, so that a disposed
    // engine's backend is often still waiting inside fetch_v2 when the next engine attaches.
    const sql = `SELECT g, md5(g::text) AS h FROM generate_series(1, 1000000) g
      WHERE CASE WHEN g % 25000 = 0 THEN (SELECT true FROM pg_sleep(0.05)) ELSE true END`;
    const want = await expected(h.other, sql);
    const storageDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgbg-reloads-'));
    const reloads = Number(process.env.PGBG_RELOADS ?? 40);
    const make = (): JobManager => new JobManager({ storageDir, settings: () => ({ ...BASE_SETTINGS, fetchBatchSize: 2000 }) });
    let engine = make();
    try {
      await engine.openConnection(CONN, clusterConfig());
      const job = await engine.launch(CONN, sql);
      for (let i = 0; i < reloads; i++) {
        const j = engine.job(job.id)!;
        if (j.state !== 'running') break;
        const from = j.rowsReceived;
        await until(engine, job.id, (x) => x.state !== 'running' || x.rowsReceived > from);
        // Somewhere inside the pump's next round trips (a fetch in flight, or its answer being applied).
        await new Promise((resolve) => setTimeout(resolve, i % 7));
        for (let k = 0; k < i % 5; k++) await new Promise((resolve) => setImmediate(resolve));
        const launcherPid = (await engine.capabilities(CONN)).launcherPid;
        const records = JSON.parse(JSON.stringify(engine.toHistory()));
        await engine.dispose();
        // dispose() let the call in flight finish before it ended the session: the old backend
        // is not inside a fetch_v2 (where a take-over would race it) and sends nothing more.
        const active = await h.other.query<{ q: string }>(`SELECT query AS q FROM pg_stat_activity WHERE pid = $1 AND state = 'active'`, [launcherPid]);
        assert.deepEqual(active.rows, [], `reload ${i + 1}: the disposed engine's backend is still running a call`);
        engine = make();
        engine.registerConnection(CONN, clusterConfig());
        const back = engine.restoreHistory(records).find((r) => r.id === job.id)!;
        if (back.state !== 'running') break;
        // What the server was told the reader holds never exceeds what the journal holds.
        const held = await h.other.query<{ acked: string }>('SELECT acked_seq::text AS acked FROM pg_background_jobs_v2() WHERE pid = $1', [job.pid]);
        if (held.rows.length > 0) {
          const journal = (engine.store(job.id) as SpooledResultStore).lastSeq;
          assert.ok(Number(held.rows[0].acked) <= journal, `reload ${i + 1}: the server acknowledged ${held.rows[0].acked}, the journal holds ${journal}`);
        }
        await engine.reattachAll();
        const now = engine.job(job.id)!;
        assert.ok(now.state === 'running' || now.state === 'completed', `reload ${i + 1}: ${now.state}: ${now.note ?? ''}`);
      }
      assert.equal(await engine.wait(job.id), 'done');
      const j = engine.job(job.id)!;
      assert.equal(j.state, 'completed', j.note);
      assert.equal(j.rowsReceived, 1_000_000);
      assert.deepEqual(await stored(engine.store(job.id)!), want);
      await untilFreed(h.other, job.pid!);
    } finally {
      await engine.dispose();
      fs.rmSync(storageDir, { recursive: true, force: true });
    }
  });

  it('an engine disposed while its fetch_v2 is paused on the server (no answer): dispose ends, the next engine re-attaches and finishes exactly', async () => {
    // dispose() waits for calls on the wire only for a bounded time; this one would take a minute.
    const db = await openScratchDatabase('pgbg_durable_dispose', BASE_SETTINGS, async (c) => {
      await c.query('CREATE EXTENSION pg_background');
      await c.query(`ALTER DATABASE pgbg_durable_dispose SET pg_background.test_pause_fetch_after = 100`);
    });
    const storageDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgbg-dispose-'));
    const config = { ...clusterConfig(), database: db.name };
    let second: JobManager | undefined;
    try {
      const sql = 'SELECT g, md5(g::text) AS h FROM generate_series(1, 1000000) g';
      const want = await expected(db.admin, sql, db.name);
      const first = new JobManager({ storageDir, settings: () => BASE_SETTINGS });
      const caps = await first.openConnection(CONN, config);
      const job = await first.launch(CONN, sql);
      await untilQuery<{ n: number }>(
        db.admin,
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Extension' AND state = 'active'`,
        [caps.launcherPid],
        (r) => r[0].n === 1,
      );
      await db.admin.query(`ALTER DATABASE ${db.name} RESET pg_background.test_pause_fetch_after`);
      const records = JSON.parse(JSON.stringify(first.toHistory()));
      await first.dispose();
      second = new JobManager({ storageDir, settings: () => BASE_SETTINGS });
      second.restoreHistory(records);
      await second.openConnection(CONN, config);
      await second.reattachAll();
      assert.equal(await second.wait(job.id), 'done');
      const j = second.job(job.id)!;
      assert.equal(j.state, 'completed', j.note);
      assert.deepEqual(await stored(second.store(job.id)!), want);
    } finally {
      await second?.dispose();
      fs.rmSync(storageDir, { recursive: true, force: true });
      await db.close();
    }
  });

  it('a done that did not reach the journal (its store was closed) is not acknowledged: the server keeps the job', async () => {
    const job = await h.jm.launch(CONN, 'SELECT pg_sleep(0.3) AS s, 1 AS one');
    const store = h.jm.store(job.id) as SpooledResultStore;
    // As when dispose() has closed the store under a batch that was still on its way.
    store.close();
    assert.equal(await h.jm.wait(job.id), 'done');
    assert.equal(store.lastSeq, 0, 'nothing was committed to the closed store');
    // Runs on the same launcher session after a final acknowledgement would have.
    const listed = (await h.jm.listServerJobs(CONN)).find((s) => s.pid === job.pid);
    assert.ok(listed, 'no final acknowledgement beyond the journal: the server still holds the job');
    assert.ok(listed.ackedSeq <= store.lastSeq, `acked ${listed.ackedSeq}`);
    // Another session takes it over and throws its output away.
    await h.other.query('SELECT * FROM pg_background_attach_v2($1, $2::int8, after_seq => NULL, takeover => true)', [job.pid, job.cookie]);
    await h.other.query('SELECT pg_background_detach_v2($1, $2::int8)', [job.pid, job.cookie]);
    await untilFreed(h.other, job.pid!);
    h.jm.clear(job.id);
  });

  it('launcher terminated while a fetch_v2 batch is paused on the server: resumes by seq, nothing lost or twice', async () => {
    const db = await openScratchDatabase('pgbg_durable_pause', BASE_SETTINGS, async (c) => {
      await c.query('CREATE EXTENSION pg_background');
      // fetch_v2 of sessions connecting to this database sleeps once one batch has taken this
      // many rows off the queue: the batch is in flight, rows dequeued but not returned. The
      // worker sends rows in frames of ~170 such rows, so the first batch with rows pauses.
      await c.query(`ALTER DATABASE pgbg_durable_pause SET pg_background.test_pause_fetch_after = 100`);
    });
    try {
      const sql = 'SELECT g, md5(g::text) AS h FROM generate_series(1, 200000) g';
      const want = await expected(db.admin, sql, db.name);
      const caps = await db.jm.openConnection(CONN, { ...clusterConfig(), database: db.name });
      const job = await db.jm.launch(CONN, sql);
      for (;;) {
        const r = await db.admin.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Extension' AND state = 'active'`,
          [caps.launcherPid],
        );
        if (r.rows[0].n === 1) break;
        assert.equal(db.jm.job(job.id)!.state, 'running', 'the job ended without its fetch_v2 pausing');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // The next session must not pause again.
      await db.admin.query(`ALTER DATABASE ${db.name} RESET pg_background.test_pause_fetch_after`);
      const before = db.jm.job(job.id)!.rowsReceived;
      await db.admin.query('SELECT pg_terminate_backend($1)', [caps.launcherPid]);
      assert.equal(await db.jm.wait(job.id), 'done');
      const j = db.jm.job(job.id)!;
      assert.equal(j.state, 'completed', j.note);
      assert.ok(before < 200_000);
      assert.deepEqual(await stored(db.jm.store(job.id)!), want);
    } finally {
      await db.close();
    }
  });

  it('lists server jobs; Attach (55006, then take-over), Cancel, Wait and Discard work on jobs launched elsewhere', async () => {
    // "psql": a plain client launches a job and keeps its session (it is the live reader).
    const sql = 'SELECT g, md5(g::text) AS h FROM generate_series(1, 30000) g';
    const want = await expected(h.other, sql);
    const psql = new pg.Client(clusterConfig());
    await psql.connect();
    try {
      const l = await psql.query<{ pid: number; cookie: string }>(`SELECT (x).pid, (x).cookie::text AS cookie FROM (SELECT pg_background_launch_v2($1) AS x) s`, [sql]);
      const { pid, cookie } = l.rows[0];
      const listed = (await h.jm.listServerJobs(CONN)).find((s) => s.pid === pid);
      assert.ok(listed, 'the job launched elsewhere is listed');
      assert.equal(listed.cookie, cookie);
      assert.equal(listed.localJobId, undefined);
      assert.equal(typeof listed.launchedAt, 'number');
      assert.match(listed.sqlPreview, /generate_series/);

      await assert.rejects(h.jm.attachServerJob(CONN, pid, cookie), (err: unknown) => {
        assert.equal((err as { sqlstate?: string }).sqlstate, '55006', String(err));
        return true;
      });
      const attached = await h.jm.attachServerJob(CONN, pid, cookie, { takeover: true });
      assert.equal(attached.durable, true);
      await assert.rejects(psql.query('SELECT * FROM pg_background_fetch_v2($1, $2::int8)', [pid, cookie]), /taken over/);
      assert.equal(await h.jm.wait(attached.id), 'done');
      assert.equal(h.jm.job(attached.id)!.state, 'completed', h.jm.job(attached.id)!.note);
      assert.deepEqual(await stored(h.jm.store(attached.id)!), want, 'nothing was read by the launcher: the whole result');
      await untilFreed(h.other, pid);
      await assert.rejects(psql.query('SELECT * FROM pg_background_fetch_v2($1, $2::int8)', [pid, cookie]), /taken over/, 'and on its next call too');
    } finally {
      await psql.end();
    }

    // Cancel and Wait as an observer on a job whose launcher is gone.
    const gone = new pg.Client(clusterConfig());
    await gone.connect();
    const s = await gone.query<{ pid: number; cookie: string }>(`SELECT (x).pid, (x).cookie::text AS cookie FROM (SELECT pg_background_launch_v2('SELECT pg_sleep(60)') AS x) s`);
    await gone.end();
    const sleeper = s.rows[0];
    assert.equal(await h.jm.waitServerJob(CONN, sleeper.pid, sleeper.cookie, 300), false, 'still running after 300 ms');
    await h.jm.cancelServerJob(CONN, sleeper.pid, sleeper.cookie);
    assert.equal(await h.jm.waitServerJob(CONN, sleeper.pid, sleeper.cookie, 60_000), true);
    const after = (await h.jm.listServerJobs(CONN)).find((x) => x.pid === sleeper.pid);
    assert.equal(after?.state, 'canceled');
    await h.jm.discardServerJob(CONN, sleeper.pid, sleeper.cookie);
    await untilFreed(h.other, sleeper.pid);
  });

  it('a server that stays unreachable: reconnect attempts, then the job is lost with "server unreachable"', async () => {
    const storageDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgbg-giveup-'));
    const jm = new JobManager({ storageDir, settings: () => ({ ...BASE_SETTINGS, reconnectGiveUpSeconds: 2 }) });
    try {
      const events = connectionEvents(jm);
      const caps = await jm.openConnection(CONN, clusterConfig());
      const job = await jm.launch(CONN, 'SELECT pg_sleep(60)');
      // The profile now points at a port nobody listens on: every reconnect is refused.
      jm.registerConnection(CONN, { ...clusterConfig(), port: 1 });
      await h.other.query('SELECT pg_terminate_backend($1)', [caps.launcherPid]);
      assert.equal(await jm.wait(job.id), 'done');
      const j = jm.job(job.id)!;
      assert.equal(j.state, 'lost');
      assert.match(j.note ?? '', /server unreachable/);
      const attempts = events.filter((e) => e.state === 'reconnecting').map((e) => e.attempt);
      assert.ok(attempts.length >= 2 && attempts[0] === 1 && attempts[1] === 2, `attempts ${attempts.join(',')}`);
      assert.ok(events.some((e) => e.state === 'failed' && /unreachable/.test(e.error ?? '')));
      // The worker is still on the server: stop it and discard it from a session that can reach it.
      await h.jm.cancelServerJob(CONN, job.pid!, job.cookie!);
      assert.equal(await h.jm.waitServerJob(CONN, job.pid!, job.cookie!, 60_000), true);
      await h.jm.discardServerJob(CONN, job.pid!, job.cookie!);
      await untilFreed(h.other, job.pid!);
    } finally {
      await jm.dispose();
      fs.rmSync(storageDir, { recursive: true, force: true });
    }
  });

  it('a restored job the server no longer holds ends lost with the reason', async () => {
    const storageDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgbg-gone-'));
    const jm = new JobManager({ storageDir, settings: () => BASE_SETTINGS });
    try {
      jm.registerConnection(CONN, clusterConfig());
      const base = { connectionName: CONN, sql: 'SELECT 1', mode: 'launch' as const, launchedAt: 1, rowsReceived: 0, hasResult: false, durable: true };
      const [gone] = jm.restoreHistory([{ ...base, id: 'gone1', state: 'running', pid: 2147483000, cookie: '12345', reattach: { lastSeq: 0 } }]);
      assert.equal(gone.reconnecting, true);
      await jm.reattachAll();
      assert.equal(await jm.wait('gone1'), 'done');
      const j = jm.job('gone1')!;
      assert.equal(j.state, 'lost');
      assert.match(j.note ?? '', /the server no longer holds this job \(retention expired or discarded\)/);
      assert.equal(j.reconnecting, undefined);
    } finally {
      await jm.dispose();
      fs.rmSync(storageDir, { recursive: true, force: true });
    }
  });

  it('durableJobs off: a job on this server behaves as before (not durable, lost with the session)', async (t) => {
    settings.durableJobs = false;
    t.after(() => {
      delete settings.durableJobs;
    });
    const job = await h.jm.launch(CONN, 'SELECT g FROM generate_series(1, 10) g');
    assert.equal(job.durable, false);
    assert.match(job.note ?? '', /^Not durable: durable jobs are turned off/);
    assert.equal(await h.jm.wait(job.id), 'done');
    const store = h.jm.store(job.id) as SpooledResultStore;
    assert.equal(store.statements()[0].rowCount, 10);
    assert.equal(store.journaled, false, 'no journal');
    assert.ok(!fs.existsSync(path.join(h.storageDir, `${store.storeId}.meta`)));
  });
});

describe('a server without attach (1.9 catalog)', { timeout: 600_000 }, () => {
  it('jobs run as before: not durable, labelled, lost when the launcher session drops', async () => {
    const db = await openScratchDatabase('pgbg_durable_19', BASE_SETTINGS, async (c) => {
      await c.query(`CREATE EXTENSION pg_background VERSION '1.9'`);
    });
    try {
      const caps = await db.jm.openConnection(CONN, { ...clusterConfig(), database: db.name });
      assert.equal(caps.version, '1.9');
      assert.equal(caps.attach, false);
      assert.equal(caps.hasFetchV2, true);
      const sql = 'SELECT g, md5(g::text) AS h FROM generate_series(1, 20000) g';
      const ok = await db.jm.launch(CONN, sql);
      assert.equal(ok.durable, false);
      assert.match(ok.note ?? '', /^Not durable: pg_background 1\.9 on this server cannot re-attach/);
      assert.equal(await db.jm.wait(ok.id), 'done');
      assert.equal(db.jm.job(ok.id)!.state, 'completed');
      assert.deepEqual(await stored(db.jm.store(ok.id)!), await expected(db.admin, sql, db.name));
      assert.deepEqual(await db.jm.listServerJobs(CONN), [], 'no server-wide registry on 1.9');

      const lostIds = new Promise<string[]>((resolve) => {
        const sub = db.jm.onDidLoseSession((e) => {
          sub.dispose();
          resolve(e.lostJobIds);
        });
      });
      const sleeper = await db.jm.launch(CONN, 'SELECT pg_sleep(60)');
      await db.admin.query('SELECT pg_terminate_backend($1)', [caps.launcherPid]);
      assert.deepEqual(await lostIds, [sleeper.id]);
      const j = db.jm.job(sleeper.id)!;
      assert.equal(j.state, 'lost');
      assert.equal(j.reconnecting, undefined);
      assert.match(j.note ?? '', /launcher session ended/);
      await db.admin.query('SELECT pg_terminate_backend($1)', [sleeper.pid]);
    } finally {
      await db.close();
    }
  });
});

/** The most rows a job had before its first `reconnecting` change. */
function rowsBefore(seen: JobInfo[]): number {
  const i = seen.findIndex((s) => s.reconnecting === true);
  return i < 0 ? Number.POSITIVE_INFINITY : seen[i].rowsReceived;
}
