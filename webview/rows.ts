// Row access for the webview: a request/response layer over postMessage and, per statement, a
// bounded block cache that decides which rows to ask for. No DOM here, so the coalescing rules
// can be reasoned about (and tested) on their own.
//
// Coalescing: the grid calls `want(first, last)` on every scroll frame, but at most
// `maxInFlight` block requests are outstanding; when one returns, the cache looks at the *latest*
// wanted range. Fast scrolling therefore never queues requests for rows the user has already
// scrolled past.

import type { Row } from '../src/core/model';
import type { HostMessage, WebviewMessage } from '../src/protocol';
import { MAX_ROWS_PER_REQUEST, PUSHED_ROWS_REQ_ID, VIEW_BLOCK_ROWS, VIEW_MAX_VALUE_LENGTH } from '../src/protocol';

export interface RowsReply {
  start: number;
  rows: Row[];
  /** [rowOffset, column, fullLength] of values the host shortened. */
  cut: [number, number, number][];
}

/** Matches `rows`/`rowsError` answers to the `getRows` that asked for them. */
export class Requester {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: RowsReply) => void; reject: (e: Error) => void }>();
  /** Receives rows the host pushed without a request (the first block of a statement). */
  onPushed: ((stmt: number, reply: RowsReply) => void) | undefined;

  constructor(private readonly send: (msg: WebviewMessage) => void) {}

  /** `view`: rows of that sorted/filtered view (positions in it), not of the statement. */
  request(stmt: number, start: number, count: number, maxValueLength?: number, view?: number): Promise<RowsReply> {
    const reqId = this.nextId++;
    return new Promise<RowsReply>((resolve, reject) => {
      this.pending.set(reqId, { resolve, reject });
      const msg: WebviewMessage = { type: 'getRows', reqId, stmt, start, count };
      if (maxValueLength !== undefined) msg.maxValueLength = maxValueLength;
      if (view !== undefined) msg.view = view;
      this.send(msg);
    });
  }

  /** Returns true when the message was a row answer (consumed here). */
  handle(msg: HostMessage): boolean {
    if (msg.type !== 'rows' && msg.type !== 'rowsError') return false;
    if (msg.type === 'rows' && msg.reqId === PUSHED_ROWS_REQ_ID) {
      this.onPushed?.(msg.stmt, { start: msg.start, rows: msg.rows, cut: msg.cut ?? [] });
      return true;
    }
    const p = this.pending.get(msg.reqId);
    if (!p) return true;
    this.pending.delete(msg.reqId);
    if (msg.type === 'rows') p.resolve({ start: msg.start, rows: msg.rows, cut: msg.cut ?? [] });
    else p.reject(new Error(msg.message));
    return true;
  }

  /** Fails every outstanding request (the host reinitialised or went away). */
  failAll(reason: string): void {
    for (const p of this.pending.values()) p.reject(new Error(reason));
    this.pending.clear();
  }
}

interface Block {
  rows: Row[];
  /** Keys "offset:col" of cut values inside this block. */
  cut: Set<string>;
  chars: number;
  lastUse: number;
}

export interface RowCacheOptions {
  blockSize: number;
  /** Upper bound on cached blocks (LRU beyond it). */
  maxBlocks: number;
  /** Upper bound on cached characters, so a few huge values cannot exhaust memory. */
  maxChars: number;
  maxInFlight: number;
  /** Values longer than this are shortened by the host for display. */
  maxValueLength: number;
}

export const DEFAULT_CACHE: RowCacheOptions = {
  blockSize: VIEW_BLOCK_ROWS,
  maxBlocks: 120,
  maxChars: 24 * 1024 * 1024,
  maxInFlight: 2,
  maxValueLength: VIEW_MAX_VALUE_LENGTH,
};

/** The rows of one statement the grid may show. */
export class RowCache {
  private readonly blocks = new Map<number, Block>();
  private readonly inFlight = new Set<number>();
  private total = 0;
  private wantFirst = 0;
  private wantLast = -1;
  private chars = 0;
  private clock = 0;
  /** Bumped whenever cached data changes, so the grid knows to repaint. */
  version = 0;
  /** Requests sent so far (for the benchmark's explanation of its numbers). */
  requests = 0;
  private viewVersion: number | undefined;
  /** Bumped by reset(): an answer to a request sent before it belongs to other rows. */
  private epoch = 0;

  constructor(
    private readonly stmt: number,
    private readonly requester: Requester,
    private readonly onData: () => void,
    private readonly opts: RowCacheOptions = DEFAULT_CACHE,
  ) {}

  get rowCount(): number {
    return this.total;
  }

  get cachedBlocks(): number {
    return this.blocks.size;
  }

  setTotal(n: number): void {
    if (n === this.total) return;
    this.total = n;
    // Rows beyond a shrunken total cannot exist; drop them (a restarted store).
    for (const [b, block] of this.blocks) {
      if (b * this.opts.blockSize >= n) this.drop(b, block);
    }
    this.pump();
  }

