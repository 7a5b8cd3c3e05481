import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JobInfo } from '../../src/core/model.js';
import {
  connectionContextValue,
  connectionDescription,
  errorDocumentOffset,
  escapeMarkdown,
  jobLabel,
  formatRows,
  jobContextValue,
  jobDescription,
  jobTooltipMarkdown,
  markdownCodeBlock,
} from '../../src/vscode/treeLabels.js';

function job(over: Partial<JobInfo> = {}): JobInfo {
  return {
    id: 'j1',
    connectionName: 'local',
    sql: 'SELECT 1',
    mode: 'launch',
    state: 'running',
    launchedAt: 1_000,
    rowsReceived: 0,
    hasResult: true,
    ...over,
  };
}

test('jobLabel joins the first SQL words across lines and marks a cut', () => {
  assert.equal(jobLabel('\n\n  SELECT   a,\n  b FROM t'), 'SELECT a, b FROM t');
  assert.equal(jobLabel('SELECT 1'), 'SELECT 1');
  assert.equal(jobLabel('   \n  '), '(empty)');
  assert.equal(jobLabel('x'.repeat(100), 10), 'xxxxxxxxx…');
});

test('jobLabel skips leading line and block comments', () => {
  const demo = [
    '-- A million rows. They stream into the grid while the job runs; scroll anywhere, the grid',
    '-- only keeps what is on screen, and the rest waits in the result store.',
    'SELECT g AS id,',
    '       md5(g::text) AS hash',
    'FROM generate_series(1, 1000000) g;',
  ].join('\n');
  assert.equal(jobLabel(demo, 30), 'SELECT g AS id, md5(g::text)…');
  assert.equal(jobLabel('  /* header\n   /* nested */ still comment */\n\tVACUUM t; -- trailing'), 'VACUUM t;');
  assert.equal(jobLabel('SELECT 1 -- one\n + 2 /* two */ AS x'), 'SELECT 1 + 2 AS x');
  assert.equal(jobLabel('-- only a comment\n/* and another */'), '(comments only)');
});

test('jobLabel leaves comment markers inside quotes alone', () => {
  assert.equal(jobLabel("SELECT '--not a comment', \"/*x*/\" FROM t"), "SELECT '--not a comment', \"/*x*/\" FROM t");
  assert.equal(jobLabel("SELECT E'it\\'s -- here' AS s"), "SELECT E'it\\'s -- here' AS s");
  assert.equal(jobLabel('DO $body$ BEGIN -- inside\n RAISE NOTICE $$x$$; END $body$'), 'DO $body$ BEGIN -- inside RAISE NOTICE $$x$$; END $body$');
});

test('a first line "-- name: …" names the job', () => {
  assert.equal(jobLabel('-- name: Nightly totals\nSELECT sum(x) FROM t'), 'Nightly totals');
  assert.equal(jobLabel('\n  --NAME:   Refresh   the cache  \nREFRESH MATERIALIZED VIEW mv'), 'Refresh the cache');
  assert.equal(jobLabel('SELECT 1;\n-- name: not first'), 'SELECT 1;');
  assert.equal(jobLabel('-- name:\nSELECT 2'), 'SELECT 2', 'an empty name falls back to the SQL');
  assert.equal(jobLabel('-- named after nothing\nSELECT 3'), 'SELECT 3');
});

test('formatRows groups digits without depending on the locale', () => {
  assert.equal(formatRows(1), '1 row');
  assert.equal(formatRows(0), '0 rows');
  assert.equal(formatRows(1_234_567), '1,234,567 rows');
});

test('jobDescription shows state, elapsed, rows and progress', () => {
  const d = jobDescription(job({ rowsReceived: 1500, progressPct: 40, progressMsg: 'step 2' }), 13_000);
  assert.equal(d, 'running · 12s · 1,500 rows · 40% step 2');
  assert.equal(jobDescription(job({ state: 'completed', endedAt: 1_500 }), 99_000), 'completed · 0.5s · 0 rows');
  assert.equal(jobDescription(job({ mode: 'submit', hasResult: false }), 1_000), 'running (submitted) · 0.0s');
});

