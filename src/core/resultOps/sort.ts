// Sorting a statement's rows without touching the server: the result is a permutation (the base
// row index of every view row, 4 bytes per row), never a copy of the rows.
//
// Keys are extracted in one pass over the store (typeKeys.ts). Up to `inMemoryRows` rows their
// keys stay in memory: sorted in runs of RUN rows, then merged pairwise, yielding between slices
// so the extension host stays responsive. Beyond that it is an external merge sort: each run of
// `runRows` rows is sorted and written to a temporary file as compact key records, then the run
// files are merged with a heap while being read back in small blocks. Memory is then bounded by
// one run's keys plus the output permutation, whatever the row count.

import type { ResultStore, Row } from '../model.js';
import { CLS_NULL, CLS_UNPARSED, CLS_VALUE, compareNum, compareText, keyerFor, type ColumnKeyer } from './typeKeys.js';
import { externalSort } from './externalSort.js';
import { CanceledError, Slicer, scanRows, type OpOptions } from './scan.js';

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
}

/** Rows sorted per native call: large enough that few merge passes remain (JS merges cost more per
 *  step than the native sort), small enough that one call keeps the host busy only briefly. */
const RUN = 1 << 18;
const DEFAULT_IN_MEMORY_ROWS = 1_000_000;
export const DEFAULT_RUN_ROWS = 250_000;
/** Class-byte flag in run files: the record carries the value's text. */
export const WITH_TEXT = 0x80;
/** Records decoded per block while merging run files. */
export const MERGE_BLOCK = 4096;

export interface KeyCol {
  cls: Uint8Array;
  num: Float64Array;
  /** Raw text where the order may need it (text kinds, unparsed values, inexact numbers). */
  str: (string | undefined)[] | undefined;
}

/** Keys of a set of rows: `idx` is each row's base index. */
export interface KeyBlock {
  n: number;
  idx: Uint32Array;
  cols: KeyCol[];
}

export interface ColSpec {
  col: number;
  keyer: ColumnKeyer;
  dir: number;
  nullsFirst: boolean;
  /** Whether the raw text is part of the key. */
  keepText: boolean;
}

export type KeyComparator = (a: KeyBlock, i: number, b: KeyBlock, j: number) => number;

function colSpecs(keys: SortKey[], typeOids: number[]): ColSpec[] {
  return keys.map((k) => {
    const keyer = keyerFor(typeOids[k.col] ?? 25);
    return { col: k.col, keyer, dir: k.desc ? -1 : 1, nullsFirst: k.nulls === 'first', keepText: keyer.kind === 'text' || keyer.tie !== undefined };
  });
}

/** `new Array(n)` of a large n gets slow dictionary elements in V8; this stays a packed array. */
function packedArray(n: number): (string | undefined)[] {
  const a: (string | undefined)[] = [];
  for (let i = 0; i < n; i++) a.push(undefined);
  return a;
}

export function newBlock(specs: ColSpec[], cap: number): KeyBlock {
  return {
    n: 0,
    idx: new Uint32Array(cap),
    cols: specs.map(() => ({ cls: new Uint8Array(cap), num: new Float64Array(cap), str: packedArray(cap) })),
  };
}

export function addKey(block: KeyBlock, specs: ColSpec[], row: Row, index: number): void {
  const p = block.n++;
  block.idx[p] = index;
  for (let c = 0; c < specs.length; c++) {
    const s = specs[c];
    const kc = block.cols[c];
    const v = row[s.col] ?? null;
    if (v === null) {
      kc.cls[p] = CLS_NULL;
      kc.str![p] = undefined;
      continue;
    }
    if (s.keyer.kind === 'text') {
      kc.cls[p] = CLS_VALUE;
      kc.str![p] = v;
      continue;
    }
    const n = s.keyer.num(v);
    if (n === undefined) {
      kc.cls[p] = CLS_UNPARSED;
      kc.str![p] = v;
    } else {
      kc.cls[p] = CLS_VALUE;
      kc.num[p] = n;
      // The text only where a tie between equal doubles might need it.
      kc.str![p] = s.keepText && !(s.keyer.exact?.(v, n) ?? false) ? v : undefined;
    }
  }
}

/** Row order for the given keys; ties keep the rows' original order (a stable sort). */
export function makeComparator(specs: ColSpec[]): KeyComparator {
  const ncol = specs.length;
  return (a, i, b, j) => {
    for (let c = 0; c < ncol; c++) {
      const s = specs[c];
      const ka = a.cols[c];
      const kb = b.cols[c];
      const ca = ka.cls[i];
      const cb = kb.cls[j];
      if (ca !== cb) return classOrder(ca, cb, s.dir, s.nullsFirst);
      if (ca === CLS_NULL) continue;
      let r: number;
      if (ca === CLS_UNPARSED || s.keyer.kind === 'text') {
        r = compareText(ka.str![i]!, kb.str![j]!);
      } else {
        r = compareNum(ka.num[i], kb.num[j]);
        if (r === 0 && s.keyer.tie) r = tieOf(s.keyer, ka, i, kb, j);
      }
      if (r !== 0) return r * s.dir;
    }
    return a.idx[i] - b.idx[j];
  };
}

