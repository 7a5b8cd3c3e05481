// The extension side of one result panel, without `vscode`: it answers the webview's protocol
// messages from the job's ResultStore and pushes status as the job progresses. ResultPanels
// (index.ts) wires it to a real WebviewPanel; tests wire it to headless Chromium or call it
// directly, against a real store filled by a real job.

import type { Disposable, Event, JobInfo, ResultStore, Row } from '../core/model';
import { FINAL_STATES } from '../core/model';
import {
  cutValue,
  isWebviewMessage,
  MAX_COPY_ROWS,
  PUSHED_ROWS_REQ_ID,
  VIEW_BLOCK_ROWS,
  VIEW_MAX_VALUE_LENGTH,
  type ExportFormat,
  type HostMessage,
  type JobSnapshot,
  type StatementSnapshot,
  type WebviewMessage,
} from '../protocol';
import type { ResultView } from '../core/resultOps/view';
import { copyRange } from './export';
import { Throttle } from './throttle';
import { ViewOps } from './viewOps';

/** What the panels need from the rest of the extension (implemented by the VS Code layer). */
export interface PanelHost {
  job(id: string): JobInfo | undefined;
  store(id: string): ResultStore | undefined;
  cancel(id: string): Promise<void>;
  onDidChangeJob: Event<JobInfo>;
  goToError(jobId: string, position: number): Promise<void>;
  log: (msg: string) => void;
}

/** The parts of the panel that need VS Code (or a test double of the UI, not of the data). */
export interface PanelSurface {
  post(msg: HostMessage): void | PromiseLike<unknown>;
  /** `view`: export the rows as shown (filtered, sorted); without it every row. */
  exportResult(stmt: number, format: ExportFormat, view?: ResultView): Promise<void>;
  copyText(text: string): Promise<void>;
  info(message: string): void;
  /** Save dialog for a chart image. */
  saveImage?(name: string, png: Uint8Array): Promise<void>;
}

export interface ControllerOptions {
  /**
   * Extra minimum spacing of status pushes. Default 0: none, the store's change signal is the
   * one rate limit between a row and the grid (core/events.ts ChangeSignal).
   */
  statusIntervalMs?: number;
  /** Directory for the external sort's run files (the extension's storage). */
  tempDir?: string;
}

/** "conn: first line of the SQL", short enough for a tab title. */
export function jobTitle(job: Pick<JobInfo, 'sql' | 'connectionName'>): string {
  const line = job.sql.split('\n').map((l) => l.trim()).find((l) => l.length > 0 && !l.startsWith('--')) ?? job.sql.trim();
  const short = line.length > 48 ? `${line.slice(0, 47)}…` : line;
  return `${job.connectionName}: ${short}`;
}

export function jobSnapshot(job: JobInfo): JobSnapshot {
  const s: JobSnapshot = {
    id: job.id,
    title: jobTitle(job),
    connectionName: job.connectionName,
    state: job.state,
    launchedAt: job.launchedAt,
    rowsReceived: job.rowsReceived,
    hasSource: job.source !== undefined,
  };
  if (job.endedAt !== undefined) s.endedAt = job.endedAt;
  if (job.progressPct !== undefined) s.progressPct = job.progressPct;
  if (job.progressMsg !== undefined) s.progressMsg = job.progressMsg;
  return s;
}

export function statementSnapshots(store: ResultStore): StatementSnapshot[] {
  return store.statements().map((s) => {
    const o: StatementSnapshot = { stmt: s.stmt, rowCount: s.rowCount };
    if (s.columns) o.columns = s.columns;
    if (s.commandTag !== undefined) o.commandTag = s.commandTag;
    return o;
  });
}

/** Shortens long values for display rows; reports which were cut and their full length. */
export function cutRows(rows: Row[], max: number): { rows: Row[]; cut: [number, number, number][] } {
  const cut: [number, number, number][] = [];
  let out = rows;
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    for (let c = 0; c < row.length; c++) {
      const v = row[c];
      if (v !== null && v.length > max) {
        if (out === rows) out = rows.slice();
        if (out[r] === row) out[r] = row.slice();
        out[r][c] = cutValue(v, max);
        cut.push([r, c, v.length]);
      }
    }
  }
  return { rows: out, cut };
}

