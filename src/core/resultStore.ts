// The ResultStore the panel pages through. Every row goes to an append-only spool file (so a
// 10-million-row job costs disk, not memory); memory keeps the first rows of the job (the page
// the user sees first) up to the row budget, plus a small cache of recently read pages.
// A sparse index (one file offset per PAGE rows of each statement) makes any row range one
// positional read away.
//
// A durable job's store also keeps a meta journal (storeJournal.ts): commit(seq) records what
// the store holds up to a message seq, and SpooledResultStore.open() brings such a store back in
// a new window, cut to its last commit. close() keeps both files; dispose() deletes them.

import { ChangeSignal } from './events.js';
import type { ColumnInfo, Event, ResultStore, Row, ServerMessage, StatementInfo } from './model.js';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { RowEncoder, decodeRows, parseRowJson, type RowBlock } from './rowCodec.js';
import { SpoolFile } from './spoolFile.js';
import { MetaJournal, type JournalState } from './storeJournal.js';

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
  /** Keep a meta journal beside the spool so the store can be reopened (durable jobs). */
  journal?: boolean;
}

/** Store files are `<storeId>.spool` and `<storeId>.meta`; a storeId read back from history must look like this. */
export const STORE_ID_PATTERN = /^job-[A-Za-z0-9_-]{1,80}-[0-9a-f]{8}$/;
/** Names of store files, for the garbage collection of unreferenced ones. */
export const STORE_FILE_PATTERN = /^(job-[A-Za-z0-9_-]{1,80}-[0-9a-f]{8})\.(spool|meta)$/;

/** Reading a reopened spool for the index scan, this much at a time. */
const SCAN_CHUNK = 4 << 20;

