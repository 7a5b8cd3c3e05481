// Sort, filter, find, statistics, chart, copy/export "as shown" and their persisted state, in
// headless Chromium on the built webview, through the real protocol to a real PanelController
// whose operations run over a generated store in this process.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { isHostMessage, isWebviewMessage } from '../../src/protocol';
import { GeneratedStore, TestHost, bigStatement, makeJob } from './fixtures';
import { Harness, type PanelPage, until } from './harness';
import { LIGHT } from './themes';

let h: Harness;

before(async () => {
  h = await Harness.start();
});

after(async () => {
  await h?.close();
});

const N = 20_000;

function open(jobId = 't1'): Promise<PanelPage> {
  const host = new TestHost();
  host.add(makeJob(jobId, 'SELECT g, md5(g::text), g % 2 = 0 AS even, note, price FROM generate_series(1, 20000) g', { rowsReceived: N }), new GeneratedStore(jobId, [bigStatement(N)]));
  return h.open(host, jobId);
}

/** A test on a freshly opened panel whose first rows are painted; the panel is closed after. */
function panelTest(name: string, body: (p: PanelPage) => Promise<void>): void {
  test(name, async () => {
    const p = await open();
    try {
      await p.waitForRows();
      await body(p);
    } finally {
      await p.close();
    }
  });
}

const firstCells = (p: PanelPage, col: number, n: number): Promise<string[]> =>
  p.page.evaluate(
    ({ col, n }) => {
      const out: string[] = [];
      for (let r = 1; r <= n; r++) {
        const cell = document.querySelector<HTMLElement>(
          `vscode-panel-view:not([hidden]) .grid-row[aria-rowindex="${r}"]:not([hidden]) .grid-cell[data-col="${col}"]:not(.loading):not([hidden])`,
        );
        out.push(cell?.textContent ?? '?');
      }
      return out;
    },
    { col, n },
  );

async function waitFirst(p: PanelPage, col: number, expected: string[]): Promise<void> {
  const deadline = Date.now() + 45000;
  let got: string[] = [];
  while (Date.now() < deadline) {
    got = await firstCells(p, col, expected.length);
    if (JSON.stringify(got) === JSON.stringify(expected)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(got, expected);
}

/** The header's aria-sort once the grid repainted it (headers are drawn on the next frame). */
async function ariaSort(p: PanelPage, col: number, expected?: string): Promise<string | null> {
  const read = (): Promise<string | null> => p.page.evaluate((c) => document.querySelector(`.grid-hcell[data-col="${c}"]`)?.getAttribute('aria-sort') ?? null, col);
  const deadline = Date.now() + 10000;
  let v = await read();
  while (expected !== undefined && v !== expected && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 30));
    v = await read();
  }
  return v;
}

/** Two clicks on the g header: the view sorted by g, descending. */
async function sortDescending(p: PanelPage): Promise<void> {
  await p.page.click('.grid-hcell[data-col="0"] .grid-hname');
  await p.page.click('.grid-hcell[data-col="0"] .grid-hname');
  await waitFirst(p, 0, ['20000']);
}

/** CSP reports that matter here (the toolkit's badge template reports a style attribute it never applies). */
const scriptViolations = async (p: PanelPage): Promise<string[]> =>
  (await p.cspViolations()).filter((v) => v.startsWith('script-src') || v.startsWith('img-src') || v.startsWith('default-src') || v.startsWith('style-src-elem'));

const statusText = async (p: PanelPage): Promise<string> => (await p.page.textContent('.statusbar')) ?? '';