  /** The row, or undefined while it is not loaded. Marks its block as recently used. */
  get(row: number): Row | undefined {
    const b = Math.floor(row / this.opts.blockSize);
    const block = this.blocks.get(b);
    if (!block) return undefined;
    block.lastUse = ++this.clock;
    return block.rows[row - b * this.opts.blockSize];
  }

  /** True when the host shortened this value (the detail pane must fetch it whole). */
  isCut(row: number, col: number): boolean {
    const b = Math.floor(row / this.opts.blockSize);
    return this.blocks.get(b)?.cut.has(`${row - b * this.opts.blockSize}:${col}`) ?? false;
  }

  /** Declares the rows on screen (inclusive); loads what is missing. */
  want(first: number, last: number): void {
    this.wantFirst = first;
    this.wantLast = last;
    this.pump();
  }

  /** The host view the rows come from (undefined: the statement's rows in arrival order). */
  get view(): number | undefined {
    return this.viewVersion;
  }

  /** Switches to another view: everything cached belongs to the old one. */
  setView(version: number | undefined): void {
    if (version === this.viewVersion) return;
    this.viewVersion = version;
    this.reset();
    this.onData();
  }

  /** Forget everything (the host sent a fresh init). */
  reset(): void {
    this.epoch++;
    this.blocks.clear();
    this.inFlight.clear();
    this.chars = 0;
    this.version++;
  }

  private needs(b: number): boolean {
    if (this.inFlight.has(b)) return false;
    const start = b * this.opts.blockSize;
    if (start >= this.total) return false;
    const block = this.blocks.get(b);
    if (!block) return true;
    // A block fetched while the job was still producing it is refetched once more rows exist.
    return block.rows.length < this.opts.blockSize && start + block.rows.length < this.total;
  }

  private pump(): void {
    if (this.wantLast < this.wantFirst) return;
    const bs = this.opts.blockSize;
    const firstB = Math.floor(this.wantFirst / bs);
    const lastB = Math.floor(Math.min(this.wantLast, Math.max(0, this.total - 1)) / bs);
    for (let b = firstB; b <= lastB && this.inFlight.size < this.opts.maxInFlight; b++) {
      if (this.needs(b)) this.fetch(b);
    }
  }

  /**
   * Takes a block the host pushed unasked. Only whole-block-aligned data is kept, and never in
   * place of a fuller block; a request already in flight for it still lands and refreshes it.
   */
  accept(reply: RowsReply): void {
    if (this.viewVersion !== undefined) return; // pushed rows are the statement's, not a view's
    const bs = this.opts.blockSize;
    if (reply.start % bs !== 0 || reply.rows.length === 0 || reply.rows.length > bs) return;
    const b = reply.start / bs;
    const old = this.blocks.get(b);
    if (old && old.rows.length >= reply.rows.length) return;
    this.store(b, reply);
    this.pump();
  }

  private store(b: number, reply: RowsReply): void {
    const old = this.blocks.get(b);
    if (old) this.drop(b, old);
    const cut = new Set<string>();
    for (const [r, c] of reply.cut) cut.add(`${r}:${c}`);
    let chars = 0;
    for (const row of reply.rows) for (const v of row) chars += v === null ? 1 : v.length + 1;
    this.blocks.set(b, { rows: reply.rows, cut, chars, lastUse: ++this.clock });
    this.chars += chars;
    this.evict();
    this.version++;
    this.onData();
  }

  private fetch(b: number): void {
    const bs = this.opts.blockSize;
    this.inFlight.add(b);
    this.requests++;
    const count = Math.min(bs, MAX_ROWS_PER_REQUEST);
    const epoch = this.epoch;
    this.requester.request(this.stmt, b * bs, count, this.opts.maxValueLength, this.viewVersion).then(
      (reply) => {
        if (epoch !== this.epoch) return; // reset() happened meanwhile: not these rows
        this.inFlight.delete(b);
        this.store(b, reply);
        this.pump();
      },
      () => {
        if (epoch === this.epoch) this.inFlight.delete(b);
      },
    );
  }

  private drop(b: number, block: Block): void {
    this.blocks.delete(b);
    this.chars -= block.chars;
  }

  /** Least-recently-used blocks go first; blocks on screen are never evicted. */
  private evict(): void {
    if (this.blocks.size <= this.opts.maxBlocks && this.chars <= this.opts.maxChars) return;
    const bs = this.opts.blockSize;
    const keepFrom = Math.floor(this.wantFirst / bs);
    const keepTo = Math.floor(Math.max(this.wantFirst, this.wantLast) / bs);
    const order = [...this.blocks.entries()].filter(([b]) => b < keepFrom || b > keepTo).sort((a, b) => a[1].lastUse - b[1].lastUse);
    for (const [b, block] of order) {
      if (this.blocks.size <= this.opts.maxBlocks && this.chars <= this.opts.maxChars) break;
      this.drop(b, block);
    }
  }
}

