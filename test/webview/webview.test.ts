// The result webview in real headless Chromium: the built dist/webview.js on the real page and
// CSP, talking the real protocol to a real PanelController (in this process) over generated
// result stores. Screenshots of the main states go to test-artifacts/webview/.
// Longer than ~450 lines on purpose: every test shares the one Chromium and page server that
// before() starts, and node:test runs each file in a process of its own, so a second file would
// launch a second browser.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ServerMessage } from '../../src/core/model';
import { MAX_COPY_ROWS } from '../../src/protocol';
import { GeneratedStore, TestHost, bigStatement, col, makeJob, type GenStatement } from './fixtures';
import { Harness, type PanelPage, until } from './harness';
import { HIGH_CONTRAST, LIGHT } from './themes';

let h: Harness;

before(async () => {
  h = await Harness.start();
});

after(async () => {
  await h?.close();
});

function million(): { host: TestHost; store: GeneratedStore } {
  const host = new TestHost();
  const store = new GeneratedStore('j1', [bigStatement(1_000_000)]);
  host.add(makeJob('j1', 'SELECT g, md5(g::text), g % 2 = 0 AS even, note, price\n  FROM generate_series(1, 1000000) g', { rowsReceived: 1_000_000 }), store);
  return { host, store };
}

async function gridNodeCount(p: PanelPage): Promise<number> {
  return p.page.evaluate(() => document.querySelectorAll('vscode-panel-view:not([hidden]) .grid-root *').length);
}

test('first rows render with names, types, NULL and numbers', async () => {
  const { host } = million();
  const p = await h.open(host, 'j1');
  try {
    await p.waitForRows();
    assert.deepEqual(await p.waitForRow(1), ['1', bigStatement(1)['row']!(0)[1]!, 'f', 'item 1', '1.25']);
    // Row 7: note is NULL (shown as the word, with the null class); row 5: note is '' (empty).
    const r7 = await p.page.evaluate(() => {
      const row = document.querySelector('.grid-row[aria-rowindex="7"]');
      const cell = row?.querySelector<HTMLElement>('.grid-cell[data-col="3"]');
      return { text: cell?.textContent, cls: cell?.className };
    });
    assert.equal(r7.text, 'NULL');
    assert.match(r7.cls ?? '', /\bnull\b/);
    const r5 = await p.page.evaluate(() => {
      const cell = document.querySelector<HTMLElement>('.grid-row[aria-rowindex="5"] .grid-cell[data-col="3"]');
      return { text: cell?.textContent, cls: cell?.className };
    });
    assert.equal(r5.text, '');
    assert.doesNotMatch(r5.cls ?? '', /\bnull\b/);
    // Numbers (int4, numeric) right-aligned, text left-aligned.
    const align = await p.page.evaluate(() => {
      const cell = (c: number) => document.querySelector<HTMLElement>(`.grid-row[aria-rowindex="1"] .grid-cell[data-col="${c}"]`)!;
      return [getComputedStyle(cell(0)).textAlign, getComputedStyle(cell(1)).textAlign, getComputedStyle(cell(4)).textAlign];
    });
    assert.deepEqual(align, ['right', 'start', 'right']);
    const headers = await p.page.evaluate(() =>
      [...document.querySelectorAll<HTMLElement>('.grid-hcell:not([hidden])')].map((e) => `${e.children[0].textContent} ${e.children[1].textContent}`),
    );
    assert.deepEqual(headers.slice(0, 3), ['g integer', 'md5 text', 'even boolean']);
    assert.equal(await p.page.textContent('.topbar .rows'), '1,000,000 rows');
    // Only the rows in view were asked for, not the result.
    const asked = p.toHost.filter((m) => m.type === 'getRows').reduce((n, m) => n + (m.type === 'getRows' ? m.count : 0), 0);
    assert.ok(asked <= 1000, `asked for ${asked} rows`);
    assert.deepEqual(p.pageErrors, []);
    await p.screenshot('grid-dark');
  } finally {
    await p.close();
  }
});