panelTest('sort: header click cycles ascending, descending, off; shift-click adds a key; S sorts from the keyboard', async (p) => {
  await p.page.click('.grid-hcell[data-col="0"] .grid-hname');
  await until(() => p.toHost.some((m) => m.type === 'setView'), 'setView');
  assert.equal(await ariaSort(p, 0, 'ascending'), 'ascending');
  await waitFirst(p, 0, ['1', '2', '3']);
  await p.page.click('.grid-hcell[data-col="0"] .grid-hname');
  assert.equal(await ariaSort(p, 0, 'descending'), 'descending');
  await waitFirst(p, 0, ['20000', '19999', '19998']);
  assert.equal(await p.page.textContent('.sr-only'), 'Sorted by g descending.');
  // Sorted but not filtered: the status does not claim a subset.
  assert.doesNotMatch(await statusText(p), / of 20,000 rows/);
  // Shift-click: a second key; the first keeps its place.
  await p.page.click('.grid-hcell[data-col="2"] .grid-hname', { modifiers: ['Shift'] });
  assert.equal(await ariaSort(p, 2, 'ascending'), 'ascending');
  await p.page.waitForFunction(() => document.querySelector('.grid-hcell[data-col="0"] .grid-hsort')?.textContent === '▼1');
  assert.equal(await p.page.textContent('.grid-hcell[data-col="2"] .grid-hsort'), '▲2');
  await waitFirst(p, 0, ['20000', '19999']);
  // A plain click keeps only that column, and cycles it: "even" ascending becomes descending.
  await p.page.click('.grid-hcell[data-col="2"] .grid-hname');
  assert.equal(await ariaSort(p, 0, 'none'), 'none');
  assert.equal(await ariaSort(p, 2, 'descending'), 'descending');
  await waitFirst(p, 0, ['2', '4']);
  await p.page.click('.grid-hcell[data-col="2"] .grid-hname'); // off
  assert.equal(await ariaSort(p, 2, 'none'), 'none');
  await waitFirst(p, 0, ['1', '2', '3']);
  // Keyboard: S on a focused cell of the price column sorts by it; S again descends.
  await p.page.click('.grid-row[aria-rowindex="2"] .grid-cell[data-col="4"]');
  await p.page.keyboard.press('s');
  await p.page.keyboard.press('s');
  assert.equal(await ariaSort(p, 4, 'descending'), 'descending');
  await waitFirst(p, 4, [(N * 1.25).toFixed(2)]);
  assert.deepEqual(p.pageErrors, []);
  assert.deepEqual(await scriptViolations(p), []);
  await p.screenshot('tools-sorted');
});

panelTest('filter: quick filter and column conditions, status "N of M rows", progress and results', async (p) => {
  await p.page.fill('.quick-filter', 'item 1234');
  // item 1234 and item 12340..12349, less 12340 and 12345 (multiples of 5: note '') and 12341, 12348 (of 7: NULL).
  await p.page.waitForFunction(() => document.querySelector('.statusbar')?.textContent?.startsWith('7 of 20,000 rows'));
  // The status comes with the view; the rows of the new view arrive after it.
  let notes = await firstCells(p, 3, 3);
  for (const deadline = Date.now() + 45000; notes.includes('?') && Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 50));
    notes = await firstCells(p, 3, 3);
  }
  assert.ok(notes.every((n) => n.startsWith('item 1234')), JSON.stringify(notes));
  // Only the note column: the same; the md5 column: none.
  await p.page.selectOption('.quick-col', '1');
  await p.page.waitForFunction(() => document.querySelector('.statusbar')?.textContent?.startsWith('0 of 20,000 rows'));
  await p.page.fill('.quick-filter', '');
  await p.page.selectOption('.quick-col', '');
  // Conditions: g between 10 and 20, note is not null.
  await p.page.click('vscode-button.conditions-btn');
  assert.equal(await p.page.getAttribute('vscode-button.conditions-btn', 'aria-expanded'), 'true');
  await p.page.selectOption('.cond-col', '0');
  await p.page.selectOption('.cond-op', 'between');
  await p.page.fill('.cond-value', '10');
  await p.page.fill('.cond-value2', '20');
  await p.page.click('vscode-button.cond-add');
  await p.page.locator('.cond').nth(1).locator('.cond-col').selectOption('3');
  await p.page.locator('.cond').nth(1).locator('.cond-op').selectOption('notnull');
  await p.page.click('vscode-button.cond-apply');
  // 10..20 is 11 rows; 14 has a NULL note.
  await p.page.waitForFunction(() => document.querySelector('.statusbar')?.textContent?.startsWith('10 of 20,000 rows'));
  await waitFirst(p, 0, ['10', '11', '12', '13', '15']);
  // A value that is not of the column's type: a readable error, and all rows again.
  await p.page.fill('.cond-value', 'ten');
  await p.page.click('vscode-button.cond-apply');
  await p.page.waitForFunction(() => /not a value/.test(document.querySelector('.op-status')?.textContent ?? ''));
  await p.page.click('vscode-button.clear-view');
  await p.page.waitForFunction(() => document.querySelector('.statusbar')?.textContent?.includes('20,000') && !document.querySelector('.statusbar')?.textContent?.includes(' of 20,000 rows'));
  assert.deepEqual(p.pageErrors, []);
  await p.screenshot('tools-filtered');
});

