import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JobState } from '../../src/core/model.js';
import {
  awayMessage,
  countAway,
  formatBytes,
  notDurableNote,
  reconnectingText,
  serverJobDescription,
  serverJobIconId,
  serverJobLabel,
  serverJobTooltipMarkdown,
  type ServerJobRow,
} from '../../src/vscode/serverJobLabels.js';

function sj(over: Partial<ServerJobRow> = {}): ServerJobRow {
  return { pid: 100, cookie: '123', state: 'running', output: 'held', sqlPreview: 'SELECT 1', ...over };
}

test('formatBytes: binary units, one decimal below ten', () => {
  assert.equal(formatBytes(0), '0 bytes');
  assert.equal(formatBytes(1), '1 byte');
  assert.equal(formatBytes(1023), '1023 bytes');
  assert.equal(formatBytes(1536), '1.5 kB');
  assert.equal(formatBytes(12 * 1024 * 1024 + 300_000), '12 MB');
  assert.equal(formatBytes(3.4 * 1024 ** 3), '3.4 GB');
  assert.equal(formatBytes(undefined), '0 bytes');
  assert.equal(formatBytes(-5), '0 bytes');
});

test('server job description: held output with its launcher, or attached elsewhere', () => {
  const now = 100_000;
  assert.equal(
    serverJobDescription(sj({ state: 'completed', output: 'held', bytesHeld: 12 * 1024 * 1024, launcherPid: 4711, launchedAt: 0, finishedAt: 50_000 }), now),
    'completed · held 12 MB · launched by pid 4711',
  );
  assert.equal(serverJobDescription(sj({ state: 'running', output: 'attached', readerPid: 9, launchedAt: 88_000 }), now), 'running 12s · attached elsewhere');
  assert.equal(serverJobDescription(sj({ state: 'running', output: 'live', launcherPid: 7 }), now), 'running · attached elsewhere · launched by pid 7');
  assert.equal(serverJobDescription(sj({ state: 'interrupted', output: 'none' }), now), 'interrupted by a server restart');
  assert.equal(serverJobDescription(sj({ state: 'error', output: 'discarded' }), now), 'error · output discarded');
});

test('server job label: the SQL preview\'s first words, else the pid; the icon is a cloud', () => {
  assert.equal(serverJobLabel(sj({ sqlPreview: '-- name: nightly\nSELECT * FROM t' })), 'nightly');
  assert.equal(serverJobLabel(sj({ sqlPreview: '  SELECT   a\n FROM b' })), 'SELECT a FROM b');
  assert.equal(serverJobLabel(sj({ sqlPreview: undefined, pid: 42 })), 'pid 42');
  assert.equal(serverJobLabel(sj({ sqlPreview: '   ', pid: 42 })), 'pid 42');
  assert.equal(serverJobIconId(sj({ output: 'held' })), 'cloud');
  assert.equal(serverJobIconId(sj({ state: 'running', output: 'attached' })), 'cloud');
});

test('server job tooltip renders database values as text, not Markdown or HTML', () => {
  const md = serverJobTooltipMarkdown(
    sj({
      state: 'error',
      output: 'held',
      role: 'ev*il',
      database: '<b>db</b>',
      lastError: 'relation "[x](http://e.vil)" does not exist',
      sqlstate: '42P01',
      sqlPreview: 'SELECT ```x``` FROM t',
      rowsHeld: 3,
      bytesHeld: 2048,
    }),
    0,
  );
  assert.match(md, /role ev\\\*il/);
  assert.match(md, /database \\<b\\>db\\<\/b\\>/);
  assert.match(md, /\\\[x\\\]\\\(http:\/\/e\\\.vil\\\)/);
  assert.match(md, /42P01/);
  assert.match(md, /3 rows, 2\.0 kB|3 rows, 2 kB/);
  // The SQL sits in a fence longer than any backtick run inside it.
  assert.match(md, /````sql\nSELECT ```x``` FROM t\n````/);
});

function counts(saved: [string, JobState][], now: Record<string, JobState>, server: ServerJobRow[], lastActiveAt?: number) {
  return countAway({ saved: saved.map(([id, state]) => ({ id, state })), currentState: (id) => now[id], serverJobs: server, lastActiveAt });
}

test('away count: restored records that were running when saved and are final now', () => {
  const c = counts(
    [
      ['a', 'running'],
      ['b', 'running'],
      ['c', 'running'],
      ['d', 'completed'], // final when saved: old news
      ['e', 'running'], // still running
      ['f', 'launching'],
      ['g', 'running'], // detached since: not counted
    ],
    { a: 'completed', b: 'error', c: 'lost', d: 'completed', e: 'running', f: 'completed', g: 'detached' },
    [],
    1000,
  );
  assert.deepEqual(c, { completed: 2, failed: 2 });
});

test('away count: a restored job still streaming counts by its server job\'s state', () => {
  const c = counts([['a', 'running'], ['b', 'running']], { a: 'running', b: 'running' }, [
    sj({ localJobId: 'a', state: 'completed', finishedAt: 5000 }),
    sj({ localJobId: 'b', state: 'running' }),
  ], 1000);
  assert.deepEqual(c, { completed: 1, failed: 0 });
});

test('away count: server jobs of others that ended after lastActiveAt, not before, not local, not running', () => {
  const server = [
    sj({ state: 'completed', finishedAt: 2000 }),
    sj({ state: 'error', finishedAt: 3000 }),
    sj({ state: 'interrupted', finishedAt: 3000 }),
    sj({ state: 'completed', finishedAt: 500 }), // before: seen already
    sj({ state: 'completed', finishedAt: 1000 }), // exactly then: not after
    sj({ state: 'running' }),
    sj({ state: 'completed', finishedAt: 4000, localJobId: 'x' }), // ours, and final when saved
  ];
  assert.deepEqual(counts([['x', 'completed']], { x: 'completed' }, server, 1000), { completed: 1, failed: 2 });
  // No lastActiveAt (first start ever): only restored records count.
  assert.deepEqual(counts([], {}, server, undefined), { completed: 0, failed: 0 });
});

test('away message: counts with plurals, nothing when both are zero', () => {
  assert.equal(awayMessage({ completed: 3, failed: 1 }), 'While you were away: 3 jobs completed, 1 failed');
  assert.equal(awayMessage({ completed: 1, failed: 0 }), 'While you were away: 1 job completed, 0 failed');
  assert.equal(awayMessage({ completed: 0, failed: 2 }), 'While you were away: 0 jobs completed, 2 failed');
  assert.equal(awayMessage({ completed: 0, failed: 0 }), undefined);
});

test('reconnecting status text and the not-durable note', () => {
  assert.equal(reconnectingText('prod', 3), '$(sync~spin) pg-background: reconnecting to prod (attempt 3)');
  assert.equal(
    notDurableNote('1.9'),
    'Not durable: pg_background 1.9 on this server cannot re-attach; closing the window or losing the connection loses this job\'s results.',
  );
  assert.match(notDurableNote('1.10', true), /pgBackground\.durableJobs is off/);
});

test('away count names the restored records it counted (their own toasts are skipped)', () => {
  const seen: string[] = [];
  countAway({
    saved: [
      { id: 'a', state: 'running' },
      { id: 'b', state: 'running' },
      { id: 'c', state: 'completed' },
    ],
    currentState: (id) => (id === 'a' ? 'completed' : id === 'b' ? 'running' : 'completed'),
    serverJobs: [],
    lastActiveAt: 0,
    onCounted: (id) => seen.push(id),
  });
  assert.deepEqual(seen, ['a']);
});