test('scrolling to the last row of a 1,000,000-row result shows the right values', async () => {
  const { host } = million();
  const p = await h.open(host, 'j1');
  try {
    await p.waitForRows();
    const last = bigStatement(1_000_000).row!(999_999);
    // By the scrollbar: all the way down (the scroll space is compressed at this size).
    await p.page.evaluate(() => {
      const s = document.querySelector<HTMLElement>('vscode-panel-view:not([hidden]) .grid-scroller')!;
      s.scrollTop = s.scrollHeight;
    });
    assert.deepEqual(await p.waitForRow(1_000_000), [last[0], last[1], last[2], last[3] ?? 'NULL', last[4]]);
    // Halfway by the scrollbar lands near the middle row.
    await p.page.evaluate(() => {
      const s = document.querySelector<HTMLElement>('vscode-panel-view:not([hidden]) .grid-scroller')!;
      s.scrollTop = (s.scrollHeight - s.clientHeight) / 2;
    });
    await p.page.waitForFunction(() => {
      const n = Number(document.querySelector('vscode-panel-view:not([hidden]) .grid-row:not([hidden])')?.getAttribute('aria-rowindex'));
      return n > 499_000 && n < 501_000;
    });
    // By the keyboard: ctrl+Home then ctrl+End.
    await p.page.click('.grid-row[aria-rowindex] .grid-cell[data-col="0"]');
    await p.page.keyboard.press('Control+Home');
    assert.equal((await p.waitForRow(1))[0], '1');
    await p.page.keyboard.press('Control+End');
    assert.equal((await p.waitForRow(1_000_000))[0], '1000000');
    assert.equal(await p.page.textContent('.statusbar'), 'Row 1,000,000 of 1,000,000, price');
    // The focused cell is the last one and visible.
    const focused = await p.page.evaluate(() => {
      const f = document.querySelector<HTMLElement>('.grid-cell.focus');
      return f ? { row: f.parentElement?.getAttribute('aria-rowindex'), col: f.dataset.col, text: f.textContent } : undefined;
    });
    assert.deepEqual(focused, { row: '1000000', col: '4', text: last[4] });
    // PageUp moves a page up; arrows move one row.
    await p.page.keyboard.press('PageUp');
    await p.page.keyboard.press('ArrowUp');
    const status = await p.page.textContent('.statusbar');
    assert.match(status ?? '', /^Row 999,9\d\d of 1,000,000/);
    const nodes = await gridNodeCount(p);
    assert.ok(nodes < 2000, `grid has ${nodes} DOM nodes`);
    await p.screenshot('grid-last-row');
  } finally {
    await p.close();
  }
});