test('jobContextValue carries the tags the manifest menus match', () => {
  assert.equal(jobContextValue(job()), 'pgbgJob state-running mode-launch has-result');
  const failed = job({
    state: 'error',
    hasResult: false,
    source: { uri: 'file:///a.sql', offset: 10 },
    error: { kind: 'error', stmt: 1, severity: 'ERROR', sqlstate: '42P01', message: 'x', position: 3 },
  });
  assert.equal(jobContextValue(failed), 'pgbgJob state-error mode-launch has-error has-error-position has-source');
  assert.match(jobContextValue(failed), /\bstate-(completed|error|canceled|detached|lost)\b/);
});

test('connectionContextValue tags missing extension and reduced mode', () => {
  assert.equal(
    connectionContextValue({ active: true, connected: true, failed: false, installed: false }),
    'pgbgConnection active connected ext-missing',
  );
  assert.match(connectionContextValue({ active: false, connected: true, failed: false, installed: true, reducedMode: true }), /\binactive\b.*\breduced\b/);
});

test('markdownCodeBlock uses a fence longer than any backtick run in the SQL', () => {
  assert.equal(markdownCodeBlock('SELECT 1'), '```sql\nSELECT 1\n```');
  const tricky = "SELECT '```' AS x";
  const block = markdownCodeBlock(tricky);
  assert.ok(block.startsWith('````sql\n'));
  assert.ok(block.endsWith('\n````'));
});

test('escapeMarkdown neutralises links and emphasis in server text', () => {
  assert.equal(escapeMarkdown('[x](command:foo) *b*'), '\\[x\\]\\(command:foo\\) \\*b\\*');
});

test('jobTooltipMarkdown holds the full SQL in a code block and the error fields', () => {
  const md = jobTooltipMarkdown(
    job({
      sql: 'SELECT *\nFROM missing',
      state: 'error',
      endedAt: 2_000,
      error: { kind: 'error', stmt: 1, severity: 'ERROR', sqlstate: '42P01', message: 'relation "missing" does not exist', hint: 'create it' },
    }),
    5_000,
  );
  assert.ok(md.includes('```sql\nSELECT *\nFROM missing\n```'));
  assert.ok(md.includes('42P01'));
  assert.ok(md.includes('create it'));
});

test('errorDocumentOffset maps a 1-based server position into the document', () => {
  assert.equal(errorDocumentOffset(100, 1), 100);
  assert.equal(errorDocumentOffset(100, 8), 107);
});

test('a finished job says its outcome is unknown, and why', () => {
  const finished = job({ state: 'finished', endedAt: 2_000, note: 'Finished; outcome not reported by this server version: x' });
  assert.equal(jobDescription(finished, 9_000), 'finished, outcome unknown · 1.0s');
  assert.match(jobContextValue(finished), /\bstate-finished\b/);
  assert.ok(jobTooltipMarkdown(finished, 9_000).includes('outcome not reported by this server version'));
});

// run-all and npx tsx --test run from the repository root, where package.json is.
test('the manifest offers Re-run and Remove for a job in every final state', async () => {
  const { FINAL_STATES } = await import('../../src/core/model.js');
  const fs = await import('node:fs');
  const manifest = JSON.parse(fs.readFileSync('package.json', 'utf8')) as {
    contributes: { menus: Record<string, { command: string; when?: string }[]> };
  };
  const items = manifest.contributes.menus['view/item/context'];
  for (const command of ['pgBackground.rerunJob', 'pgBackground.clearJob']) {
    const when = items.find((i) => i.command === command)?.when ?? '';
    const stateRegex = /viewItem =~ \/(\\bstate-[^/]*)\//.exec(when)?.[1];
    assert.ok(stateRegex, `${command} has a state condition`);
    for (const state of FINAL_STATES) {
      assert.match(jobContextValue(job({ state })), new RegExp(stateRegex), `${command} for a ${state} job`);
    }
  }
});

test('a job being re-attached says so in its description and tooltip; a final one does not', () => {
  assert.match(jobDescription(job({ state: 'running', reconnecting: true, rowsReceived: 10 }), 2_000), /^running \(reconnecting\) · /);
  assert.match(jobTooltipMarkdown(job({ state: 'running', reconnecting: true }), 2_000), /Re-attaching to the server/);
  assert.doesNotMatch(jobDescription(job({ state: 'completed', reconnecting: true }), 2_000), /reconnecting/);
});

test('a connection whose session is being re-established reads "reconnecting"', () => {
  const s = { active: true, connected: false, failed: false, installed: true, reconnecting: true };
  assert.equal(connectionDescription(s, 2), 'active · reconnecting · 2 jobs');
});