/** Field by field: snapshots are flat apart from a statement's columns, which never change once set. */
function sameJob(a: JobSnapshot, b: JobSnapshot): boolean {
  const keys = Object.keys(a) as (keyof JobSnapshot)[];
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

function sameStatements(a: StatementSnapshot[], b: StatementSnapshot[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x.stmt !== y.stmt || x.rowCount !== y.rowCount || x.commandTag !== y.commandTag || (x.columns === undefined) !== (y.columns === undefined)) return false;
  }
  return true;
}

export class PanelController implements Disposable {
  private ready = false;
  private disposed = false;
  private store: ResultStore | undefined;
  private storeSub: Disposable | undefined;
  private readonly jobSub: Disposable;
  private readonly throttle: Throttle | undefined;
  /** A status push is queued for the end of the current task (job and store signals coalesce). */
  private pushQueued = false;
  private sentMessages = 0;
  /** Statements whose first block was pushed to the current page (cleared on every init). */
  private readonly pushedFirstRows = new Set<number>();
  private lastStatements: StatementSnapshot[] = [];
  private lastJob: JobSnapshot | undefined;
  private readonly ops: ViewOps;

  constructor(
    readonly jobId: string,
    private readonly host: PanelHost,
    private readonly surface: PanelSurface,
    opts: ControllerOptions = {},
  ) {
    this.throttle = opts.statusIntervalMs ? new Throttle(opts.statusIntervalMs, () => this.pushStatus()) : undefined;
    this.ops = new ViewOps(() => this.store, (m) => this.post(m), { tempDir: opts.tempDir });
    this.jobSub = host.onDidChangeJob((job) => {
      if (job.id !== this.jobId) return;
      this.attachStore();
      this.statusChanged();
      // The final state should not wait for a throttle.
      if (FINAL_STATES.has(job.state)) this.throttle?.flush();
    });
    this.attachStore();
  }

  dispose(): void {
    this.disposed = true;
    this.ops.dispose();
    this.throttle?.dispose();
    this.jobSub.dispose();
    this.storeSub?.dispose();
  }

  /** Entry point for every message from the webview. Invalid messages are logged and dropped. */
  async receive(raw: unknown): Promise<void> {
    if (this.disposed) return;
    if (!isWebviewMessage(raw)) {
      this.host.log(`result panel ${this.jobId}: ignored an invalid message`);
      return;
    }
    const msg = raw;
    try {
      switch (msg.type) {
        case 'ready':
          this.ready = true;
          this.sendInit();
          break;
        case 'getRows':
          await this.answerRows(msg.reqId, msg.stmt, msg.start, msg.count, msg.maxValueLength, msg.view);
          break;
        case 'cancel':
          await this.host.cancel(this.jobId);
          break;
        case 'goToError':
          await this.host.goToError(this.jobId, msg.position);
          break;
        case 'export':
          await this.surface.exportResult(msg.stmt, msg.format, msg.scope === 'all' ? undefined : this.ops.current(msg.stmt));
          break;
        case 'copyRange':
          await this.copy(msg);
          break;
        case 'setView': {
          const st = this.statement(msg.stmt);
          await this.ops.setView(msg.stmt, msg.spec, st.columns, st.rowCount);
          break;
        }
        case 'saveImage':
          if (this.surface.saveImage) await this.surface.saveImage(msg.name, Buffer.from(msg.png, 'base64'));
          break;
        case 'cancelOp':
          this.ops.cancel(msg.stmt, msg.op);
          break;
        case 'find':
          await this.ops.find(msg.stmt, msg.text, msg.row, msg.col, msg.forward, this.statement(msg.stmt).rowCount);
          break;
        case 'getStats': {
          const st = this.statement(msg.stmt);
          await this.ops.stats(msg.stmt, msg.col, st.columns, st.rowCount);
          break;
        }
        case 'getChart': {
          const st = this.statement(msg.stmt);
          await this.ops.chart(msg.stmt, msg.kind, msg.x, msg.y, st.columns, st.rowCount);
          break;
        }
        case 'copyText':
          await this.surface.copyText(msg.text);
          break;
        case 'state':
          // The webview keeps its own state (vscode.setState); the host has no use for it.
          break;
        case 'info':
          this.surface.info(msg.message);
          break;
      }
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      this.host.log(`result panel ${this.jobId}: ${msg.type} failed: ${text}`);
      if (msg.type === 'getRows') this.post({ type: 'rowsError', reqId: msg.reqId, message: text });
      else if (msg.type === 'setView') this.post({ type: 'opError', stmt: msg.stmt, op: 'view', message: text });
      else if (msg.type === 'find') this.post({ type: 'opError', stmt: msg.stmt, op: 'find', message: text });
      else if (msg.type === 'getStats') this.post({ type: 'opError', stmt: msg.stmt, op: 'stats', message: text });
      else if (msg.type === 'getChart') this.post({ type: 'opError', stmt: msg.stmt, op: 'chart', message: text });
      else this.surface.info(text);
    }
  }

