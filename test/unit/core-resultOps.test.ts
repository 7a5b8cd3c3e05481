// Sort, filter, find, statistics and chart data over real result stores: one that holds every
// row in memory and one that spools all but a few rows to disk (the path a 10-million-row
// result takes), plus the external sort with tiny runs so several run files are merged.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { ColumnInfo, Row } from '../../src/core/model.js';
import { SpooledResultStore } from '../../src/core/resultStore.js';
import { chartData } from '../../src/core/resultOps/chart.js';
import { compileFilter, filterRows } from '../../src/core/resultOps/filter.js';
import { findInView } from '../../src/core/resultOps/find.js';
import { liveSortWorkers } from '../../src/core/resultOps/offThread.js';
import { CanceledError } from '../../src/core/resultOps/scan.js';
import { sortRows, type SortKey } from '../../src/core/resultOps/sort.js';
import { columnStats, DISTINCT_EXACT_LIMIT } from '../../src/core/resultOps/stats.js';
import { compareDecimalText, parseDate, parseInterval, parseTimestamp } from '../../src/core/resultOps/typeKeys.js';
import { ResultView } from '../../src/core/resultOps/view.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgbg-ops-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const c = (name: string, typeOid: number): ColumnInfo => ({ name, type: String(typeOid), typeOid, typmod: -1 });

let seq = 0;
function makeStore(columns: ColumnInfo[], rows: Row[], spooled: boolean): SpooledResultStore {
  const store = new SpooledResultStore(`ops${seq++}`, { storageDir: dir, memoryRowBudget: spooled ? 3 : 10_000_000 });
  store.setColumns(1, columns);
  for (let i = 0; i < rows.length; i += 997) store.addRows(1, rows.slice(i, i + 997));
  store.markComplete();
  return store;
}

const MODES = [
  { name: 'in memory', spooled: false },
  { name: 'spooled', spooled: true },
];

async function sorted(store: SpooledResultStore, oids: number[], keys: SortKey[], extra: Parameters<typeof sortRows>[6] = {}): Promise<number[]> {
  const n = store.statements()[0].rowCount;
  return [...(await sortRows(store, 1, oids, keys, n, undefined, extra))];
}

/** Independent reference order of an int8 column: BigInt compare, NULLs last, ties by row. */
function refIntOrder(vals: (string | null)[], desc: boolean): number[] {
  return vals
    .map((v, i) => ({ v, i }))
    .sort((a, b) => {
      if (a.v === null || b.v === null) return a.v === b.v ? a.i - b.i : a.v === null ? 1 : -1;
      const d = BigInt(a.v) - BigInt(b.v);
      const r = d < 0n ? -1 : d > 0n ? 1 : 0;
      return (desc ? -r : r) || a.i - b.i;
    })
    .map((x) => x.i);
}

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

describe('type keys', () => {
  it('parses dates, timestamps and intervals in PostgreSQL output formats', () => {
    assert.equal(parseDate('1970-01-02'), 1);
    assert.ok(parseDate('0044-03-15 BC')! < parseDate('0001-01-01')!);
    assert.equal(parseDate('infinity'), Infinity);
    assert.equal(parseTimestamp('2026-11-27 10:00:00+02'), parseTimestamp('2026-11-27 08:00:00+00'));
    assert.equal(parseTimestamp('2026-11-27 10:00:00.5+05:30'), parseTimestamp('2026-11-27 04:30:00'));
    assert.equal(parseInterval('1 day 02:00:00'), 26 * 3600);
    assert.equal(parseInterval('-1 days +02:00:00'), -22 * 3600);
    assert.equal(parseInterval('1 year 2 mons'), 14 * 30 * 86400);
    assert.equal(parseInterval('@ 3 days ago'), -3 * 86400);
    assert.equal(parseInterval('P1DT2H'), 26 * 3600);
    assert.equal(parseInterval('soon'), undefined);
    assert.equal(compareDecimalText('12345678901234567.1', '12345678901234567.2'), -1);
    assert.equal(compareDecimalText('-5.10', '-5.1'), 0);
    assert.equal(compareDecimalText('-9', '-10'), 1);
  });
});

