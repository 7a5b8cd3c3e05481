// Sort keys of a block of rows and the in-thread sort of one block: what both the extension
// host (key extraction, run files, merging; sort.ts, externalSort.ts) and the sort worker
// (sortWorker.ts) need. A key column is typed arrays (class, number) plus the raw text where the
// order may need it, so a block crosses to the worker as transferred buffers and one copy of its
// strings.

import type { Row } from '../model.js';
import { CLS_NULL, CLS_UNPARSED, CLS_VALUE, compareNum, compareText, keyerFor, type ColumnKeyer } from './typeKeys.js';
import { Slicer } from './scan.js';

/**
 * Rows sorted per native call. Merging in JS costs several times what the native sort spends per
 * step (measured), so a block held in memory (up to 1,000,000 rows by default) is one native
 * call; it runs in the sort worker (offThread.ts), so the extension host stays free meanwhile.
 */
const RUN = 1 << 20;

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
  /** The column's type (how the worker finds the same keyer). */
  oid: number;
  keyer: ColumnKeyer;
  dir: number;
  nullsFirst: boolean;
  /** Whether the raw text is part of the key. */
  keepText: boolean;
}

export type KeyComparator = (a: KeyBlock, i: number, b: KeyBlock, j: number) => number;

/** The key columns of a sort: direction, NULL placement and the keyer of each column's type. */
export function colSpecs(keys: { col: number; desc?: boolean; nulls?: 'first' | 'last' }[], typeOids: number[]): ColSpec[] {
  return keys.map((k) => {
    const oid = typeOids[k.col] ?? 25;
    const keyer = keyerFor(oid);
    return { col: k.col, oid, keyer, dir: k.desc ? -1 : 1, nullsFirst: k.nulls === 'first', keepText: keyer.kind === 'text' || keyer.tie !== undefined };
  });
}

/** `new Array(n)` of a large n gets slow dictionary elements in V8; this stays a packed array. */
export function packedArray(n: number): (string | undefined)[] {
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
      kc.num[p] = textPrefix(v);
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

/**
 * The first three UTF-16 code units of a text as one number that orders like the text does
 * (each unit + 1 in 17 bits, 0 for "no unit", so a shorter text comes first): most comparisons of
 * a text sort are then settled by comparing two doubles, and only equal prefixes compare strings.
 */
export function textPrefix(v: string): number {
  const n = v.length;
  const a = n > 0 ? v.charCodeAt(0) + 1 : 0;
  const b = n > 1 ? v.charCodeAt(1) + 1 : 0;
  const c = n > 2 ? v.charCodeAt(2) + 1 : 0;
  return a * 17179869184 + b * 131072 + c; // 2^34, 2^17
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
    // num holds textPrefix() of each value (set by addKey).
    return (x, y) => {
      const cx = cls[x];
      const cy = cls[y];
      if (cx === cy) {
        if (cx === CLS_VALUE) {
          const pa = num[x];
          const pb = num[y];
          if (pa < pb) return -dir;
          if (pa > pb) return dir;
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
