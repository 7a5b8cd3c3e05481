// Durable jobs on the engine side, without a server: exactly-once application of sequenced
// fetch_v2 batches, the store's meta journal (commit, restore after a torn write, index
// rebuilt), garbage collection of store files, the backoff schedule, and a durable job's
// history round trip through a fresh engine.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { applySequencedBatch } from '../../src/core/fetchMessages.js';
import { SpooledResultStore } from '../../src/core/resultStore.js';
import { collectStoreGarbage } from '../../src/core/storeGc.js';
import { backoffDelay } from '../../src/core/reconnect.js';
import { JobManager, type HistoryRecord } from '../../src/core/jobManager.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pgbg-durable-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => {
  const d = path.join(root, `d${dirs++}`);
  fs.mkdirSync(d);
  return d;
};

const COLS = '[{"name":"g","type":"integer","type_oid":23,"typmod":-1}]';
const journaled = (dir: string, budget = 1000): SpooledResultStore => new SpooledResultStore(`j${dirs}`, { storageDir: dir, memoryRowBudget: budget, journal: true });
/** A `rows` output row holding rows from..to (one column, the number as text), with seq = to + offset. */
const rowsMsg = (from: number, to: number, offset: number): unknown[] => {
  const rows = [];
  for (let g = from; g <= to; g++) rows.push([String(g)]);
  return ['rows', 1, JSON.stringify(rows), String(to + offset)];
};
const allRows = async (store: SpooledResultStore): Promise<string[]> => (await store.getRows(1, 0, 1e9)).map((r) => r[0] ?? 'NULL');

describe('applySequencedBatch', () => {
  it('applies each message once: what the store holds is skipped and counted', async () => {
    const store = journaled(freshDir());
    // columns = 1, rows 1..3 = seq 2..4, a notice = 5
    let out = applySequencedBatch(store, [['columns', 1, COLS, '1'], rowsMsg(1, 3, 1), ['notice', 1, '{"message":"n1"}', '5']]);
    assert.equal(out.rows, 3);
    assert.deepEqual(out.sequence, { duplicates: 0 });
    assert.equal(store.lastSeq, 5);
    // The server sends 4..5 again, then 6..7: only 6..7 are new.
    out = applySequencedBatch(store, [['row', 1, '["3"]', '4'], ['notice', 1, '{"message":"n1"}', '5'], rowsMsg(4, 5, 2)]);
    assert.equal(out.rows, 2);
    assert.equal(out.sequence?.duplicates, 2);
    assert.equal(store.lastSeq, 7);
    assert.deepEqual(await allRows(store), ['1', '2', '3', '4', '5']);
    assert.equal(store.messages().length, 1);
    store.dispose();
  });

  it('keeps only the rows past lastSeq of a `rows` group that straddles it', async () => {
    const store = journaled(freshDir());
    applySequencedBatch(store, [['columns', 1, COLS, '1'], rowsMsg(1, 2, 1)]);
    assert.equal(store.lastSeq, 3);
    // rows 1..4 as seq 2..5: 2..3 are stored already
    const out = applySequencedBatch(store, [rowsMsg(1, 4, 1)]);
    assert.equal(out.rows, 2);
    assert.deepEqual(await allRows(store), ['1', '2', '3', '4']);
    assert.equal(store.lastSeq, 5);
    store.dispose();
  });

  it('a gap leaves the store untouched and says where', async () => {
    const store = journaled(freshDir());
    applySequencedBatch(store, [['columns', 1, COLS, '1'], rowsMsg(1, 2, 1)]);
    // A good row (seq 4), then rows 4..5 as seq 6..7: message 5 is missing.
    const out = applySequencedBatch(store, [['row', 1, '["3"]', '4'], rowsMsg(4, 5, 2)]);
    assert.equal(out.rows, 0);
    assert.match(out.sequence?.gap ?? '', /expected message 5, fetch_v2 sent 6\.\.7/);
    assert.deepEqual(await allRows(store), ['1', '2'], 'not even the good first row of the batch is applied');
    assert.equal(store.lastSeq, 3, 'lastSeq stays: the next call asks again after 3');
    const gap = applySequencedBatch(store, [['row', 1, '["4"]', '5']]);
    assert.match(gap.sequence?.gap ?? '', /expected message 4, fetch_v2 sent 5\.\.5/);
    store.dispose();
  });

  it('a `rows` message counts as many messages as it has rows', () => {
    const store = journaled(freshDir());
    // 3 rows must end at seq 4 after columns (1): seq 5 would mean one message was skipped
    const out = applySequencedBatch(store, [['columns', 1, COLS, '1'], rowsMsg(1, 3, 2)]);
    assert.match(out.sequence?.gap ?? '', /expected message 2, fetch_v2 sent 3\.\.5/);
    store.dispose();
  });

  it('applies a replayed `columns` row the store lacks (attach from the acknowledged point)', async () => {
    const store = journaled(freshDir());
    store.commit(40); // attach: output up to 40 was read by another session
    const out = applySequencedBatch(store, [
      ['columns', 1, `{"replayed":true,"columns":${COLS}}`, '1'],
      ['row', 1, '["40"]', '41'],
      ['command', 1, '{"tag":"SELECT 41","rows":41}', '42'],
      ['done', 0, '{"state":"completed"}', '43'],
    ]);
    assert.deepEqual(out.sequence, { duplicates: 0 });
    assert.equal(out.done, 'completed');
    assert.equal(out.doneSeq, 43);
    assert.equal(store.statements()[0].columns?.[0].name, 'g');
    assert.deepEqual(await allRows(store), ['40']);
    assert.equal(store.lastSeq, 43);
    store.dispose();
  });

  it('refuses a seq that a JS number cannot hold exactly', () => {
    const store = journaled(freshDir());
    assert.throws(() => applySequencedBatch(store, [['row', 1, '["1"]', '9007199254740993']]), /invalid seq/);
    store.dispose();
  });
});