for (const mode of MODES) {
  describe(`sort (${mode.name})`, () => {
    it('orders int8 by value, NULLs last in both directions, ties in arrival order', async () => {
      const vals: (string | null)[] = ['10', '9', null, '-3', '9', '9007199254740993', '9007199254740992', null, '0', '-10', '9'];
      const store = makeStore([c('n', 20), c('tag', 25)], vals.map((v, i) => [v, `r${i}`]), mode.spooled);
      assert.deepEqual(await sorted(store, [20, 25], [{ col: 0 }]), refIntOrder(vals, false));
      assert.deepEqual(await sorted(store, [20, 25], [{ col: 0, desc: true }]), refIntOrder(vals, true));
      // NULLs first on request.
      const nf = await sorted(store, [20, 25], [{ col: 0, nulls: 'first' }]);
      assert.deepEqual(nf.slice(0, 2), [2, 7]);
      store.dispose();
    });

    it('orders numeric exactly past double precision, NaN and Infinity like PostgreSQL', async () => {
      const vals = ['1.5', 'NaN', '12345678901234567.2', '-Infinity', '12345678901234567.1', 'Infinity', '1.50', '-0.5'];
      const store = makeStore([c('x', 1700)], vals.map((v) => [v]), mode.spooled);
      const order = await sorted(store, [1700], [{ col: 0 }]);
      assert.deepEqual(order.map((i) => vals[i]), ['-Infinity', '-0.5', '1.5', '1.50', '12345678901234567.1', '12345678901234567.2', 'Infinity', 'NaN']);
      store.dispose();
    });

    it('orders text, booleans, dates, timestamps with zones and intervals by type', async () => {
      const rows: Row[] = [
        ['b', 't', '2020-01-02', '2026-01-01 00:00:00.25+00', '1 day', 'x1'],
        ['B', 'f', '0044-03-15 BC', '2026-01-01 01:00:00+02', '-1 days +02:00:00', 'x2'],
        ['a', null, 'infinity', '2026-01-01 00:00:00.125+00', '25:00:00', 'x3'],
        ['ä', 'f', '2020-01-10', null, '1 mon', 'x4'],
        ['', 't', '1999-12-31', '2025-12-31 23:59:59.999999+00', '00:00:01', 'x5'],
      ];
      const oids = [25, 16, 1082, 1184, 1186, 25];
      const store = makeStore(oids.map((o, i) => c(`c${i}`, o)), rows, mode.spooled);
      const col = async (k: number, desc = false): Promise<(string | null)[]> => (await sorted(store, oids, [{ col: k, desc }])).map((i) => rows[i][k]);
      assert.deepEqual(await col(0), ['', 'B', 'a', 'b', 'ä']);
      assert.deepEqual(await col(1), ['f', 'f', 't', 't', null]);
      assert.deepEqual(await col(1, true), ['t', 't', 'f', 'f', null]);
      assert.deepEqual(await col(2), ['0044-03-15 BC', '1999-12-31', '2020-01-02', '2020-01-10', 'infinity']);
      // 01:00+02 is 23:00 the day before; fractions order within a second.
      assert.deepEqual(await col(3), ['2026-01-01 01:00:00+02', '2025-12-31 23:59:59.999999+00', '2026-01-01 00:00:00.125+00', '2026-01-01 00:00:00.25+00', null]);
      assert.deepEqual(await col(4), ['-1 days +02:00:00', '00:00:01', '1 day', '25:00:00', '1 mon']);
      store.dispose();
    });

    it('sorts by several columns (shift-click) and puts unparsable values after parsed ones', async () => {
      const rows: Row[] = [
        ['2', 'b'],
        ['1', 'z'],
        ['2', 'a'],
        ['oops', 'a'],
        ['1', 'a'],
        [null, 'a'],
      ];
      const store = makeStore([c('n', 23), c('s', 25)], rows, mode.spooled);
      assert.deepEqual(await sorted(store, [23, 25], [{ col: 0 }, { col: 1, desc: true }]), [1, 4, 0, 2, 3, 5]);
      store.dispose();
    });

    it('an external sort with many runs gives the same order as the reference', async () => {
      const r = rng(7);
      const vals: (string | null)[] = Array.from({ length: 5000 }, () => (r() < 0.05 ? null : String(Math.floor(r() * 1000) - 500)));
      const store = makeStore([c('n', 20), c('t', 25)], vals.map((v, i) => [v, `t${(i * 7919) % 5000}`]), mode.spooled);
      const ext = await sorted(store, [20, 25], [{ col: 0 }], { inMemoryRows: 100, runRows: 300, tempDir: dir });
      assert.deepEqual(ext, refIntOrder(vals, false));
      // Text keys through run files too (UTF-8 round trip).
      const textExt = await sorted(store, [20, 25], [{ col: 1, desc: true }], { inMemoryRows: 100, runRows: 1024, tempDir: dir });
      const textMem = await sorted(store, [20, 25], [{ col: 1, desc: true }]);
      assert.deepEqual(textExt, textMem);
      store.dispose();
    });

    it('cancel mid-sort stops it and leaves no run files behind', async () => {
      const vals = Array.from({ length: 20000 }, (_, i) => [String((i * 7919) % 20000)]);
      const store = makeStore([c('n', 23)], vals, mode.spooled);
      const tmp = fs.mkdtempSync(path.join(dir, 'cancel-'));
      const ac = new AbortController();
      let progressed = 0;
      await assert.rejects(
        sortRows(store, 1, [23], [{ col: 0 }], 20000, undefined, {
          inMemoryRows: 1000,
          runRows: 1024,
          tempDir: tmp,
          signal: ac.signal,
          onProgress: (done) => {
            progressed = done;
            if (done > 4000) ac.abort();
          },
        }),
        CanceledError,
      );
      assert.ok(progressed > 4000 && progressed < 40000, `progress when canceled: ${progressed}`);
      assert.deepEqual(fs.readdirSync(tmp), []);
      store.dispose();
    });
  });

  describe(`filter, find, stats, chart (${mode.name})`, () => {
    const oids = [23, 25, 1700, 1184];
    const rows: Row[] = Array.from({ length: 3000 }, (_, i) => [
      String(i),
      i % 10 === 0 ? null : `Item ${i % 37}`,
      (i * 0.5).toFixed(2),
      `2026-01-${String((i % 28) + 1).padStart(2, '0')} 12:00:00+00`,
    ]);
    const cols = oids.map((o, i) => c(`c${i}`, o));

    it('filters with a quick filter and typed conditions, reporting matches as found', async () => {
      const store = makeStore(cols, rows, mode.spooled);
      const expect = (p: (r: Row) => boolean): number[] => rows.flatMap((r, i) => (p(r) ? [i] : []));
      const run = async (spec: Parameters<typeof compileFilter>[0]): Promise<number[]> => [...(await filterRows(store, 1, rows.length, compileFilter(spec, oids)))];
      assert.deepEqual(await run({ quick: 'item 3' }), expect((r) => r[1] !== null && r[1].toLowerCase().includes('item 3')));
      assert.deepEqual(await run({ quick: '12', quickCol: 0 }), expect((r) => r[0]!.includes('12')));
      assert.deepEqual(await run({ conditions: [{ col: 2, op: 'between', value: '10', value2: '20.5' }] }), expect((r) => Number(r[2]) >= 10 && Number(r[2]) <= 20.5));
      assert.deepEqual(await run({ conditions: [{ col: 0, op: 'gt', value: '2990' }] }), [2991, 2992, 2993, 2994, 2995, 2996, 2997, 2998, 2999]);
      assert.deepEqual(await run({ conditions: [{ col: 1, op: 'isnull' }] }), expect((r) => r[1] === null));
      assert.deepEqual(await run({ conditions: [{ col: 1, op: 'ne', value: 'Item 1' }, { col: 1, op: 'notnull' }] }), expect((r) => r[1] !== null && r[1] !== 'Item 1'));
      assert.deepEqual(await run({ conditions: [{ col: 3, op: 'lt', value: '2026-01-02 12:00:00+00' }] }), expect((r) => r[3]!.startsWith('2026-01-01 ')));
      assert.throws(() => compileFilter({ conditions: [{ col: 0, op: 'eq', value: 'abc' }] }, oids), /not a value/);
      // Progressive: the first matches are reported before the scan ends.
      const seen: number[] = [];
      await filterRows(store, 1, rows.length, compileFilter({ quick: 'item' }, oids), { onMatches: (m) => seen.push(m.length) });
      assert.ok(seen.length > 0 && seen[0] <= seen[seen.length - 1]);
      store.dispose();
    });

    it('finds across a sorted, filtered view: count, next and previous with wrap-around', async () => {
      const store = makeStore(cols, rows, mode.spooled);
      const match = compileFilter({ conditions: [{ col: 0, op: 'lt', value: '100' }] }, oids);
      const subset = await filterRows(store, 1, rows.length, match);
      const perm = await sortRows(store, 1, oids, [{ col: 0, desc: true }], rows.length, subset);
      const view = new ResultView(store, 1, rows.length, perm);
      assert.equal(view.length, 100);
      assert.deepEqual((await view.rows(0, 2)).map((r) => r[0]), ['99', '98']);
      const found = await findInView(view, '5');
      // Cells containing "5" among rows 0..99: column 0 and column 2 (i*0.5) and column 3 (dates).
      let expected = 0;
      for (let i = 0; i < 100; i++) for (const v of rows[i]) if (v !== null && v.includes('5')) expected++;
      assert.equal(found.total, expected);
      const read = async (v: number): Promise<Row | undefined> => (await view.rows(v, 1))[0];
      const first = await found.step(-1, -1, true, read);
      assert.ok(first);
      assert.equal(first.ordinal, 1);
      // View row 0 is base row 99: "99", "Item 25", "49.50", … → the first match is column 1.
      assert.deepEqual([first.row, first.col], [0, 1]);
      const second = await found.step(first.row, first.col, true, read);
      assert.equal(second?.ordinal, 2);
      const back = await found.step(second!.row, second!.col, false, read);
      assert.deepEqual(back, first);
      const wrapped = await found.step(first.row, first.col, false, read);
      assert.equal(wrapped?.ordinal, expected);
      store.dispose();
    });

    it('computes column statistics with exact distinct counts, a histogram and top values', async () => {
      const store = makeStore(cols, rows, mode.spooled);
      const view = new ResultView(store, 1, rows.length, undefined);
      const num = await columnStats(view, 2, 1700);
      assert.equal(num.count, 3000);
      assert.equal(num.nulls, 0);
      assert.equal(num.distinct, 3000);
      assert.equal(num.distinctExact, true);
      assert.equal(num.min, '0.00');
      assert.equal(num.max, '1499.50');
      assert.ok(Math.abs(num.mean! - 749.75) < 1e-9);
      assert.equal(num.histogram!.reduce((s, b) => s + b.count, 0), 3000);
      const text = await columnStats(view, 1, 25);
      assert.equal(text.nulls, 300);
      assert.equal(text.distinct, 37);
      assert.equal(text.top!.length, 10);
      assert.ok(text.top![0].count >= text.top![9].count);
      const time = await columnStats(view, 3, 1184);
      assert.equal(time.kind, 'time');
      assert.equal(time.histogram!.reduce((s, b) => s + b.count, 0), 3000);
      store.dispose();
    });

    it('chart data: small views whole, large ones reduced with extremes kept', async () => {
      const store = makeStore(cols, rows, mode.spooled);
      const view = new ResultView(store, 1, rows.length, undefined);
      const whole = await chartData(view, cols, { kind: 'line', x: 0, y: [2], maxPoints: 5000 });
      assert.equal(whole.points, 3000);
      assert.equal(whole.reduced, undefined);
      const small = await chartData(view, cols, { kind: 'line', x: 3, y: [0, 2], maxPoints: 200 });
      assert.equal(small.reduced, 'buckets');
      assert.equal(small.xKind, 'time');
      assert.ok(small.points <= 200, `${small.points} points`);
      assert.equal(Math.max(...(small.series[0].values as number[])), 2999);
      assert.equal(Math.min(...(small.series[1].values as number[])), 0);
      for (let i = 1; i < small.x.length; i++) assert.ok(small.x[i - 1] <= small.x[i]);
      const scatter = await chartData(view, cols, { kind: 'scatter', x: 0, y: [2], maxPoints: 100 });
      assert.equal(scatter.reduced, 'sample');
      assert.equal(scatter.points, 100);
      await assert.rejects(chartData(view, cols, { kind: 'bar', x: 0, y: [1] }), /not numeric/);
      store.dispose();
    });
  });
}

