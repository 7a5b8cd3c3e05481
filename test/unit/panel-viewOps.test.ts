// The host side of the result tools over a real spooled store: views with versions, progress
// and cancel, find/stats/chart answers, and copy/export "as shown" (Markdown included).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { ColumnInfo, Row } from '../../src/core/model.js';
import { SpooledResultStore } from '../../src/core/resultStore.js';
import { copyRange, exportStatement, markdownCell } from '../../src/panel/export.js';
import { ViewOps } from '../../src/panel/viewOps.js';
import type { HostMessage } from '../../src/protocol.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgbg-viewops-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const columns: ColumnInfo[] = [
  { name: 'n', type: 'integer', typeOid: 23, typmod: -1 },
  { name: 'label', type: 'text', typeOid: 25, typmod: -1 },
];
const N = 50_000;
const rowOf = (i: number): Row => [String(i), i % 10 === 0 ? null : `L|${i % 100}`];

function store(): SpooledResultStore {
  const s = new SpooledResultStore(`vo${Math.random()}`, { storageDir: dir, memoryRowBudget: 1000 });
  s.setColumns(1, columns);
  for (let i = 0; i < N; i += 5000) s.addRows(1, Array.from({ length: 5000 }, (_, k) => rowOf(i + k)));
  s.markComplete();
  return s;
}

/** A ViewOps over a fresh store, posting into `posted`; both disposed after `body`. */
async function withOps(body: (ops: ViewOps, posted: HostMessage[], s: SpooledResultStore) => Promise<void>): Promise<void> {
  const s = store();
  const posted: HostMessage[] = [];
  const ops = new ViewOps(() => s, (m) => posted.push(m), { tempDir: dir });
  try {
    await body(ops, posted, s);
  } finally {
    ops.dispose();
    s.dispose();
  }
}

describe('ViewOps', () => {
  it('refuses filter columns past the statement and answers stats/chart/find it cannot compute with opError', () =>
    withOps(async (ops, posted) => {
      await assert.rejects(ops.setView(1, { quick: 'x', quickCol: 2 }, columns, N), /No such column to filter by/);
      await assert.rejects(ops.setView(1, { conditions: [{ col: 5, op: 'isnull' }] }, columns, N), /No such column to filter by/);
      assert.equal(posted.filter((m) => m.type === 'view').length, 0);
      await ops.stats(1, 7, columns, N);
      const err = posted.at(-1);
      assert.ok(err && err.type === 'opError' && err.op === 'stats', JSON.stringify(err));
      assert.match(err.message, /No such column/);
    }));

  it('says so when the result is gone instead of leaving the page waiting', async () => {
    const posted: HostMessage[] = [];
    const ops = new ViewOps(() => undefined, (m) => posted.push(m), { tempDir: dir });
    try {
      await ops.stats(1, 0, columns, N);
      await ops.chart(1, 'line', 0, [0], columns, N);
      await ops.find(1, 'x', 0, 0, true, N);
      assert.deepEqual(
        posted.map((m) => (m.type === 'opError' ? `${m.op}: ${m.message}` : m.type)),
        ['stats: The result is no longer available.', 'chart: The result is no longer available.', 'find: The result is no longer available.'],
      );
    } finally {
      ops.dispose();
    }
  });

  it('computes a filtered, sorted view under a new version; stale versions are refused', () =>
    withOps(async (ops, posted, s) => {
      await ops.setView(1, { sort: [{ col: 0, desc: true }], quick: 'l|7' }, columns, N);
      const view = posted.filter((m) => m.type === 'view').at(-1);
      assert.ok(view && view.type === 'view');
      // label "L|7", "L|70".."L|79": 11 of every 100 values, less the NULLs at i % 10 == 0 (70).
      assert.equal(view.rows, (N / 100) * 10);
      const v = ops.viewFor(1, view.version);
      assert.ok(v && v !== 'stale');
      assert.deepEqual((await v.rows(0, 3)).map((r) => r[0]), ['49979', '49978', '49977']);
      assert.equal(ops.viewFor(1, view.version + 100), 'stale');
      // Same spec again: answered at once, no new version.
      await ops.setView(1, { sort: [{ col: 0, desc: true }], quick: 'l|7' }, columns, N);
      const again = posted.filter((m) => m.type === 'view').at(-1);
      assert.equal(again?.type === 'view' && again.version, view.version);
      // Copy as shown, as Markdown: the pipe in the values is escaped, NULL is marked.
      const md = await copyRange(s, 1, 0, 1, 0, 1, { view: v, format: 'markdown' });
      assert.equal(md.text, ['| n | label |', '| ---: | --- |', '| 49979 | L\\|79 |', '| 49978 | L\\|78 |'].join('\n'));
      assert.equal(markdownCell('a\nb|c\\'), 'a<br>b\\|c\\\\');
      const nullMd = await copyRange(s, 1, 10, 10, 0, 1, { format: 'markdown' });
      assert.equal(nullMd.text.split('\n')[2], '| 10 | *NULL* |');
      // Export as shown.
      let csv = '';
      const rows = await exportStatement(s, 1, 'csv', { write: (c) => void (csv += c) }, { view: v });
      assert.equal(rows, view.rows);
      assert.equal(csv.split('\r\n')[1], '49979,L|79');
    }));

  it('cancel stops a sort and falls back to all rows; a bad condition is reported', () =>
    withOps(async (ops, posted) => {
      const running = ops.setView(1, { sort: [{ col: 1 }] }, columns, N);
      ops.cancel(1, 'view');
      await running;
      assert.ok(posted.some((m) => m.type === 'opError' && m.op === 'view' && m.message === 'Canceled.'));
      const last = posted.filter((m) => m.type === 'view').at(-1);
      assert.ok(last && last.type === 'view');
      assert.deepEqual(last.spec, {});
      assert.equal(last.rows, N);
      await ops.setView(1, { conditions: [{ col: 0, op: 'gt', value: 'many' }] }, columns, N);
      const bad = posted.filter((m) => m.type === 'view').at(-1);
      assert.ok(bad && bad.type === 'view' && /not a value/.test(bad.error ?? ''));
    }));

  it('answers find, statistics and chart requests over the current view', () =>
    withOps(async (ops, posted) => {
      await ops.setView(1, { conditions: [{ col: 0, op: 'lt', value: '1000' }] }, columns, N);
      await ops.find(1, 'l|99', -1, -1, true, N);
      const found = posted.find((m) => m.type === 'found');
      assert.ok(found && found.type === 'found');
      assert.equal(found.total, 10);
      assert.deepEqual(found.hit, { row: 99, col: 1, ordinal: 1 });
      await ops.stats(1, 0, columns, N);
      const st = posted.find((m) => m.type === 'stats');
      assert.ok(st && st.type === 'stats');
      assert.equal(st.stats.count, 1000);
      assert.equal(st.stats.max, '999');
      await ops.chart(1, 'line', 0, [0], columns, N);
      const ch = posted.find((m) => m.type === 'chart');
      assert.ok(ch && ch.type === 'chart');
      assert.equal(ch.chart.rows, 1000);
    }));
});
