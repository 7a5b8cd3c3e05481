// Data for the result chart: x from one column, y from one or more numeric columns, over the view.
// A screen shows a few thousand points at most, so larger views are reduced before they cross to
// the webview. Line and bar charts keep, per x bucket, the first and last row and each series'
// minimum and maximum (spikes survive); scatter keeps a uniform random sample. The result says
// how it was reduced so the chart can tell the user.

import { isNumericOid, keyerFor } from './typeKeys.js';
import type { OpOptions } from './scan.js';
import type { ResultView } from './view.js';
import type { ChartData, ChartKind } from './shapes.js';

export type { ChartData, ChartKind };

export interface ChartRequest {
  kind: ChartKind;
  x: number;
  y: number[];
  /** Points the webview can use; default 2,000. */
  maxPoints?: number;
}

const DEFAULT_POINTS = 2000;

/** Whether a column can be a y series. */
export function isChartable(typeOid: number): boolean {
  return isNumericOid(typeOid);
}

interface Point {
  row: number;
  x: number;
  label: string | undefined;
  y: (number | null)[];
}

export async function chartData(view: ResultView, columns: { name: string; typeOid: number }[], req: ChartRequest, opts: OpOptions = {}): Promise<ChartData> {
  const xCol = columns[req.x];
  if (!xCol) throw new Error('Choose a column for the x axis.');
  if (req.y.length === 0) throw new Error('Choose at least one numeric column for the y axis.');
  for (const y of req.y) if (!columns[y] || !isChartable(columns[y].typeOid)) throw new Error(`Column ${columns[y]?.name ?? y} is not numeric.`);
  const xKeyer = keyerFor(xCol.typeOid);
  const xKind: ChartData['xKind'] = xKeyer.kind === 'number' ? 'number' : xKeyer.kind === 'temporal' && xCol.typeOid !== 1186 && xCol.typeOid !== 1083 && xCol.typeOid !== 1266 ? 'time' : 'category';
  const xScale = xCol.typeOid === 1082 ? 86400 : 1;
  const yKeyers = req.y.map((y) => keyerFor(columns[y].typeOid));
  const maxPoints = Math.max(10, req.maxPoints ?? DEFAULT_POINTS);
  const total = view.length;
  const toPoint = (row: (string | null)[], v: number): Point | undefined => {
    let x: number;
    let label: string | undefined;
    if (xKind === 'category') {
      x = v;
      label = row[req.x] ?? 'NULL';
    } else {
      const s = row[req.x];
      const n = s === null || s === undefined ? undefined : xKeyer.num(s);
      if (n === undefined || !Number.isFinite(n)) return undefined;
      x = n * xScale;
    }
    const y = req.y.map((c, i) => {
      const s = row[c];
      const n = s === null || s === undefined ? undefined : yKeyers[i].num(s);
      return n === undefined || !Number.isFinite(n) ? null : n;
    });
    return { row: v, x, label, y };
  };

  let points: Point[] = [];
  let reduced: ChartData['reduced'];
  if (total <= maxPoints) {
    await view.forEachChunk(0, total, (rows, first) => {
      rows.forEach((r, i) => {
        const p = toPoint(r, first + i);
        if (p) points.push(p);
      });
    }, opts);
  } else if (req.kind === 'scatter') {
    // Reservoir sampling (algorithm R) with a fixed seed, so the same view draws the same chart.
    reduced = 'sample';
    let seen = 0;
    let seed = 0x9e3779b9;
    const rand = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 4294967296;
    };
    await view.forEachChunk(0, total, (rows, first) => {
      rows.forEach((r, i) => {
        const p = toPoint(r, first + i);
        if (!p) return;
        seen++;
        if (points.length < maxPoints) points.push(p);
        else {
          const j = Math.floor(rand() * seen);
          if (j < maxPoints) points[j] = p;
        }
      });
    }, opts);
  } else {
    reduced = 'buckets';
    // Continuous x needs its range first; category x buckets view positions.
    let lo = 0;
    let hi = total - 1;
    if (xKind !== 'category') {
      lo = Infinity;
      hi = -Infinity;
      await view.forEachChunk(0, total, (rows) => {
        for (const r of rows) {
          const s = r[req.x];
          const n = s === null || s === undefined ? undefined : xKeyer.num(s);
          if (n === undefined || !Number.isFinite(n)) continue;
          if (n * xScale < lo) lo = n * xScale;
          if (n * xScale > hi) hi = n * xScale;
        }
      }, { signal: opts.signal });
    }
    const per = 2 + 2 * req.y.length;
    const nb = Math.max(1, Math.floor(maxPoints / per));
    const width = hi > lo ? (hi - lo) / nb : 1;
    const keep: Map<number, Point>[] = Array.from({ length: nb }, () => new Map());
    const first: (Point | undefined)[] = new Array(nb);
    const last: (Point | undefined)[] = new Array(nb);
    const mins: (Point | undefined)[][] = req.y.map(() => new Array(nb));
    const maxs: (Point | undefined)[][] = req.y.map(() => new Array(nb));
    await view.forEachChunk(0, total, (rows, f) => {
      rows.forEach((r, i) => {
        const p = toPoint(r, f + i);
        if (!p) return;
        const b = Math.min(nb - 1, Math.max(0, Math.floor((p.x - lo) / width)));
        if (!first[b]) first[b] = p;
        last[b] = p;
        for (let s = 0; s < p.y.length; s++) {
          const y = p.y[s];
          if (y === null) continue;
          const mn = mins[s][b];
          const mx = maxs[s][b];
          if (!mn || y < (mn.y[s] as number)) mins[s][b] = p;
          if (!mx || y > (mx.y[s] as number)) maxs[s][b] = p;
        }
      });
    }, opts);
    for (let b = 0; b < nb; b++) {
      for (const p of [first[b], last[b], ...mins.map((m) => m[b]), ...maxs.map((m) => m[b])]) if (p) keep[b].set(p.row, p);
    }
    points = keep.flatMap((m) => [...m.values()]);
  }
  // Continuous axes draw left to right; ties keep view order.
  if (xKind !== 'category') points.sort((a, b) => a.x - b.x || a.row - b.row);
  else points.sort((a, b) => a.row - b.row);
  const data: ChartData = {
    kind: req.kind,
    xKind,
    xName: xCol.name,
    x: points.map((p) => p.x),
    series: req.y.map((c, i) => ({ name: columns[c].name, values: points.map((p) => p.y[i]) })),
    rows: total,
    points: points.length,
  };
  if (xKind === 'category') data.labels = points.map((p) => p.label ?? '');
  if (reduced) data.reduced = reduced;
  return data;
}
