// Filtering a statement's rows: a quick filter (case-insensitive "contains" over all columns or
// one) and per-column conditions compared by the column's type. The result is the ascending list
// of matching base row indices; `onMatches` reports it growing, so the grid can show the first
// matches of a spooled result while the scan goes on.

import type { ResultStore, Row } from '../model.js';
import { compareValues, keyerFor } from './typeKeys.js';
import { scanRows, type OpOptions } from './scan.js';

export type ConditionOp = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'between' | 'contains' | 'isnull' | 'notnull';

export const CONDITION_OPS: readonly ConditionOp[] = ['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'between', 'contains', 'isnull', 'notnull'];

export interface ColumnCondition {
  col: number;
  op: ConditionOp;
  value?: string;
  /** Upper bound of `between` (inclusive). */
  value2?: string;
}

export interface FilterSpec {
  /** Case-insensitive text every matching row contains (in `quickCol`, or in any column). */
  quick?: string;
  quickCol?: number;
  conditions?: ColumnCondition[];
}

export function isFilterActive(spec: FilterSpec | undefined): boolean {
  return !!spec && ((spec.quick ?? '') !== '' || (spec.conditions?.length ?? 0) > 0);
}

/** A case-insensitive substring test; plain `includes` when case cannot matter. */
export function containsMatcher(text: string): (v: string) => boolean {
  const lower = text.toLowerCase();
  if (lower === text.toUpperCase()) return (v) => v.includes(text);
  const re = new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
  return (v) => re.test(v);
}

/** The row test of a filter; throws a readable error for a condition that cannot apply. */
export function compileFilter(spec: FilterSpec, typeOids: number[]): (row: Row) => boolean {
  const tests: ((row: Row) => boolean)[] = [];
  const quick = spec.quick ?? '';
  if (quick !== '') {
    const has = containsMatcher(quick);
    const qc = spec.quickCol;
    if (qc !== undefined && qc >= 0) {
      tests.push((row) => {
        const v = row[qc];
        return v !== null && v !== undefined && has(v);
      });
    } else {
      tests.push((row) => {
        for (let c = 0; c < row.length; c++) {
          const v = row[c];
          if (v !== null && has(v)) return true;
        }
        return false;
      });
    }
  }
  for (const cond of spec.conditions ?? []) tests.push(compileCondition(cond, typeOids[cond.col] ?? 25));
  if (tests.length === 0) return () => true;
  if (tests.length === 1) return tests[0];
  return (row) => tests.every((t) => t(row));
}

function compileCondition(cond: ColumnCondition, typeOid: number): (row: Row) => boolean {
  const c = cond.col;
  const keyer = keyerFor(typeOid);
  const operand = (v: string | undefined, what: string): string => {
    if (v === undefined || v === '') throw new Error(`The condition needs ${what}.`);
    if (keyer.kind !== 'text' && keyer.num(v) === undefined) throw new Error(`"${v}" is not a value of this column's type.`);
    return v;
  };
  switch (cond.op) {
    case 'isnull':
      return (row) => row[c] === null || row[c] === undefined;
    case 'notnull':
      return (row) => row[c] !== null && row[c] !== undefined;
    case 'contains': {
      const has = containsMatcher(cond.value ?? '');
      return (row) => {
        const v = row[c];
        return v !== null && v !== undefined && has(v);
      };
    }
    case 'between': {
      const lo = operand(cond.value, 'a lower bound');
      const hi = operand(cond.value2, 'an upper bound');
      return (row) => {
        const v = row[c];
        return v !== null && v !== undefined && compareValues(keyer, v, lo) >= 0 && compareValues(keyer, v, hi) <= 0;
      };
    }
    default: {
      const x = operand(cond.value, 'a value');
      const ok = { eq: (r: number) => r === 0, ne: (r: number) => r !== 0, lt: (r: number) => r < 0, le: (r: number) => r <= 0, gt: (r: number) => r > 0, ge: (r: number) => r >= 0 }[cond.op];
      return (row) => {
        const v = row[c];
        return v !== null && v !== undefined && ok(compareValues(keyer, v, x));
      };
    }
  }
}

/** A Uint32Array that grows by doubling. */
export class IndexList {
  private buf: Uint32Array;
  length = 0;

  constructor(capacity = 1024) {
    this.buf = new Uint32Array(Math.max(16, capacity));
  }

  push(v: number): void {
    if (this.length === this.buf.length) {
      const next = new Uint32Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = v;
  }

  /** The current contents (a view; valid until the next push). */
  view(): Uint32Array {
    return this.buf.subarray(0, this.length);
  }

  /** A right-sized copy. */
  toArray(): Uint32Array {
    return this.buf.slice(0, this.length);
  }
}

export interface FilterOptions extends OpOptions {
  /** Called after each chunk with the matches so far (ascending base indices). */
  onMatches?: (matches: Uint32Array, scanned: number) => void;
}

/** Base indices of rows [0, rowCount) of `stmt` that pass `test`. */
export async function filterRows(store: ResultStore, stmt: number, rowCount: number, test: (row: Row) => boolean, opts: FilterOptions = {}): Promise<Uint32Array> {
  const out = new IndexList();
  await scanRows(
    store,
    stmt,
    0,
    rowCount,
    (rows, first) => {
      for (let r = 0; r < rows.length; r++) if (test(rows[r])) out.push(first + r);
      opts.onMatches?.(out.view(), first + rows.length);
    },
    opts,
  );
  return out.toArray();
}