test('hostile values render as text: no script runs, nothing is injected', async () => {
  const hostile = [
    '<img src=x onerror="window.__pwned=1;alert(1)">',
    '</script><script>window.__pwned=2</script>',
    'bell\u0007 nul\u0000 esc\u001b[31m red\nnew line\ttab\u007f',
    'x'.repeat(10 * 1024 * 1024),
    'héllo 世界 🎉 עברית مرحبا \u202Eevil\u202C Z̤͔ͧ̑̓ä͖̭̈̇ 👩‍👩‍👧‍👦',
    '"quoted" & \'apos\' &amp; &lt;b&gt;',
    '<svg/onload=alert(3)>',
  ];
  const wide = 1000;
  const stmts: GenStatement[] = [
    {
      columns: [col('<b>value</b>', 'text</script>', 25), col('kind', 'text', 25)],
      rowCount: hostile.length,
      commandTag: `SELECT ${hostile.length}`,
      row: (i) => [hostile[i], `case ${i}`],
    },
    {
      columns: Array.from({ length: wide }, (_, c) => col(`c${c + 1}`, 'integer', 23)),
      rowCount: 50,
      commandTag: 'SELECT 50',
      row: (i) => Array.from({ length: wide }, (_, c) => String(i * 1000 + c + 1)),
    },
  ];
  const host = new TestHost();
  const msgs: ServerMessage[] = [{ kind: 'notice', stmt: 1, severity: 'NOTICE', sqlstate: '00000', message: '<img src=x onerror=alert(4)> in a notice', detail: '</script>' }];
  host.add(makeJob('jx', "SELECT '<img src=x onerror=alert(1)>'"), new GeneratedStore('jx', stmts, msgs));
  const p = await h.open(host, 'jx');
  try {
    await p.waitForRows();
    const cells = await p.page.evaluate(() =>
      [...document.querySelectorAll<HTMLElement>('vscode-panel-view:not([hidden]) .grid-row:not([hidden])')]
        .sort((a, b) => Number(a.getAttribute('aria-rowindex')) - Number(b.getAttribute('aria-rowindex')))
        .map((r) => r.querySelector<HTMLElement>('.grid-cell[data-col="0"]')?.textContent ?? ''),
    );
    assert.equal(cells[0], hostile[0]);
    assert.equal(cells[1], hostile[1]);
    // Control characters are shown as their visible symbols, never raw.
    assert.equal(cells[2], 'bell\u2407 nul\u2400 esc\u241b[31m red\u21b5new line\u2192tab\u2421');
    assert.equal(cells[3].length, 400, 'a 10 MB value is cut in the cell');
    assert.equal(cells[4], hostile[4]);
    assert.equal(cells[5], hostile[5]);
    assert.equal(cells[6], hostile[6]);
    const header = await p.page.evaluate(() => {
      const hc = document.querySelector<HTMLElement>('.grid-hcell[data-col="0"]')!;
      return [hc.children[0].textContent, hc.children[1].textContent];
    });
    assert.deepEqual(header, ['<b>value</b>', 'text</script>']);

    // The whole 10 MB value, on demand, in the detail pane.
    await p.page.click('.grid-row[aria-rowindex="4"] .grid-cell[data-col="0"]');
    await p.page.keyboard.press('Enter');
    await p.page.waitForFunction(() => document.querySelector('.detail-label')?.textContent?.includes('10,485,760 characters'));
    assert.equal(await p.page.evaluate(() => (document.querySelector('.detail-value') as HTMLElement & { value: string }).value.length), 256 * 1024);
    await p.page.click('vscode-button.copy-value');
    const whole = await until(() => p.toHost.find((m) => m.type === 'copyText'), 'copy value');
    assert.ok(whole.type === 'copyText' && whole.text === hostile[3]);
    // The whole value came from a request without a length cap, for exactly that row.
    const detailReq = p.toHost.find((m) => m.type === 'getRows' && m.maxValueLength === undefined);
    assert.deepEqual(detailReq && detailReq.type === 'getRows' && [detailReq.start, detailReq.count, detailReq.maxValueLength], [3, 1, undefined]);
    await p.screenshot('hostile-values');

    // 1,000 columns: only the columns in view exist.
    await p.page.click('#tab-stmt-2');
    await p.waitForRows();
    const wideCells = await p.page.evaluate(() => document.querySelectorAll('#view-stmt-2 .grid-row:not([hidden]) .grid-cell:not([hidden])').length);
    const rows = await p.page.evaluate(() => document.querySelectorAll('#view-stmt-2 .grid-row:not([hidden])').length);
    assert.ok(wideCells / rows < 40, `${wideCells / rows} cells per row`);
    await p.page.click('#view-stmt-2 .grid-row[aria-rowindex="1"] .grid-cell[data-col="0"]');
    await p.page.keyboard.press('End');
    // End scrolls to the last column, which the grid renders on a later frame: wait for it
    // rather than read the row at once (under load the first read saw the columns before).
    await p.page.waitForFunction(
      () => {
        const row = [...document.querySelectorAll('#view-stmt-2 .grid-row:not([hidden])')].find((r) => r.getAttribute('aria-rowindex') === '1');
        const cells = row ? [...row.querySelectorAll<HTMLElement>('.grid-cell:not([hidden])')] : [];
        const last = cells.sort((a, b) => Number(a.dataset.col) - Number(b.dataset.col)).at(-1);
        return last?.textContent === '1000';
      },
      undefined,
      { timeout: 45000 },
    );
    assert.equal((await p.waitForRow(1)).at(-1), '1000');
    const nodes = await gridNodeCount(p);
    assert.ok(nodes < 2000, `grid has ${nodes} DOM nodes`);

    // The notice is text too.
    await p.page.click('#tab-messages');
    assert.equal(await p.page.textContent('.msg-text'), '<img src=x onerror=alert(4)> in a notice');

    // Nothing ran, nothing was injected, nothing was blocked that would indicate an attempt.
    const verdict = await p.page.evaluate(() => ({
      pwned: (window as unknown as { __pwned?: number }).__pwned,
      injected: document.querySelectorAll('#app img, #app script, #app svg:not(vscode-progress-ring svg), #app b, #app iframe').length,
      scripts: document.querySelectorAll('script').length,
    }));
    assert.deepEqual(verdict, { pwned: undefined, injected: 0, scripts: 1 });
    const violations = (await p.cspViolations()).filter((v) => v.startsWith('script-src') || v.startsWith('img-src') || v.startsWith('default-src'));
    assert.deepEqual(violations, []);
    assert.deepEqual(p.pageErrors, []);
  } finally {
    await p.close();
  }
});

