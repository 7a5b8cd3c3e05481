// What a statement's grid shows: its rows filtered and sorted. A view is either the identity
// (every row, in arrival order) or an index, the base row of every view row. Reading view rows
// maps them through the index to the store; nothing is copied.

import type { ResultStore, Row } from '../model.js';
import { readIndices, scanRows, Slicer, throwIfCanceled, type OpOptions } from './scan.js';

/** View rows gathered per spool pass when an index is read in order (export, copy, chart). */
const GATHER_BATCH = 200_000;

export class ResultView {
  constructor(
    readonly store: ResultStore,
    readonly stmt: number,
    /** Rows of the statement the view was computed over. */
    readonly baseCount: number,
    /** Base index of each view row; undefined = all rows in order. */
    readonly index: Uint32Array | undefined,
  ) {}

  get length(): number {
    return this.index ? this.index.length : this.baseCount;
  }

  baseIndex(v: number): number {
    return this.index ? this.index[v] : v;
  }

  /** View rows [start, start+count), clipped. */
  async rows(start: number, count: number): Promise<Row[]> {
    const from = Math.max(0, start);
    const to = Math.min(this.length, from + Math.max(0, count));
    if (to <= from) return [];
    if (!this.index) return this.store.getRows(this.stmt, from, to - from);
    return readIndices(this.store, this.stmt, this.index.subarray(from, to));
  }

  /**
   * Every view row in [start, end) in view order, in chunks. An index is gathered in batches: each
   * batch's base rows are read in base order (one sequential pass over the rows it touches) and
   * then put in view order, so a sorted spooled result is not read row by row at random.
   */
  async forEachChunk(start: number, end: number, fn: (rows: Row[], first: number) => void | Promise<void>, opts: OpOptions = {}): Promise<void> {
    const to = Math.min(end, this.length);
    if (!this.index) {
      await scanRows(this.store, this.stmt, start, to, fn, opts);
      return;
    }
    const slicer = new Slicer(opts.signal);
    for (let b = start; b < to; b += GATHER_BATCH) {
      const e = Math.min(to, b + GATHER_BATCH);
      const ids = this.index.subarray(b, e);
      const order = new Uint32Array(ids.length);
      for (let i = 0; i < order.length; i++) order[i] = i;
      order.sort((x, y) => ids[x] - ids[y]);
      const rows = new Array<Row>(ids.length);
      let k = 0;
      const lo = ids[order[0]];
      const hi = ids[order[order.length - 1]] + 1;
      // Read only the spans that contain wanted rows; a dense batch is one sequential scan.
      while (k < order.length) {
        const spanStart = ids[order[k]];
        let spanEnd = spanStart + 1;
        let m = k + 1;
        while (m < order.length && ids[order[m]] - spanEnd < 4096) spanEnd = ids[order[m++]] + 1;
        await scanRows(this.store, this.stmt, spanStart, Math.min(hi, spanEnd), (chunk, first) => {
          while (k < m && ids[order[k]] < first + chunk.length) {
            rows[order[k]] = chunk[ids[order[k]] - first];
            k++;
          }
        }, { signal: opts.signal });
        void lo;
      }
      for (let c = 0; c < rows.length; c += 4096) {
        throwIfCanceled(opts.signal);
        await fn(rows.slice(c, c + 4096), b + c);
        await slicer.maybeYield();
      }
      opts.onProgress?.(e - start, to - start);
    }
  }

  /** View position of every base row (-1: filtered out); 4 bytes per base row. */
  positions(): Int32Array {
    const pos = new Int32Array(this.baseCount).fill(-1);
    if (!this.index) {
      for (let i = 0; i < pos.length; i++) pos[i] = i;
    } else {
      for (let v = 0; v < this.index.length; v++) pos[this.index[v]] = v;
    }
    return pos;
  }
}
