// What a user does with PG Background, in a real VS Code (code-server) driven from Chromium:
// run a selection from the palette and from the keybinding, watch the job in the Jobs tree,
// read its rows in the result grid, a multi-statement job with its tabs and messages, cancel,
// wait with a timeout, detach, a syntax error with "Go to error", and the history after a
// window reload. Each step asserts what is on screen; screenshots go to test-artifacts/e2e/.

import assert from 'node:assert/strict';
import { after, describe } from 'node:test';
import pg from 'pg';
import { workbenchSuite } from './suite';
import { keybindingFor, menuTitle, paletteTitle, publishScreenshot, testProfile, until, type Workbench } from './workbench';

const files: Record<string, string> = {
  'select.sql': [
    '-- two statements: the test selects one at a time',
    "SELECT 'alpha' AS greeting, 42 AS answer, NULL::text AS nothing FROM pg_advisory_xact_lock(4242);",
    "SELECT 'beta' AS other, g AS n FROM generate_series(1, 3) AS g;",
    '',
  ].join('\n'),
  'multi.sql': [
    'CREATE TEMP TABLE e2e_t AS SELECT g FROM generate_series(1, 5) AS g;',
    'UPDATE e2e_t SET g = g * 10;',
    "DO $$ BEGIN RAISE NOTICE 'hello from the e2e job'; END $$;",
    'SELECT g AS tens FROM e2e_t ORDER BY g;',
    '',
  ].join('\n'),
  'sleepers.sql': [
    'SELECT pg_sleep(600) AS e2e_cancel_me;',
    'SELECT pg_sleep(600) AS e2e_wait_me;',
    'SELECT pg_sleep(600) AS e2e_detach_me;',
    '',
  ].join('\n'),
  'broken.sql': ['-- the error is on line 3', 'SELECT 1 AS fine,', '       2 AS also_fine FORM e2e_nowhere;', ''].join('\n'),
};

const profile = testProfile('e2e');
const db = () => new pg.Client({ host: String(profile.host), port: Number(profile.port), user: String(profile.user), database: String(profile.database) });

async function workerCount(marker: string): Promise<number> {
  const c = db();
  await c.connect();
  try {
    const r = await c.query<{ n: string }>(
      // an idle worker (kept for reuse) still shows its last job's text
      "SELECT count(*) AS n FROM pg_stat_activity WHERE backend_type = 'pg_background' AND state <> 'idle' AND query LIKE '%' || $1 || '%'",
      [marker],
    );
    return Number(r.rows[0].n);
  } finally {
    await c.end();
  }
}