test('statements, command tags and messages render in their tabs; errors show SQLSTATE and Go to error', async () => {
  const host = new TestHost();
  const messages: ServerMessage[] = [
    { kind: 'notice', stmt: 2, severity: 'NOTICE', sqlstate: '00000', message: 'table "tmp_x" does not exist, skipping' },
    {
      kind: 'error',
      stmt: 4,
      severity: 'ERROR',
      sqlstate: '42P01',
      message: 'relation "missing_table" does not exist',
      detail: 'The statement referred to a table that is not there.',
      hint: 'Check the search_path.',
      position: 112,
    },
  ];
  const stmts: GenStatement[] = [
    { columns: [col('id', 'integer', 23), col('name', 'text', 25)], rowCount: 3, commandTag: 'SELECT 3', row: (i) => [String(i + 1), ['alpha', 'beta', 'gamma'][i]] },
    { rowCount: 0, commandTag: 'DROP TABLE' },
    { rowCount: 0, commandTag: 'UPDATE 42' },
    { columns: [col('n', 'bigint', 20)], rowCount: 0 },
  ];
  host.add(
    makeJob('jm', 'SELECT id, name FROM t;\nDROP TABLE IF EXISTS tmp_x;\nUPDATE t SET n = n + 1;\nSELECT n FROM missing_table;', { state: 'error', error: messages[1] }),
    new GeneratedStore('jm', stmts, messages),
  );
  const p = await h.open(host, 'jm');
  try {
    await p.waitForRows();
    const tabs = await p.page.evaluate(() => [...document.querySelectorAll('vscode-panel-tab')].map((t) =>
        [...t.children]
          .filter((c) => !(c as HTMLElement).hidden)
          .map((c) => c.textContent)
          .join(' '),
      ),
    );
    assert.deepEqual(tabs, ['Result 1 3', '2: DROP TABLE', '3: UPDATE 42', 'Result 4 0', 'Messages 2']);
    await p.page.click('#tab-stmt-3');
    await p.page.waitForSelector('#view-stmt-3:not([hidden]) .command-tag');
    assert.equal(await p.page.textContent('#view-stmt-3 .command-tag'), 'UPDATE 42');
    await p.screenshot('command-tag');
    await p.page.click('#tab-messages');
    await p.page.waitForSelector('#view-messages:not([hidden]) .msg.error');
    const err = await p.page.evaluate(() => {
      const e = document.querySelector('.msg.error')!;
      return {
        sev: e.querySelector('.msg-sev')?.textContent,
        code: e.querySelector('.msg-code')?.textContent,
        text: e.querySelector('.msg-text')?.textContent,
        extra: [...e.querySelectorAll('.msg-extra')].map((x) => x.textContent),
      };
    });
    assert.deepEqual(err, {
      sev: 'ERROR',
      code: '42P01',
      text: 'relation "missing_table" does not exist',
      extra: ['DETAIL: The statement referred to a table that is not there.', 'HINT: Check the search_path.'],
    });
    assert.equal(await p.page.locator('.msg.notice .msg-code').textContent(), '00000');
    assert.equal(await p.page.locator('.msg.notice .goto').count(), 0, 'no Go to error without a position');
    await p.screenshot('messages');
    await p.page.click('.msg.error .goto');
    await until(() => host.gotoErrors.length > 0, 'goToError');
    assert.deepEqual(host.gotoErrors, [{ jobId: 'jm', position: 112 }]);
  } finally {
    await p.close();
  }
});

