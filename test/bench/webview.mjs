#!/usr/bin/env node
// Result webview benchmark (called by test/bench/run.mjs; also runs standalone):
//   0. rows to pixels (issue 12, target 3): the million-row demo query run by the real engine
//      (JobManager on the cluster run.mjs provides) into an open panel: from its first rows
//      arriving in the engine to their being painted;
//   1. first paint: time from the first rows being available to their being painted;
//   2. scrolling through a 1,000,000-row result in headless Chromium: 95th-percentile frame
//      time and the number of DOM nodes in the grid.
// Each figure is printed beside the counts that explain it. A benchmark, not a test: it never
// fails on a missed target, only reports it.
//
// Frame time = main-thread time of a frame: from its scroll event (or first animation-frame
// callback) to the end of its style, layout and paint (a MessageChannel message posted during
// the frame runs right after). The interval between animation frames would read ~16.7 ms at
// 60 Hz however little work a frame took, so it is only used to count dropped frames.
//
// The page is the real one (dist/webview.js, media/webview.css, the panel's CSP) and rows come
// from the real PanelController in this process, as in the browser tests.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// The harness is TypeScript; run this file again under tsx when started with plain node.
if (!process.env.PGBG_WEBVIEW_BENCH_TSX) {
  const res = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, PGBG_WEBVIEW_BENCH_TSX: '1' },
  });
  process.exit(res.status === null ? 0 : 0);
}

const ROWS = 1_000_000;
const FIRST_PAINT_RUNS = 7;
const TARGET_FIRST_PAINT_MS = 200;
const ROWS_TO_PIXELS_RUNS = 7;
const TARGET_ROWS_TO_PIXELS_MS = 100;
// Recorded with this bench on commit 5cca3d7 (git archive, this harness), 2026-11-27, load 9.
const BEFORE_ROWS_TO_PIXELS = '250 ms median, of which 101 ms in the extension host';
// The demo's scripts/demo-workspace/06-million-rows.sql.
const DEMO_SQL = "SELECT g AS id, md5(g::text) AS hash, now() - g * interval '1 second' AS at FROM generate_series(1, 1000000) AS g";
const TARGET_P95_MS = 16;
const TARGET_NODES = 2000;

const load = async (p) => {
  const m = await import(p);
  return m.default && Object.keys(m).length <= 2 ? { ...m.default, ...m } : m;
};

const pct = (arr, q) => {
  const s = [...arr].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN;
};
const ms = (v) => `${v.toFixed(1)} ms`;
const verdict = (ok) => (ok ? 'ok' : 'MISSED');

