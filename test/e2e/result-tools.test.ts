// Working with a result in a real VS Code (code-server): a job's panel opens by itself when the
// job starts (pgBackground.openResultOnStart, default on) without taking the editor's focus;
// then sort by a header, filter with the quick filter, and draw a chart. The last screen is the
// README's screenshot of these tools. 25,000 rows, so the sorts run in the packaged sort worker
// (dist/sortWorker.js; blocks of 20,000 keys and more leave the extension host's main thread).

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { Frame } from 'playwright-core';
import { workbenchSuite } from './suite';
import { paletteTitle, publishScreenshot, until, type Workbench } from './workbench';

const files: Record<string, string> = {
  'tools.sql': ['SELECT g AS n, (g * 37) % 101 AS v, round(sin(g / 400.0)::numeric * 100, 2) AS wave, md5(g::text) AS h', '  FROM generate_series(1, 25000) AS g;', ''].join('\n'),
};


describe('Result tools in VS Code (code-server)', { timeout: 20 * 60_000 }, () => {
  let wb: Workbench;
  let frame: Frame;
  const step = workbenchSuite({ name: 'tools', files, settings: { 'pgBackground.notifyOnCompletion': false } }, (w) => (wb = w));

  const firstColumn = async (col: number, n: number): Promise<string[]> =>
    (await wb.gridRows(frame)).slice(0, n).map((r) => r.cells[col] ?? '');

  step('the result panel opens when the job starts, beside the editor, and the editor keeps the focus', async () => {
    await wb.showJobsView();
    await wb.openFile('tools.sql');
    await wb.focusEditor();
    await wb.runCommand(paletteTitle('pgBackground.runFile'));
    // No click on the tree: the panel is there by itself.
    frame = await wb.waitForGridRow(['1', '37', '0.25', 'c4ca4238a0b923820dcc509a6f75849b'], 180_000);
    await until('the editor to keep the focus', async () => (await wb.page.locator('.editor-group-container.active .monaco-editor.focused').count()) > 0, 30_000);
  });

  step('sorts by a column header: ascending, then descending', async () => {
    await frame.locator('.grid-hcell[data-col="1"] .grid-hname').click();
    await until('ascending by v', async () => JSON.stringify(await firstColumn(1, 2)) === '["0","0"]', 60_000);
    assert.equal(await frame.locator('.grid-hcell[data-col="1"]').getAttribute('aria-sort'), 'ascending');
    await frame.locator('.grid-hcell[data-col="1"] .grid-hname').click();
    await until('descending by v', async () => (await firstColumn(1, 1))[0] === '100', 60_000);
    assert.equal(await frame.locator('.grid-hcell[data-col="1"]').getAttribute('aria-sort'), 'descending');
  });

  step('filters with the quick filter: "N of M rows"', async () => {
    await frame.locator('.quick-filter').fill('ab1');
    await until('the filtered status', async () => / of 25,000 rows/.test((await frame.locator('.statusbar').textContent()) ?? ''), 60_000);
    // The grid repaints on its next frame: poll until it shows the filtered rows.
    const matches = (cells: string[]): boolean => cells.some((c) => c.toLowerCase().includes('ab1'));
    const rows = await until(
      'the filtered rows',
      async () => {
        const r = await wb.gridRows(frame);
        return r.length > 0 && r.every((x) => matches(x.cells)) ? r : undefined;
      },
      60_000,
    );
    // Still sorted by v descending.
    const vs = rows.map((r) => Number(r.cells[1]));
    assert.deepEqual(vs, [...vs].sort((a, b) => b - a));
    await frame.locator('vscode-button.clear-view').click();
    await until('all rows again', async () => !/ of 25,000 rows/.test((await frame.locator('.statusbar').textContent()) ?? ''), 60_000);
  });

  step('draws a chart of the result', async () => {
    await frame.locator('vscode-button.chart-btn').click();
    await frame.locator('.chart-x').selectOption('0');
    // y: wave only.
    for (const box of await frame.locator('.chart-y input').all()) {
      const want = (await box.getAttribute('value')) === '2';
      if ((await box.isChecked()) !== want) await box.click();
    }
    await frame.locator('vscode-button.chart-draw').click();
    await frame.locator('.chart-canvas canvas').first().waitFor({ timeout: 60_000 });
    await until('the chart note', async () => /25,000 rows/.test((await frame.locator('.chart-note').textContent()) ?? ''), 60_000);
    // Sort again so the screenshot shows a sorted, charted result.
    await frame.locator('.grid-hcell[data-col="2"] .grid-hname').click();
    await until('ascending by wave', async () => (await firstColumn(2, 1))[0] === '-100.00', 60_000);
    const shot = await wb.screenshot('result-tools');
    publishScreenshot(shot, 'result-tools.png');
  });
});
