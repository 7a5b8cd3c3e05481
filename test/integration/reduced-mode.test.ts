// Reduced mode end to end, on two servers without fetch_v2: our own extension with fetch_v2
// removed (a lenient result_v2), and a stand-in for the original 1.8 (original18.ts) with its
// strict column check, SIGTERM cancel, outcome-less list_v2 and notices relayed to the reader.
// Jobs launch, cancel and wait; results come from result_v2 with a described column list.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { JobManager } from '../../src/core/jobManager.js';
import type { JobInfo } from '../../src/core/model.js';
import { fetchV2Signature, installOriginal18StandIn } from './original18.js';
import { clusterConfig, openScratchDatabase, type ScratchDatabase, untilQuery } from './support.js';

const DB = 'pgbg_itest_reduced';
let scratch: ScratchDatabase;
let jm: JobManager;
let admin: pg.Client;

before(async () => {
  scratch = await openScratchDatabase(DB, { fetchBatchSize: 1000, pollIntervalMs: 50, memoryRowBudget: 1000 }, async (db) => {
    await db.query('CREATE EXTENSION pg_background');
    // 1.9 has four arguments, 1.10 five (after_seq)
    const fetchV2 = await fetchV2Signature(db);
    await db.query(`ALTER EXTENSION pg_background DROP FUNCTION ${fetchV2}`);
    await db.query(`DROP FUNCTION ${fetchV2}`);
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

  it('runs SQL it cannot describe, without rows', async () => {
    const job = await jm.launch('reduced', 'SELECT 1; SELECT 2');
    assert.match(job.note ?? '', /cannot be described/);
    await jm.wait(job.id);
    assert.notEqual(jm.job(job.id)!.state, 'error');
    assert.deepEqual(jm.store(job.id)?.statements(), []);
  });
});

// The original 1.8 itself, as far as the engine can tell (test/integration/original18.ts).
describe('reduced mode against the original 1.8 (stand-in)', { timeout: 600_000 }, () => {
  const DB18 = 'pgbg_itest_orig18';
  let s18: ScratchDatabase;
  let jm18: JobManager;
  let db18: pg.Client;

  before(async () => {
    s18 = await openScratchDatabase(DB18, { fetchBatchSize: 1000, pollIntervalMs: 50, memoryRowBudget: 1000 }, async (db) => {
      await installOriginal18StandIn(db);
      await db.query('CREATE TABLE t18 (x int PRIMARY KEY)');
      await db.query(`CREATE FUNCTION noisy() RETURNS int LANGUAGE plpgsql AS $$
        BEGIN RAISE NOTICE 'halfway there' USING DETAIL = 'step 1 of 2'; RAISE WARNING 'careful'; RETURN 1; END $$`);
    });
    jm18 = s18.jm;
    const caps = await jm18.openConnection('orig18', { ...clusterConfig(), database: DB18 });
    assert.equal(caps.reducedMode, true);
    db18 = new pg.Client({ ...clusterConfig(), database: DB18 });
    await db18.connect();
  });

  after(async () => {
    await db18?.end();
    await s18?.close();
  });

  async function run(sql: string, mode: 'launch' | 'submit' = 'launch'): Promise<JobInfo> {
    const job = await jm18.launch('orig18', sql, { mode });
    assert.equal(await jm18.wait(job.id), 'done');
    return jm18.job(job.id)!;
  }

  async function runAndCancel(sql: string): Promise<JobInfo> {
    const job = await jm18.launch('orig18', sql);
    await untilQuery<{ n: number }>(s18.admin, `SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1 AND state = 'active' AND query LIKE '%pg_sleep%'`, [job.pid], (r) => r[0].n === 1);
    await jm18.cancel(job.id);
    assert.equal(await jm18.wait(job.id), 'done');
    return jm18.job(job.id)!;
  }

  it('reads ordinary rows with a column list of the actual types', async () => {
    const j = await run(`SELECT g AS n, md5(g::text)::varchar(40) AS h, NULL::numeric(10,2) AS d FROM generate_series(1, 50) g`);
    assert.equal(j.state, 'completed', JSON.stringify(j.error));
    assert.equal(j.rowsReceived, 50);
    assert.deepEqual((await jm18.store(j.id)!.getRows(1, 49, 1))[0], ['50', createHash('md5').update('50').digest('hex'), null]);
  });

  for (const sql of ['SELECT pg_sleep(0.1)', 'SELECT pg_background_progress(50)', `SELECT ROW(1, 'a')`, 'SELECT 1 AS a, pg_sleep(0) AS s']) {
    it(`a result with a void or record column does not fail the job: ${sql}`, async () => {
      const j = await run(sql);
      assert.equal(j.state, 'finished', `${j.state} ${JSON.stringify(j.error)}`);
      assert.equal(j.error, undefined);
      assert.match(j.note ?? '', /outcome not reported by this server version/);
      assert.match(j.note ?? '', /column of type (void|record)/);
    });
  }

  it('a cancel shows as canceled though the worker dies of SIGTERM (57P01)', async () => {
    const j = await runAndCancel('SELECT 1 AS x FROM pg_sleep(60)');
    assert.equal(j.state, 'canceled', `${j.state} ${JSON.stringify(j.error)}`);
  });

  it('a cancel of a job whose result cannot be read shows as canceled', async () => {
    const j = await runAndCancel('SELECT pg_sleep(60) AS s');
    assert.equal(j.state, 'canceled', `${j.state} ${JSON.stringify(j.error)}`);
  });

  it('a canceled multi-statement job is not reported completed', async () => {
    const j = await runAndCancel('SELECT 1; SELECT pg_sleep(60)');
    assert.equal(j.state, 'canceled', `${j.state} ${JSON.stringify(j.error)}`);
  });

  it('a multi-statement job whose later statement fails reports the error it can read', async () => {
    const j = await run('INSERT INTO t18 VALUES (1); INSERT INTO t18 VALUES (1)');
    assert.equal(j.state, 'error');
    assert.equal(j.error?.sqlstate, '23505');
    const left = await db18.query<{ n: number }>('SELECT count(*)::int AS n FROM t18 WHERE x = 1');
    assert.equal(left.rows[0].n, 0, 'the first INSERT was rolled back with the second');
  });

  it('a multi-statement job whose later statement fails is never reported completed', async () => {
    const j = await run('SELECT 1 AS a; SELECT 1/0');
    assert.equal(j.state, 'finished', `${j.state} ${JSON.stringify(j.error)}`);
    assert.match(j.note ?? '', /outcome not reported by this server version/);
  });

  it('a multi-statement job without rows that succeeds is completed', async () => {
    const j = await run('INSERT INTO t18 VALUES (10); INSERT INTO t18 VALUES (11)');
    assert.equal(j.state, 'completed', `${j.state} ${JSON.stringify(j.error)}`);
  });

  it('SQL whose describe step fails reports the worker\'s error', async () => {
    const j = await run('SELECT * FROM no_such_table');
    assert.equal(j.state, 'error', `${j.state} ${JSON.stringify(j.error)}`);
    assert.equal(j.error?.sqlstate, '42P01');
    assert.ok(jm18.store(j.id)!.messages().some((m) => m.kind === 'error' && m.sqlstate === '42P01'));
  });

  it('a failing submit job is not reported completed', async () => {
    const j = await run('SELECT 1/0', 'submit');
    assert.equal(j.state, 'finished', `${j.state} ${JSON.stringify(j.error)}`);
    assert.match(j.note ?? '', /outcome not reported by this server version/);
  });

  it('keeps the notices the worker raised', async () => {
    const j = await run('SELECT noisy() AS n');
    assert.equal(j.state, 'completed', `${j.state} ${JSON.stringify(j.error)}`);
    const messages = jm18.store(j.id)!.messages();
    assert.deepEqual(
      messages.map((m) => [m.kind, m.severity, m.message, m.detail ?? null]),
      [['notice', 'NOTICE', 'halfway there', 'step 1 of 2'], ['notice', 'WARNING', 'careful', null]],
    );
  });
});