async function main() {
  const { Harness } = await load('../webview/harness.ts');
  const { GeneratedStore, TestHost, bigStatement, makeJob } = await load('../webview/fixtures.ts');
  const h = await Harness.start();
  const os = await import('node:os');
  process.stdout.write(
    `\n== webview benchmark (headless Chromium, 1100×640 viewport; ${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(1)})\n`,
  );
  try {
    await rowsToPixels(h, load, ms, pct, verdict);

    // ---- 1. first rows available -> painted ------------------------------------------------
    const inPage = [];
    const endToEnd = [];
    const roundTrip = [];
    let requestsBeforePaint = 0;
    for (let run = 0; run < FIRST_PAINT_RUNS; run++) {
      const host = new TestHost();
      const store = new GeneratedStore(`fp${run}`, []);
      host.add(makeJob(`fp${run}`, 'SELECT g, md5(g::text) FROM generate_series(1, 1000000) g', { state: 'running', endedAt: undefined, rowsReceived: 0 }), store);
      const p = await h.open(host, `fp${run}`);
      // The page is up and has its (empty) init; the job has produced nothing yet.
      await p.page.waitForSelector('vscode-button.cancel:not([hidden])');
      await p.page.evaluate(() => {
        const w = window;
        w.__fp = { t0: 0, t1: 0, tReq: 0, tRows: 0 };
        // Time stamps of the first row request leaving and its answer arriving, to split the
        // figure into webview work and the round trip through the controller.
        const post = w.__pgbgToHost;
        w.__pgbgToHost = (m) => {
          if (!w.__fp.tReq && m && m.type === 'getRows') w.__fp.tReq = performance.now();
          return post(m);
        };
        // Capture phase on window runs before the app's listener: t0 = statements message arrives.
        window.addEventListener(
          'message',
          (e) => {
            const d = e.data;
            if (!w.__fp.t0 && d && d.type === 'statements' && d.statements.some((s) => s.rowCount > 0)) w.__fp.t0 = performance.now();
            if (!w.__fp.tRows && d && d.type === 'rows') w.__fp.tRows = performance.now();
          },
          true,
        );
        const check = () => {
          if (document.querySelector('vscode-panel-view:not([hidden]) .grid-row:not([hidden]) .grid-cell:not(.loading)')) {
            // Painted = the frame after the one whose DOM holds the rows has been produced.
            requestAnimationFrame(() => setTimeout(() => (w.__fp.t1 = performance.now()), 0));
            return;
          }
          requestAnimationFrame(check);
        };
        requestAnimationFrame(check);
      });
      const hostT0 = Date.now();
      store.grow(() => {
        store.stmts.push(bigStatement(ROWS));
      });
      host.update(`fp${run}`, { rowsReceived: ROWS });
      await p.page.waitForFunction(() => window.__fp.t1 > 0, null, { timeout: 30000 });
      const r = await p.page.evaluate(() => ({ ...window.__fp, now: performance.now(), nowEpoch: Date.now() }));
      inPage.push(r.t1 - r.t0);
      roundTrip.push(r.tRows - r.tReq);
      // Host-side: from the store having rows (grow) to painted, across the controller and
      // the message channel (browser and Node share the machine's wall clock).
      const paintedEpoch = r.nowEpoch - (r.now - r.t1);
      endToEnd.push(paintedEpoch - hostT0);
      requestsBeforePaint = p.toHost.filter((m) => m.type === 'getRows').length;
      await p.close();
    }
    const fpMed = pct(inPage, 0.5);
    const fpE2E = pct(endToEnd, 0.5);
    process.stdout.write(
      `first paint: ${ms(fpMed)} median in page (statements message -> rows painted), ${ms(fpE2E)} median from the store having rows ` +
        `(incl. the controller and the message channel) — target < ${TARGET_FIRST_PAINT_MS} ms: ${verdict(fpE2E < TARGET_FIRST_PAINT_MS)}\n` +
        `  counts: ${FIRST_PAINT_RUNS} runs, ${requestsBeforePaint} row request(s) of 100 rows before the paint, of which the round trip ` +
        `(getRows out -> rows in, through the controller and the test's CDP message bridge) took ${ms(pct(roundTrip, 0.5))} median; ` +
        `result ${ROWS.toLocaleString('en-US')} rows × 5 columns; ` +
        `in-page runs ${inPage.map((v) => v.toFixed(0)).join('/')} ms\n`,
    );

    // ---- 2. scrolling through 1,000,000 rows -----------------------------------------------
    const host = new TestHost();
    host.add(makeJob('sc', 'SELECT …', { rowsReceived: ROWS }), new GeneratedStore('sc', [bigStatement(ROWS)]));
    const p = await h.open(host, 'sc');
    await p.waitForRows();
    const phases = [
      // Dragging the scrollbar top to bottom: every frame lands ~1,000 rows further (new rows each frame).
      { name: 'scrollbar drag, top to bottom', frames: 1000, step: 'drag' },
      // Wheel-like: 3 rows per frame through a stretch of the middle.
      { name: 'wheel-speed scrolling', frames: 600, step: 'wheel' },
    ];
    // Main-thread CPU time (not wall time) from Chromium's own counters: a machine shared with
    // other work stretches wall-clock frame times, CPU time per frame shows the work itself.
    const cdp = await p.context.newCDPSession(p.page);
    await cdp.send('Performance.enable');
    const metrics = async () => {
      const { metrics: list } = await cdp.send('Performance.getMetrics');
      return Object.fromEntries(list.map((m) => [m.name, m.value]));
    };
    for (const phase of phases) {
      const m0 = await metrics();
      const res = await p.page.evaluate(
        ({ frames, step }) =>
          new Promise((resolve) => {
            const s = document.querySelector('vscode-panel-view:not([hidden]) .grid-scroller');
            const max = s.scrollHeight - s.clientHeight;
            if (step === 'wheel') s.scrollTop = max / 2;
            const costs = [];
            const intervals = [];
            let maxNodes = 0;
            let lastRaf = 0;
            let pendingStart = 0;
            const starts = [];
            let i = 0;
            const stats0 = window.__pgbgStats();
            // The scroll event of a frame runs before its animation-frame callbacks: it opens the frame.
            s.addEventListener('scroll', () => {
              if (!pendingStart) pendingStart = performance.now();
            }, { capture: true });
            // A message posted during the frame is handled once the frame's style, layout and
            // paint are done: its time closes the frame.
            const ch = new MessageChannel();
            ch.port1.onmessage = (e) => {
              costs.push(performance.now() - starts[e.data]);
            };
            const tick = (t) => {
              starts[i] = pendingStart || performance.now();
              pendingStart = 0;
              const frame = i;
              if (lastRaf) intervals.push(t - lastRaf);
              lastRaf = t;
              const nodes = document.querySelectorAll('vscode-panel-view:not([hidden]) .grid-root *').length;
              if (nodes > maxNodes) maxNodes = nodes;
              if (i >= frames) {
                const stats1 = window.__pgbgStats();
                const firstRow = document.querySelector('vscode-panel-view:not([hidden]) .grid-row:not([hidden])')?.getAttribute('aria-rowindex');
                setTimeout(() => resolve({ costs: costs.slice(1), intervals, maxNodes, renders: stats1.renders - stats0.renders, requests: stats1.requests - stats0.requests, cachedBlocks: stats1.cachedBlocks, firstRow }), 50);
                return;
              }
              i++;
              if (step === 'drag') s.scrollTop = (max * i) / frames;
              else s.dispatchEvent(new WheelEvent('wheel', { deltaY: 66, deltaMode: 0, bubbles: true, cancelable: true }));
              ch.port2.postMessage(frame);
              requestAnimationFrame(tick);
            };
            requestAnimationFrame(tick);
          }),
        phase,
      );
      const m1 = await metrics();
      const cpuPerFrame = ((m1.ThreadTime - m0.ThreadTime) * 1000) / res.costs.length;
      const layoutPerFrame = ((m1.LayoutDuration - m0.LayoutDuration + m1.RecalcStyleDuration - m0.RecalcStyleDuration) * 1000) / res.costs.length;
      const scriptPerFrame = ((m1.ScriptDuration - m0.ScriptDuration) * 1000) / res.costs.length;
      const p50 = pct(res.costs, 0.5);
      const p95 = pct(res.costs, 0.95);
      const worst = Math.max(...res.costs);
      const dropped = res.intervals.filter((d) => d > 25).length;
      process.stdout.write(
        `scroll (${phase.name}): p95 frame ${ms(p95)} (p50 ${ms(p50)}, max ${ms(worst)}) — target 5 (no regression, < ${TARGET_P95_MS} ms): ${p95 < TARGET_P95_MS ? 'PASS' : 'MISS'} (baseline before issue 12: 12–13 ms, README); ` +
          `grid DOM nodes max ${res.maxNodes} — target < ${TARGET_NODES}: ${verdict(res.maxNodes < TARGET_NODES)}\n` +
          `  main-thread CPU per frame ${ms(cpuPerFrame)} mean (script ${ms(scriptPerFrame)}, style+layout ${ms(layoutPerFrame)}) — wall-clock figures above include waiting for the CPU\n` +
          `  counts: ${res.costs.length} frames (${dropped} rAF intervals over 25 ms at 60 Hz), ${res.renders} grid renders, ${res.requests} block requests (100 rows each), ` +
          `${res.cachedBlocks} blocks cached at the end, ended at row ${res.firstRow}\n`,
      );
    }
    await p.close();
  } finally {
    await h.close();
  }
}

