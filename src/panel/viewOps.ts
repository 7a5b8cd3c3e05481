// The host side of sort, filter, find, statistics and chart for one panel: per statement, the
// current view (a ResultView over the job's store) and the operations running on it. Everything
// runs in the extension host in slices (src/core/resultOps), so the webview's main thread only
// renders, and every operation can be canceled; a newer request of the same kind cancels the
// older one. No `vscode` here.

import type { ColumnInfo, ResultStore, Row } from '../core/model';
import { chartData } from '../core/resultOps/chart';
import { compileFilter, filterRows, isFilterActive } from '../core/resultOps/filter';
import { findInView, type FindResult } from '../core/resultOps/find';
import { CanceledError } from '../core/resultOps/scan';
import { sortRows } from '../core/resultOps/sort';
import { columnStats } from '../core/resultOps/stats';
import { ResultView } from '../core/resultOps/view';
import type { ChartKindName, HostMessage, OpName, ViewSpec } from '../protocol';

/** Spacing of progress messages while an operation runs. */
const PROGRESS_MS = 150;

interface StmtState {
  spec: ViewSpec;
  version: number;
  view: ResultView | undefined;
  /** Running operations by kind. */
  running: Map<OpName, AbortController>;
  find?: { text: string; version: number; result: FindResult };
}


const GONE = 'The result is no longer available.';

export interface ViewOpsOptions {
  /** Directory for external sort runs. */
  tempDir?: string;
}

export function isIdentity(spec: ViewSpec): boolean {
  return (spec.sort?.length ?? 0) === 0 && !isFilterActive(spec);
}

export class ViewOps {
  private readonly stmts = new Map<number, StmtState>();
  private nextVersion = 1;
  private disposed = false;

  constructor(
    private readonly store: () => ResultStore | undefined,
    private readonly post: (msg: HostMessage) => void,
    private readonly opts: ViewOpsOptions = {},
  ) {}

  dispose(): void {
    this.disposed = true;
    for (const s of this.stmts.values()) for (const a of s.running.values()) a.abort();
    this.stmts.clear();
  }

  /** The view a getRows names, or undefined when it is not the current one (stale). */
  viewFor(stmt: number, version: number): ResultView | undefined | 'stale' {
    const s = this.stmts.get(stmt);
    if (version === 0) return s && !isIdentity(s.spec) ? 'stale' : undefined;
    if (!s || s.version !== version) return 'stale';
    return s.view;
  }

  spec(stmt: number): ViewSpec {
    return this.stmts.get(stmt)?.spec ?? {};
  }

  /** The view as shown (undefined: all rows in order). */
  current(stmt: number): ResultView | undefined {
    return this.stmts.get(stmt)?.view;
  }

  /** Statements whose view was computed over fewer rows than the store now has. */
  staleStatements(rowCounts: Map<number, number>): number[] {
    const out: number[] = [];
    for (const [stmt, s] of this.stmts) {
      if (s.view && !s.running.has('view') && s.view.baseCount < (rowCounts.get(stmt) ?? 0)) out.push(stmt);
    }
    return out;
  }

  cancel(stmt: number, op: OpName): void {
    this.stmts.get(stmt)?.running.get(op)?.abort();
  }

  private state(stmt: number): StmtState {
    let s = this.stmts.get(stmt);
    if (!s) {
      s = { spec: {}, version: 0, view: undefined, running: new Map() };
      this.stmts.set(stmt, s);
    }
    return s;
  }

  /** Starts `op` on `stmt`, canceling the previous one of its kind. */
  private begin(s: StmtState, op: OpName): AbortController {
    s.running.get(op)?.abort();
    const ac = new AbortController();
    s.running.set(op, ac);
    return ac;
  }

  private end(s: StmtState, op: OpName, ac: AbortController): void {
    if (s.running.get(op) === ac) s.running.delete(op);
  }