describe('journaled SpooledResultStore', () => {
  it('reopens at its last commit: a half-committed batch is cut, the index rebuilt', async () => {
    const dir = freshDir();
    const store = journaled(dir, 100);
    applySequencedBatch(store, [
      ['columns', 1, COLS, '1'],
      rowsMsg(1, 1000, 1),
      ['notice', 1, '{"message":"half way","severity":"NOTICE","sqlstate":"00000"}', '1002'],
    ]);
    applySequencedBatch(store, [rowsMsg(1001, 1500, 2), ['command', 1, '{"tag":"SELECT 1500","rows":1500}', '1503']]);
    const committedBytes = store.spooledBytes;
    // A window that dies mid-commit: rows of the next batch in the spool, its journal line torn.
    store.addJsonRows(2, ['["x"]', '["y"]']);
    const metaPath = path.join(dir, `${store.storeId}.meta`);
    fs.appendFileSync(metaPath, '{"seq":1506,"spool":');
    const storeId = store.storeId;
    store.close();
    assert.ok(fs.existsSync(path.join(dir, `${storeId}.spool`)), 'close keeps the spool');

    const back = SpooledResultStore.open('j', storeId, { storageDir: dir, memoryRowBudget: 100 });
    assert.equal(back.lastSeq, 1503);
    assert.equal(back.rowCount, 1500);
    assert.equal(fs.statSync(path.join(dir, `${storeId}.spool`)).size, committedBytes, 'the uncommitted rows are cut from the spool');
    assert.ok(!fs.readFileSync(metaPath, 'utf8').includes('"seq":1506'), 'the torn line is cut from the journal');
    const stmts = back.statements();
    assert.deepEqual(stmts.map((s) => [s.stmt, s.rowCount, s.commandTag]), [[1, 1500, 'SELECT 1500']]);
    assert.equal(stmts[0].columns?.[0].name, 'g');
    assert.deepEqual(back.messages().map((m) => m.message), ['half way']);
    // Head rows (budget 100) and spooled pages, across page boundaries, read back exactly.
    assert.deepEqual((await back.getRows(1, 0, 3)).map((r) => r[0]), ['1', '2', '3']);
    assert.deepEqual((await back.getRows(1, 254, 4)).map((r) => r[0]), ['255', '256', '257', '258']);
    assert.deepEqual((await back.getRows(1, 1497, 10)).map((r) => r[0]), ['1498', '1499', '1500']);
    const all = await allRows(back);
    assert.equal(all.length, 1500);
    assert.ok(all.every((v, i) => v === String(i + 1)));

    // The resend of the cut batch goes on where the commit was.
    applySequencedBatch(back, [['columns', 2, '[{"name":"c","type":"text","type_oid":25,"typmod":-1}]', '1504'], ['row', 2, '["x"]', '1505'], ['row', 2, '["y"]', '1506']]);
    back.close();
    const again = SpooledResultStore.open('j', storeId, { storageDir: dir, memoryRowBudget: 10 });
    assert.equal(again.lastSeq, 1506);
    assert.deepEqual((await again.getRows(2, 0, 10)).map((r) => r[0]), ['x', 'y']);
    assert.equal((await again.getRows(1, 0, 2000)).length, 1500);
    again.dispose();
    assert.deepEqual(fs.readdirSync(dir), [], 'dispose deletes spool and journal');
  });

  it('refuses to open files that do not agree, and names that are not store names', () => {
    const dir = freshDir();
    const store = journaled(dir);
    applySequencedBatch(store, [['columns', 1, COLS, '1'], rowsMsg(1, 10, 1)]);
    const id = store.storeId;
    store.close();
    fs.truncateSync(path.join(dir, `${id}.spool`), 5);
    assert.throws(() => SpooledResultStore.open('j', id, { storageDir: dir, memoryRowBudget: 10 }), /holds 5 bytes/);
    assert.throws(() => SpooledResultStore.open('j', '../../etc/passwd', { storageDir: dir, memoryRowBudget: 10 }), /not a result store name/);
  });
});

