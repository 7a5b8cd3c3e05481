import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { applyFetchBatch } from '../../src/core/fetchMessages.js';
import { SpooledResultStore } from '../../src/core/resultStore.js';
import { parseRowJson } from '../../src/core/rowCodec.js';

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

describe('applyFetchBatch', () => {
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