describe('PG Background in VS Code (code-server)', { timeout: 30 * 60_000 }, () => {
  let wb: Workbench;
  const timings: Record<string, number> = {};
  const step = workbenchSuite({ name: 'flows', files, settings: { 'pgBackground.notifyOnCompletion': true } }, (w) => (wb = w));

  after(async () => {
    // Workers the test left behind on purpose (the detached one) end with the cluster; end
    // them now so a reused cluster stays clean.
    const c = db();
    await c.connect().catch(() => undefined);
    await c.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'pg_background' AND query LIKE '%e2e_%'").catch(() => undefined);
    await c.end().catch(() => undefined);
    for (const [k, v] of Object.entries(timings)) process.stdout.write(`# ${k}: ${v} ms\n`);
  });

  step('runs a selection from the command palette, shows it running then completed, and its rows in the grid', async () => {
    // The job waits for an advisory lock this test holds, so "running" is on screen for as
    // long as the test needs to see it, however slow the machine.
    const gate = db();
    await gate.connect();
    await gate.query('SELECT pg_advisory_lock(4242)');
    try {
      await wb.showJobsView();
      await wb.openFile('select.sql');
      // Retries the selection and the command when a keystroke was lost under load.
      await wb.runSelectionAsJob(2, 2, paletteTitle('pgBackground.runSelection'), "SELECT 'alpha' AS greeting");
      await wb.waitForJobState("SELECT 'alpha' AS greeting", /running/i, 120_000);
      await wb.screenshot('job-running');
    } finally {
      await gate.end();
    }
    const text = await wb.waitForJobState("SELECT 'alpha' AS greeting", /completed/i, 120_000);
    assert.match(text, /1 row/i);
    const frame = await wb.openResult("SELECT 'alpha' AS greeting", ['alpha', '42', 'NULL']);
    const rows = await wb.gridRows(frame);
    assert.equal(rows.length, 1);
    assert.deepEqual(rows[0].nulls, [2], 'NULL is shown distinctly from text');
    const body = await wb.frameText(frame);
    assert.match(body, /greeting/);
    assert.match(body, /answer/);
    const shot = await wb.screenshot('result-grid');
    publishScreenshot(shot, 'result-grid.png');
  });

  step('runs a selection with the default keybinding', async () => {
    await wb.openFile('select.sql');
    await wb.selectLines(3, 3);
    const key = keybindingFor('pgBackground.runSelection');
    const t0 = Date.now();
    await wb.page.keyboard.press(key);
    const text = await wb.waitForJobState("SELECT 'beta' AS other", /completed/i, 120_000);
    assert.match(text, /3 rows/i);
    await wb.jobContextAction("SELECT 'beta' AS other", menuTitle('pgBackground.showResult'));
    const frame = await wb.waitForGridRow(['beta', '3'], 180_000);
    timings['keybinding to first rows visible in the grid (3 rows, via the tree\'s Show Result)'] = Date.now() - t0;
    assert.deepEqual(
      (await wb.gridRows(frame)).map((r) => r.cells),
      [
        ['beta', '1'],
        ['beta', '2'],
        ['beta', '3'],
      ],
    );
    assert.match(await wb.frameText(frame), /other/);
    const shot = await wb.screenshot('jobs-tree');
    publishScreenshot(shot, 'jobs-tree.png');
  });

  step('runs a multi-statement file: one tab per statement, command tags and the Messages tab', async () => {
    await wb.openFile('multi.sql');
    const t0 = Date.now();
    await wb.runCommand(paletteTitle('pgBackground.runFile'));
    await wb.waitForJobState('CREATE TEMP TABLE e2e_t', /completed/i, 120_000);
    const frame = await wb.openResult('CREATE TEMP TABLE e2e_t', ['50']);
    timings['multi-statement: command to result shown'] = Date.now() - t0;
    assert.deepEqual((await wb.gridRows(frame)).map((r) => r.cells), [['10'], ['20'], ['30'], ['40'], ['50']]);
    const body = await wb.frameText(frame);
    assert.match(body, /tens/);
    assert.match(body, /Messages/);
    // Statements without rows show their command tag on their tab.
    assert.match(body, /UPDATE 5/);
    assert.match(body, /SELECT 5/);
    await wb.screenshot('multi-statement');
    await frame.getByText(/^Messages/).first().click();
    await until('the notice in the Messages tab', async () => /hello from the e2e job/.test(await wb.frameText(frame)), 30_000);
    const shot = await wb.screenshot('messages-tab');
    publishScreenshot(shot, 'multi-statement-messages.png');
  });

  step('cancels a running pg_sleep job from the Jobs tree', async () => {
    await wb.openFile('sleepers.sql');
    await wb.runSelectionAsJob(1, 1, paletteTitle('pgBackground.runSelection'), 'e2e_cancel_me');
    await wb.waitForJobState('e2e_cancel_me', /running/i, 120_000);
    await until('the worker in pg_stat_activity', async () => (await workerCount('e2e_cancel_me')) === 1, 30_000);
    await wb.jobContextAction('e2e_cancel_me', menuTitle('pgBackground.cancelJob'));
    await wb.waitForJobState('e2e_cancel_me', /cancel/i, 120_000);
    await until('the worker to be gone', async () => (await workerCount('e2e_cancel_me')) === 0, 30_000);
    await wb.screenshot('canceled');
  });

  step('waits for a job with a timeout; the job keeps running after the wait times out', async () => {
    await wb.openFile('sleepers.sql');
    await wb.runSelectionAsJob(2, 2, paletteTitle('pgBackground.runSelection'), 'e2e_wait_me');
    await wb.waitForJobState('e2e_wait_me', /running/i, 120_000);
    await wb.jobContextAction('e2e_wait_me', menuTitle('pgBackground.waitJobWithTimeout'));
    // The prompt asks for the timeout in seconds; give it the smallest sensible one. Waiting for
    // the prompt's text matters: read too early, the widget still shows what it showed before.
    await wb.answerInput('1', /Timeout in seconds/i);
    await until('a message that the wait timed out', async () => wb.notification(/time|still running/i).isVisible(), 120_000);
    await wb.screenshot('wait-timeout');
    const text = await wb.jobRowText('e2e_wait_me');
    assert.match(text, /running/i, 'a timed-out wait leaves the job running');
    assert.equal(await workerCount('e2e_wait_me'), 1);
    await wb.jobContextAction('e2e_wait_me', menuTitle('pgBackground.cancelJob'));
    await wb.waitForJobState('e2e_wait_me', /cancel/i, 120_000);
  });

  step('detaches a job: the tree says so and the worker goes on in the server', async () => {
    await wb.openFile('sleepers.sql');
    await wb.runSelectionAsJob(3, 3, paletteTitle('pgBackground.runSelection'), 'e2e_detach_me');
    await wb.waitForJobState('e2e_detach_me', /running/i, 120_000);
    await wb.jobContextAction('e2e_detach_me', menuTitle('pgBackground.detachJob'));
    await wb.waitForJobState('e2e_detach_me', /detached/i, 120_000);
    assert.equal(await workerCount('e2e_detach_me'), 1, 'the detached worker still runs');
    await wb.screenshot('detached');
  });

  step('shows a syntax error with its SQLSTATE and puts the cursor on it with "Go to error"', async () => {
    await wb.openFile('broken.sql');
    await wb.selectLines(2, 3);
    await wb.runCommand(paletteTitle('pgBackground.runSelection'));
    await wb.waitForJobState('SELECT 1 AS fine', /error/i, 120_000);
    await wb.jobContextAction('SELECT 1 AS fine', menuTitle('pgBackground.showResult'));
    const frame = await wb.webviewWith(/42601/);
    const body = await wb.frameText(frame);
    assert.match(body, /syntax error/i);
    const shot = await wb.screenshot('error');
    publishScreenshot(shot, 'syntax-error.png');
    await frame.getByText(/Go to error/i).first().click();
    // "FORM" starts at line 3, column 23 of broken.sql (7 spaces, then "2 AS also_fine ").
    await until('the cursor on the error', async () => {
      const pos = await wb.cursorPosition();
      return pos?.line === 3 && pos.column === 23;
    }, 60_000);
    assert.ok((await wb.editorTabs()).some((t) => t.includes('broken.sql')));
  });

  step('keeps finished jobs after a window reload', async () => {
    await wb.reload();
    await wb.showJobsView();
    const text = await wb.waitForJobState("SELECT 'alpha' AS greeting", /completed/i, 120_000);
    assert.match(text, /completed/i);
    await wb.waitForJobState('SELECT 1 AS fine', /error/i, 30_000);
    const shot = await wb.screenshot('history-after-reload');
    publishScreenshot(shot, 'history-after-reload.png');
  });
});
