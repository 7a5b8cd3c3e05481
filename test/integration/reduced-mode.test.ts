// Reduced mode end to end: a database whose pg_background lacks fetch_v2 (we remove it from the
// extension and drop it, which is what an original 1.x install looks like to the engine). Jobs
// launch, cancel and wait; results come from result_v2 with a described column list.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import type { JobManager } from '../../src/core/jobManager.js';
import { clusterConfig, openScratchDatabase, type ScratchDatabase, untilQuery } from './support.js';

const DB = 'pgbg_itest_reduced';
let scratch: ScratchDatabase;
let jm: JobManager;
let admin: pg.Client;

before(async () => {
  scratch = await openScratchDatabase(DB, { fetchBatchSize: 1000, pollIntervalMs: 50, memoryRowBudget: 1000 }, async (db) => {
    await db.query('CREATE EXTENSION pg_background');
    await db.query('ALTER EXTENSION pg_background DROP FUNCTION pg_background_fetch_v2(int4, int8, int4, int4)');
    await db.query('DROP FUNCTION pg_background_fetch_v2(int4, int8, int4, int4)');
  });
  jm = scratch.jm;
  admin = scratch.admin;
});

after(async () => {
  await scratch?.close();
});

describe('reduced mode (server without fetch_v2)', { timeout: 600_000 }, () => {
  it('is detected and reported', async () => {
    const caps = await jm.openConnection('reduced', { ...clusterConfig(), database: DB });
    assert.equal(caps.installed, true);
    assert.equal(caps.hasFetchV2, false);
    assert.equal(caps.reducedMode, true);
  });

  it('launches, waits and reads rows through result_v2', async () => {
    const job = await jm.launch('reduced', `SELECT g AS n, md5(g::text) AS h, NULL::date AS d FROM generate_series(1, 500) g`);
    assert.equal(job.reducedMode, true);
    assert.match(job.note ?? '', /Reduced mode/);
    assert.equal(await jm.wait(job.id), 'done');
    const j = jm.job(job.id)!;
    assert.equal(j.state, 'completed', JSON.stringify(j.error));
    assert.equal(j.rowsReceived, 500);
    const store = jm.store(job.id)!;
    assert.deepEqual(store.statements()[0].columns?.map((c) => [c.name, c.type]), [['n', 'integer'], ['h', 'text'], ['d', 'date']]);
    assert.deepEqual((await store.getRows(1, 499, 1))[0].slice(0, 1), ['500']);
    assert.equal((await store.getRows(1, 0, 1))[0][2], null);
  });

  it('reports a failing job as an error with its SQLSTATE', async () => {
    const job = await jm.launch('reduced', 'SELECT 1/0 AS x');
    await jm.wait(job.id);
    const j = jm.job(job.id)!;
    assert.equal(j.state, 'error');
    assert.equal(j.error?.sqlstate, '22012');
  });

  it('cancels a running job', async () => {
    const job = await jm.launch('reduced', 'SELECT pg_sleep(60) AS s');
    await untilQuery<{ n: number }>(admin, `SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1 AND state = 'active'`, [job.pid], (r) => r[0].n === 1);
    await jm.cancel(job.id);
    await jm.wait(job.id);
    assert.equal(jm.job(job.id)!.state, 'canceled', JSON.stringify(jm.job(job.id)!.error));
  });

  it('runs SQL it cannot describe, without results', async () => {
    const job = await jm.launch('reduced', 'SELECT 1; SELECT 2');
    assert.match(job.note ?? '', /cannot be described/);
    await jm.wait(job.id);
    assert.equal(jm.job(job.id)!.state, 'completed');
    assert.equal(jm.store(job.id), undefined);
  });
});
