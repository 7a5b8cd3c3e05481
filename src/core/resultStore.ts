// The ResultStore the panel pages through. Every row goes to an append-only spool file (so a
// 10-million-row job costs disk, not memory); memory keeps the first rows of the job (the page
// the user sees first) up to the row budget, plus a small cache of recently read pages.
// A sparse index (one file offset per PAGE rows of each statement) makes any row range one
// positional read away.

import { ChangeSignal } from './events.js';
import type { ColumnInfo, Event, ResultStore, Row, ServerMessage, StatementInfo } from './model.js';
import { RowEncoder, decodeRows, parseRowJson } from './rowCodec.js';
import { SpoolFile } from './spoolFile.js';

/** Rows per index entry and per cached page. */
const PAGE = 256;
/**
 * Changes are signalled at once after a quiet spell, then at most every this many ms: this is
 * the one rate limit between a fetched row and the grid (the job's events and the panel follow
 * this signal without timers of their own).
 */
const CHANGE_INTERVAL_MS = 100;

interface StatementState {
  info: StatementInfo;
  /** File offset of row k*PAGE, for each k. */
  index: number[];
  /** File offset just past the statement's last row. */
  endOffset: number;
  /** The statement's first rows, kept in memory within the store's budget. */
  head: Row[];
}

export interface ResultStoreOptions {
  storageDir: string;
  /** Rows kept in memory (head rows plus cached pages). */
  memoryRowBudget: number;
}

export class SpooledResultStore implements ResultStore {
  private readonly stmts = new Map<number, StatementState>();
  private readonly order: number[] = [];
  private readonly msgs: ServerMessage[] = [];
  private readonly spool: SpoolFile;
  private readonly encoder = new RowEncoder();
  private readonly pageCache = new Map<string, Row[]>();
  private readonly maxCachedPages: number;
  private headRowsHeld = 0;
  private totalRows = 0;
  private disposed = false;
  private isComplete = false;
  private readonly changed = new ChangeSignal(CHANGE_INTERVAL_MS);

  readonly onDidChange: Event<void> = this.changed.event;

  constructor(
    readonly jobId: string,
    private readonly options: ResultStoreOptions,
  ) {
    this.spool = new SpoolFile(options.storageDir, `job-${jobId}`);
    this.maxCachedPages = Math.max(4, Math.floor(options.memoryRowBudget / PAGE / 4));
  }

  get complete(): boolean {
    return this.isComplete;
  }

  /** Rows received over all statements. */
  get rowCount(): number {
    return this.totalRows;
  }

  /** Bytes spooled so far (for diagnostics and the benchmark). */
  get spooledBytes(): number {
    return this.spool.bytes;
  }

  // ---- write side (the engine) -------------------------------------------------------------

  setColumns(stmt: number, columns: ColumnInfo[]): void {
    this.statement(stmt).info.columns = columns;
    this.noteChange();
  }

  /** Appends rows of one statement (in arrival order). */
  addRows(stmt: number, rows: Row[]): void {
    this.append(stmt, rows, (row) => this.encoder.add(row), (row) => row);
  }

  /** Appends rows given as their JSON array text (fetch_v2's form): parsed only if kept in memory. */
  addJsonRows(stmt: number, rows: string[]): void {
    this.append(stmt, rows, (json) => this.encoder.addJson(json), parseRowJson);
  }

  private append<T>(stmt: number, rows: T[], encode: (row: T) => number, toRow: (row: T) => Row): void {
    if (this.disposed || rows.length === 0) return;
    const s = this.statement(stmt);
    const budget = this.options.memoryRowBudget;
    let n = s.info.rowCount;
    const offsets: number[] = [];
    for (const row of rows) {
      const at = encode(row);
      if (n % PAGE === 0) offsets.push(at);
      if (this.headRowsHeld < budget && s.head.length === n) {
        s.head.push(toRow(row));
        this.headRowsHeld++;
      }
      n++;
    }
    const base = this.spool.append(this.encoder.take());
    for (const o of offsets) s.index.push(base + o);
    s.endOffset = this.spool.bytes;
    s.info.rowCount = n;
    this.totalRows += rows.length;
    this.noteChange();
  }