describe('sort beyond one native run', () => {
  it('merges runs into the same order as the reference (1,200,000 rows, many ties)', async () => {
    const r = rng(11);
    const n = 1_200_000;
    const vals = Array.from({ length: n }, () => String(Math.floor(r() * 5000)));
    const store = makeStore([c('n', 23)], vals.map((v) => [v]), false);
    const order = await sorted(store, [23], [{ col: 0, desc: true }], { inMemoryRows: n });
    const ref = Array.from({ length: n }, (_, i) => i).sort((a, b) => Number(vals[b]) - Number(vals[a]) || a - b);
    assert.equal(order.length, n);
    assert.ok(order.every((v, i) => v === ref[i]));
    store.dispose();
  });
});

describe('distinct beyond the exact bound', () => {
  it('switches to an estimate and says so', async () => {
    const n = DISTINCT_EXACT_LIMIT + 50_000;
    const rows: Row[] = Array.from({ length: n }, (_, i) => [`v${i}`]);
    const store = makeStore([c('v', 25)], rows, false);
    const s = await columnStats(new ResultView(store, 1, n, undefined), 0, 25);
    assert.equal(s.distinctExact, false);
    assert.ok(Math.abs(s.distinct - n) / n < 0.05, `estimate ${s.distinct} for ${n}`);
    assert.equal(s.topApprox, true);
    store.dispose();
  });
});

