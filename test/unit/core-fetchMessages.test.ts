import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { applyFetchBatch } from '../../src/core/fetchMessages.js';
import { SpooledResultStore } from '../../src/core/resultStore.js';
import { parseRowJson, splitRowsJson } from '../../src/core/rowCodec.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgbg-fetch-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('parseRowJson', () => {
  it('agrees with JSON.parse on plain and tricky rows', () => {
    const rows = [
      '[]',
      '[null]',
      '["1","c4ca4238a0b923820dcc509a6f75849b"]',
      '["",null,"é😀",""]',
      '["a\\"b","x\\\\y","tab\\tnl\\n","\\u0001"]',
      '["nullish","null",null]',
      '[ "spaced" , null ]',
      '[1,true]',
    ];
    for (const r of rows) assert.deepEqual(parseRowJson(r), JSON.parse(r), r);
  });
});

describe('splitRowsJson', () => {
  it('splits a rows message into each row\'s JSON text, exactly', () => {
    const rows = [
      [],
      [null],
      ['1', 'c4ca4238a0b923820dcc509a6f75849b'],
      ['', null, 'é😀', ''],
      ['a"b', 'x\\y', 'tab\tnl\n', '\u0001', '\\'],
      ['],[', '"],["', 'null', null],
      ['ends with backslash \\'],
    ];
    const text = JSON.stringify(rows);
    const split = splitRowsJson(text);
    assert.ok(split, 'split');
    assert.deepEqual(split, rows.map((r) => JSON.stringify(r)));
    assert.deepEqual(split.map(parseRowJson), rows);
    assert.deepEqual(splitRowsJson('[]'), []);
  });

  it('declines anything that is not the server\'s form, so the caller parses it', () => {
    for (const t of ['', '[', '[[1]]', '[ ["a"]]', '[["a"] ]', '[["a"],]', '[["a"]', '[["a"]]]', '[["a]]', '{"a":1}', '[["a"],["b"],x]', '[nul]'])
      assert.equal(splitRowsJson(t), undefined, t);
  });
});

describe('applyFetchBatch', () => {
  it('spools `rows` messages like `row` messages, in order, across statements', async () => {
    const store = new SpooledResultStore('rows', { storageDir: dir, memoryRowBudget: 3 });
    const out = applyFetchBatch(store, [
      ['columns', 1, '[{"name":"a","type":"text","type_oid":25,"typmod":-1}]'],
      ['rows', 1, '[["1"],["2"]]'],
      ['row', 1, '["3"]'],
      ['rows', 1, '[["4"],[null],["x\\"y"]]'],
      ['columns', 2, '[{"name":"b","type":"integer","type_oid":23,"typmod":-1}]'],
      ['rows', 2, '[["7"]]'],
      // Not in the server's usual form: parsed, non-text values kept as their JSON text.
      ['rows', 2, '[ [8, true], ["9"] ]'],
      ['done', 0, '{"state":"completed"}'],
    ]);
    assert.equal(out.rows, 9);
    assert.equal(out.done, 'completed');
    assert.deepEqual(await store.getRows(1, 0, 10), [['1'], ['2'], ['3'], ['4'], [null], ['x"y']]);
    assert.deepEqual(await store.getRows(2, 0, 10), [['7'], ['8', 'true'], ['9']]);
    assert.deepEqual(store.statements().map((s) => s.rowCount), [6, 3]);
    store.dispose();
  });

  it('refuses a `rows` message that is not an array of rows', () => {
    const store = new SpooledResultStore('bad', { storageDir: dir, memoryRowBudget: 3 });
    assert.throws(() => applyFetchBatch(store, [['rows', 1, '{"a":1}']]), /not an array of rows/);
    assert.throws(() => applyFetchBatch(store, [['rows', 1, '["a"]']]), /not an array/);
    store.dispose();
  });


  it('routes columns, rows, commands, notices, errors and done', async () => {
    const store = new SpooledResultStore('batch', { storageDir: dir, memoryRowBudget: 100 });
    const out = applyFetchBatch(store, [
      ['columns', 1, '[{"name":"a","type":"integer","type_oid":23,"typmod":-1}]'],
      ['row', 1, '["1"]'],
      ['row', 1, '["2"]'],
      ['command', 1, '{"tag":"SELECT 2","rows":2}'],
      ['notice', 2, '{"severity":"NOTICE","sqlstate":"00000","message":"hi","detail":null,"hint":null,"position":null,"context":null}'],
      ['error', 2, '{"severity":"ERROR","sqlstate":"22012","message":"division by zero","detail":null,"hint":"h","position":8,"context":null}'],
      ['done', 0, '{"state":"error"}'],
      ['future-kind', 0, '{}'],
    ]);
    assert.equal(out.rows, 2);
    assert.equal(out.done, 'error');
    assert.deepEqual(out.error, { kind: 'error', stmt: 2, severity: 'ERROR', sqlstate: '22012', message: 'division by zero', hint: 'h', position: 8 });
    assert.deepEqual(await store.getRows(1, 0, 5), [['1'], ['2']]);
    assert.equal(store.statements()[0].commandTag, 'SELECT 2');
    assert.equal(store.messages().length, 2);
    store.dispose();
  });
});
