// Rows batched per fetch_v2 tuple (kind `rows`, pg_background.fetch_rows_per_tuple): the engine
// asks for them where the server has the setting, splits them without parsing, and the store
// ends up with exactly what the one-row-per-tuple path gives.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { splitRowsJson } from '../../src/core/rowCodec.js';
import type { Row } from '../../src/core/model.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JobManager } from '../../src/core/jobManager.js';
import { CONN, clusterConfig, openHarness, type Harness } from './support.js';

// Values that a splitter could get wrong: quotes, backslashes (also at the end), the row
// separator inside a value, the word null, empty strings, NULLs, non-ASCII; and enough rows
// (60,000 in the second statement) for many batches, a tuple cut by max_rows and spooled pages.
const SQL = [
  `SELECT v, length(v) AS n FROM (VALUES ('a"b'), ('x\\'), ('],['), ('"],["'), ('null'), (''), (NULL), ('é😀\t\n'), ('\\"\\\\')) t(v)`,
  "DO $$ BEGIN RAISE NOTICE 'between'; END $$",
  "SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE repeat('\\', g % 3) || g || '\"' END AS s FROM generate_series(1, 60000) g",
  'SELECT 1 WHERE false',
].join(';\n');

async function runAll(h: Harness): Promise<{ stmts: { stmt: number; rowCount: number; commandTag?: string }[]; rows: Map<number, Row[]>; notices: string[] }> {
  const job = await h.jm.launch(CONN, SQL);
  assert.equal(await h.jm.wait(job.id), 'done');
  const info = h.jm.job(job.id)!;
  assert.equal(info.state, 'completed', JSON.stringify(info.error));
  const store = h.jm.store(job.id)!;
  const stmts = store.statements().map((s) => ({ stmt: s.stmt, rowCount: s.rowCount, commandTag: s.commandTag }));
  const rows = new Map<number, Row[]>();
  for (const s of stmts) rows.set(s.stmt, await store.getRows(s.stmt, 0, s.rowCount));
  const notices = store.messages().map((m) => m.message);
  h.jm.clear(job.id);
  return { stmts, rows, notices };
}

describe('fetch_v2 with many rows per tuple', { timeout: 600_000 }, () => {
  let batched: Harness;
  let single: Harness;
  before(async () => {
    batched = await openHarness({ fetchBatchSize: 2500 });
    single = await openHarness({ fetchBatchSize: 2500, fetchRowsPerTuple: 1 });
  });
  after(async () => {
    await batched?.close();
    await single?.close();
  });

  it('is detected on this server', async () => {
    assert.equal((await batched.jm.capabilities(CONN)).rowBatches, true);
  });

  it('gives the store exactly what one row per tuple gives', async () => {
    const a = await runAll(batched);
    const b = await runAll(single);
    assert.deepEqual(a.stmts, b.stmts);
    assert.deepEqual(a.notices, b.notices);
    assert.deepEqual(a.stmts.map((s) => s.rowCount), [9, 0, 60000, 0]);
    for (const [stmt, rows] of b.rows) assert.deepEqual(a.rows.get(stmt), rows, `statement ${stmt}`);
    assert.deepEqual(a.rows.get(1)?.map((r) => r[0]), ['a"b', 'x\\', '],[', '"],["', 'null', '', null, 'é😀\t\n', '\\"\\\\']);
    assert.deepEqual(a.rows.get(3)?.slice(59997), [['59998', '\\59998"'], ['59999', '\\\\59999"'], ['60000', '60000"']]);
  });

  it("takes the fast path on the server's own `rows` text", async () => {
    // The splitter declines anything unusual (the engine then parses); check that what this
    // server sends is what it accepts, so the fast path is the one used.
    const c = new pg.Client(clusterConfig());
    await c.connect();
    try {
      await c.query('SET pg_background.fetch_rows_per_tuple = 1000');
      const h = await c.query<{ pid: number; cookie: string }>(`SELECT (h).pid, (h).cookie::text AS cookie FROM (SELECT pg_background_launch_v2($1) AS h) s`, [SQL]);
      const { pid, cookie } = h.rows[0];
      const kinds = new Map<string, number>();
      let rows = 0;
      for (let done = false; !done; ) {
        const res = await c.query<{ kind: string; data: string }>({ text: 'SELECT kind, data::text AS data FROM pg_background_fetch_v2($1, $2::int8, 5000, 1000)', values: [pid, cookie] });
        for (const r of res.rows) {
          kinds.set(r.kind, (kinds.get(r.kind) ?? 0) + 1);
          if (r.kind === 'rows') {
            const split = splitRowsJson(r.data);
            assert.ok(split, `declined: ${r.data.slice(0, 200)}`);
            assert.deepEqual(split.map((s) => JSON.parse(s) as Row), JSON.parse(r.data) as Row[]);
            rows += split.length;
          }
          if (r.kind === 'done') done = true;
        }
      }
      assert.equal(rows, 60009);
      assert.equal(kinds.get('row') ?? 0, 0);
      assert.ok((kinds.get('rows') ?? 0) >= 60, `rows tuples: ${kinds.get('rows')}`);
    } finally {
      await c.end();
    }
  });

  it('connects a role not granted pg_background (no batches detected, no failure)', async () => {
    const admin = new pg.Client(clusterConfig());
    await admin.connect();
    const role = 'pgbg_rows_no_grant';
    const storageDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgbg-rows-role-'));
    const jm = new JobManager({ storageDir });
    try {
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.query(`CREATE ROLE ${role} LOGIN`);
      const caps = await jm.openConnection('norights', { ...clusterConfig(), user: role, password: undefined });
      assert.equal(caps.installed, true);
      assert.equal(caps.hasFetchV2, true);
      assert.equal(caps.rowBatches, false);
      // Its launches say why they are refused, as before.
      const job = await jm.launch('norights', 'SELECT 1');
      assert.equal(job.state, 'error');
      assert.equal(job.error?.sqlstate, '42501');
    } finally {
      await jm.dispose();
      fs.rmSync(storageDir, { recursive: true, force: true });
      await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
      await admin.end();
    }
  });
});