panelTest('find: Ctrl+F, match count, next and previous scroll to and highlight the cell', async (p) => {
  // Sorted descending first: find works in view order.
  await sortDescending(p);
  await p.page.click('.grid-row[aria-rowindex="1"] .grid-cell[data-col="0"]');
  await p.page.keyboard.press('Control+f');
  assert.equal(await p.page.evaluate(() => document.activeElement?.className), 'find-input');
  await p.page.keyboard.type('item 777');
  await p.page.keyboard.press('Enter');
  // "item 7770".."item 7779" less 7770, 7775 (note '') and 7777 (NULL); 777 itself is a multiple of 7.
  await p.page.waitForFunction(() => /^\d+ of 7$/.test(document.querySelector('.find-count')?.textContent ?? ''));
  const hit = async (): Promise<{ row: string | null; text: string | null; count: string | null }> =>
    p.page.evaluate(() => {
      const c = document.querySelector<HTMLElement>('.grid-row:not([hidden]) .grid-cell.found:not([hidden]):not(.loading)');
      return { row: c?.parentElement?.getAttribute('aria-rowindex') ?? null, text: c?.textContent ?? null, count: document.querySelector('.find-count')?.textContent ?? null };
    });
  // Scrolled to a row whose data arrives a moment later.
  await p.page.waitForFunction(() => document.querySelector('.grid-row:not([hidden]) .grid-cell.found:not([hidden]):not(.loading)') !== null);
  const first = await hit();
  // Descending: item 7779 is the first match after the top row.
  assert.deepEqual(first, { row: String(20000 - 7779 + 1), text: 'item 7779', count: '1 of 7' });
  await p.page.keyboard.press('Enter');
  await p.page.waitForFunction(() => document.querySelector('.find-count')?.textContent === '2 of 7');
  // The grid repaints on the next frame.
  await p.page.waitForFunction(() => document.querySelector('.grid-row:not([hidden]) .grid-cell.found:not([hidden])')?.textContent === 'item 7778');
  await p.page.keyboard.press('Shift+Enter');
  await p.page.waitForFunction(() => document.querySelector('.find-count')?.textContent === '1 of 7');
  await p.page.keyboard.press('Shift+Enter'); // wraps to the last match
  await p.page.waitForFunction(() => document.querySelector('.find-count')?.textContent === '7 of 7');
  await p.page.waitForFunction(() => document.querySelector('.grid-row:not([hidden]) .grid-cell.found:not([hidden])')?.textContent === 'item 7771');
  await p.page.keyboard.press('Escape');
  assert.equal(await p.page.isHidden('.findbar'), true);
  assert.deepEqual(p.pageErrors, []);
});