export class SpooledResultStore implements ResultStore {
  private readonly stmts = new Map<number, StatementState>();
  private readonly order: number[] = [];
  private readonly msgs: ServerMessage[] = [];
  private spool: SpoolFile;
  private journal: MetaJournal | undefined;
  /** Statements changed and messages added since the last commit (what the next journal line says). */
  private readonly dirtyStmts = new Set<number>();
  private committedMsgs = 0;
  private committedSeq = 0;
  /** Base name of the store's files under the storage directory. */
  readonly storeId: string;
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
    storeId?: string,
  ) {
    // Random suffix: two windows (or a rerun) never share a file.
    this.storeId = storeId ?? `job-${jobId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 80)}-${randomBytes(4).toString('hex')}`;
    this.spool = new SpoolFile(path.join(options.storageDir, `${this.storeId}.spool`));
    if (options.journal) this.journal = new MetaJournal(path.join(options.storageDir, `${this.storeId}.meta`));
    this.maxCachedPages = Math.max(4, Math.floor(options.memoryRowBudget / PAGE / 4));
  }

  /**
   * Reopens a journaled store a previous engine left: the state of its last complete journal
   * line, the spool cut to that line's length, the sparse index and head rows rebuilt by one scan.
   * Throws when the files do not agree (the caller treats the results as lost).
   */
  static open(jobId: string, storeId: string, options: ResultStoreOptions): SpooledResultStore {
    if (!STORE_ID_PATTERN.test(storeId)) throw new Error(`not a result store name: ${storeId}`);
    const store = new SpooledResultStore(jobId, { ...options, journal: true }, storeId);
    const { journal, state } = MetaJournal.reopen(path.join(options.storageDir, `${storeId}.meta`));
    store.journal = journal;
    try {
      store.spool = SpoolFile.reopen(path.join(options.storageDir, `${storeId}.spool`), state.spool);
      store.restore(state);
    } catch (err) {
      store.close();
      throw err;
    }
    return store;
  }

  /** Last message seq committed to the journal (0: none). */
  get lastSeq(): number {
    return this.committedSeq;
  }

  /** The store keeps a meta journal and can be reopened after a reload. */
  get journaled(): boolean {
    return this.journal !== undefined;
  }

  /**
   * Records that everything up to message `seq` is stored: one journal line with the spool's
   * length and what changed since the last commit. The rows are already in the spool (appends
   * are synchronous), so the line is written after them.
   */
  commit(seq: number): void {
    if (this.disposed) return;
    if (!Number.isSafeInteger(seq) || seq < this.committedSeq) throw new Error(`commit of seq ${seq} after ${this.committedSeq}`);
    if (this.journal) {
      const stmts = [...this.dirtyStmts].sort((a, b) => a - b).map((n) => this.statementCopy(n));
      this.journal.append({ seq, spool: this.spool.bytes, stmts, msgs: this.msgs.slice(this.committedMsgs) });
    }
    this.dirtyStmts.clear();
    this.committedMsgs = this.msgs.length;
    this.committedSeq = seq;
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
    this.dirtyStmts.add(stmt);
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

  /**
   * Appends rows of one statement given as blocks of `rows` messages (fetch_v2's form), in one
   * spool write: parsed only if kept in memory.
   */
  addRowBlocks(stmt: number, blocks: readonly RowBlock[]): void {
    if (this.disposed) return;
    const s = this.statement(stmt);
    const budget = this.options.memoryRowBudget;
    const first = s.info.rowCount;
    let n = first;
    const marks: number[] = [];
    for (const b of blocks) {
      for (let k = b.from; k < b.to && this.headRowsHeld < budget && s.head.length === n + k - b.from; k++) {
        s.head.push(parseRowJson(b.text.slice(b.bounds[2 * k], b.bounds[2 * k + 1])));
        this.headRowsHeld++;
      }
      this.encoder.addBlock(b, n, PAGE, marks);
      n += Math.max(0, b.to - b.from);
    }
    if (n === first) return;
    const base = this.spool.append(this.encoder.take());
    for (const o of marks) s.index.push(base + o);
    s.endOffset = this.spool.bytes;
    s.info.rowCount = n;
    this.dirtyStmts.add(stmt);
    this.totalRows += n - first;
    this.noteChange();
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
    this.dirtyStmts.add(stmt);
    this.totalRows += rows.length;
    this.noteChange();
  }

  setCommand(stmt: number, tag: string, rows: number | undefined): void {
    const info = this.statement(stmt).info;
    info.commandTag = tag;
    if (rows !== undefined) info.commandRows = rows;
    this.dirtyStmts.add(stmt);
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

  /** Frees the store and deletes its files. */
  dispose(): void {
    if (this.disposed) {
      // A closed store's files still go (clearing a job restored read-only after a close).
      this.spool.dispose();
      this.journal?.dispose();
      return;
    }
    this.release();
    this.spool.dispose();
    this.journal?.dispose();
  }

  /** Frees the store and keeps its files, for SpooledResultStore.open() in the next window. */
  close(): void {
    if (this.disposed) return;
    this.release();
    this.spool.close();
    this.journal?.close();
  }

  private release(): void {
    this.disposed = true;
    this.changed.dispose();
    this.stmts.clear();
    this.pageCache.clear();
  }

  // ---- internals ---------------------------------------------------------------------------

  private statementCopy(n: number): StatementInfo {
    const info = this.stmts.get(n)!.info;
    return { ...info, columns: info.columns ? [...info.columns] : undefined };
  }

  /**
   * Applies a journal's state and rebuilds what is not in it: each statement's page offsets and
   * head rows, by one scan of the spool. Rows are in the spool in message order, so statement
   * by statement in ascending order, each with the row count its last journal line gave.
   */
  private restore(state: JournalState): void {
    const numbers = [...state.stmts.keys()].sort((a, b) => a - b);
    for (const n of numbers) {
      const saved = state.stmts.get(n)!;
      const s = this.statement(n);
      s.info = { ...saved, stmt: n, rowCount: 0 };
    }
    for (const m of state.msgs) this.msgs.push(m);
    const budget = this.options.memoryRowBudget;
    let offset = 0;
    let buf: Buffer = Buffer.alloc(0);
    let bufStart = 0;
    // Refills `buf` so that it holds [offset, offset + need) when the spool has it.
    const ensure = (need: number): boolean => {
      if (offset + need <= bufStart + buf.length) return true;
      const len = Math.max(SCAN_CHUNK, need);
      buf = this.spool.readSync(offset, Math.min(len, state.spool - offset));
      bufStart = offset;
      return buf.length >= need;
    };
    for (const n of numbers) {
      const s = this.stmts.get(n)!;
      const rows = state.stmts.get(n)!.rowCount;
      for (let i = 0; i < rows; i++) {
        if (!ensure(4)) throw new Error(`spool ${this.storeId} ends inside statement ${n} (row ${i} of ${rows})`);
        const len = buf.readUInt32LE(offset - bufStart);
        if (!ensure(4 + len)) throw new Error(`spool ${this.storeId} ends inside a row of statement ${n}`);
        if (i % PAGE === 0) s.index.push(offset);
        if (this.headRowsHeld < budget && s.head.length === i) {
          const at = offset - bufStart + 4;
          s.head.push(parseRowJson(buf.toString('utf8', at, at + len)));
          this.headRowsHeld++;
        }
        offset += 4 + len;
      }
      s.info.rowCount = rows;
      s.endOffset = offset;
      this.totalRows += rows;
    }
    if (offset !== state.spool) throw new Error(`spool ${this.storeId}: rows end at ${offset}, the journal says ${state.spool}`);
    this.committedSeq = state.seq;
    this.committedMsgs = this.msgs.length;
  }

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
