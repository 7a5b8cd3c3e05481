import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { SpooledResultStore } from '../../src/core/resultStore.js';
import { RowEncoder, decodeRows, scanRowsJson } from '../../src/core/rowCodec.js';
import type { Row } from '../../src/core/model.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgbg-store-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const row = (g: number): Row => [String(g), g % 7 === 0 ? null : `v${g}-é😀`];

describe('rowCodec', () => {
  it('round-trips nulls, empty strings and non-ASCII', () => {
    const enc = new RowEncoder(16);
    const rows: Row[] = [[null, '', 'a'], ['ünï😀code', null], [], ['x'.repeat(100000)]];
    for (const r of rows) enc.add(r);
    const { rows: back, next } = decodeRows(enc.take());
    assert.deepEqual(back, rows);
    assert.ok(next > 0);
  });
  it('stops at an incomplete record', () => {
    const enc = new RowEncoder();
    enc.add(['a']);
    enc.add(['bcd']);
    const buf = enc.take();
    assert.equal(decodeRows(buf.subarray(0, buf.length - 1)).rows.length, 1);
  });
});

describe('RowEncoder.addBlock', () => {
  // Rows of every length class: short ones copied byte by byte, long ones moved natively.
  const sample = (g: number): Row => [String(g), g % 5 === 0 ? null : 'y'.repeat(g % 150), g % 11 === 0 ? '],["' : `v${g}`];

  it('writes exactly the records addJson writes, marks included, for ASCII blocks and cut ones', () => {
    const blocks = [0, 1, 2].map((b) => {
      const rows = Array.from({ length: 300 }, (_, i) => sample(b * 300 + i));
      const block = scanRowsJson(JSON.stringify(rows));
      assert.ok(block);
      return block;
    });
    blocks[1].from = 7; // a batch cut at after_seq starts inside a message
    const viaBlock = new RowEncoder(64);
    const viaJson = new RowEncoder(64);
    const marksBlock: number[] = [];
    const marksJson: number[] = [];
    let n = 3;
    for (const b of blocks) {
      viaBlock.addBlock(b, n, 256, marksBlock);
      for (let k = b.from; k < b.to; k++, n++) {
        const at = viaJson.addJson(b.text.slice(b.bounds[2 * k], b.bounds[2 * k + 1]));
        if (n % 256 === 0) marksJson.push(at);
      }
    }
    assert.deepEqual(marksBlock, marksJson);
    assert.equal(marksBlock.length, 3);
    const bytes = viaBlock.take();
    assert.ok(bytes.equals(viaJson.take()), 'same bytes');
    const { rows } = decodeRows(bytes);
    const expected = [...Array.from({ length: 300 }, (_, i) => sample(i)), ...Array.from({ length: 293 }, (_, i) => sample(307 + i)), ...Array.from({ length: 300 }, (_, i) => sample(600 + i))];
    assert.deepEqual(rows, expected);
  });

  it('falls back to a write per row when the text is not ASCII (spans are not byte offsets then)', () => {
    const rows: Row[] = [['é', 'x'], ['😀'], ['a'.repeat(100), 'ü'], [null]];
    const block = scanRowsJson(JSON.stringify(rows));
    assert.ok(block);
    const enc = new RowEncoder(16);
    const marks: number[] = [];
    enc.addBlock(block, 0, 2, marks);
    const buf = enc.take();
    assert.deepEqual(decodeRows(buf).rows, rows);
    assert.equal(marks.length, 2);
    assert.deepEqual(decodeRows(buf.subarray(marks[1])).rows, rows.slice(2));
  });
});

