// Sorting a statement's rows without touching the server: the result is a permutation (the base
// row index of every view row, 4 bytes per row), never a copy of the rows.
//
// Keys are extracted in one pass over the store (typeKeys.ts, keyBlock.ts), in slices on the
// extension host. Up to `inMemoryRows` rows their keys stay in memory and are sorted as one block;
// beyond that it is an external merge sort (externalSort.ts): each run of `runRows` rows is
// sorted and written to a temporary file as compact key records, then the run files are merged
// with a heap while being read back in small blocks. Memory is then bounded by one run's keys
// plus the output permutation, whatever the row count. Every block of at least
// `offThreadMinRows` rows is sorted in a worker thread (offThread.ts), so a one-second native
// sort never holds the host's event loop.

import type { ResultStore, Row } from '../model.js';
import { externalSort } from './externalSort.js';
import { colSpecs, makeComparator, newBlock, addKey, sortBlock, type KeyBlock } from './keyBlock.js';
import { SortWorker } from './offThread.js';
import { CanceledError, scanRows, type OpOptions } from './scan.js';

export interface SortKey {
  col: number;
  desc?: boolean;
  /** Where NULLs go whatever the direction; default last. */
  nulls?: 'first' | 'last';
}

export interface SortOptions extends OpOptions {
  /** Most rows sorted with all keys in memory; above it the sort spills runs to disk. */
  inMemoryRows?: number;
  /** Rows per on-disk run. */
  runRows?: number;
  /** Directory for run files (the extension's storage); the OS temp dir by default. */
  tempDir?: string;
  /** Sorts of fewer rows stay on the calling thread (a worker's start costs more than they do). */
  offThreadMinRows?: number;
  /** The worker's script (tests: one that cannot start, to check the in-thread fallback). */
  workerScript?: string;
}

const DEFAULT_IN_MEMORY_ROWS = 1_000_000;
/** About 15 ms of native sorting of text keys: shorter sorts are not worth a thread. */
const OFF_THREAD_MIN_ROWS = 20_000;
export const DEFAULT_RUN_ROWS = 250_000;
/** Class-byte flag in run files: the record carries the value's text. */
export const WITH_TEXT = 0x80;
/** Records decoded per block while merging run files. */
export const MERGE_BLOCK = 4096;

/** Sorts one block's positions (in a worker or in-thread); the block keeps its keys. */
export type BlockSorter = (block: KeyBlock, progress?: (done: number) => void) => Promise<Uint32Array>;

/**
 * Sorts rows [0, rowCount) of `stmt`, or only the base indices in `subset` (ascending, e.g. a
 * filter's matches). Returns base row indices in sorted order.
 */
export async function sortRows(
  store: ResultStore,
  stmt: number,
  typeOids: number[],
  keys: SortKey[],
  rowCount: number,
  subset: Uint32Array | undefined,
  opts: SortOptions = {},
): Promise<Uint32Array> {
  const specs = colSpecs(keys, typeOids);
  const cmp = makeComparator(specs);
  const n = subset ? subset.length : rowCount;
  const inMemory = opts.inMemoryRows ?? DEFAULT_IN_MEMORY_ROWS;
  const total = n * 2;
  const progress = (done: number): void => opts.onProgress?.(Math.min(done, total), total);
  if (n === 0) return new Uint32Array(0);
  const minRows = opts.offThreadMinRows ?? OFF_THREAD_MIN_ROWS;
  // Started before the keys are collected, so it is up by the time they are.
  const worker = n >= minRows ? new SortWorker(opts.workerScript) : undefined;
  const sorter: BlockSorter = (block, p) =>
    worker && block.n >= minRows ? worker.sort(block, specs, opts.signal, p) : sortBlock(block, specs, cmp, opts.signal, p);
  try {
    if (n <= inMemory) {
      const block = newBlock(specs, n);
      await collectKeys(store, stmt, rowCount, subset, (row, index) => addKey(block, specs, row, index), opts, progress);
      const order = await sorter(block, (d) => progress(n + d));
      const idx = block.idx;
      for (let i = 0; i < n; i++) order[i] = idx[order[i]];
      return order;
    }
    return await externalSort(store, stmt, specs, cmp, sorter, rowCount, subset, opts, progress);
  } finally {
    worker?.dispose();
  }
}

/** Feeds every wanted row's keys, in base order. */
export async function collectKeys(
  store: ResultStore,
  stmt: number,
  rowCount: number,
  subset: Uint32Array | undefined,
  add: (row: Row, index: number) => void | Promise<void>,
  opts: OpOptions,
  progress: (done: number) => void,
): Promise<void> {
  let k = 0;
  let done = 0;
  const hi = subset ? (subset.length ? subset[subset.length - 1] + 1 : 0) : rowCount;
  const lo = subset ? (subset.length ? subset[0] : 0) : 0;
  await scanRows(
    store,
    stmt,
    lo,
    Math.min(hi, rowCount),
    async (rows, first) => {
      for (let r = 0; r < rows.length; r++) {
        const index = first + r;
        if (subset) {
          if (k >= subset.length || subset[k] !== index) continue;
          k++;
        }
        // Only an add that has to write (a full run) returns a promise; the rest stay synchronous.
        const pending = add(rows[r], index);
        if (pending) await pending;
        done++;
      }
      progress(done);
    },
    { signal: opts.signal },
  );
}


export { CanceledError };