  /** Columns and row count of a statement that returned rows; throws a readable error otherwise. */
  private statement(stmt: number): { columns: NonNullable<StatementSnapshot['columns']>; rowCount: number } {
    const info = this.store?.statements().find((s) => s.stmt === stmt);
    if (!info?.columns) throw new Error('The result is no longer available.');
    return { columns: info.columns, rowCount: info.rowCount };
  }

  private async copy(msg: Extract<WebviewMessage, { type: 'copyRange' }>): Promise<void> {
    if (!this.store) throw new Error('The result is no longer available.');
    const all = msg.scope === 'all';
    const view = all ? undefined : this.ops.current(msg.stmt);
    const r0 = all ? 0 : msg.r0;
    const r1 = all ? Math.max(0, this.statement(msg.stmt).rowCount - 1) : msg.r1;
    const copied = await copyRange(this.store, msg.stmt, r0, r1, msg.c0, msg.c1, { view, format: msg.format });
    if (copied.wanted > copied.rows && copied.rows === MAX_COPY_ROWS) {
      const n = (x: number): string => x.toLocaleString('en-US');
      this.surface.info(`Copied the first ${n(MAX_COPY_ROWS)} of ${n(copied.wanted)} selected rows; use Export for the whole result.`);
    }
    await this.surface.copyText(copied.text);
    this.post({ type: 'copied', rows: copied.rows, cols: copied.cols });
  }

  private post(msg: HostMessage): void {
    if (this.disposed) return;
    void this.surface.post(msg);
  }

  private attachStore(): void {
    const store = this.host.store(this.jobId);
    if (store === this.store) return;
    this.storeSub?.dispose();
    this.store = store;
    this.storeSub = store?.onDidChange(() => this.statusChanged());
    if (this.ready) this.sendInit();
  }

  private unavailableReason(): string | undefined {
    const job = this.host.job(this.jobId);
    if (!job) return 'This job is no longer known to this window (it was cleared, or the window was reloaded). Its results are gone; run the SQL again to see them.';
    if (!this.store && job.state !== 'launching' && job.state !== 'running') {
      return 'The results of this job are no longer available (they were cleared or not kept across a reload).';
    }
    return undefined;
  }

  private sendInit(): void {
    const job = this.host.job(this.jobId);
    const statements = this.store ? statementSnapshots(this.store) : [];
    const messages = this.store ? this.store.messages() : job?.error ? [job.error] : [];
    this.sentMessages = this.store ? messages.length : 0;
    this.lastStatements = statements;
    this.lastJob = job ? jobSnapshot(job) : undefined;
    const init: HostMessage = { type: 'init', jobId: this.jobId, job: job ? jobSnapshot(job) : null, statements, messages };
    const reason = this.unavailableReason();
    if (reason) init.unavailable = reason;
    this.post(init);
    this.pushedFirstRows.clear();
    this.pushFirstRows(statements);
  }

