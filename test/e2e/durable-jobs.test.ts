// Durable jobs in a real VS Code (code-server), issue 11: a job outlives the window that launched
// it. The million-row demo query is stopped half-way by an advisory lock this test holds, so the
// window reloads (then the whole code-server restarts) while the job is mid-stream however fast
// or slow the machine is; once the lock is released the same result panel's grid must end with
// exactly every row: the last row carries its own number, so a lost or a doubled batch shows.
// Then a job launched from another client (here `pg`, as psql would) and left unread by its
// session appears in the Jobs tree as a server job, and Attach streams its rows into a panel.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe } from 'node:test';
import pg from 'pg';
import type { Frame } from 'playwright-core';
import { workbenchSuite } from './suite';
import { menuTitle, paletteTitle, testProfile, until, type Workbench } from './workbench';

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

/**
 * The demo's million-row query (scripts/demo-workspace/06-million-rows.sql, without the
 * timestamp column) that waits for advisory lock `lock` at row `gate`; the first line names it.
 */
function gatedQuery(name: string, rows: number, gate: number, lock: number): string {
  return [
    `-- name: ${name}`,
    'SELECT g AS id, md5(g::text) AS hash',
    `  FROM generate_series(1, ${rows}) AS g`,
    ` WHERE g <> ${gate} OR (SELECT true FROM pg_advisory_xact_lock_shared(${lock} + 0 * g));`,
    '',
  ].join('\n');
}

const files: Record<string, string> = {
  'million.sql': gatedQuery('e2e_million', 1_000_000, 500_000, 4711),
  'restart.sql': gatedQuery('e2e_restart', 300_000, 150_000, 4712),
  'away.sql': gatedQuery('e2e_away', 400_000, 200_000, 4713),
};

const profile = testProfile('e2e');
const db = () => new pg.Client({ host: String(profile.host), port: Number(profile.port), user: String(profile.user), database: String(profile.database) });

/** A session holding advisory lock `lock` until release() (the gate the jobs above wait at). */
async function holdLock(lock: number): Promise<{ release: () => Promise<void> }> {
  const c = db();
  await c.connect();
  await c.query('SELECT pg_advisory_lock($1)', [lock]);
  return { release: () => c.end() };
}

/**
 * Matches a tree row of a job that runs and has received at least 10,000 rows (fewer than the
 * gate lets through: a worker blocked at the gate may keep its last tens of thousands of rows
 * from the reader until it moves on).
 */
const midStream = /running[^\n]*\b\d{2,3},\d{3} rows/i;

