// One change signal between a fetched row and the grid: the store signals at once after a quiet
// spell (no timer to wait for), a burst is one signal, and the panel posts what changed in the
// same task. Checked by ordering (macrotasks), never by elapsed time.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ChangeSignal } from '../../src/core/events.js';
import { SpooledResultStore } from '../../src/core/resultStore.js';
import { PanelController } from '../../src/panel/controller.js';
import type { HostMessage } from '../../src/protocol.js';
import { TestHost, makeJob } from '../webview/fixtures.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgbg-signal-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Lets every macrotask queued so far run (setImmediate callbacks run in order). */
const nextTask = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('ChangeSignal', () => {
  it('fires once for a burst, on the next task, then once more after the interval for later changes', async () => {
    const s = new ChangeSignal(60_000);
    let fired = 0;
    s.event(() => fired++);
    s.trigger();
    s.trigger();
    assert.equal(fired, 0, 'not synchronously');
    await nextTask();
    assert.equal(fired, 1, 'the burst is one signal, without waiting for a timer');
    s.trigger();
    await nextTask();
    assert.equal(fired, 1, 'within the interval a change waits');
    s.flush();
    assert.equal(fired, 2, 'flush fires at once');
    s.dispose();
    s.trigger();
    await nextTask();
    assert.equal(fired, 2);
  });
});

describe('rows to the panel', () => {
  it("posts a running job's first rows in the task after they reach the store", async () => {
    const store = new SpooledResultStore('r2p', { storageDir: dir, memoryRowBudget: 1000 });
    const host = new TestHost();
    host.add(makeJob('r2p', 'SELECT g FROM generate_series(1, 1000000) g', { state: 'running', endedAt: undefined, rowsReceived: 0 }), store);
    const posted: HostMessage[] = [];
    const c = new PanelController('r2p', host, { post: (m) => void posted.push(m), exportResult: async () => undefined, copyText: async () => undefined, info: () => undefined });
    try {
      await c.receive({ type: 'ready' });
      await nextTask();
      posted.length = 0;
      store.setColumns(1, [{ name: 'g', type: 'integer', typeOid: 23, typmod: -1 }]);
      store.addJsonRows(1, ['["1"]', '["2"]', '["3"]']);
      await nextTask();
      await nextTask();
      const statements = posted.filter((m) => m.type === 'statements');
      assert.equal(statements.length, 1, JSON.stringify(posted.map((m) => m.type)));
      const rows = posted.find((m) => m.type === 'rows');
      assert.ok(rows && rows.type === 'rows', 'the first block is pushed right behind');
      assert.deepEqual(rows.rows, [['1'], ['2'], ['3']]);
      // The completion fires at once too; with nothing else changed, no statements go again.
      store.markComplete();
      await nextTask();
      assert.equal(posted.filter((m) => m.type === 'statements').length, 1);
    } finally {
      c.dispose();
      store.dispose();
    }
  });
});
