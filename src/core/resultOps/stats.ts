// Statistics of one column over a view: count, NULLs, distinct values (exact up to a bound, then
// a HyperLogLog estimate that says so), min, max, mean, a histogram for number and time columns,
// and the most frequent values. Two passes: the second (histogram) needs the range of the first.

import type { Row } from '../model.js';
import { compareValues, isTimeOid, keyerFor } from './typeKeys.js';
import type { OpOptions } from './scan.js';
import type { ResultView } from './view.js';
import type { ColumnStats } from './shapes.js';

export type { ColumnStats };

/** Distinct values counted exactly up to this many; beyond, estimated. */
export const DISTINCT_EXACT_LIMIT = 100_000;
const TOP_K = 10;
const HIST_BINS = 24;

/** HyperLogLog with 2^14 registers (~0.8 % standard error), over a 32-bit FNV-1a hash mixed by murmur's finaliser. */
export class HyperLogLog {
  private readonly reg = new Uint8Array(1 << 14);

  add(s: string): void {
    let h = 0x811c9dc5;
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    const idx = h >>> 18;
    const rest = (h << 14) | 0x2000; // guard bit bounds the rank
    const rank = Math.clz32(rest) + 1;
    if (rank > this.reg[idx]) this.reg[idx] = rank;
  }

  estimate(): number {
    const m = this.reg.length;
    let sum = 0;
    let zeros = 0;
    for (let i = 0; i < m; i++) {
      sum += 2 ** -this.reg[i];
      if (this.reg[i] === 0) zeros++;
    }
    const alpha = 0.7213 / (1 + 1.079 / m);
    const e = (alpha * m * m) / sum;
    if (e <= 2.5 * m && zeros > 0) return Math.round(m * Math.log(m / zeros));
    return Math.round(e);
  }
}

export async function columnStats(view: ResultView, col: number, typeOid: number, opts: OpOptions = {}): Promise<ColumnStats> {
  const keyer = keyerFor(typeOid);
  const kind: ColumnStats['kind'] = keyer.kind === 'text' ? 'text' : keyer.kind === 'bool' ? 'bool' : keyer.kind === 'number' ? 'number' : 'time';
  const numeric = kind === 'number' || (kind === 'time' && keyer.num !== undefined);
  let count = 0;
  let nulls = 0;
  let unparsed = 0;
  let exact: Map<string, number> | undefined = new Map();
  const hll = new HyperLogLog();
  // Most frequent values once exact counting stopped: Misra-Gries (counts are lower bounds).
  let mg: Map<string, number> | undefined;
  let min: string | undefined;
  let max: string | undefined;
  let lo = Infinity;
  let hi = -Infinity;
  let sum = 0;
  let comp = 0;
  let nums = 0;
  const total = view.length;
  const progress = (done: number): void => opts.onProgress?.(done, numeric ? total * 2 : total);

  await view.forEachChunk(
    0,
    total,
    (rows: Row[], first: number) => {
      for (const row of rows) {
        count++;
        const v = row[col] ?? null;
        if (v === null) {
          nulls++;
          continue;
        }
        hll.add(v);
        if (exact) {
          exact.set(v, (exact.get(v) ?? 0) + 1);
          if (exact.size > DISTINCT_EXACT_LIMIT) {
            mg = new Map([...exact.entries()].sort((a, b) => b[1] - a[1]).slice(0, 1000));
            exact = undefined;
          }
        } else if (mg) {
          const c = mg.get(v);
          if (c !== undefined) mg.set(v, c + 1);
          else if (mg.size < 1000) mg.set(v, 1);
          else for (const [k, n] of mg) n <= 1 ? mg.delete(k) : mg.set(k, n - 1);
        }
        if (min === undefined || compareValues(keyer, v, min) < 0) min = v;
        if (max === undefined || compareValues(keyer, v, max) > 0) max = v;
        if (numeric) {
          const n = keyer.num(v);
          if (n === undefined || Number.isNaN(n)) {
            unparsed += n === undefined ? 1 : 0;
            continue;
          }
          if (!Number.isFinite(n)) continue;
          nums++;
          if (n < lo) lo = n;
          if (n > hi) hi = n;
          // Kahan summation: a million values should not lose the cents.
          const y = n - comp;
          const t = sum + y;
          comp = t - sum - y;
          sum = t;
        }
      }
      progress(first + rows.length);
    },
    { signal: opts.signal },
  );

  const stats: ColumnStats = {
    col,
    kind,
    count,
    nulls,
    distinct: exact ? exact.size : Math.max(hll.estimate(), DISTINCT_EXACT_LIMIT + 1),
    distinctExact: exact !== undefined,
  };
  if (min !== undefined) stats.min = min;
  if (max !== undefined) stats.max = max;
  if (unparsed > 0) stats.unparsed = unparsed;
  if (numeric && nums > 0) stats.mean = sum / nums;
  const counts = exact ?? mg;
  if (counts && (kind === 'text' || kind === 'bool' || (exact && exact.size <= 50))) {
    stats.top = [...counts.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, TOP_K)
      .map(([value, c]) => ({ value, count: c }));
    if (!exact) stats.topApprox = true;
  }
  if (numeric && nums > 0 && Number.isFinite(lo) && Number.isFinite(hi)) {
    const bins = lo === hi ? 1 : Math.min(HIST_BINS, exact ? Math.max(1, exact.size) : HIST_BINS);
    const width = lo === hi ? 1 : (hi - lo) / bins;
    const hist = new Float64Array(bins);
    await view.forEachChunk(
      0,
      total,
      (rows: Row[], first: number) => {
        for (const row of rows) {
          const v = row[col];
          if (v === null || v === undefined) continue;
          const n = keyer.num(v);
          if (n === undefined || !Number.isFinite(n)) continue;
          hist[Math.min(bins - 1, Math.floor((n - lo) / width))]++;
        }
        progress(total + first + rows.length);
      },
      { signal: opts.signal },
    );
    const scale = isTimeOid(typeOid) && typeOid === 1082 ? 86400 : 1; // dates: days → seconds
    stats.histogram = Array.from(hist, (c, i) => ({ from: (lo + i * width) * scale, to: (i === bins - 1 ? hi : lo + (i + 1) * width) * scale, count: c }));
    if (stats.mean !== undefined) stats.mean *= scale;
  }
  return stats;
}