describe('store garbage collection', () => {
  it('deletes the files of stores no record refers to, and nothing else', () => {
    const dir = freshDir();
    const names = ['job-a-0123abcd.spool', 'job-a-0123abcd.meta', 'job-b-89abcdef.spool', 'job-c-00000000.meta', 'notes.txt', 'job-x.spool'];
    for (const n of names) fs.writeFileSync(path.join(dir, n), 'x');
    const removed = collectStoreGarbage(dir, new Set(['job-a-0123abcd']));
    assert.deepEqual(removed.sort(), ['job-b-89abcdef.spool', 'job-c-00000000.meta']);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['job-a-0123abcd.meta', 'job-a-0123abcd.spool', 'job-x.spool', 'notes.txt']);
    // A shared directory (no workspace) only loses files untouched for the minimum age.
    fs.writeFileSync(path.join(dir, 'job-d-11111111.spool'), 'x');
    assert.deepEqual(collectStoreGarbage(dir, new Set(), 3600_000), []);
    assert.equal(collectStoreGarbage(path.join(dir, 'missing'), new Set()).length, 0);
  });
});

describe('reconnect backoff', () => {
  it('doubles from 0.5 s to at most 30 s, with jitter of ±20 %', () => {
    const nominal = [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000];
    nominal.forEach((n, i) => {
      assert.equal(backoffDelay(i + 1, () => 0.5), n, `attempt ${i + 1}`);
      assert.equal(backoffDelay(i + 1, () => 0), Math.round(n * 0.8));
      assert.ok(backoffDelay(i + 1, () => 0.999) <= Math.min(30000, n * 1.2));
    });
    assert.equal(backoffDelay(1000, () => 0.999), 30000);
  });
});