  /**
   * The job or its store changed. Their signals are rate-limited at the source and often come
   * together (the job's row count follows the store's signal): one push at the end of this task.
   */
  private statusChanged(): void {
    if (this.throttle) {
      this.throttle.trigger();
      return;
    }
    if (this.pushQueued) return;
    this.pushQueued = true;
    queueMicrotask(() => {
      this.pushQueued = false;
      this.pushStatus();
    });
  }

  /** Sends only what changed since the last push. */
  private pushStatus(): void {
    if (!this.ready || this.disposed) return;
    const job = this.host.job(this.jobId);
    if (job) {
      const snap = jobSnapshot(job);
      if (!this.lastJob || !sameJob(snap, this.lastJob)) {
        this.lastJob = snap;
        this.post({ type: 'job', job: snap });
      }
    }
    const store = this.store;
    if (!store) return;
    const statements = statementSnapshots(store);
    if (!sameStatements(statements, this.lastStatements)) {
      this.lastStatements = statements;
      this.post({ type: 'statements', statements });
      this.pushFirstRows(statements);
    }
    // Also when completion comes after the last rows were already announced.
    this.refreshViews(store);
    const messages = store.messages();
    if (messages.length > this.sentMessages) {
      this.post({ type: 'messages', from: this.sentMessages, messages: messages.slice(this.sentMessages) });
      this.sentMessages = messages.length;
    }
  }

  /** A view computed while the job was still producing rows is computed again once it completed. */
  private refreshViews(store: ResultStore): void {
    if (!store.complete) return;
    const infos = store.statements();
    const counts = new Map(infos.map((i) => [i.stmt, i.rowCount]));
    for (const stmt of this.ops.staleStatements(counts)) {
      const info = infos.find((i) => i.stmt === stmt);
      if (!info?.columns) continue;
      const spec = this.ops.spec(stmt);
      this.ops.setView(stmt, spec, info.columns, info.rowCount, true).catch((err: unknown) => this.host.log(`result panel ${this.jobId}: view refresh failed: ${String(err)}`));
    }
  }

  /**
   * Sends the first block of every statement that has rows and has not had it yet, right behind
   * the message that announced them: the page would ask for exactly these rows, and skipping that
   * round trip is most of the time from "rows arrived" to "rows painted".
   */
  private pushFirstRows(statements: StatementSnapshot[]): void {
    for (const s of statements) {
      if (!s.columns || s.rowCount === 0 || this.pushedFirstRows.has(s.stmt)) continue;
      this.pushedFirstRows.add(s.stmt);
      this.answerRows(PUSHED_ROWS_REQ_ID, s.stmt, 0, VIEW_BLOCK_ROWS, VIEW_MAX_VALUE_LENGTH).catch((err: unknown) => {
        // Only an optimisation: the page asks for these rows itself if they never come.
        this.host.log(`result panel ${this.jobId}: pushing first rows failed: ${err instanceof Error ? err.message : String(err)}`);
      });
    }
  }

  private async answerRows(reqId: number, stmt: number, start: number, count: number, maxValueLength: number | undefined, version?: number): Promise<void> {
    const store = this.store;
    if (!store) {
      this.post({ type: 'rowsError', reqId, message: 'The result is no longer available.' });
      return;
    }
    // Rows of a view are view positions; a request for a view that has since changed is refused
    // (the page resets its cache when it learns of the new view).
    const view = version === undefined ? undefined : this.ops.viewFor(stmt, version);
    if (view === 'stale') {
      this.post({ type: 'rowsError', reqId, message: 'stale view' });
      return;
    }
    const rows = view ? await view.rows(start, count) : await store.getRows(stmt, start, count);
    const tag = version === undefined ? {} : { view: version };
    if (maxValueLength === undefined) {
      this.post({ type: 'rows', reqId, stmt, start, rows, ...tag });
      return;
    }
    const shortened = cutRows(rows, maxValueLength);
    const msg: HostMessage = { type: 'rows', reqId, stmt, start, rows: shortened.rows, ...tag };
    if (shortened.cut.length > 0) msg.cut = shortened.cut;
    this.post(msg);
  }
}