describe('Durable jobs in VS Code (code-server)', { timeout: 40 * 60_000 }, () => {
  let wb: Workbench;
  const locks: { release: () => Promise<void> }[] = [];
  const step = workbenchSuite({ name: 'durable', files, settings: { 'pgBackground.notifyOnCompletion': false } }, (w) => (wb = w));

  after(async () => {
    for (const l of locks) await l.release().catch(() => undefined);
    const c = db();
    await c.connect().catch(() => undefined);
    await c.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'pg_background' AND query LIKE '%e2e_%'").catch(() => undefined);
    await c.end().catch(() => undefined);
  });

  /**
   * The result panel of job `name` whose grid announces `rows` rows: the panel that is open (a
   * reload restores it), else the one its tree row opens.
   */
  async function panelWithRows(name: string, rows: number): Promise<Frame> {
    const deadline = Date.now() + 300_000;
    let lastClick = Date.now();
    return until(`a result panel of ${name} with ${rows} rows`, async () => {
      for (const f of wb.webviewFrames()) if ((await wb.gridRowCount(f).catch(() => -1)) === rows) return f;
      if (Date.now() - lastClick > 20_000 && Date.now() < deadline) {
        lastClick = Date.now();
        await wb.showJobsView();
        await wb.jobRow(name).click({ timeout: 10_000 }).catch(() => undefined);
      }
      return undefined;
    }, 320_000, 500);
  }

  /** Scrolls the grid to its end: the last row must be number `rows`, at position `rows`. */
  async function assertLastRow(frame: Frame, rows: number): Promise<void> {
    const want = [String(rows), md5(String(rows))];
    await until(`row ${rows} at the end of the grid`, async () => {
      await wb.scrollGridToEnd(frame);
      const painted = await wb.gridRows(frame);
      const last = painted[painted.length - 1];
      return last && last.row === rows && JSON.stringify(last.cells) === JSON.stringify(want);
    }, 120_000, 500);
    assert.equal(await wb.gridRowCount(frame), rows);
  }

  step('a million-row job survives a window reload mid-stream: the grid ends with exactly 1,000,000 rows', async () => {
    const gate = await holdLock(4711);
    locks.push(gate);
    await wb.showJobsView();
    await wb.openFile('million.sql');
    await wb.runCommand(paletteTitle('pgBackground.runFile'));
    // The panel opens by itself; it shows rows (and so has saved which job it shows, for the
    // reload to restore it) before the reload.
    await wb.waitForGridRow(['1', md5('1')], 180_000);
    await wb.waitForJobState('e2e_million', midStream, 240_000);
    await wb.screenshot('million-mid-stream');
    await wb.reload();
    await wb.showJobsView();
    // Still the same job, still running (re-attached) before the gate opens.
    const during = await wb.waitForJobState('e2e_million', /running/i, 180_000);
    assert.doesNotMatch(during, /lost/i);
    await gate.release();
    const done = await wb.waitForJobState('e2e_million', /completed/i, 300_000);
    assert.match(done, /1,000,000 rows/);
    const frame = await panelWithRows('e2e_million', 1_000_000);
    await assertLastRow(frame, 1_000_000);
    await wb.screenshot('million-after-reload');
  });

  step('a job survives stopping code-server entirely and starting it again: its result is there, complete', async () => {
    const gate = await holdLock(4712);
    locks.push(gate);
    await wb.openFile('restart.sql');
    await wb.runCommand(paletteTitle('pgBackground.runFile'));
    await wb.waitForJobState('e2e_restart', midStream, 240_000);
    // The history the restarted server's window reads is saved within a second of a change.
    await new Promise((r) => setTimeout(r, 2_000));
    await wb.restartServer();
    await wb.showJobsView();
    const during = await wb.waitForJobState('e2e_restart', /running/i, 180_000);
    assert.doesNotMatch(during, /lost/i);
    await gate.release();
    const done = await wb.waitForJobState('e2e_restart', /completed/i, 300_000);
    assert.match(done, /300,000 rows/);
    const frame = await panelWithRows('e2e_restart', 300_000);
    await assertLastRow(frame, 300_000);
    // The reloaded job of the first step is still in the list after the restart.
    assert.match(await wb.waitForJobState('e2e_million', /completed/i, 60_000), /1,000,000 rows/);
    await wb.screenshot('restart-complete');
  });

  step('a job that completes while no window is open is summed up once: "While you were away: 1 job completed"', async () => {
    const gate = await holdLock(4713);
    locks.push(gate);
    await wb.openFile('away.sql');
    await wb.runCommand(paletteTitle('pgBackground.runFile'));
    await wb.waitForJobState('e2e_away', midStream, 240_000);
    await new Promise((r) => setTimeout(r, 2_000));
    await wb.restartServer(async () => {
      // No window is open: the job runs to its end on the server, which holds its output.
      await gate.release();
      const c = db();
      await c.connect();
      try {
        await until('e2e_away completed on the server', async () => {
          const r = await c.query<{ state: string }>("SELECT state FROM pg_background_jobs_v2() WHERE sql_preview LIKE '%e2e_away%'");
          return r.rows.length === 1 && r.rows[0].state === 'completed';
        }, 120_000, 500);
      } finally {
        await c.end();
      }
    });
    await wb.showJobsView();
    const toast = wb.notification(/While you were away: 1 job completed, 0 failed/);
    await toast.waitFor({ state: 'visible', timeout: 180_000 });
    await wb.screenshot('while-you-were-away');
    await toast.getByRole('button', { name: 'Show Jobs' }).click();
    const done = await wb.waitForJobState('e2e_away', /completed/i, 180_000);
    assert.match(done, /400,000 rows/);
  });

  step('a job launched from another client appears as a server job; Attach streams its rows into a panel', async () => {
    const sql = "SELECT g AS e2e_psql_n, 'from psql ' || g AS src FROM generate_series(1, 5) AS g";
    const c = db();
    await c.connect();
    const launched = await c.query<{ pid: number }>('SELECT (h).pid FROM (SELECT pg_background_launch_v2($1) AS h) AS s', [sql]);
    const pid = launched.rows[0].pid;
    // Its session ends without reading: the server holds the output for whoever attaches.
    await c.end();
    await wb.showJobsView();
    await wb.runCommand(paletteTitle('pgBackground.refreshJobs'));
    const listed = await wb.waitForJobState('e2e_psql_n', /held|completed/i, 120_000);
    assert.match(listed, /on the server/i);
    await wb.screenshot('server-job-listed');
    let frame: Frame | undefined;
    for (let attempt = 1; !frame; attempt++) {
      await wb.jobContextAction('e2e_psql_n', menuTitle('pgBackground.attachServerJob'));
      frame = await wb.waitForGridRow(['1', 'from psql 1'], 60_000).catch((err: unknown) => {
        if (attempt >= 3) throw err;
        return undefined;
      });
    }
    const panel = frame;
    const rows = await until('all five rows in the grid', async () => {
      const r = (await wb.gridRows(panel)).map((x) => x.cells);
      return r.length === 5 ? r : undefined;
    }, 60_000);
    assert.deepEqual(rows, [1, 2, 3, 4, 5].map((g) => [String(g), `from psql ${g}`]));
    const local = await wb.waitForJobState('e2e_psql_n', /completed/i, 60_000);
    assert.match(local, /5 rows/);
    // Attached here, the job is no longer "elsewhere" on the server.
    const check = db();
    await check.connect();
    try {
      const r = await check.query<{ n: string }>('SELECT count(*) AS n FROM pg_background_jobs_v2() WHERE pid = $1 AND output = $2', [pid, 'held']);
      assert.equal(Number(r.rows[0].n), 0);
    } finally {
      await check.end();
    }
    await wb.screenshot('server-job-attached');
  });

  step('Attach to a job another session is reading offers "Take over"; after it the rows arrive here and that session is told', async () => {
    // The last row waits at a gate, so the job still runs when the old reader calls again.
    const sql = "SELECT g AS e2e_take_n, 'taken ' || g AS src FROM generate_series(1, 3) AS g WHERE g <> 3 OR (SELECT true FROM pg_advisory_xact_lock_shared(4714 + 0 * g))";
    const gate = await holdLock(4714);
    locks.push(gate);
    const reader = db();
    await reader.connect();
    try {
      const launched = await reader.query<{ pid: number; cookie: string }>('SELECT (h).pid, (h).cookie FROM (SELECT pg_background_launch_v2($1) AS h) AS s', [sql]);
      const { pid, cookie } = launched.rows[0];
      // The launching session stays connected: it is the job's reader.
      await wb.runCommand(paletteTitle('pgBackground.refreshJobs'));
      await wb.waitForJobState('e2e_take_n', /attached elsewhere/i, 120_000);
      const dialog = wb.page.locator('.monaco-dialog-box').filter({ hasText: /being read by another session/ });
      for (let attempt = 1; ; attempt++) {
        await wb.jobContextAction('e2e_take_n', menuTitle('pgBackground.attachServerJob'));
        if (await dialog.waitFor({ state: 'visible', timeout: 20_000 }).then(() => true, () => false)) break;
        if (attempt >= 3) throw new Error('no "Take over" dialog after Attach');
      }
      await wb.screenshot('take-over-dialog');
      await dialog.getByRole('button', { name: 'Take over' }).click();
      await wb.waitForJobState('e2e_take_n', /running/i, 60_000);
      // The session that was reading gets the take-over error on its next call on the job.
      await assert.rejects(
        reader.query('SELECT * FROM pg_background_fetch_v2($1, $2::int8)', [pid, cookie]),
        (err: unknown) => (err as { code?: string }).code === '55006',
      );
      await gate.release();
      const frame = await wb.waitForGridRow(['1', 'taken 1'], 120_000);
      const rows = await until('all three rows in the grid', async () => {
        const r = (await wb.gridRows(frame)).map((x) => x.cells);
        return r.length === 3 ? r : undefined;
      }, 60_000);
      assert.deepEqual(rows, [1, 2, 3].map((g) => [String(g), `taken ${g}`]));
      assert.match(await wb.waitForJobState('e2e_take_n', /completed/i, 60_000), /3 rows/);
    } finally {
      await reader.end();
    }
  });
});