test('copy sends the selected range; the host copies it as TSV; select all is capped and says so', async () => {
  const { host } = million();
  const p = await h.open(host, 'j1');
  try {
    await p.waitForRows();
    const gen = bigStatement(1_000_000).row!;
    await p.page.click('.grid-row[aria-rowindex="2"] .grid-cell[data-col="1"]');
    await p.page.click('.grid-row[aria-rowindex="5"] .grid-cell[data-col="3"]', { modifiers: ['Shift'] });
    // The grid paints the selection on the next frame.
    await p.page.waitForFunction(() => document.querySelectorAll('.grid-cell.sel').length === 12);
    const askedBefore = p.toHost.filter((m) => m.type === 'getRows').length;
    await p.page.keyboard.press('Control+c');
    const copy = await until(() => p.toHost.find((m) => m.type === 'copyRange'), 'copyRange');
    assert.deepEqual(copy, { type: 'copyRange', stmt: 1, r0: 1, r1: 4, c0: 1, c1: 3 });
    const expected = [1, 2, 3, 4].map((i) => [gen(i)[1], gen(i)[2], gen(i)[3] ?? ''].join('\t')).join('\n');
    await until(() => p.copies.length > 0, 'clipboard');
    assert.equal(p.copies[0], expected);
    await p.page.waitForFunction(() => document.querySelector('.statusbar')?.textContent === 'Copied 4 × 3 cells');
    assert.equal(p.toHost.filter((m) => m.type === 'getRows').length, askedBefore, 'no rows crossed to the page for the copy');

    // Drag selection over rows 10..12 in the first column.
    const a = await p.page.locator('.grid-row[aria-rowindex="10"] .grid-cell[data-col="0"]').boundingBox();
    const b = await p.page.locator('.grid-row[aria-rowindex="12"] .grid-cell[data-col="0"]').boundingBox();
    await p.page.mouse.move(a!.x + 5, a!.y + 5);
    await p.page.mouse.down();
    await p.page.mouse.move(b!.x + 5, b!.y + 5, { steps: 4 });
    await p.page.mouse.up();
    await p.page.keyboard.press('Control+c');
    const drag = await until(() => p.toHost.filter((m) => m.type === 'copyRange')[1], 'second copyRange');
    assert.deepEqual(drag, { type: 'copyRange', stmt: 1, r0: 9, r1: 11, c0: 0, c1: 0 });
    await until(() => p.copies.length > 1, 'second clipboard text');
    assert.equal(p.copies[1], '10\n11\n12');

    // Gutter click selects the whole row.
    await p.page.click('.grid-row[aria-rowindex="3"] .grid-gutter');
    await p.page.keyboard.press('Control+c');
    const whole = await until(() => p.toHost.filter((m) => m.type === 'copyRange')[2], 'third copyRange');
    assert.deepEqual(whole, { type: 'copyRange', stmt: 1, r0: 2, r1: 2, c0: 0, c1: 4 });
    await until(() => p.copies.length > 2, 'third clipboard text');
    assert.equal(p.copies[2], gen(2).map((v) => v ?? '').join('\t'));

    const before = p.toHost.length;
    await p.page.keyboard.press('Control+a');
    assert.match((await p.page.textContent('.statusbar')) ?? '', /1,000,000 × 5 selected/);
    await p.page.keyboard.press('Control+c');
    const all = await until(() => p.toHost.filter((m) => m.type === 'copyRange')[3], 'select-all copyRange');
    assert.deepEqual(all, { type: 'copyRange', stmt: 1, r0: 0, r1: 999_999, c0: 0, c1: 4 });
    await until(() => p.copies.length > 3, 'select-all clipboard text', 180000);
    assert.equal(p.copies[3].split('\n').length, MAX_COPY_ROWS);
    assert.ok(p.infos.some((i) => i.includes('use Export')), 'the cap is explained');
    await p.page.waitForFunction(() => document.querySelector('.statusbar')?.textContent === 'Copied 100,000 × 5 cells');
    assert.ok(p.toHost.slice(before).every((m) => m.type !== 'getRows' || m.count <= 100), 'no bulk row requests from the page');
    await p.screenshot('selection');
  } finally {
    await p.close();
  }
});

