// Launch, fetch, multi-statement shapes, server errors, submit: through JobManager, the code the
// commands use, against the real cluster.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CONN, openHarness, type Harness } from './support.js';

let h: Harness;
before(async () => {
  h = await openHarness();
});
after(async () => h?.close());

describe('JobManager against a real pg_background', { timeout: 600_000 }, () => {
  it('detects capabilities', async () => {
    const caps = await h.jm.capabilities(CONN);
    assert.equal(caps.installed, true);
    assert.equal(caps.hasFetchV2, true);
    assert.equal(caps.reducedMode, false);
    assert.ok(caps.functions.includes('pg_background_launch_v2'));
    assert.ok(caps.launcherPid > 0);
  });

  it('runs a multi-statement job with mixed shapes into the store', async () => {
    const sql = [
      "SELECT 1 AS a, 'x'::text AS b, NULL::int AS c",
      'CREATE TEMP TABLE t_mixed(id int, v varchar(20))',
      "INSERT INTO t_mixed SELECT g, 'v' || g FROM generate_series(1, 25) g",
      "DO $$ BEGIN RAISE NOTICE 'halfway %', 42; END $$",
      'SELECT id, v FROM t_mixed ORDER BY id',
      'UPDATE t_mixed SET v = v WHERE id <= 5',
      'SELECT 1 WHERE false',
    ].join(';\n');
    const job = await h.jm.launch(CONN, sql);
    assert.equal(job.state, 'running');
    assert.ok(job.pid && job.cookie);
    assert.equal(await h.jm.wait(job.id), 'done');
    const done = h.jm.job(job.id)!;
    assert.equal(done.state, 'completed', JSON.stringify(done.error));
    assert.equal(done.rowsReceived, 26);
    const store = h.jm.store(job.id)!;
    assert.equal(store.complete, true);
    const st = store.statements();
    assert.deepEqual(st.map((s) => s.stmt), [1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(st[0].columns?.map((c) => [c.name, c.type]), [['a', 'integer'], ['b', 'text'], ['c', 'integer']]);
    assert.deepEqual(await store.getRows(1, 0, 10), [['1', 'x', null]]);
    assert.equal(st[1].commandTag, 'CREATE TABLE');
    assert.equal(st[2].commandTag, 'INSERT 0 25');
    assert.equal(st[2].commandRows, 25);
    assert.deepEqual(st[4].columns?.map((c) => c.type), ['integer', 'character varying(20)']);
    assert.equal(st[4].rowCount, 25);
    assert.deepEqual(await store.getRows(5, 23, 10), [['24', 'v24'], ['25', 'v25']]);
    assert.equal(st[5].commandTag, 'UPDATE 5');
    assert.equal(st[6].rowCount, 0);
    assert.ok(st[6].columns, 'an empty result still has columns');
    const notice = store.messages().find((m) => m.kind === 'notice');
    assert.equal(notice?.message, 'halfway 42');
    assert.equal(notice?.stmt, 4);
  });

  it('reports server errors with SQLSTATE, detail, hint and position', async () => {
    const job = await h.jm.launch(CONN, "SELECT 1; DO $$ BEGIN RAISE EXCEPTION 'boom' USING DETAIL = 'the detail', HINT = 'the hint', ERRCODE = 'P0001'; END $$");
    await h.jm.wait(job.id);
    const j = h.jm.job(job.id)!;
    assert.equal(j.state, 'error');
    assert.equal(j.error?.sqlstate, 'P0001');
    assert.equal(j.error?.message, 'boom');
    assert.equal(j.error?.detail, 'the detail');
    assert.equal(j.error?.hint, 'the hint');
    assert.equal(j.error?.stmt, 2);
    assert.equal(h.jm.store(job.id)!.statements()[0].commandTag, 'SELECT 1');

    const syntax = await h.jm.launch(CONN, 'SELECT 1;\nSELEC oops');
    await h.jm.wait(syntax.id);
    const s = h.jm.job(syntax.id)!;
    assert.equal(s.state, 'error');
    assert.equal(s.error?.sqlstate, '42601');
    assert.ok(s.error?.position && s.error.position > 0, 'syntax errors carry a position');
  });

  it('launch errors (bad queue size) end the job in error, not an exception', async () => {
    const job = await h.jm.launch(CONN, 'SELECT 1', { queueSize: -5 });
    assert.equal(job.state, 'error');
    assert.ok(job.error?.sqlstate, 'has a SQLSTATE');
  });

  it('submit (fire and forget) completes and its effects are visible', async () => {
    await h.other.query('DROP TABLE IF EXISTS pgbg_itest_submit');
    const job = await h.jm.launch(CONN, 'CREATE TABLE pgbg_itest_submit AS SELECT g FROM generate_series(1, 100) g', { mode: 'submit' });
    assert.equal(job.mode, 'submit');
    assert.equal(job.hasResult, false);
    assert.equal(await h.jm.wait(job.id), 'done');
    assert.equal(h.jm.job(job.id)!.state, 'completed');
    const r = await h.other.query('SELECT count(*)::int AS n FROM pgbg_itest_submit');
    assert.equal(r.rows[0].n, 100);
    await h.other.query('DROP TABLE pgbg_itest_submit');

    const bad = await h.jm.launch(CONN, 'SELECT * FROM pgbg_no_such_table', { mode: 'submit' });
    await h.jm.wait(bad.id);
    const b = h.jm.job(bad.id)!;
    assert.equal(b.state, 'error');
    assert.match(b.error?.message ?? '', /pgbg_no_such_table/);
  });

  it('reports progress from pg_background_progress', async () => {
    const job = await h.jm.launch(CONN, "SELECT pg_background_progress(40, 'step two'); SELECT pg_sleep(30)");
    const seen = await new Promise<number | undefined>((resolve) => {
      const check = () => {
        const j = h.jm.job(job.id)!;
        if (j.progressPct === 40) {
          sub.dispose();
          resolve(j.progressPct);
        }
      };
      const sub = h.jm.onDidChangeJob((j) => j.id === job.id && check());
      check();
    });
    assert.equal(seen, 40);
    assert.equal(h.jm.job(job.id)!.progressMsg, 'step two');
    await h.jm.cancel(job.id);
    await h.jm.wait(job.id);
  });

  it('reruns a job and clears finished jobs (freeing their stores)', async () => {
    const first = await h.jm.launch(CONN, 'SELECT 7 AS seven');
    await h.jm.wait(first.id);
    const again = await h.jm.rerun(first.id);
    assert.notEqual(again.id, first.id);
    await h.jm.wait(again.id);
    assert.deepEqual(await h.jm.store(again.id)!.getRows(1, 0, 1), [['7']]);
    const cleared = h.jm.clearFinished();
    assert.ok(cleared >= 2);
    assert.equal(h.jm.job(first.id), undefined);
    assert.equal(h.jm.store(again.id), undefined);
  });
});
