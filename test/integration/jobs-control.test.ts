// Cancel, cancel with grace, wait (timeout / abort), detach, concurrency, and the faults:
// a terminated worker, a killed launcher session. No timed assertions: every wait is for an
// event or a server-side condition.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FINAL_STATES } from '../../src/core/model.js';
import type { EngineSettings } from '../../src/core/jobManager.js';
import { CONN, openHarness, until, untilQuery, type Harness } from './support.js';

let h: Harness;
/** Read by the engine on every use: a test may change it for its own jobs. */
const settings: Partial<EngineSettings> = {};
before(async () => {
  h = await openHarness(settings);
});
after(async () => h?.close());

const workerRunning = (pid: number) =>
  untilQuery<{ n: number }>(h.other, `SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1 AND state = 'active'`, [pid], (r) => r[0].n === 1);

describe('job control', { timeout: 600_000 }, () => {
  it('cancel stops a running job', async () => {
    const job = await h.jm.launch(CONN, 'SELECT pg_sleep(60)');
    await workerRunning(job.pid!);
    await h.jm.cancel(job.id);
    assert.equal(await h.jm.wait(job.id), 'done');
    const j = h.jm.job(job.id)!;
    assert.equal(j.state, 'canceled');
  });

  it('cancel with grace terminates a worker that ignores the cancel', async () => {
    // The loop swallows query_canceled, so only the termination after the grace period ends it.
    const sql = `DO $$ BEGIN LOOP BEGIN PERFORM pg_sleep(0.05); EXCEPTION WHEN query_canceled THEN NULL; END; END LOOP; END $$`;
    const job = await h.jm.launch(CONN, sql);
    await workerRunning(job.pid!);
    await h.jm.cancel(job.id, 200);
    assert.equal(await h.jm.wait(job.id), 'done');
    const j = h.jm.job(job.id)!;
    assert.ok(['canceled', 'lost', 'error'].includes(j.state), j.state);
    await untilQuery<{ n: number }>(h.other, 'SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [job.pid], (r) => r[0].n === 0);
  });

  it('a grace cancel of a cooperative job just cancels it', async () => {
    const job = await h.jm.launch(CONN, 'SELECT pg_sleep(60)');
    await workerRunning(job.pid!);
    await h.jm.cancel(job.id, 60000);
    await h.jm.wait(job.id);
    assert.equal(h.jm.job(job.id)!.state, 'canceled');
  });

  it('wait with a timeout, and an aborted wait, leave the job running', async () => {
    const job = await h.jm.launch(CONN, 'SELECT pg_sleep(60)');
    assert.equal(await h.jm.wait(job.id, { timeoutMs: 50 }), 'timeout');
    assert.equal(h.jm.job(job.id)!.state, 'running');
    const ac = new AbortController();
    const waiting = h.jm.wait(job.id, { signal: ac.signal });
    ac.abort();
    assert.equal(await waiting, 'aborted');
    assert.equal(h.jm.job(job.id)!.state, 'running');
    // The session stays usable while the job runs: another job completes meanwhile.
    const quick = await h.jm.launch(CONN, 'SELECT 42');
    assert.equal(await h.jm.wait(quick.id), 'done');
    assert.equal(h.jm.job(quick.id)!.state, 'completed');
    await h.jm.cancel(job.id);
    assert.equal(await h.jm.wait(job.id), 'done');
  });

  it('detach lets the worker go on and keeps the rows received so far', async () => {
    await h.other.query('DROP TABLE IF EXISTS pgbg_itest_detach');
    const sql = `SELECT g FROM generate_series(1, 10) g; SELECT pg_sleep(1); CREATE TABLE pgbg_itest_detach AS SELECT 1 AS done`;
    const job = await h.jm.launch(CONN, sql);
    await until(h.jm, job.id, (j) => j.rowsReceived >= 10);
    await h.jm.detach(job.id);
    const j = h.jm.job(job.id)!;
    assert.equal(j.state, 'detached');
    assert.equal(j.hasResult, true);
    const store = h.jm.store(job.id)!;
    assert.equal(store.complete, true);
    assert.equal((await store.getRows(1, 0, 100)).length, 10);
    // The worker finished its work on its own.
    await untilQuery<{ n: number }>(h.other, `SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'pgbg_itest_detach'`, [], (r) => r[0].n === 1);
    await h.other.query('DROP TABLE pgbg_itest_detach');
  });

  it('drains several concurrent jobs on one session fairly', async () => {
    const sizes = [20000, 5000, 30000, 1];
    const jobs = await Promise.all(sizes.map((n, i) => h.jm.launch(CONN, `SELECT g, ${i} AS job, repeat('x', 50) FROM generate_series(1, ${n}) g`)));
    const pids = new Set(jobs.map((j) => j.pid));
    assert.equal(pids.size, sizes.length, 'one worker per job');
    for (const j of jobs) assert.equal(await h.jm.wait(j.id), 'done');
    for (const [i, j] of jobs.entries()) {
      const info = h.jm.job(j.id)!;
      assert.equal(info.state, 'completed');
      assert.equal(info.rowsReceived, sizes[i]);
      const last = await h.jm.store(j.id)!.getRows(1, sizes[i] - 1, 1);
      assert.deepEqual(last[0].slice(0, 2), [String(sizes[i]), String(i)]);
    }
  });

  it('a job whose worker is terminated ends (lost or error) without hanging', async () => {
    const job = await h.jm.launch(CONN, 'SELECT pg_sleep(60)');
    await workerRunning(job.pid!);
    await h.other.query('SELECT pg_terminate_backend($1)', [job.pid]);
    assert.equal(await h.jm.wait(job.id), 'done');
    const j = h.jm.job(job.id)!;
    assert.ok(['lost', 'error'].includes(j.state), j.state);
  });

  it('a killed launcher session loses its non-durable jobs and reconnects for new work', async (t) => {
    // Durable jobs re-attach instead (durable.test.ts); this is the path of servers without attach.
    settings.durableJobs = false;
    t.after(() => {
      delete settings.durableJobs;
    });
    const caps = await h.jm.capabilities(CONN);
    const job = await h.jm.launch(CONN, 'SELECT pg_sleep(60)');
    assert.equal(job.durable, false);
    await workerRunning(job.pid!);
    const lostEvent = new Promise<string[]>((resolve) => {
      const sub = h.jm.onDidLoseSession((e) => {
        sub.dispose();
        resolve(e.lostJobIds);
      });
    });
    await h.other.query('SELECT pg_terminate_backend($1)', [caps.launcherPid]);
    const lostIds = await lostEvent;
    assert.ok(lostIds.includes(job.id));
    const j = h.jm.job(job.id)!;
    assert.equal(j.state, 'lost');
    assert.match(j.note ?? '', /launcher session ended/);
    // Calls on the old handle are refused rather than sent to a new session.
    await h.jm.cancel(job.id); // final: a no-op
    // New work reconnects lazily.
    const next = await h.jm.launch(CONN, 'SELECT 1 AS again');
    assert.equal(await h.jm.wait(next.id), 'done');
    assert.equal(h.jm.job(next.id)!.state, 'completed');
    const caps2 = await h.jm.capabilities(CONN);
    assert.notEqual(caps2.launcherPid, caps.launcherPid);
    // The orphaned worker was not ours to keep: stop it so it does not linger.
    await h.other.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = $1`, [job.pid]);
  });

  it('every job ends in a final state', () => {
    for (const j of h.jm.jobs()) assert.ok(FINAL_STATES.has(j.state), `${j.id} ${j.state}`);
  });
});