/** Exact order of equal doubles; only values that were not exact carry their text. */
function tieOf(keyer: ColumnKeyer, ka: KeyCol, i: number, kb: KeyCol, j: number): number {
  const x = ka.str![i];
  const y = kb.str![j];
  if (x === undefined && y === undefined) return 0;
  return keyer.tie!(x ?? keyer.canon!(ka.num[i]), y ?? keyer.canon!(kb.num[j]));
}

/**
 * The comparator for sorting inside one block: key arrays captured directly and the block's
 * positions standing for base order (keys are added in base order). The one-column cases,
 * which are most sorts, avoid the generic loop.
 */
export function makeLocalComparator(block: KeyBlock, specs: ColSpec[], generic: KeyComparator): (x: number, y: number) => number {
  if (specs.length !== 1) return (x, y) => generic(block, x, block, y);
  const { dir, nullsFirst, keyer } = specs[0];
  const cls = block.cols[0].cls;
  const str = block.cols[0].str!;
  const num = block.cols[0].num;
  const kc = block.cols[0];
  if (keyer.kind === 'text') {
    return (x, y) => {
      const cx = cls[x];
      const cy = cls[y];
      if (cx === cy) {
        if (cx === CLS_VALUE) {
          const a = str[x]!;
          const b = str[y]!;
          if (a < b) return -dir;
          if (a > b) return dir;
        }
        return x - y;
      }
      return classOrder(cx, cy, dir, nullsFirst);
    };
  }
  const tie = keyer.tie !== undefined;
  return (x, y) => {
    const cx = cls[x];
    const cy = cls[y];
    if (cx === CLS_VALUE && cy === CLS_VALUE) {
      const a = num[x];
      const b = num[y];
      if (a < b) return -dir;
      if (a > b) return dir;
      let r = a === b ? 0 : compareNum(a, b);
      if (r === 0 && tie) r = tieOf(keyer, kc, x, kc, y);
      return r !== 0 ? r * dir : x - y;
    }
    if (cx !== cy) return classOrder(cx, cy, dir, nullsFirst);
    if (cx === CLS_UNPARSED) {
      const r = compareText(str[x]!, str[y]!);
      if (r !== 0) return r * dir;
    }
    return x - y;
  };
}

/** Order between different key classes: NULLs at their chosen end, unparsed text after values. */
function classOrder(ca: number, cb: number, dir: number, nullsFirst: boolean): number {
  if (ca === CLS_NULL) return nullsFirst ? -1 : 1;
  if (cb === CLS_NULL) return nullsFirst ? 1 : -1;
  return (ca - cb) * dir;
}

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
  if (n <= inMemory) {
    const block = newBlock(specs, n);
    await collectKeys(store, stmt, specs, rowCount, subset, (row, index) => addKey(block, specs, row, index), opts, progress);
    const order = await sortBlock(block, specs, cmp, opts.signal, (d) => progress(n + d));
    for (let i = 0; i < n; i++) order[i] = block.idx[order[i]];
    return order;
  }
  return externalSort(store, stmt, specs, cmp, rowCount, subset, opts, progress);
}

/** Feeds every wanted row's keys, in base order. */
export async function collectKeys(
  store: ResultStore,
  stmt: number,
  specs: ColSpec[],
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
  void specs;
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
        await add(rows[r], index);
        done++;
      }
      progress(done);
    },
    { signal: opts.signal },
  );
}

/** Sorts a block's positions; returns them in order. Runs, then pairwise merges, in slices. */
export async function sortBlock(
  block: KeyBlock,
  specs: ColSpec[],
  cmp: KeyComparator,
  signal: AbortSignal | undefined,
  progress?: (done: number) => void,
): Promise<Uint32Array> {
  const n = block.n;
  const slicer = new Slicer(signal);
  let a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  const byPos = makeLocalComparator(block, specs, cmp);
  for (let s = 0; s < n; s += RUN) {
    a.subarray(s, Math.min(n, s + RUN)).sort(byPos);
    await slicer.maybeYield();
  }
  if (n <= RUN) return a;
  let b = new Uint32Array(n);
  let done = 0;
  const passes = Math.ceil(Math.log2(n / RUN));
  for (let width = RUN; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(n, lo + width);
      const hi = Math.min(n, lo + 2 * width);
      mergePair(a, b, lo, mid, hi, byPos);
      await slicer.maybeYield();
      done += hi - lo;
      progress?.(done / passes);
    }
    [a, b] = [b, a];
  }
  return a;
}

/** Merges the sorted ranges a[lo, mid) and a[mid, hi) into b[lo, hi); synchronous, so it stays one tight loop. */
function mergePair(a: Uint32Array, b: Uint32Array, lo: number, mid: number, hi: number, cmp: (x: number, y: number) => number): void {
  let i = lo;
  let j = mid;
  let o = lo;
  while (i < mid && j < hi) b[o++] = cmp(a[i], a[j]) <= 0 ? a[i++] : a[j++];
  while (i < mid) b[o++] = a[i++];
  while (j < hi) b[o++] = a[j++];
}

export { CanceledError };