/**
 * The demo query through the engine into an open panel. The panel is open (on a job still being
 * launched) before the job starts, as when a job's panel opens as it starts; the time runs from
 * the engine handing the first fetched rows to the store to the frame that shows them.
 */
async function rowsToPixels(h, load, ms, pct, verdict) {
  if (!process.env.PGHOST) {
    process.stdout.write('rows to pixels: skipped (no cluster: run it through test/bench/run.mjs)\n');
    return;
  }
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const { JobManager } = await load('../../src/core/jobManager.ts');
  const { TestEmitter, makeJob } = await load('../webview/fixtures.ts');
  const storageDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgbg-bench-r2p-'));
  const jm = new JobManager({ storageDir });
  const config = { host: process.env.PGHOST, port: Number(process.env.PGPORT ?? 5432), user: process.env.PGUSER ?? 'postgres', database: process.env.PGDATABASE ?? 'postgres', password: process.env.PGPASSWORD };
  const results = [];
  const pushes = [];
  const hostSide = [];
  const bridge = [];
  const inPage = [];
  try {
    await jm.openConnection('bench', config);
    for (let run = 0; run < ROWS_TO_PIXELS_RUNS; run++) {
      const alias = `r2p${run}`;
      let realId;
      const changed = new TestEmitter();
      const host = {
        job: (id) => (id !== alias ? undefined : realId ? { ...jm.job(realId), id: alias } : makeJob(alias, DEMO_SQL, { state: 'launching', endedAt: undefined, rowsReceived: 0 })),
        store: (id) => (id === alias && realId ? jm.store(realId) : undefined),
        cancel: async () => undefined,
        goToError: async () => undefined,
        onDidChangeJob: changed.event,
        log: () => undefined,
      };
      const sub = jm.onDidChangeJob((j) => j.id === realId && changed.fire({ ...j, id: alias }));
      const p = await h.open(host, alias);
      p.coalesceMessages = true;
      await p.page.waitForFunction(() => document.readyState === 'complete');
      for (let i = 0; i < 600 && !p.toHost.some((m) => m.type === 'ready'); i++) await new Promise((r) => setTimeout(r, 50));
      await p.page.evaluate(() => {
        const w = window;
        w.__r2p = 0;
        w.__r2pRows = 0;
        window.addEventListener(
          'message',
          (e) => {
            if (!w.__r2pRows && e.data && e.data.type === 'rows') w.__r2pRows = performance.now();
          },
          true,
        );
        const check = () => {
          if (document.querySelector('vscode-panel-view:not([hidden]) .grid-row:not([hidden]) .grid-cell:not(.loading)')) {
            // Painted = the frame after the one whose DOM holds the rows has been produced.
            requestAnimationFrame(() => setTimeout(() => (w.__r2p = performance.now()), 0));
            return;
          }
          requestAnimationFrame(check);
        };
        requestAnimationFrame(check);
      });
      let firstRowsEpoch = 0;
      let rowsPostedEpoch = 0;
      const recorded = p.toWebview.push.bind(p.toWebview);
      p.toWebview.push = (...msgs) => {
        if (!rowsPostedEpoch && msgs.some((m) => m.type === 'rows')) rowsPostedEpoch = Date.now();
        return recorded(...msgs);
      };
      const job = await jm.launch('bench', DEMO_SQL);
      realId = job.id;
      // No rows can have arrived yet: the first fetch needs a round trip this task has not
      // given the event loop. Stamp the engine handing the first rows to the store.
      const store = jm.store(realId);
      for (const name of ['addJsonRows', 'addRows']) {
        const orig = store[name].bind(store);
        store[name] = (...args) => {
          if (!firstRowsEpoch) firstRowsEpoch = Date.now() + (performance.now() % 1);
          return orig(...args);
        };
      }
      changed.fire({ ...jm.job(realId), id: alias });
      await p.page.waitForFunction(() => window.__r2p > 0, null, { timeout: 60000 });
      const r = await p.page.evaluate(() => ({ t1: window.__r2p, tRows: window.__r2pRows, now: performance.now(), nowEpoch: Date.now() }));
      const paintedEpoch = r.nowEpoch - (r.now - r.t1);
      const rowsArrivedEpoch = r.nowEpoch - (r.now - r.tRows);
      results.push(paintedEpoch - firstRowsEpoch);
      hostSide.push(rowsPostedEpoch - firstRowsEpoch);
      bridge.push(rowsArrivedEpoch - rowsPostedEpoch);
      inPage.push(r.t1 - r.tRows);
      pushes.push(p.toWebview.filter((m) => m.type === 'statements').length);
      await jm.cancel(realId).catch(() => undefined);
      await jm.wait(realId, { timeoutMs: 30000 });
      sub.dispose();
      await p.close();
      jm.clear(realId);
    }
    const med = pct(results, 0.5);
    process.stdout.write(
      `rows to pixels (target 3): ${ms(med)} median from the first rows of the demo query reaching the engine to their paint in an open panel — ` +
        `target <= ${TARGET_ROWS_TO_PIXELS_MS} ms: ${med <= TARGET_ROWS_TO_PIXELS_MS ? 'PASS' : 'MISS'} ` +
        `(baseline: this measurement on the code before issue 12, whose store signalled after a 100 ms timer and whose panel throttled at 150 ms: ` +
        `${BEFORE_ROWS_TO_PIXELS}; it cannot run beside the new code in one process)\n` +
        `  where it goes (medians): extension host, first rows in the engine -> first rows message posted ${ms(pct(hostSide, 0.5))} ` +
        `(one change signal, the store's, then the controller); the test's message bridge (CDP evaluates, a task's messages in one; ` +
        `VS Code's postMessage stands here) ${ms(pct(bridge, 0.5))}; in the page, rows message -> painted ${ms(pct(inPage, 0.5))}\n` +
        `  runs ${results.map((v) => v.toFixed(0)).join('/')} ms; statements messages per run ${pushes.join('/')}\n`,
    );
  } catch (err) {
    process.stdout.write(`rows to pixels could not run: ${err?.stack ?? err}\n`);
  } finally {
    await jm.dispose();
    fs.rmSync(storageDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stdout.write(`webview benchmark could not run: ${err?.stack ?? err}\n`);
});
