// The panel controller's side of the protocol against a real ResultStore filled by a real job:
// the core JobManager runs a multi-statement job through our pg_background on the cluster from
// the PG* environment; the controller answers row requests, pushes statements and messages,
// and the export encoders stream the store. Then the same job is shown in headless Chromium.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { JobManager } from '../../src/core/jobManager';
import type { JobInfo } from '../../src/core/model';
import { PanelController, type PanelHost } from '../../src/panel/controller';
import { exportStatement } from '../../src/panel/export';
import type { HostMessage, StatementSnapshot } from '../../src/protocol';
import { Harness, until } from './harness';

const CONN = 'webview-test';
const N = 20_000;
const SQL = [
  `SELECT g, md5(g::text) AS h, CASE WHEN g % 10 = 0 THEN NULL ELSE 'r' || g END AS note FROM generate_series(1, ${N}) g;`,
  `DO $$ BEGIN RAISE NOTICE 'half way: %', 42; END $$;`,
  `SELECT nope FROM no_such_table_for_the_panel;`,
].join('\n');

const md5 = (s: string): string => crypto.createHash('md5').update(s).digest('hex');

let jm: JobManager;
let storageDir: string;
let host: PanelHost;
let job: JobInfo;
const gotoErrors: number[] = [];

before(async () => {
  storageDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgbg-webview-'));
  jm = new JobManager({ storageDir, settings: () => ({ queueSize: 0, fetchBatchSize: 5000, pollIntervalMs: 50, memoryRowBudget: 5000, defaultGraceMs: 1000 }) });
  await jm.openConnection(CONN, {
    host: process.env.PGHOST ?? '127.0.0.1',
    port: Number(process.env.PGPORT ?? 5432),
    user: process.env.PGUSER ?? 'postgres',
    database: process.env.PGDATABASE ?? 'postgres',
  });
  host = {
    job: (id) => jm.job(id),
    store: (id) => jm.store(id),
    cancel: (id) => jm.cancel(id),
    onDidChangeJob: jm.onDidChangeJob,
    goToError: async (_id, position) => {
      gotoErrors.push(position);
    },
    log: () => undefined,
  };
  job = await jm.launch(CONN, SQL, { source: { uri: 'file:///tmp/panel.sql', offset: 0 } });
  await jm.wait(job.id);
  job = jm.job(job.id)!;
});

after(async () => {
  await jm?.dispose();
  fs.rmSync(storageDir, { recursive: true, force: true });
});

function controllerFor(id: string): { c: PanelController; sent: HostMessage[] } {
  const sent: HostMessage[] = [];
  const c = new PanelController(id, host, {
    post: (m) => {
      sent.push(m);
    },
    exportResult: async () => undefined,
    copyText: async () => undefined,
    info: () => undefined,
  });
  return { c, sent };
}

test('init carries the job, every statement and the messages of a real job', async () => {
  assert.equal(job.state, 'error');
  const { c, sent } = controllerFor(job.id);
  try {
    await c.receive({ type: 'ready' });
    const init = sent.find((m) => m.type === 'init');
    assert.ok(init && init.type === 'init');
    assert.equal(init.unavailable, undefined);
    assert.equal(init.job?.state, 'error');
    assert.equal(init.job?.hasSource, true);
    const st = init.statements.map((s: StatementSnapshot) => ({ stmt: s.stmt, rows: s.rowCount, cols: s.columns?.map((x) => `${x.name}:${x.type}`), tag: s.commandTag }));
    assert.deepEqual(st[0], { stmt: 1, rows: N, cols: ['g:integer', 'h:text', 'note:text'], tag: `SELECT ${N}` });
    assert.equal(st[1].tag, 'DO');
    const notice = init.messages.find((m) => m.kind === 'notice');
    assert.equal(notice?.message, 'half way: 42');
    const error = init.messages.find((m) => m.kind === 'error');
    assert.equal(error?.sqlstate, '42P01');
    assert.ok(error?.position !== undefined && error.position > 0, 'the error has a position');
  } finally {
    c.dispose();
  }
});