describe('durable job history', () => {
  it('a running durable job comes back running, reconnecting, with its store; an ended one read-only', async () => {
    const dir = freshDir();
    const runningStore = new SpooledResultStore('run1', { storageDir: dir, memoryRowBudget: 50, journal: true });
    applySequencedBatch(runningStore, [['columns', 1, COLS, '1'], rowsMsg(1, 300, 1)]);
    const endedStore = new SpooledResultStore('end1', { storageDir: dir, memoryRowBudget: 50, journal: true });
    applySequencedBatch(endedStore, [['columns', 1, COLS, '1'], rowsMsg(1, 5, 1), ['command', 1, '{"tag":"SELECT 5","rows":5}', '7'], ['done', 0, '{"state":"completed"}', '8']]);
    const ids = { running: runningStore.storeId, ended: endedStore.storeId };
    runningStore.close();
    endedStore.close();
    fs.writeFileSync(path.join(dir, 'job-orphan-00000000.spool'), 'x');
    const base = { connectionName: 'c', sql: 'SELECT g FROM generate_series(1, 300) g', mode: 'launch' as const, launchedAt: 1, hasResult: true, durable: true };
    const records: HistoryRecord[] = JSON.parse(
      JSON.stringify([
        // lastSeq in the history is older than the journal's: the journal wins.
        { ...base, id: 'run1', state: 'running', pid: 4711, cookie: '-9123456789012345678', rowsReceived: 100, reattach: { lastSeq: 50, storeId: ids.running } },
        { ...base, id: 'end1', state: 'completed', pid: 4712, cookie: '42', rowsReceived: 5, endedAt: 2, reattach: { lastSeq: 8, storeId: ids.ended, finalAckPending: true } },
        { ...base, id: 'old1', state: 'running', pid: 4713, cookie: '43', rowsReceived: 0, durable: false, note: "Not durable: pg_background 1.9 on this server cannot re-attach; closing the window or losing the connection loses this job's results." },
      ]),
    );
    const engine = new JobManager({ storageDir: dir });
    const restored = engine.restoreHistory(records);
    const run = restored.find((j) => j.id === 'run1')!;
    assert.equal(run.state, 'running');
    assert.equal(run.reconnecting, true);
    assert.equal(run.hasResult, true);
    assert.equal(run.rowsReceived, 300);
    const store = engine.store('run1') as SpooledResultStore;
    assert.equal(store.lastSeq, 301);
    assert.equal(store.complete, false);
    assert.deepEqual((await store.getRows(1, 298, 5)).map((r) => r[0]), ['299', '300']);
    const ended = restored.find((j) => j.id === 'end1')!;
    assert.equal(ended.state, 'completed');
    assert.equal(ended.hasResult, true);
    assert.equal(engine.store('end1')?.complete, true);
    assert.equal(engine.store('end1')?.statements()[0].commandTag, 'SELECT 5');
    const old = restored.find((j) => j.id === 'old1')!;
    assert.equal(old.state, 'lost');
    assert.match(old.note ?? '', /may still be running.*Not durable: pg_background 1\.9 on this server cannot re-attach/);
    assert.ok(!fs.existsSync(path.join(dir, 'job-orphan-00000000.spool')), 'an unreferenced store file is collected');

    // Saved again, the records carry the journal's position and the debt of a final ack.
    const saved = engine.toHistory();
    assert.deepEqual(saved.find((r) => r.id === 'run1')?.reattach, { lastSeq: 301, storeId: ids.running });
    assert.deepEqual(saved.find((r) => r.id === 'end1')?.reattach, { lastSeq: 8, storeId: ids.ended, finalAckPending: true });
    assert.equal(saved.find((r) => r.id === 'run1')?.reconnecting, undefined, 'reconnecting is not persisted');
    assert.equal(saved.find((r) => r.id === 'old1')?.reattach, undefined);
    await engine.dispose();
    assert.ok(fs.existsSync(path.join(dir, `${ids.running}.spool`)), 'dispose keeps durable stores for the next window');

    // A history that no longer mentions a store lets the next restore collect it.
    const next = new JobManager({ storageDir: dir });
    next.restoreHistory(saved.filter((r) => r.id !== 'end1'));
    assert.ok(!fs.existsSync(path.join(dir, `${ids.ended}.spool`)));
    assert.ok(fs.existsSync(path.join(dir, `${ids.running}.meta`)));
    // Clearing an ended durable job deletes its files.
    await next.dispose();
  });
});