  setCommand(stmt: number, tag: string, rows: number | undefined): void {
    const info = this.statement(stmt).info;
    info.commandTag = tag;
    if (rows !== undefined) info.commandRows = rows;
    this.noteChange();
  }

  addMessage(message: ServerMessage): void {
    this.msgs.push(message);
    this.noteChange();
  }

  /** No more data will arrive. Fires a change at once so listeners see `complete`. */
  markComplete(): void {
    if (this.isComplete) return;
    this.isComplete = true;
    this.flushChange();
  }

  // ---- read side (ResultStore) ---------------------------------------------------------------

  statements(): StatementInfo[] {
    return this.order.map((n) => {
      const info = this.stmts.get(n)!.info;
      return { ...info, columns: info.columns ? [...info.columns] : undefined };
    });
  }

  messages(): ServerMessage[] {
    return [...this.msgs];
  }

  async getRows(stmt: number, start: number, count: number, opts?: { cache?: boolean }): Promise<Row[]> {
    const s = this.stmts.get(stmt);
    if (!s || this.disposed) return [];
    const from = Math.max(0, start);
    const to = Math.min(s.info.rowCount, from + Math.max(0, count));
    if (to <= from) return [];
    if (to <= s.head.length) return s.head.slice(from, to);
    const out: Row[] = [];
    for (let page = Math.floor(from / PAGE); page * PAGE < to; page++) {
      const rows = await this.page(stmt, s, page, opts?.cache ?? true);
      const pageStart = page * PAGE;
      const a = Math.max(from, pageStart) - pageStart;
      const b = Math.min(to, pageStart + rows.length) - pageStart;
      for (let i = a; i < b; i++) out.push(rows[i]);
      if (rows.length < PAGE) break;
    }
    return out;
  }

  async *iterateRows(stmt: number, from = 0): AsyncIterable<Row> {
    const s = this.stmts.get(stmt);
    if (!s) return;
    let next = Math.max(0, from);
    // Re-reads rowCount each round: a running job's rows are streamed as they arrive.
    while (!this.disposed && next < s.info.rowCount) {
      if (next < s.head.length) {
        yield s.head[next++];
        continue;
      }
      const page = Math.floor(next / PAGE);
      // Export reads many pages once: do not let it evict what the grid is showing.
      const rows = await this.page(stmt, s, page, false);
      if (rows.length === 0) return;
      for (let i = next - page * PAGE; i < rows.length; i++) yield rows[i];
      next = page * PAGE + rows.length;
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.changed.dispose();
    this.spool.dispose();
    this.stmts.clear();
    this.pageCache.clear();
  }

  // ---- internals ---------------------------------------------------------------------------

  private statement(stmt: number): StatementState {
    let s = this.stmts.get(stmt);
    if (!s) {
      s = { info: { stmt, rowCount: 0 }, index: [], endOffset: 0, head: [] };
      this.stmts.set(stmt, s);
      this.order.push(stmt);
      this.order.sort((a, b) => a - b);
    }
    return s;
  }

  /** Rows of one page; a complete page is cached, the growing last page never is. */
  private async page(stmt: number, s: StatementState, page: number, cache: boolean): Promise<Row[]> {
    const key = `${stmt}:${page}`;
    const hit = this.pageCache.get(key);
    if (hit) {
      // Refresh its LRU position.
      this.pageCache.delete(key);
      this.pageCache.set(key, hit);
      return hit;
    }
    const start = s.index[page];
    if (start === undefined) return [];
    const end = page + 1 < s.index.length ? s.index[page + 1] : s.endOffset;
    const { rows } = decodeRows(await this.spool.read(start, end - start), 0, PAGE);
    if (cache && rows.length === PAGE) {
      this.pageCache.set(key, rows);
      if (this.pageCache.size > this.maxCachedPages) {
        const oldest = this.pageCache.keys().next().value;
        if (oldest !== undefined) this.pageCache.delete(oldest);
      }
    }
    return rows;
  }

  private noteChange(): void {
    if (!this.disposed) this.changed.trigger();
  }

  private flushChange(): void {
    if (!this.disposed) this.changed.flush();
  }
}