test('export requests carry the statement and format', async () => {
  const host = new TestHost();
  const stmts: GenStatement[] = [bigStatement(10), { rowCount: 0, commandTag: 'UPDATE 1' }, bigStatement(20)];
  host.add(makeJob('je', 'SELECT …; UPDATE …; SELECT …'), new GeneratedStore('je', stmts));
  const p = await h.open(host, 'je');
  try {
    await p.waitForRows();
    await p.page.click('vscode-button.export-csv');
    await p.page.click('#tab-stmt-3');
    await p.page.waitForSelector('#view-stmt-3:not([hidden]) .grid-cell:not(.loading)');
    await p.page.click('vscode-button.export-json');
    await until(() => p.exports.length === 2, 'two exports');
    assert.deepEqual(p.exports, [
      { stmt: 1, format: 'csv' },
      { stmt: 3, format: 'json' },
    ]);
    // A statement without rows has nothing to export.
    await p.page.click('#tab-stmt-2');
    await p.page.waitForSelector('vscode-button.export-csv[disabled]', { state: 'attached' });
  } finally {
    await p.close();
  }
});

test('a running job: rows, counts and progress arrive live; Cancel reaches the host', async () => {
  const host = new TestHost();
  const stmt: GenStatement = { ...bigStatement(0), commandTag: undefined };
  const store = new GeneratedStore('jr', []);
  host.add(makeJob('jr', 'SELECT * FROM slow_function()', { state: 'running', endedAt: undefined, launchedAt: Date.now() - 65_000 }), store);
  const p = await h.open(host, 'jr');
  try {
    await p.page.waitForSelector('vscode-button.cancel:not([hidden])');
    store.grow(() => {
      store.stmts.push(stmt);
      stmt.rowCount = 40;
    });
    host.update('jr', { rowsReceived: 40, progressPct: 30, progressMsg: 'chunk 3 of 10' });
    await p.waitForRows();
    await p.page.waitForFunction(() => document.querySelector('.topbar .rows')?.textContent === '40 rows');
    assert.equal(await p.page.textContent('.topbar .progress'), '30% chunk 3 of 10');
    assert.match((await p.page.textContent('.topbar .elapsed')) ?? '', /^\d+m \d\ds$/, 'over a minute shows minutes and seconds, as the Jobs tree does');
    store.grow(() => {
      stmt.rowCount = 5000;
    });
    host.update('jr', { rowsReceived: 5000 });
    await p.page.waitForFunction(() => document.querySelector('#tab-stmt-1 .tab-badge')?.textContent === '5,000');
    await p.page.evaluate(() => {
      const s = document.querySelector<HTMLElement>('.grid-scroller')!;
      s.scrollTop = s.scrollHeight;
    });
    assert.equal((await p.waitForRow(5000))[0], '5000');
    await p.screenshot('running');
    await p.page.click('vscode-button.cancel');
    await until(() => host.canceled.length > 0, 'cancel');
    assert.deepEqual(host.canceled, ['jr']);
    host.update('jr', { state: 'canceled', endedAt: Date.now() });
    await p.page.waitForSelector('vscode-button.cancel[hidden]', { state: 'attached' });
    assert.equal(await p.page.textContent('.topbar .state'), 'canceled');
  } finally {
    await p.close();
  }
});