describe('SpooledResultStore', () => {
  it('keeps statements, command tags and messages', async () => {
    const store = new SpooledResultStore('meta', { storageDir: dir, memoryRowBudget: 10 });
    store.setColumns(1, [{ name: 'g', type: 'integer', typeOid: 23, typmod: -1 }]);
    store.addRows(1, [['1'], ['2']]);
    store.setCommand(1, 'SELECT 2', 2);
    store.setCommand(2, 'UPDATE 5', 5);
    store.addMessage({ kind: 'notice', stmt: 2, severity: 'NOTICE', sqlstate: '00000', message: 'hi' });
    const st = store.statements();
    assert.deepEqual(st.map((s) => [s.stmt, s.rowCount, s.commandTag, s.columns?.length]), [
      [1, 2, 'SELECT 2', 1],
      [2, 0, 'UPDATE 5', undefined],
    ]);
    assert.equal(store.messages()[0].message, 'hi');
    assert.deepEqual(await store.getRows(1, 1, 10), [['2']]);
    assert.deepEqual(await store.getRows(3, 0, 10), []);
    store.dispose();
  });

  it('coalesces change events and fires on completion', async () => {
    const store = new SpooledResultStore('events', { storageDir: dir, memoryRowBudget: 10 });
    let fired = 0;
    store.onDidChange(() => fired++);
    for (let i = 0; i < 100; i++) store.addRows(1, [[String(i)]]);
    assert.equal(fired, 0);
    store.markComplete();
    assert.equal(fired, 1);
    assert.equal(store.complete, true);
    store.dispose();
  });

  it('serves random ranges over 1,000,000 spooled rows and streams them all', async () => {
    const store = new SpooledResultStore('big', { storageDir: dir, memoryRowBudget: 1000 });
    const batch = 10000;
    for (let b = 0; b < 100; b++) {
      const rows: Row[] = [];
      for (let i = 0; i < batch; i++) rows.push(row(b * batch + i + 1));
      store.addRows(1, rows);
    }
    store.markComplete();
    assert.equal(store.statements()[0].rowCount, 1_000_000);
    // In memory (head), across the head boundary, deep inside, at the end, clipped past the end.
    for (const [start, count] of [[0, 5], [995, 10], [123_456, 300], [999_990, 50], [524_287, 1]] as const) {
      const got = await store.getRows(1, start, count);
      const expected: Row[] = [];
      for (let g = start + 1; g <= Math.min(1_000_000, start + count); g++) expected.push(row(g));
      assert.deepEqual(got, expected, `range ${start}+${count}`);
    }
    // A few hundred random single rows.
    let seed = 42;
    for (let k = 0; k < 300; k++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const r = seed % 1_000_000;
      assert.deepEqual(await store.getRows(1, r, 1), [row(r + 1)]);
    }
    let n = 0;
    let last: Row | undefined;
    for await (const r of store.iterateRows(1, 10)) {
      n++;
      last = r;
    }
    assert.equal(n, 1_000_000 - 10);
    assert.deepEqual(last, row(1_000_000));
    const file = fs.readdirSync(dir).find((f) => f.startsWith('job-big'));
    assert.ok(file, 'spool file exists while the store lives');
    store.dispose();
    assert.equal(fs.readdirSync(dir).some((f) => f.startsWith('job-big')), false, 'dispose deletes the spool');
    assert.deepEqual(await store.getRows(1, 0, 1), []);
  });

  it('takes rows as blocks of message text: head within the budget, pages across blocks, cut blocks', async () => {
    const store = new SpooledResultStore('blocks', { storageDir: dir, memoryRowBudget: 100 });
    const expected: Row[] = [];
    let g = 0;
    for (let b = 0; b < 40; b++) {
      const rows = Array.from({ length: 50 + b }, () => row(++g));
      const block = scanRowsJson(JSON.stringify(rows));
      assert.ok(block);
      if (b % 7 === 3) block.from = 5;
      expected.push(...rows.slice(block.from));
      store.addRowBlocks(1, [block]);
    }
    assert.equal(store.rowCount, expected.length);
    for (const [start, count] of [[0, 100], [95, 10], [250, 300], [expected.length - 3, 10]] as const) {
      assert.deepEqual(await store.getRows(1, start, count), expected.slice(start, start + count), `range ${start}+${count}`);
    }
    const all: Row[] = [];
    for await (const r of store.iterateRows(1)) all.push(r);
    assert.deepEqual(all, expected);
    store.dispose();
  });

  it('serves rows of several statements separately', async () => {
    const store = new SpooledResultStore('multi', { storageDir: dir, memoryRowBudget: 300 });
    store.addRows(1, Array.from({ length: 1000 }, (_, i) => [`a${i}`]));
    store.addRows(2, Array.from({ length: 700 }, (_, i) => [`b${i}`, String(i)]));
    store.addRows(3, Array.from({ length: 10 }, (_, i) => [`c${i}`]));
    assert.deepEqual(await store.getRows(1, 998, 5), [['a998'], ['a999']]);
    assert.deepEqual(await store.getRows(2, 0, 2), [['b0', '0'], ['b1', '1']]);
    assert.deepEqual(await store.getRows(2, 699, 1), [['b699', '699']]);
    assert.deepEqual(await store.getRows(3, 9, 1), [['c9']]);
    const all: Row[] = [];
    for await (const r of store.iterateRows(2)) all.push(r);
    assert.equal(all.length, 700);
    store.dispose();
  });
});
