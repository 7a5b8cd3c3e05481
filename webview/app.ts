// The result panel's page: header (state, live counts, progress, Cancel, Export), one tab per
// statement plus Messages (tabs.ts, messages.ts), the grid, a detail pane for whole values
// (detail.ts) and a status line. This class routes the host's messages to those parts and keeps
// the view state the webview persists.
// Everything that came from the database is placed with textContent or `.value`, never parsed
// as HTML, and no handler is inline (the CSP would refuse it anyway).

import { formatElapsed } from '../src/core/elapsed';
import {
  MAX_COPY_ROWS,
  isHostMessage,
  isPersistedState,
  type ExportFormat,
  type HostMessage,
  type JobSnapshot,
  type PersistedState,
  type StatementSnapshot,
  type WebviewMessage,
} from '../src/protocol';
import { DetailPane } from './detail';
import { secondaryButtons } from './buttons';
import { el } from './dom';
import { formatCount } from './format';
import { Grid, type CellRange } from './grid';
import { MessagesView } from './messages';
import { RowCache, Requester } from './rows';
import { TabStrip } from './tabs';
import { Tools, type ToolTarget } from './tools';

export interface VsCodeApi {
  postMessage(msg: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

interface StmtView {
  stmt: number;
  snapshot: StatementSnapshot;
  tabLabel: HTMLSpanElement;
  tabBadge: HTMLElement;
  view: HTMLElement;
  grid?: Grid;
  cache?: RowCache;
  tagEl?: HTMLDivElement;
}

const RUNNING: ReadonlySet<string> = new Set(['launching', 'running']);

const stmtKey = (stmt: number): string => `stmt:${stmt}`;

export class App {
  private readonly requester: Requester;
  private jobId = '';
  private job: JobSnapshot | null = null;
  private readonly stmts = new Map<number, StmtView>();
  /** 'messages', 'stmt:<n>', or '' before the first selection. */
  private activeTab = '';
  private state: PersistedState | undefined;
  private elapsedTimer = 0;
  private saveTimer = 0;

  // Fixed parts of the page.
  private readonly stateTag = el('vscode-tag', 'state');
  private readonly title = el('span', 'title');
  private readonly rowsEl = el('span', 'metric rows');
  private readonly elapsedEl = el('span', 'metric elapsed');
  private readonly ring = el('vscode-progress-ring', 'ring');
  private readonly progressEl = el('span', 'metric progress');
  private readonly btn = secondaryButtons({
    cancel: ['cancel', 'Cancel', 'Cancel the job'],
    csv: ['export-csv', 'Export CSV'],
    json: ['export-json', 'Export JSON'],
    detail: ['toggle-detail', 'Value', 'Show the whole value of the focused cell (Enter)'],
  });
  private readonly banner = el('div', 'banner');
  private readonly tabs: TabStrip;
  private readonly messages: MessagesView;
  private readonly detail: DetailPane;
  private readonly status = el('div', 'statusbar');
  private readonly tools: Tools;

  constructor(
    private readonly root: HTMLElement,
    private readonly vscode: VsCodeApi,
  ) {
    this.requester = new Requester((m) => this.send(m));
    this.requester.onPushed = (stmt, reply) => this.stmts.get(stmt)?.cache?.accept(reply);
    const saved = vscode.getState();
    if (isPersistedState(saved)) this.state = saved;
    this.tabs = new TabStrip(
      (key) => this.onTabChanged(key),
      () => this.activeStmt()?.grid?.activate(),
    );
    const msg = this.tabs.add('messages', 'messages', Infinity, 'messages');
    this.messages = new MessagesView(msg.tab, msg.view, (position) => this.send({ type: 'goToError', position }));
    this.detail = new DetailPane(this.requester, (text) => {
      this.send({ type: 'copyText', text });
      this.status.textContent = `Copied ${formatCount(text.length)} characters`;
    });
    this.tools = new Tools(
      (m) => this.send(m),
      () => this.toolTarget(this.activeStmt()),
      () => {
        this.updateStatus();
        this.saveStateSoon();
      },
    );
    this.tools.targetFor = (stmt) => this.toolTarget(this.stmts.get(stmt));
    this.tools.onCopyButton = () => {
      const v = this.activeStmt();
      if (!v?.grid) return;
      const range = v.grid.selection() ?? { r0: 0, r1: Math.max(0, this.tools.totalFor(v.stmt, v.snapshot.rowCount) - 1), c0: 0, c1: Math.max(0, v.grid.columns.length - 1) };
      this.copy(v, range);
    };
    this.build();
    window.addEventListener('message', (e: MessageEvent<unknown>) => this.onMessage(e.data));
    document.addEventListener('copy', this.onCopyEvent);
    this.send({ type: 'ready', state: this.state });
  }

  private send(msg: WebviewMessage): void {
    this.vscode.postMessage(msg);
  }

  // ------------------------------------------------------------------------------------------
  // Layout

  private build(): void {
    const bar = el('div', 'topbar');
    this.ring.hidden = true;
    this.btn.cancel.hidden = true;
    const spacer = el('span', 'spacer');
    bar.append(this.stateTag, this.title, this.rowsEl, this.elapsedEl, this.ring, this.progressEl, spacer, this.btn.cancel, this.btn.csv, this.btn.json, this.btn.detail);
    this.btn.cancel.addEventListener('click', () => this.send({ type: 'cancel' }));
    this.btn.csv.addEventListener('click', () => this.exportActive('csv'));
    this.btn.json.addEventListener('click', () => this.exportActive('json'));
    this.btn.detail.addEventListener('click', () => this.toggleDetail(!this.detail.isOpen));

    this.banner.hidden = true;
    this.banner.setAttribute('role', 'status');

    this.root.append(
      bar,
      this.banner,
      this.tools.viewBar.root,
      this.tools.viewBar.conditionsRoot,
      this.tools.findBar.root,
      this.tabs.root,
      this.tools.stats.root,
      this.tools.chart.root,
      this.detail.root,
      this.status,
      this.tools.announcer,
    );
  }

  // ------------------------------------------------------------------------------------------
  // Messages from the host

  private onMessage(data: unknown): void {
    // Anything else posted to the window (extensions of the browser, stray frames) is ignored.
    if (!isHostMessage(data)) return;
    const msg = data;
    if (this.requester.handle(msg)) return;
    if (this.tools.handle(msg)) return;
    switch (msg.type) {
      case 'init':
        this.init(msg);
        break;
      case 'job':
        this.setJob(msg.job);
        break;
      case 'statements':
        this.setStatements(msg.statements);
        break;
      case 'messages':
        this.messages.add(msg.from, msg.messages);
        break;
      case 'unavailable':
        this.showBanner(msg.reason, true);
        break;
      case 'copied':
        this.status.textContent = `Copied ${formatCount(msg.rows)} × ${formatCount(msg.cols)} cells`;
        break;
      default:
        break;
    }
  }

  private init(msg: Extract<HostMessage, { type: 'init' }>): void {
    this.requester.failAll('reinitialised');
    const kept = this.tools.reset();
    if (this.state && this.state.jobId === msg.jobId) this.state = { ...this.state, views: { ...(this.state.views ?? {}), ...kept } };
    for (const v of this.stmts.values()) {
      v.grid?.dispose();
      this.tabs.remove(stmtKey(v.stmt));
    }
    this.stmts.clear();
    this.messages.reset();
    this.jobId = msg.jobId;
    if (this.state && this.state.jobId !== msg.jobId) this.state = undefined;
    if (msg.unavailable) this.showBanner(msg.unavailable, true);
    else this.banner.hidden = true;
    if (msg.job) this.setJob(msg.job);
    this.messages.add(0, msg.messages);
    this.setStatements(msg.statements);
    const wanted = this.state?.activeTab;
    this.activeTab = '';
    if (wanted && this.tabs.has(wanted)) this.tabs.select(wanted);
    // A job still starting has no statement yet: wait for the first one rather than
    // settling on Messages (setStatements picks the tab when it arrives).
    else if (this.stmts.size > 0 || !(msg.job && RUNNING.has(msg.job.state))) this.tabs.select(this.defaultTab());
    this.messages.updateBadge();
  }

  /** First statement with rows; Messages when there is none but there are errors. */
  private defaultTab(): string {
    for (const v of this.stmts.values()) if (v.snapshot.columns) return stmtKey(v.stmt);
    if (this.messages.hasError() || this.stmts.size === 0) return 'messages';
    const first = this.stmts.values().next().value;
    return first ? stmtKey(first.stmt) : 'messages';
  }

  private setJob(job: JobSnapshot): void {
    this.job = job;
    this.title.textContent = job.title;
    this.title.title = job.title;
    this.stateTag.textContent = job.state;
    this.stateTag.dataset.state = job.state;
    const running = RUNNING.has(job.state);
    this.ring.hidden = !running;
    this.btn.cancel.hidden = !running;
    this.rowsEl.textContent = `${formatCount(job.rowsReceived)} ${job.rowsReceived === 1 ? 'row' : 'rows'}`;
    const pct = job.progressPct !== undefined ? `${job.progressPct}%` : '';
    this.progressEl.textContent = [pct, job.progressMsg ?? ''].filter(Boolean).join(' ');
    this.progressEl.title = this.progressEl.textContent;
    this.tickElapsed();
    if (running && !this.elapsedTimer) this.elapsedTimer = window.setInterval(() => this.tickElapsed(), 200);
    if (!running && this.elapsedTimer) {
      clearInterval(this.elapsedTimer);
      this.elapsedTimer = 0;
    }
    document.title = job.title;
  }

  private tickElapsed(): void {
    if (!this.job) return;
    const end = this.job.endedAt ?? Date.now();
    this.elapsedEl.textContent = formatElapsed(end - this.job.launchedAt);
  }

  private setStatements(list: StatementSnapshot[]): void {
    for (const s of list) {
      let v = this.stmts.get(s.stmt);
      if (!v) v = this.addStatement(s);
      v.snapshot = s;
      if (s.columns && !v.grid) this.attachGrid(v);
      if (v.grid) v.grid.setTotal(this.tools.totalFor(s.stmt, s.rowCount));
      this.updateStmtTab(v);
    }
    this.updateExportButtons();
    if (this.activeTab === '' && this.stmts.size > 0) this.tabs.select(this.defaultTab());
    this.updateStatus();
  }

  private addStatement(s: StatementSnapshot): StmtView {
    const { tab, view } = this.tabs.add(stmtKey(s.stmt), `stmt-${s.stmt}`, s.stmt, 'stmt');
    const tabLabel = el('span', 'tab-label');
    const tabBadge = el('vscode-badge', 'tab-badge');
    tab.append(tabLabel, tabBadge);
    const v: StmtView = { stmt: s.stmt, snapshot: s, tabLabel, tabBadge, view };
    this.stmts.set(s.stmt, v);
    return v;
  }

  private attachGrid(v: StmtView): void {
    const columns = v.snapshot.columns ?? [];
    v.tagEl?.remove();
    v.tagEl = undefined;
    const cache = new RowCache(v.stmt, this.requester, () => v.grid?.refresh());
    const saved = this.state?.scroll?.[String(v.stmt)];
    const grid = new Grid(
      columns,
      cache,
      {
        onFocus: () => {
          this.updateStatus();
          if (this.detail.isOpen) this.showDetail();
        },
        onCopy: (range) => this.copy(v, range),
        onOpenDetail: () => this.toggleDetail(true),
        onViewChange: () => this.saveStateSoon(),
        onSort: (col, add) => this.tools.sort(col, add),
      },
      { row: saved?.row, left: saved?.left, widths: this.state?.widths?.[String(v.stmt)] },
    );
    v.cache = cache;
    v.grid = grid;
    if (columns.length === 0) {
      v.tagEl = el('div', 'command-tag', 'The statement returned rows without columns.');
      v.view.appendChild(v.tagEl);
    }
    v.view.appendChild(grid.root);
    const target = this.toolTarget(v);
    if (target) this.tools.attach(target, this.state?.views?.[String(v.stmt)]);
    if (this.activeStmt() === v) this.tools.bindActive();
  }

  private toolTarget(v: StmtView | undefined): ToolTarget | undefined {
    if (!v?.grid || !v.cache || !v.snapshot.columns) return undefined;
    return { stmt: v.stmt, columns: v.snapshot.columns, rowCount: v.snapshot.rowCount, grid: v.grid, cache: v.cache };
  }

  private updateStmtTab(v: StmtView): void {
    const s = v.snapshot;
    if (s.columns) {
      v.tabLabel.textContent = `Result ${s.stmt}`;
      v.tabBadge.textContent = formatCount(s.rowCount);
      v.tabBadge.hidden = false;
    } else {
      v.tabLabel.textContent = s.commandTag ? `${s.stmt}: ${s.commandTag}` : `Statement ${s.stmt}`;
      v.tabBadge.hidden = true;
      if (!v.tagEl) {
        v.tagEl = el('div', 'command-tag');
        v.view.appendChild(v.tagEl);
      }
      const running = this.job !== null && RUNNING.has(this.job.state);
      v.tagEl.textContent = s.commandTag ?? (running ? 'Running…' : 'No result.');
    }
  }

  private showBanner(text: string, isError: boolean): void {
    this.banner.textContent = text;
    this.banner.classList.toggle('error', isError);
    this.banner.hidden = false;
  }

  // ------------------------------------------------------------------------------------------
  // Active tab, state

  private onTabChanged(key: string): void {
    if (key === this.activeTab) return;
    this.activeTab = key;
    const v = this.activeStmt();
    // The grid measured 0×0 while its tab was hidden.
    if (v?.grid) requestAnimationFrame(() => v.grid?.activate());
    this.updateExportButtons();
    this.tools.bindActive();
    this.updateStatus();
    if (this.detail.isOpen) this.showDetail();
    this.saveStateSoon();
    const st = this.snapshotState();
    if (st) this.send({ type: 'state', state: st });
  }

  private activeStmt(): StmtView | undefined {
    if (!this.activeTab.startsWith('stmt:')) return undefined;
    return this.stmts.get(Number(this.activeTab.slice(5)));
  }

  private updateExportButtons(): void {
    const v = this.activeStmt();
    const enabled = v?.snapshot.columns !== undefined;
    for (const b of [this.btn.csv, this.btn.json]) {
      if (enabled) b.removeAttribute('disabled');
      else b.setAttribute('disabled', '');
    }
  }

  private exportActive(format: ExportFormat): void {
    const v = this.activeStmt();
    if (v?.snapshot.columns) this.send({ type: 'export', stmt: v.stmt, format, scope: this.tools.viewBar.rowScope });
  }

  private snapshotState(): PersistedState | undefined {
    if (!this.jobId) return undefined;
    const scroll: Record<string, { row: number; left: number }> = { ...(this.state?.scroll ?? {}) };
    const widths: Record<string, number[]> = { ...(this.state?.widths ?? {}) };
    for (const v of this.stmts.values()) {
      if (!v.grid) continue;
      scroll[String(v.stmt)] = v.grid.viewState();
      widths[String(v.stmt)] = v.grid.columnWidths();
    }
    const views = { ...(this.state?.views ?? {}) };
    for (const v of this.stmts.values()) if (v.grid) delete views[String(v.stmt)];
    Object.assign(views, this.tools.specs());
    return { v: 1, jobId: this.jobId, activeTab: this.activeTab || undefined, scroll, widths, views };
  }

  private saveStateSoon(): void {
    if (this.saveTimer) return;
    this.saveTimer = window.setTimeout(() => {
      this.saveTimer = 0;
      const st = this.snapshotState();
      if (st) {
        this.state = st;
        this.vscode.setState(st);
      }
    }, 250);
  }

  private updateStatus(): void {
    const v = this.activeStmt();
    if (v?.grid) {
      const filtered = this.tools.describe(v.stmt);
      this.status.textContent = filtered ? `${filtered} · ${v.grid.describe()}` : v.grid.describe();
    }
    else if (this.activeTab === 'messages') this.status.textContent = `${this.messages.count} messages`;
    else this.status.textContent = '';
  }

  // ------------------------------------------------------------------------------------------
  // Detail pane, copy

  private toggleDetail(open: boolean): void {
    this.detail.setOpen(open);
    this.btn.detail.classList.toggle('active', open);
    if (open) this.showDetail();
    // The grid lost height to the pane; let it re-measure.
    this.activeStmt()?.grid?.activate();
  }

  private showDetail(): void {
    const v = this.activeStmt();
    this.detail.show(v?.grid && v.cache ? { stmt: v.stmt, grid: v.grid, cache: v.cache } : undefined);
  }

  private readonly onCopyEvent = (e: ClipboardEvent): void => {
    // Only when the grid has focus; text selected in the detail pane copies normally.
    const v = this.activeStmt();
    if (!v?.grid || !v.grid.root.contains(document.activeElement)) return;
    const range = v.grid.selection();
    if (!range) return;
    e.preventDefault();
    this.copy(v, range);
  };

  /** The host reads the rows from its store (the grid holds shortened display copies) and answers `copied`. */
  private copy(v: StmtView, range: CellRange): void {
    this.status.textContent = `Copying ${formatCount(Math.min(range.r1 - range.r0 + 1, MAX_COPY_ROWS))} rows…`;
    const msg: WebviewMessage = { type: 'copyRange', stmt: v.stmt, r0: range.r0, r1: range.r1, c0: range.c0, c1: range.c1 };
    // TSV of the rows as shown is the default; say only what differs.
    if (this.tools.viewBar.format !== 'tsv') msg.format = this.tools.viewBar.format;
    if (this.tools.viewBar.rowScope !== 'shown') msg.scope = this.tools.viewBar.rowScope;
    this.send(msg);
  }

  /** Counters for the benchmark and tests (read-only; no data). */
  stats(): { renders: number; requests: number; cachedBlocks: number } {
    const v = this.activeStmt();
    return { renders: v?.grid?.renders ?? 0, requests: v?.cache?.requests ?? 0, cachedBlocks: v?.cache?.cachedBlocks ?? 0 };
  }
}
