// Reading a statement's rows for the result operations: in chunks, from memory or the spool,
// yielding to the event loop between slices of work so the extension host keeps answering the
// grid's row requests while a sort or a scan runs, and stopping at once when canceled.

import type { ResultStore, Row } from '../model.js';

/** Rows per read; big enough to amortise a spool read, small enough for a short slice. */
export const SCAN_CHUNK = 4096;
/** Longest stretch of synchronous work before yielding (ms). */
const SLICE_MS = 12;

export class CanceledError extends Error {
  constructor() {
    super('Canceled.');
    this.name = 'CanceledError';
  }
}

export interface OpOptions {
  signal?: AbortSignal;
  /** rows done, rows to do */
  onProgress?: (done: number, total: number) => void;
}

export function throwIfCanceled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CanceledError();
}

/** Cooperative scheduling: call often; yields once SLICE_MS of work has passed. */
export class Slicer {
  private started = performance.now();
  constructor(private readonly signal: AbortSignal | undefined) {}

  async maybeYield(): Promise<void> {
    if (performance.now() - this.started < SLICE_MS) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.started = performance.now();
    throwIfCanceled(this.signal);
  }
}

/**
 * Calls `onChunk` with consecutive chunks of rows [from, to) of `stmt` and the index of each
 * chunk's first row. Reads ahead one chunk so decoding overlaps the next disk read.
 */
export async function scanRows(
  store: ResultStore,
  stmt: number,
  from: number,
  to: number,
  onChunk: (rows: Row[], first: number) => void | Promise<void>,
  opts: OpOptions = {},
): Promise<void> {
  const slicer = new Slicer(opts.signal);
  throwIfCanceled(opts.signal);
  let at = from;
  let next = at < to ? store.getRows(stmt, at, Math.min(SCAN_CHUNK, to - at)) : undefined;
  while (next) {
    const rows = await next;
    throwIfCanceled(opts.signal);
    if (rows.length === 0) break;
    const first = at;
    at += rows.length;
    next = at < to ? store.getRows(stmt, at, Math.min(SCAN_CHUNK, to - at)) : undefined;
    await onChunk(rows, first);
    opts.onProgress?.(at - from, to - from);
    await slicer.maybeYield();
  }
}

/**
 * Rows at the given base indices, in the order given. Indices close together are read as one
 * range, so an ascending (filtered) list costs about one read per page it touches.
 */
export async function readIndices(store: ResultStore, stmt: number, indices: ArrayLike<number>): Promise<Row[]> {
  const n = indices.length;
  const out = new Array<Row>(n);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => indices[a] - indices[b]);
  const GAP = 64;
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && indices[order[j + 1]] - indices[order[j]] <= GAP && indices[order[j + 1]] - indices[order[i]] < SCAN_CHUNK) j++;
    const lo = indices[order[i]];
    const hi = indices[order[j]];
    const rows = await store.getRows(stmt, lo, hi - lo + 1);
    for (let k = i; k <= j; k++) out[order[k]] = rows[indices[order[k]] - lo] ?? [];
    i = j + 1;
  }
  return out;
}
