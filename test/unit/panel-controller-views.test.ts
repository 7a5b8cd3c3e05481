// The panel controller's side of views while a job is still producing rows: a view is computed
// over the rows that had arrived, the grid reads it by version, and once the job completes the
// view is computed again over every row.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PanelController } from '../../src/panel/controller.js';
import type { HostMessage } from '../../src/protocol.js';
import { GeneratedStore, TestHost, bigStatement, makeJob } from '../webview/fixtures.js';

async function until<T>(fn: () => T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a view of a running job is computed again over every row once the job completes', async () => {
  const host = new TestHost();
  const stmt = bigStatement(100);
  const store = new GeneratedStore('r1', [stmt]);
  host.add(makeJob('r1', 'SELECT …', { state: 'running', endedAt: undefined }), store);
  const posted: HostMessage[] = [];
  const c = new PanelController('r1', host, { post: (m) => void posted.push(m), exportResult: async () => undefined, copyText: async () => undefined, info: () => undefined }, { statusIntervalMs: 10 });
  try {
    await c.receive({ type: 'ready' });
    await c.receive({ type: 'setView', stmt: 1, spec: { sort: [{ col: 0, desc: true }] } });
    const first = posted.filter((m): m is Extract<HostMessage, { type: 'view' }> => m.type === 'view').at(-1)!;
    assert.equal(first.rows, 100);
    await c.receive({ type: 'getRows', reqId: 7, stmt: 1, start: 0, count: 2, view: first.version });
    const rows = posted.find((m) => m.type === 'rows' && m.reqId === 7);
    assert.ok(rows && rows.type === 'rows');
    assert.deepEqual(rows.rows.map((r) => r[0]), ['100', '99']);
    // An older version is refused, so a grid never shows rows of one view at the places of another.
    await c.receive({ type: 'getRows', reqId: 8, stmt: 1, start: 0, count: 2, view: first.version + 1 });
    assert.ok(posted.some((m) => m.type === 'rowsError' && m.reqId === 8));
    // More rows arrive (announced while the job runs), then the job completes on its own.
    store.grow(() => {
      stmt.rowCount = 250;
    });
    await until(() => posted.find((m) => m.type === 'statements' && m.statements[0].rowCount === 250), 'the 250 rows announced');
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(!posted.some((m) => m.type === 'view' && m.baseRows === 250), 'no refresh while the job still runs');
    store.grow(() => {
      store.complete = true;
    });
    const refreshed = await until(
      () => posted.find((m): m is Extract<HostMessage, { type: 'view' }> => m.type === 'view' && m.baseRows === 250 && m.busy === undefined),
      'the view over all 250 rows',
    );
    assert.ok(refreshed.version > first.version);
    await c.receive({ type: 'getRows', reqId: 9, stmt: 1, start: 0, count: 1, view: refreshed.version });
    const top = posted.find((m) => m.type === 'rows' && m.reqId === 9);
    assert.ok(top && top.type === 'rows');
    assert.equal(top.rows[0][0], '250');
  } finally {
    c.dispose();
  }
});