describe('sort off the extension host\'s main thread', () => {
  const mixed = (n: number): Row[] => {
    const r = rng(5);
    const w = ['alpha', 'Beta', 'ärger', '', 'zeta', 'alp'];
    return Array.from({ length: n }, (_, i) => [
      r() < 0.05 ? null : String(Math.floor(r() * 2000) - 1000),
      r() < 0.05 ? null : `${w[i % w.length]}${Math.floor(r() * 300)}`,
      r() < 0.1 ? null : r() < 0.02 ? 'oops' : (r() * 1e6).toFixed(r() < 0.5 ? 0 : 3),
      `2026-0${1 + (i % 9)}-1${i % 10} 0${i % 10}:00:00.${i % 7}+00`,
    ]);
  };
  const oids = [20, 25, 1700, 1184];

  for (const mode of MODES) {
    it(`gives the in-thread order for every key type, in memory and through runs (${mode.name})`, async () => {
      const store = makeStore(oids.map((o, i) => c(`c${i}`, o)), mixed(6000), mode.spooled);
      for (const keys of [[{ col: 0 }], [{ col: 1, desc: true }], [{ col: 2 }], [{ col: 3, desc: true }], [{ col: 1 }, { col: 0, desc: true }]] as SortKey[][]) {
        const inThread = await sorted(store, oids, keys, { offThreadMinRows: Infinity });
        assert.deepEqual(await sorted(store, oids, keys, { offThreadMinRows: 0 }), inThread, JSON.stringify(keys));
        const runs = { inMemoryRows: 1000, runRows: 1024, tempDir: dir };
        assert.deepEqual(await sorted(store, oids, keys, { ...runs, offThreadMinRows: 0 }), inThread, `runs ${JSON.stringify(keys)}`);
      }
      store.dispose();
    });
  }

  it('falls back to sorting in-thread when the worker cannot start', async () => {
    const store = makeStore(oids.map((o, i) => c(`c${i}`, o)), mixed(3000), false);
    const expected = await sorted(store, oids, [{ col: 1 }], { offThreadMinRows: Infinity });
    assert.deepEqual(await sorted(store, oids, [{ col: 1 }], { offThreadMinRows: 0, workerScript: path.join(dir, 'no-such-worker.js') }), expected);
    store.dispose();
  });

  it('a worker that dies during a sort fails it with a message, without hanging or leaking', async () => {
    const store = makeStore(oids.map((o, i) => c(`c${i}`, o)), mixed(3000), false);
    const script = path.join(dir, 'dying-worker.js');
    fs.writeFileSync(script, "const { parentPort } = require('node:worker_threads');\nparentPort.postMessage({ type: 'ready' });\nparentPort.on('message', () => process.exit(3));\n");
    await assert.rejects(sorted(store, oids, [{ col: 1 }], { offThreadMinRows: 0, workerScript: script }), /sort worker stopped/);
    assert.equal(await noWorkersLeft(), 0);
    store.dispose();
  });

  /** Resolves once no sort worker runs any more (a terminated worker's exit is reported a moment later). */
  async function noWorkersLeft(): Promise<number> {
    for (let i = 0; i < 200 && liveSortWorkers() > 0; i++) await new Promise((r) => setTimeout(r, 25));
    return liveSortWorkers();
  }

  it('keeps the event loop turning and the store answering while 1,000,000 rows sort; cancel ends the worker', async () => {
    const n = 1_000_000;
    const rows: Row[] = Array.from({ length: n }, (_, i) => [`k${(i * 2654435761) % 4294967291}`]);
    const store = makeStore([c('t', 25)], rows, false);
    // From the moment the keys are collected (progress reaches n of 2n) until the sort resolves:
    // event-loop turns, and row reads like the grid's, that complete meanwhile. A sort on the
    // main thread is one synchronous native call there, during which neither can happen.
    let turns = 0;
    let answered = 0;
    let sorting = false;
    const spin = (): void => {
      if (!sorting) return;
      turns++;
      void store.getRows(1, (turns * 7919) % n, 100).then((r) => (answered += r.length > 0 ? 1 : 0));
      setImmediate(spin);
    };
    const onProgress = (done: number): void => {
      if (done >= n && !sorting) {
        sorting = true;
        setImmediate(spin);
      }
    };
    const order = await sortRows(store, 1, [25], [{ col: 0 }], n, undefined, { onProgress });
    sorting = false;
    const counted = { turns, answered };
    assert.equal(order.length, n);
    for (let i = 1; i < 1000; i++) assert.ok(rows[order[i - 1]][0]! <= rows[order[i]][0]!);
    assert.ok(counted.turns >= 20 && counted.answered >= 20, `while sorting: ${counted.turns} event-loop turns, ${counted.answered} row reads answered`);
    assert.equal(await noWorkersLeft(), 0, 'the worker ends with its sort');

    // Canceled while the worker sorts: CanceledError, and the worker is terminated.
    const ac = new AbortController();
    await assert.rejects(
      sortRows(store, 1, [25], [{ col: 0 }], n, undefined, {
        signal: ac.signal,
        onProgress: (done) => {
          if (done >= n) setImmediate(() => ac.abort());
        },
      }),
      CanceledError,
    );
    assert.equal(await noWorkersLeft(), 0, 'a canceled sort leaves no worker behind');
    store.dispose();
  });
});