panelTest('statistics of the focused column, and a chart of the view saved as PNG', async (p) => {
  await p.page.click('.grid-row[aria-rowindex="1"] .grid-cell[data-col="4"]');
  await p.page.click('vscode-button.stats-btn');
  await p.page.waitForFunction(() => document.querySelector('.stats-title')?.textContent?.startsWith('price (numeric(10,2)) · all 20,000 rows'));
  const stats = await p.page.evaluate(() => {
    const dts = [...document.querySelectorAll('.stats-list dt')].map((e) => e.textContent);
    const dds = [...document.querySelectorAll('.stats-list dd')].map((e) => e.textContent);
    return { map: Object.fromEntries(dts.map((k, i) => [k, dds[i]])), bars: document.querySelectorAll('.stats-bar').length };
  });
  assert.equal(stats.map.Count, '20,000');
  assert.equal(stats.map.NULL, '0 (0.0 %)');
  assert.equal(stats.map.Distinct, '20,000');
  assert.equal(stats.map.Min, '1.25');
  assert.equal(stats.map.Max, '25000.00');
  assert.equal(stats.map.Mean, '12,500.625');
  assert.ok(stats.bars > 1);
  await p.screenshot('tools-stats');
  // Text column: top values.
  await p.page.click('vscode-button.stats-close');
  await p.page.click('.grid-row[aria-rowindex="1"] .grid-cell[data-col="2"]');
  await p.page.click('vscode-button.stats-btn');
  await p.page.waitForFunction(() => document.querySelectorAll('.stats-top tr').length === 2);
  // Chart: x = g, y = price; 20,000 rows are reduced for the screen and the chart says so.
  await p.page.click('vscode-button.stats-close');
  await p.page.click('vscode-button.chart-btn');
  await p.page.selectOption('.chart-x', '0');
  await p.page.click('vscode-button.chart-draw');
  await p.page.waitForSelector('.chart-canvas canvas');
  await p.page.waitForFunction(() => /20,000 rows \(reduced to [\d,]+ points/.test(document.querySelector('.chart-note')?.textContent ?? ''));
  assert.equal(await p.page.getAttribute('.chart-canvas canvas', 'role'), 'img');
  await p.screenshot('tools-chart-dark');
  // Light theme: drawn again in the light theme's colours (the canvas changes).
  const before = await p.page.evaluate(() => document.querySelector<HTMLCanvasElement>('.chart-canvas canvas')!.toDataURL());
  await p.theme(LIGHT);
  await p.page.waitForFunction((b) => document.querySelector<HTMLCanvasElement>('.chart-canvas canvas')?.toDataURL() !== b, before);
  await p.screenshot('tools-chart-light');
  await p.page.click('vscode-button.chart-save');
  const img = await until(() => p.images[0], 'saved image');
  assert.match(img.name, /^chart-g\.png$/);
  assert.deepEqual([...img.png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.deepEqual(p.pageErrors, []);
  assert.deepEqual(await scriptViolations(p), []);
});

panelTest('copy and export "as shown" or all rows; Markdown copy format', async (p) => {
  await sortDescending(p);
  // Rows 1-2 of the descending view, columns g..md5, as Markdown.
  await p.page.selectOption('.copy-format', 'markdown');
  await p.page.click('.grid-row[aria-rowindex="1"] .grid-cell[data-col="0"]');
  await p.page.click('.grid-row[aria-rowindex="2"] .grid-cell[data-col="3"]', { modifiers: ['Shift'] });
  await p.page.keyboard.press('Control+c');
  const md = await until(() => p.copies[0], 'markdown copy');
  const r = (g: number): string[] => bigStatement(N).row!(g - 1).map((v) => (v === null ? '*NULL*' : v));
  assert.equal(
    md,
    ['| g | md5 | even | note |', '| ---: | --- | --- | --- |', `| ${r(20000).slice(0, 4).join(' | ')} |`, `| ${r(19999).slice(0, 4).join(' | ')} |`].join('\n'),
  );
  // All rows: the same columns of every row in arrival order (TSV).
  await p.page.selectOption('.copy-format', 'tsv');
  await p.page.selectOption('.row-scope', 'all');
  await p.page.click('vscode-button.copy-btn');
  const all = await until(() => p.copies[1], 'all-rows copy');
  const lines = all.split('\n');
  assert.equal(lines.length, N);
  assert.equal(lines[0].split('\t')[0], '1');
  // Export: all rows, then as shown with a filter.
  await p.page.click('vscode-button.export-csv');
  await until(() => p.exports.length === 1, 'export all');
  assert.deepEqual(p.exports[0], { stmt: 1, format: 'csv' });
  await p.page.selectOption('.row-scope', 'shown');
  await p.page.fill('.quick-filter', 'item 19');
  await p.page.keyboard.press('Enter');
  await p.page.waitForFunction(() => / of 20,000 rows/.test(document.querySelector('.statusbar')?.textContent ?? ''));
  await p.page.click('vscode-button.export-json');
  await until(() => p.exports.length === 2, 'export shown');
  const shown = Number((await statusText(p)).split(' ')[0].replace(/,/g, ''));
  assert.deepEqual(p.exports[1], { stmt: 1, format: 'json', shownRows: shown });
});

panelTest('sort and filter survive hiding and re-showing the panel and a window reload', async (p) => {
  await p.page.click('.grid-hcell[data-col="0"] .grid-hname');
  await p.page.click('.grid-hcell[data-col="0"] .grid-hname');
  await p.page.fill('.quick-filter', 'item 3');
  await p.page.keyboard.press('Enter');
  await p.page.waitForFunction(() => / of 20,000 rows/.test(document.querySelector('.statusbar')?.textContent ?? ''));
  const status = await statusText(p);
  const count = status.split(' · ')[0];
  // "item 3", "item 30".."item 39", "item 300".., "item 3000".."item 3999": descending, 3999 first.
  await waitFirst(p, 0, ['3999']);
  // Hide/show: VS Code destroys the page (retainContextWhenHidden is off) and reloads it with
  // its saved state; the controller lives on.
  await new Promise((r) => setTimeout(r, 400)); // the state is saved 250 ms after a change
  await p.page.reload();
  await p.waitForRows();
  await p.page.waitForFunction((c) => document.querySelector('.statusbar')?.textContent?.startsWith(c), count);
  assert.equal(await ariaSort(p, 0, 'descending'), 'descending');
  assert.equal(await p.page.inputValue('.quick-filter'), 'item 3');
  await waitFirst(p, 0, ['3999']);
  // Window reload: a new controller (the host restarted) gets the state back from the page.
  p.newController();
  await p.page.reload();
  await p.waitForRows();
  await p.page.waitForFunction((c) => document.querySelector('.statusbar')?.textContent?.startsWith(c), count);
  await waitFirst(p, 0, ['3999']);
  assert.deepEqual(p.pageErrors, []);
});

test('the new protocol messages are validated on both sides', () => {
  const ok = [
    { type: 'setView', stmt: 1, spec: { sort: [{ col: 0, desc: true }], quick: 'x', quickCol: 2, conditions: [{ col: 1, op: 'between', value: '1', value2: '2' }] } },
    { type: 'find', stmt: 1, text: 'a', row: -1, col: -1, forward: true },
    { type: 'getStats', stmt: 1, col: 3 },
    { type: 'getChart', stmt: 1, kind: 'scatter', x: 0, y: [1, 2] },
    { type: 'cancelOp', stmt: 1, op: 'view' },
    { type: 'copyRange', stmt: 1, r0: 0, r1: 3, c0: 0, c1: 1, format: 'markdown', scope: 'all' },
    { type: 'export', stmt: 1, format: 'csv', scope: 'shown' },
    { type: 'saveImage', name: 'chart-g.png', png: 'iVBORw0KGgo=' },
  ];
  for (const m of ok) assert.ok(isWebviewMessage(m), JSON.stringify(m));
  const bad = [
    { type: 'setView', stmt: 1, spec: { sort: [{ col: -1 }] } },
    { type: 'setView', stmt: 1, spec: { conditions: [{ col: 0, op: 'drop table' }] } },
    { type: 'setView', stmt: 1, spec: { quick: 'x'.repeat(5000) } },
    { type: 'setView', stmt: 1, spec: { sort: Array.from({ length: 20 }, (_, i) => ({ col: i })) } },
    { type: 'find', stmt: 1, text: 'a', row: -2, col: 0, forward: true },
    { type: 'getChart', stmt: 1, kind: 'pie', x: 0, y: [1] },
    { type: 'getChart', stmt: 1, kind: 'line', x: 0, y: [] },
    { type: 'copyRange', stmt: 1, r0: 0, r1: 3, c0: 0, c1: 1, format: 'html' },
    { type: 'saveImage', name: '../../etc/passwd', png: 'AAAA' },
    { type: 'saveImage', name: 'a.png', png: '<script>' },
  ];
  for (const m of bad) assert.ok(!isWebviewMessage(m), JSON.stringify(m));
  assert.ok(isHostMessage({ type: 'view', stmt: 1, version: 3, spec: {}, rows: 5, baseRows: 10, busy: { done: 5, total: 10 } }));
  assert.ok(isHostMessage({ type: 'found', stmt: 1, version: 3, text: 'a', total: 2, hit: { row: 0, col: 1, ordinal: 1 } }));
  assert.ok(!isHostMessage({ type: 'found', stmt: 1, version: 3, text: 'a', total: 2, hit: { row: 0, col: 1, ordinal: 0 } }));
  assert.ok(isHostMessage({ type: 'chart', stmt: 1, chart: { kind: 'line', xKind: 'number', xName: 'g', x: [1, 2], series: [{ name: 'p', values: [1, null] }], rows: 2, points: 2 } }));
  assert.ok(!isHostMessage({ type: 'chart', stmt: 1, chart: { kind: 'line', xKind: 'number', xName: 'g', x: [1, 2], series: [{ name: 'p', values: [1] }], rows: 2, points: 2 } }));
  assert.ok(!isHostMessage({ type: 'stats', stmt: 1, stats: { col: 0, kind: 'blob', count: 1, nulls: 0, distinct: 1, distinctExact: true } }));
});