test('theme variables apply (light, high contrast)', async () => {
  const { host } = million();
  const p = await h.open(host, 'j1', { theme: LIGHT });
  try {
    await p.waitForRows();
    await p.page.click('.grid-row[aria-rowindex="3"] .grid-cell[data-col="1"]');
    await p.page.click('.grid-row[aria-rowindex="4"] .grid-cell[data-col="2"]', { modifiers: ['Shift'] });
    const light = await p.page.evaluate(() => ({
      body: getComputedStyle(document.body).backgroundColor,
      text: getComputedStyle(document.querySelector('.grid-cell')!).color,
      header: getComputedStyle(document.querySelector('.grid-header')!).backgroundColor,
      sel: getComputedStyle(document.querySelector('.grid-cell.sel')!).backgroundColor,
      nullColor: getComputedStyle(document.querySelector('.grid-cell.null')!).color,
    }));
    assert.deepEqual(light, {
      body: 'rgb(255, 255, 255)',
      text: 'rgb(59, 59, 59)',
      header: 'rgb(255, 255, 255)',
      sel: 'rgb(232, 232, 232)',
      nullColor: 'rgba(97, 97, 97, 0.5)',
    });
    await p.screenshot('grid-light');
    await p.theme(HIGH_CONTRAST);
    // Wait for the repaint to reach the cells too (a run read one cell's colour a frame early),
    // then compare everything.
    await p.page.waitForFunction(
      () => getComputedStyle(document.body).backgroundColor === 'rgb(0, 0, 0)' && getComputedStyle(document.querySelector('.grid-cell')!).color === 'rgb(255, 255, 255)',
      undefined,
      { timeout: 10000 },
    ).catch(() => undefined);
    const hc = await p.page.evaluate(() => ({
      text: getComputedStyle(document.querySelector('.grid-cell')!).color,
      focus: getComputedStyle(document.querySelector('.grid-cell.focus')!).outlineColor,
      focusStyle: getComputedStyle(document.querySelector('.grid-cell.focus')!).outlineStyle,
      headerBorder: getComputedStyle(document.querySelector('.grid-header')!).borderBottomColor,
    }));
    assert.deepEqual(hc, { text: 'rgb(255, 255, 255)', focus: 'rgb(243, 133, 24)', focusStyle: 'dashed', headerBorder: 'rgb(111, 195, 223)' });
    await p.screenshot('grid-high-contrast');
  } finally {
    await p.close();
  }
});

test('tab and scroll position survive a webview reload (vscode.setState)', async () => {
  const host = new TestHost();
  host.add(makeJob('js', 'SELECT …; SELECT …'), new GeneratedStore('js', [bigStatement(1_000_000), bigStatement(30)]));
  const p = await h.open(host, 'js');
  try {
    await p.waitForRows();
    await p.page.evaluate(() => {
      const s = document.querySelector<HTMLElement>('vscode-panel-view:not([hidden]) .grid-scroller')!;
      s.scrollTop = (s.scrollHeight - s.clientHeight) * 0.25;
    });
    await p.page.waitForFunction(() => {
      const st = (window as unknown as { __vscodeState: () => { scroll?: Record<string, { row: number }> } | null }).__vscodeState();
      return (st?.scroll?.['1']?.row ?? 0) > 200_000;
    });
    const savedRow = await p.page.evaluate(() => (window as unknown as { __vscodeState: () => { scroll: Record<string, { row: number }> } }).__vscodeState().scroll['1'].row);
    await p.page.click('#tab-stmt-2');
    await p.page.waitForFunction(() => (window as unknown as { __vscodeState: () => { activeTab?: string } | null }).__vscodeState()?.activeTab === 'stmt:2');
    // Hidden with retainContextWhenHidden: false means the page is thrown away and reloaded.
    await p.page.reload();
    await p.page.waitForSelector('#tab-stmt-2[aria-selected="true"]');
    await p.waitForRows();
    await p.page.click('#tab-stmt-1');
    const firstRow = await p.page.waitForFunction(
      () => {
        const rows = [...document.querySelectorAll('#view-stmt-1 .grid-row:not([hidden])')].map((r) => Number(r.getAttribute('aria-rowindex')));
        return rows.length > 0 ? Math.min(...rows) : 0;
      },
      null,
      { timeout: 10000 },
    );
    const n = (await firstRow.jsonValue()) as number;
    // Overscan renders a few rows above the first visible one.
    assert.ok(n >= savedRow - 5 && n <= savedRow + 1, `first rendered row ${n}, saved ${savedRow}`);
    const ready = p.toHost.filter((m) => m.type === 'ready');
    assert.equal(ready.length, 2);
    assert.ok(ready[1].type === 'ready' && ready[1].state?.activeTab === 'stmt:2');
  } finally {
    await p.close();
  }
});