test('row requests are answered from the store, clipped, with values cut on request', async () => {
  const { c, sent } = controllerFor(job.id);
  try {
    await c.receive({ type: 'ready' });
    await c.receive({ type: 'getRows', reqId: 7, stmt: 1, start: N - 5, count: 100, purpose: 'view' });
    const rows = sent.find((m) => m.type === 'rows' && m.reqId === 7);
    assert.ok(rows && rows.type === 'rows');
    assert.equal(rows.start, N - 5);
    assert.deepEqual(rows.rows, [N - 4, N - 3, N - 2, N - 1, N].map((g) => [String(g), md5(String(g)), g % 10 === 0 ? null : `r${g}`]));
    await c.receive({ type: 'getRows', reqId: 8, stmt: 1, start: 0, count: 2, purpose: 'view', maxValueLength: 8 });
    const cut = sent.find((m) => m.type === 'rows' && m.reqId === 8);
    assert.ok(cut && cut.type === 'rows');
    assert.deepEqual(cut.rows[0], ['1', md5('1').slice(0, 8), 'r1']);
    assert.deepEqual(cut.cut, [
      [0, 1, 32],
      [1, 1, 32],
    ]);
    // Invalid requests are dropped, not answered.
    const before = sent.length;
    await c.receive({ type: 'getRows', reqId: 9, stmt: 1, start: -1, count: 10, purpose: 'view' });
    await c.receive({ type: 'getRows', reqId: 10, stmt: 1, start: 0, count: 1_000_000, purpose: 'view' });
    await c.receive({ type: 'nope' });
    assert.equal(sent.length, before);
    await c.receive({ type: 'goToError', position: 17 });
    assert.deepEqual(gotoErrors, [17]);
  } finally {
    c.dispose();
  }
});

test('CSV and JSON export stream the real store', async () => {
  const store = jm.store(job.id)!;
  let csv = '';
  const n = await exportStatement(store, 1, 'csv', { write: (s) => void (csv += s) }, { chunkChars: 4096 });
  assert.equal(n, N);
  const lines = csv.split('\r\n');
  assert.equal(lines[0], 'g,h,note');
  assert.equal(lines[1], `1,${md5('1')},r1`);
  assert.equal(lines[10], `10,${md5('10')},`);
  assert.equal(lines.length, N + 2); // header, rows, trailing empty
  let json = '';
  await exportStatement(store, 1, 'json', { write: (s) => void (json += s) });
  const parsed = JSON.parse(json) as { g: number; h: string; note: string | null }[];
  assert.equal(parsed.length, N);
  assert.deepEqual(parsed[9], { g: 10, h: md5('10'), note: null });
  await assert.rejects(exportStatement(store, 2, 'csv', { write: () => undefined }), /returned no rows/);
});

test('status pushes follow a running job until it ends', async () => {
  const running = await jm.launch(CONN, `SELECT pg_sleep(0.3); SELECT g FROM generate_series(1, 3000) g`);
  const { c, sent } = controllerFor(running.id);
  try {
    await c.receive({ type: 'ready' });
    await jm.wait(running.id);
    const last = await until(() => {
      const jobs = sent.filter((m) => m.type === 'job');
      const l = jobs.at(-1);
      return l && l.type === 'job' && l.job.state === 'completed' ? l : undefined;
    }, 'completed job push');
    assert.ok(last.type === 'job' && last.job.rowsReceived >= 3000);
    const stmts = await until(() => {
      const all = [...sent.filter((m) => m.type === 'statements'), ...sent.filter((m) => m.type === 'init')];
      for (const m of all) {
        const list = m.type === 'statements' || m.type === 'init' ? m.statements : [];
        if (list.find((s) => s.stmt === 2 && s.rowCount === 3000)) return true;
      }
      return undefined;
    }, 'statement 2 with 3000 rows');
    assert.ok(stmts);
  } finally {
    c.dispose();
  }
});

test('the real job renders in Chromium', async () => {
  const h = await Harness.start();
  try {
    const p = await h.open(host, job.id);
    try {
      await p.waitForRows();
      assert.deepEqual(await p.waitForRow(1), ['1', md5('1'), 'r1']);
      assert.deepEqual(await p.waitForRow(10), ['10', md5('10'), 'NULL']);
      await p.page.keyboard.press('Tab');
      await p.page.click('.grid-row[aria-rowindex="2"] .grid-cell[data-col="1"]');
      await p.page.keyboard.press('Control+End');
      assert.deepEqual(await p.waitForRow(N), [String(N), md5(String(N)), 'NULL']);
      await p.screenshot('real-job');
      await p.page.click('#tab-messages');
      await p.page.waitForSelector('#view-messages:not([hidden]) .msg.error .goto');
      assert.equal(await p.page.textContent('.msg.error .msg-code'), '42P01');
      await p.screenshot('real-job-messages');
      await p.page.click('.msg.error .goto');
      await until(() => gotoErrors.length > 1, 'goToError from the webview');
    } finally {
      await p.close();
    }
  } finally {
    await h.close();
  }
});
