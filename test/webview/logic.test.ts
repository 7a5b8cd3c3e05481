// The pure parts of the panel and webview (no browser, no vscode): protocol validation, value
// formatting, CSV/JSON encoding, value cutting, the scroll-space mapping, the row cache's
// request coalescing and the status throttle.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cutRows, jobTitle } from '../../src/panel/controller';
import { copyRange, csvField, csvLine, exportStatement, jsonKeys, jsonValue, tsvField } from '../../src/panel/export';
import { Throttle } from '../../src/panel/throttle';
import { cutValue, isHostMessage, isPersistedState, isWebviewMessage, MAX_COPY_ROWS, MAX_ROWS_PER_REQUEST, PUSHED_ROWS_REQ_ID, type WebviewMessage } from '../../src/protocol';
import { CELL_TEXT_MAX, cellText } from '../../webview/format';
import { RowCache, Requester } from '../../webview/rows';
import { MAX_SCROLL_PX, maxVirtualTop, scrollFromVirtual, scrollSpace, virtualFromScroll } from '../../webview/scrollMath';
import { GeneratedStore, bigStatement, col } from './fixtures';

test('webview messages are validated before the host acts on them', () => {
  const ok: WebviewMessage[] = [
    { type: 'ready' },
    { type: 'getRows', reqId: 1, stmt: 1, start: 0, count: 100, maxValueLength: 4000 },
    { type: 'cancel' },
    { type: 'goToError', position: 12 },
    { type: 'export', stmt: 2, format: 'json' },
    { type: 'copyRange', stmt: 1, r0: 0, r1: 3, c0: 1, c1: 1 },
    { type: 'copyText', text: 'a\tb' },
    { type: 'state', state: { v: 1, jobId: 'j', activeTab: 'stmt:1', scroll: { '1': { row: 5, left: 0 } } } },
  ];
  for (const m of ok) assert.ok(isWebviewMessage(m), JSON.stringify(m));
  const bad: unknown[] = [
    null,
    'ready',
    { type: 'getRows', reqId: 1, stmt: 0, start: 0, count: 10 },
    { type: 'getRows', reqId: 1, stmt: 1, start: -5, count: 10 },
    { type: 'getRows', reqId: 1, stmt: 1, start: 0, count: MAX_ROWS_PER_REQUEST + 1 },
    { type: 'getRows', reqId: 1, stmt: 1, start: 0.5, count: 10 },
    { type: 'getRows', reqId: 1, stmt: 1, start: 0, count: 10, maxValueLength: 0 },
    { type: 'copyRange', stmt: 1, r0: 5, r1: 4, c0: 0, c1: 0 },
    { type: 'copyRange', stmt: 1, r0: 0, r1: 4, c0: -1, c1: 0 },
    { type: 'export', stmt: 1, format: 'xlsx' },
    { type: 'goToError', position: '12' },
    { type: 'copyText', text: 1 },
    { type: 'state', state: { v: 2, jobId: 'j' } },
    { type: 'exec', sql: 'DROP TABLE x' },
  ];
  for (const m of bad) assert.equal(isWebviewMessage(m), false, JSON.stringify(m));
  assert.equal(isPersistedState({ v: 1, jobId: 'x', widths: { '1': [10, -1] } }), false);
});

test('host messages are validated before the webview renders them', () => {
  assert.ok(isHostMessage({ type: 'rows', reqId: 1, stmt: 1, start: 0, rows: [['1', null]], cut: [[0, 0, 10]] }));
  assert.equal(isHostMessage({ type: 'rows', reqId: 1, stmt: 1, start: 0, rows: [[1]] }), false);
  assert.equal(isHostMessage({ type: 'job', job: { id: 'x', state: 'exploded' } }), false);
  assert.equal(isHostMessage({ type: 'init', jobId: 'x', job: null, statements: [{ stmt: 1, rowCount: -1 }], messages: [] }), false);
});

test('cell text: control characters become visible symbols, long values are cut', () => {
  assert.equal(cellText('a\nb\tc\rd\u0000e\u001bf\u007f'), 'a\u21b5b\u2192c\u240dd\u2400e\u241bf\u2421');
  assert.equal(cellText('x'.repeat(10_000)).length, CELL_TEXT_MAX);
  assert.equal(cellText('<b>&amp;</b>'), '<b>&amp;</b>');
  assert.equal(cutValue('ab😀cd', 3), 'ab', 'a surrogate pair is not split');
  assert.equal(tsvField(null), '');
  assert.equal(tsvField('a\tb\nc\\d'), 'a\\tb\\nc\\\\d');
  assert.equal(jobTitle({ connectionName: 'prod', sql: '-- comment\n\n  SELECT 1' }), 'prod: SELECT 1');
});