  private progress(stmt: number, op: OpName): (done: number, total: number) => void {
    let last = 0;
    return (done, total) => {
      const now = Date.now();
      if (now - last < PROGRESS_MS) return;
      last = now;
      this.post({ type: 'opProgress', stmt, op, done, total });
    };
  }

  private fail(stmt: number, op: OpName, err: unknown): void {
    if (this.disposed) return;
    if (err instanceof CanceledError) this.post({ type: 'opError', stmt, op, message: 'Canceled.' });
    else this.post({ type: 'opError', stmt, op, message: err instanceof Error ? err.message : String(err) });
  }

  /**
   * Computes the view `spec` of `stmt`: filter (matches are published as they are found), then
   * sort. `force` recomputes an unchanged spec (more rows arrived).
   */
  async setView(stmt: number, spec: ViewSpec, columns: ColumnInfo[], rowCount: number, force = false): Promise<void> {
    const store = this.store();
    const s = this.state(stmt);
    if (!force && JSON.stringify(spec) === JSON.stringify(s.spec) && (s.version > 0 || isIdentity(spec))) {
      this.publish(stmt, s, rowCount);
      return;
    }
    // Columns past the statement's are refused before anything changes.
    for (const k of spec.sort ?? []) if (k.col >= columns.length) throw new Error('No such column to sort by.');
    if ((spec.quickCol ?? -1) >= columns.length || spec.conditions?.some((c) => c.col >= columns.length)) {
      throw new Error('No such column to filter by.');
    }
    const ac = this.begin(s, 'view');
    s.spec = spec;
    s.find = undefined;
    const version = this.nextVersion++;
    const oids = columns.map((c) => c.typeOid);
    if (!store || isIdentity(spec)) {
      s.version = version;
      s.view = undefined;
      this.end(s, 'view', ac);
      this.publish(stmt, s, rowCount);
      return;
    }
    const progress = this.progress(stmt, 'view');
    try {
      let subset: Uint32Array | undefined;
      if (isFilterActive(spec)) {
        const test = compileFilter(
          { quick: spec.quick, quickCol: spec.quickCol, conditions: spec.conditions },
          oids,
        );
        const sorting = (spec.sort?.length ?? 0) > 0;
        // Without a sort the matches are the view, in order: publish them as they are found.
        if (!sorting) {
          s.version = version;
          s.view = new ResultView(store, stmt, rowCount, new Uint32Array(0));
        }
        let lastPush = 0;
        subset = await filterRows(store, stmt, rowCount, test, {
          signal: ac.signal,
          onMatches: (m, scanned) => {
            if (sorting || Date.now() - lastPush < PROGRESS_MS) return;
            lastPush = Date.now();
            s.view = new ResultView(store, stmt, rowCount, m);
            this.post({ type: 'view', stmt, version, spec, rows: m.length, baseRows: rowCount, busy: { done: scanned, total: rowCount } });
          },
          onProgress: sorting ? (d, t) => progress(d, t * 3) : undefined,
        });
      }
      let index = subset;
      if ((spec.sort?.length ?? 0) > 0) {
        index = await sortRows(
          store,
          stmt,
          oids,
          (spec.sort ?? []).map((k) => ({ col: k.col, desc: k.desc })),
          rowCount,
          subset,
          {
            signal: ac.signal,
            tempDir: this.opts.tempDir,
            onProgress: (d, t) => (subset ? progress(rowCount + (d / t) * 2 * rowCount, rowCount * 3) : progress(d, t)),
          },
        );
      }
      if (ac.signal.aborted || this.disposed) return;
      s.version = version;
      s.view = new ResultView(store, stmt, rowCount, index);
      s.find = undefined; // a find made while the filter was still scanning saw only part of it
      this.publish(stmt, s, rowCount);
    } catch (err) {
      if (s.running.get('view') !== ac) return; // superseded: the newer request reports
      if (!(err instanceof CanceledError)) {
        // A condition that cannot apply: say so, and show all rows rather than a stale view.
        s.spec = {};
        s.view = undefined;
        s.version = this.nextVersion++;
        this.post({ type: 'view', stmt, version: s.version, spec: {}, rows: rowCount, baseRows: rowCount, error: err instanceof Error ? err.message : String(err) });
      } else {
        this.fail(stmt, 'view', err);
        // Canceled: back to all rows, so what the grid shows matches what it says.
        s.spec = {};
        s.view = undefined;
        s.version = this.nextVersion++;
        this.publish(stmt, s, rowCount);
      }
    } finally {
      this.end(s, 'view', ac);
    }
  }