test('columns resize by dragging the header edge; shift+arrows extend the selection', async () => {
  const { host } = million();
  const p = await h.open(host, 'j1');
  try {
    await p.waitForRows();
    const widthOf = (c: number) =>
      p.page.evaluate((col) => document.querySelector<HTMLElement>(`.grid-row[aria-rowindex="1"] .grid-cell[data-col="${col}"]`)!.getBoundingClientRect().width, c);
    const before = await widthOf(1);
    const handle = await p.page.locator('.grid-hcell[data-col="1"] .grid-resize').boundingBox();
    assert.ok(handle);
    await p.page.mouse.move(handle.x + 2, handle.y + 10);
    await p.page.mouse.down();
    await p.page.mouse.move(handle.x + 122, handle.y + 10, { steps: 5 });
    await p.page.mouse.up();
    await p.page.waitForFunction((w) => {
      const c = document.querySelector<HTMLElement>('.grid-row[aria-rowindex="1"] .grid-cell[data-col="1"]');
      return c !== null && Math.abs(c.getBoundingClientRect().width - (w + 120)) < 2;
    }, before);
    // The next column moved along.
    const left2 = await p.page.evaluate(() => document.querySelector<HTMLElement>('.grid-row[aria-rowindex="1"] .grid-cell[data-col="2"]')!.getBoundingClientRect().left);
    const right1 = await p.page.evaluate(() => document.querySelector<HTMLElement>('.grid-row[aria-rowindex="1"] .grid-cell[data-col="1"]')!.getBoundingClientRect().right);
    assert.ok(Math.abs(left2 - right1) < 1);

    await p.page.click('.grid-row[aria-rowindex="3"] .grid-cell[data-col="0"]');
    await p.page.keyboard.press('Shift+ArrowDown');
    await p.page.keyboard.press('Shift+ArrowDown');
    await p.page.keyboard.press('Shift+ArrowRight');
    assert.match((await p.page.textContent('.statusbar')) ?? '', /Row 5 of 1,000,000, md5 · 3 × 2 selected/);
    await p.page.keyboard.press('Control+c');
    const copy = await until(() => p.toHost.find((m) => m.type === 'copyRange'), 'copyRange');
    assert.deepEqual(copy, { type: 'copyRange', stmt: 1, r0: 2, r1: 4, c0: 0, c1: 1 });
    await p.page.keyboard.press('Home');
    assert.match((await p.page.textContent('.statusbar')) ?? '', /^Row 5 of 1,000,000, g$/);
  } finally {
    await p.close();
  }
});

test('a panel whose result is gone says so', async () => {
  const host = new TestHost();
  const p = await h.open(host, 'gone-job');
  try {
    await p.page.waitForSelector('.banner:not([hidden])');
    assert.match((await p.page.textContent('.banner')) ?? '', /no longer known to this window/);
    await p.screenshot('unavailable');
  } finally {
    await p.close();
  }
});