test('CSV keeps NULL and empty apart; JSON keeps types and duplicate names', async () => {
  assert.equal(csvField(null), '');
  assert.equal(csvField(''), '""');
  assert.equal(csvField('a,b'), '"a,b"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField('line\nbreak'), '"line\nbreak"');
  assert.equal(csvField(' pad'), '" pad"');
  assert.equal(csvLine(['1', null, '']), '1,,""\r\n');
  assert.deepEqual(jsonKeys([col('a', 'int', 23), col('a', 'int', 23), col('a_2', 'int', 23)]), ['a', 'a_2', 'a_2_2']);
  assert.equal(jsonValue('42', 23), '42');
  assert.equal(jsonValue('9223372036854775807', 20), '"9223372036854775807"', 'int8 beyond 2^53 stays exact as a string');
  assert.equal(jsonValue('1.10', 1700), '"1.10"', 'numeric text that a double would change stays a string');
  assert.equal(jsonValue('1.5', 1700), '1.5');
  assert.equal(jsonValue('NaN', 701), '"NaN"');
  assert.equal(jsonValue('t', 16), 'true');
  assert.equal(jsonValue('{"a": [1, 2]}', 3802), '{"a": [1, 2]}');
  assert.equal(jsonValue('</script>', 25), '"</script>"');
  assert.equal(jsonValue(null, 25), 'null');

  const store = new GeneratedStore('x', [bigStatement(2500)]);
  const chunks: string[] = [];
  const n = await exportStatement(store, 1, 'json', { write: (c) => void chunks.push(c) }, { chunkChars: 10_000 });
  assert.equal(n, 2500);
  assert.ok(chunks.length > 5, 'written in chunks, not as one string');
  const rows = JSON.parse(chunks.join('')) as Record<string, unknown>[];
  assert.equal(rows.length, 2500);
  assert.deepEqual(rows[6], { g: 7, md5: bigStatement(7).row!(6)[1], even: false, note: null, price: 8.75 });
});

test('copy builds TSV from the store: whole values, arrived rows only, capped at MAX_COPY_ROWS', async () => {
  const gen = bigStatement(1_000_000);
  const store = new GeneratedStore('x', [gen]);
  const small = await copyRange(store, 1, 1, 4, 1, 3);
  const expected = [1, 2, 3, 4].map((i) => [gen.row!(i)[1], gen.row!(i)[2], gen.row!(i)[3] ?? ''].join('\t')).join('\n');
  assert.deepEqual(small, { text: expected, rows: 4, cols: 3, wanted: 4 });
  const all = await copyRange(store, 1, 0, 999_999, 0, 4);
  assert.deepEqual([all.rows, all.cols, all.wanted], [MAX_COPY_ROWS, 5, 1_000_000]);
  assert.equal(all.text.split('\n').length, MAX_COPY_ROWS);
  const tail = await copyRange(store, 1, 999_998, 1_000_005, 0, 0);
  assert.deepEqual([tail.text, tail.rows], ['999999\n1000000', 2]);
  const tabs = new GeneratedStore('t', [{ columns: [col('v', 'text', 25)], rowCount: 1, row: () => ['a\tb\\c'] }]);
  assert.equal((await copyRange(tabs, 1, 0, 0, 0, 0)).text, 'a\\tb\\\\c');
  const huge = new GeneratedStore('h', [{ columns: [col('v', 'text', 25)], rowCount: 10, row: () => ['x'.repeat(10 * 1024 * 1024)] }]);
  await assert.rejects(copyRange(huge, 1, 0, 9, 0, 0), /use Export/);
});

test('values are cut only when asked, with their full length reported', () => {
  const rows = [
    ['short', 'x'.repeat(50)],
    [null, 'ok'],
  ];
  const r = cutRows(rows, 10);
  assert.deepEqual(r.rows[0], ['short', 'x'.repeat(10)]);
  assert.deepEqual(r.cut, [[0, 1, 50]]);
  assert.equal(rows[0][1]?.length, 50, 'the input is not modified');
  assert.equal(cutRows(rows, 100).rows, rows);
});

test('the scroll space is capped and maps both ways', () => {
  const g = { rows: 10_000_000, rowHeight: 22, viewHeight: 600 };
  assert.equal(scrollSpace(g), MAX_SCROLL_PX);
  assert.equal(virtualFromScroll(0, g), 0);
  assert.equal(virtualFromScroll(MAX_SCROLL_PX - 600, g), maxVirtualTop(g));
  const v = 123_456 * 22;
  assert.ok(Math.abs(virtualFromScroll(scrollFromVirtual(v, g), g) - v) < 1e-3);
  const small = { rows: 100, rowHeight: 22, viewHeight: 600 };
  assert.equal(scrollSpace(small), 2200);
  assert.equal(virtualFromScroll(500, small), 500);
});

test('the row cache coalesces: only the latest wanted blocks are fetched, and it stays bounded', async () => {
  const sent: WebviewMessage[] = [];
  const requester = new Requester((m) => sent.push(m));
  let data = 0;
  const cache = new RowCache(1, requester, () => data++, { blockSize: 100, maxBlocks: 3, maxChars: 1e9, maxInFlight: 2, maxValueLength: 50 });
  cache.setTotal(1_000_000);
  // A fast scroll: many positions before any answer arrives.
  for (let r = 0; r < 500_000; r += 1000) cache.want(r, r + 30);
  const asked = sent.filter((m) => m.type === 'getRows');
  assert.equal(asked.length, 2, 'at most two requests in flight');
  const answer = (m: WebviewMessage): void => {
    if (m.type !== 'getRows') return;
    const rows = Array.from({ length: m.count }, (_, i) => [String(m.start + i)]);
    requester.handle({ type: 'rows', reqId: m.reqId, stmt: 1, start: m.start, rows });
  };
  answer(asked[0]);
  await Promise.resolve();
  await Promise.resolve();
  // After an answer the cache asks for what is wanted *now* (around row 499,000), not for the
  // positions scrolled past.
  const next = sent.filter((m) => m.type === 'getRows')[2];
  assert.ok(next?.type === 'getRows' && next.start === 499_000, JSON.stringify(next));
  for (const m of sent.slice(1)) answer(m);
  for (let i = 0; i < 10; i++) await Promise.resolve();
  assert.equal(cache.get(499_010)?.[0], '499010');
  for (let b = 0; b < 10; b++) {
    cache.want(b * 100, b * 100 + 10);
    for (const m of sent.splice(0)) answer(m);
    for (let i = 0; i < 4; i++) await Promise.resolve();
  }
  assert.ok(cache.cachedBlocks <= 3, `${cache.cachedBlocks} blocks cached`);
  assert.ok(data > 0);
});

test('a running statement: a partly filled block is fetched again when rows grow', async () => {
  const sent: WebviewMessage[] = [];
  const requester = new Requester((m) => sent.push(m));
  const cache = new RowCache(1, requester, () => undefined);
  cache.setTotal(30);
  cache.want(0, 40);
  const first = sent.pop();
  assert.ok(first?.type === 'getRows');
  requester.handle({ type: 'rows', reqId: first.reqId, stmt: 1, start: 0, rows: Array.from({ length: 30 }, (_, i) => [String(i)]) });
  for (let i = 0; i < 4; i++) await Promise.resolve();
  assert.equal(cache.get(35), undefined);
  cache.setTotal(60);
  const again = sent.pop();
  assert.ok(again?.type === 'getRows' && again.start === 0, 'the block is asked for again');
});

test('a first block pushed by the host is used without a request; misaligned pushes are ignored', () => {
  const sent: WebviewMessage[] = [];
  const requester = new Requester((m) => sent.push(m));
  const cache = new RowCache(2, requester, () => undefined);
  requester.onPushed = (stmt, reply) => {
    if (stmt === 2) cache.accept(reply);
  };
  cache.setTotal(1000);
  const block = Array.from({ length: 100 }, (_, i) => [String(i)]);
  assert.ok(requester.handle({ type: 'rows', reqId: PUSHED_ROWS_REQ_ID, stmt: 2, start: 0, rows: block }));
  assert.deepEqual(cache.get(99), ['99']);
  cache.want(0, 40);
  assert.equal(sent.length, 0, 'no request for rows that were pushed');
  requester.handle({ type: 'rows', reqId: PUSHED_ROWS_REQ_ID, stmt: 2, start: 150, rows: [['x']] });
  assert.equal(cache.get(150), undefined);
});

test('status pushes are throttled but the last one always comes', async () => {
  let calls = 0;
  const t = new Throttle(40, () => calls++);
  for (let i = 0; i < 50; i++) t.trigger();
  assert.equal(calls, 1, 'leading call only');
  while (calls < 2) await new Promise((r) => setTimeout(r, 10));
  assert.equal(calls, 2, 'one trailing call');
  t.trigger();
  t.trigger();
  t.flush();
  assert.ok(calls >= 3);
  t.dispose();
});