  private publish(stmt: number, s: StmtState, rowCount: number): void {
    if (this.disposed) return;
    const rows = s.view ? s.view.length : rowCount;
    this.post({ type: 'view', stmt, version: s.version, spec: s.spec, rows, baseRows: s.view ? s.view.baseCount : rowCount });
  }

  /** The whole view for reading: the current one, or all rows. */
  private viewOrAll(stmt: number, rowCount: number): ResultView | undefined {
    const store = this.store();
    if (!store) return undefined;
    return this.stmts.get(stmt)?.view ?? new ResultView(store, stmt, rowCount, undefined);
  }

  async find(stmt: number, text: string, row: number, col: number, forward: boolean, rowCount: number): Promise<void> {
    const s = this.state(stmt);
    const view = this.viewOrAll(stmt, rowCount);
    if (!view) return this.fail(stmt, 'find', new Error(GONE));
    if (text === '') {
      s.find = undefined;
      this.post({ type: 'found', stmt, version: s.version, text, total: 0 });
      return;
    }
    if (!s.find || s.find.text !== text || s.find.version !== s.version) {
      const ac = this.begin(s, 'find');
      const version = s.version;
      try {
        const result = await findInView(view, text, { signal: ac.signal, onProgress: this.progress(stmt, 'find') });
        if (ac.signal.aborted || s.version !== version) return;
        s.find = { text, version, result };
      } catch (err) {
        if (s.running.get('find') === ac) this.fail(stmt, 'find', err);
        return;
      } finally {
        this.end(s, 'find', ac);
      }
    }
    const f = s.find;
    const read = async (v: number): Promise<Row | undefined> => (await view.rows(v, 1))[0];
    const hit = await f.result.step(row, col, forward, read);
    const msg: HostMessage = { type: 'found', stmt, version: f.version, text, total: f.result.total };
    if (hit) msg.hit = hit;
    this.post(msg);
  }

  async stats(stmt: number, col: number, columns: ColumnInfo[], rowCount: number): Promise<void> {
    const s = this.state(stmt);
    const view = this.viewOrAll(stmt, rowCount);
    if (!view) return this.fail(stmt, 'stats', new Error(GONE));
    if (!columns[col]) return this.fail(stmt, 'stats', new Error('No such column.'));
    const ac = this.begin(s, 'stats');
    try {
      const stats = await columnStats(view, col, columns[col].typeOid, { signal: ac.signal, onProgress: this.progress(stmt, 'stats') });
      if (!ac.signal.aborted && !this.disposed) this.post({ type: 'stats', stmt, stats });
    } catch (err) {
      if (s.running.get('stats') === ac) this.fail(stmt, 'stats', err);
    } finally {
      this.end(s, 'stats', ac);
    }
  }

  async chart(stmt: number, kind: ChartKindName, x: number, y: number[], columns: ColumnInfo[], rowCount: number): Promise<void> {
    const s = this.state(stmt);
    const view = this.viewOrAll(stmt, rowCount);
    if (!view) return this.fail(stmt, 'chart', new Error(GONE));
    const ac = this.begin(s, 'chart');
    try {
      const chart = await chartData(view, columns, { kind, x, y }, { signal: ac.signal, onProgress: this.progress(stmt, 'chart') });
      if (!ac.signal.aborted && !this.disposed) this.post({ type: 'chart', stmt, chart });
    } catch (err) {
      if (s.running.get('chart') === ac) this.fail(stmt, 'chart', err);
    } finally {
      this.end(s, 'chart', ac);
    }
  }
}
