// Find in a view: every cell whose text contains the search text (case-insensitive). The scan
// reads rows in base order (sequentially, even for a sorted spooled view) and keeps, per view
// row that has matches, its position and the number of matches before it; next/previous are then
// a binary search plus one row read, and "match k of n" is exact.

import type { Row } from '../model.js';
import { containsMatcher, IndexList } from './filter.js';
import { scanRows, type OpOptions } from './scan.js';
import type { ResultView } from './view.js';

export interface FindHit {
  row: number;
  col: number;
  /** 1-based number of this match among all matches, in view order (row, then column). */
  ordinal: number;
}

export class FindResult {
  constructor(
    private readonly matcher: (v: string) => boolean,
    /** View rows with at least one match, ascending. */
    readonly rows: Uint32Array,
    /** cum[k] = matches in rows[0..k). */
    readonly cum: Float64Array,
    readonly total: number,
  ) {}

  /** Columns of `row` that match, ascending. */
  matchingCols(row: Row): number[] {
    const out: number[] = [];
    for (let c = 0; c < row.length; c++) {
      const v = row[c];
      if (v !== null && v !== undefined && this.matcher(v)) out.push(c);
    }
    return out;
  }

  /** Index in `rows` of the first matching row ≥ v. */
  private lowerBound(v: number): number {
    let lo = 0;
    let hi = this.rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.rows[mid] < v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * The match after (forward) or before (backward) the cell (row, col), wrapping around; (row,
   * col) = (-1, -1) starts before the first cell. `read` reads one view row.
   */
  async step(row: number, col: number, forward: boolean, read: (v: number) => Promise<Row | undefined>): Promise<FindHit | undefined> {
    if (this.total === 0 || this.rows.length === 0) return undefined;
    const n = this.rows.length;
    let k = this.lowerBound(row);
    // Same row first: a later (earlier) matching column.
    if (k < n && this.rows[k] === row) {
      const cols = this.matchingCols((await read(row)) ?? []);
      const i = forward ? cols.findIndex((c) => c > col) : findLastIndex(cols, (c) => c < col);
      if (i >= 0) return { row, col: cols[i], ordinal: this.cum[k] + i + 1 };
      k = forward ? k + 1 : k - 1;
    } else if (!forward) {
      k -= 1;
    }
    k = ((k % n) + n) % n;
    const r = this.rows[k];
    const cols = this.matchingCols((await read(r)) ?? []);
    if (cols.length === 0) return undefined; // the row changed under us (cannot happen for a finished result)
    const i = forward ? 0 : cols.length - 1;
    return { row: r, col: cols[i], ordinal: this.cum[k] + i + 1 };
  }
}

function findLastIndex<T>(a: T[], p: (x: T) => boolean): number {
  for (let i = a.length - 1; i >= 0; i--) if (p(a[i])) return i;
  return -1;
}

/** Scans the view for `text`; cells are matched on their whole value. */
export async function findInView(view: ResultView, text: string, opts: OpOptions = {}): Promise<FindResult> {
  const matcher = containsMatcher(text);
  const baseRows = new IndexList();
  const counts: number[] = [];
  const pos = view.index ? view.positions() : undefined;
  await scanRows(
    view.store,
    view.stmt,
    0,
    view.baseCount,
    (rows, first) => {
      for (let r = 0; r < rows.length; r++) {
        const b = first + r;
        if (pos && pos[b] < 0) continue;
        const row = rows[r];
        let m = 0;
        for (let c = 0; c < row.length; c++) {
          const v = row[c];
          if (v !== null && matcher(v)) m++;
        }
        if (m > 0) {
          baseRows.push(pos ? pos[b] : b);
          counts.push(m);
        }
      }
    },
    opts,
  );
  const viewRows = baseRows.toArray();
  let order: Uint32Array | undefined;
  if (pos) {
    order = new Uint32Array(viewRows.length);
    for (let i = 0; i < order.length; i++) order[i] = i;
    order.sort((a, b) => viewRows[a] - viewRows[b]);
  }
  const rows = new Uint32Array(viewRows.length);
  const cum = new Float64Array(viewRows.length);
  let total = 0;
  for (let i = 0; i < rows.length; i++) {
    const j = order ? order[i] : i;
    rows[i] = viewRows[j];
    cum[i] = total;
    total += counts[j];
  }
  return new FindResult(matcher, rows, cum, total);
}
