// The result panel's page: header (state, live counts, progress, Cancel, Export), one tab per
// statement plus Messages, the grid, a detail pane for whole values and a status line.
// Everything that came from the database is placed with textContent or `.value`, never parsed
// as HTML, and no handler is inline (the CSP would refuse it anyway).

import type { ServerMessage } from '../src/core/model';
import {
  MAX_COPY_ROWS,
  cutValue,
  isHostMessage,
  isPersistedState,
  type ExportFormat,
  type HostMessage,
  type JobSnapshot,
  type PersistedState,
  type StatementSnapshot,
  type WebviewMessage,
} from '../src/protocol';
import { formatCount, formatElapsed, tsvField } from './format';

/** Characters the detail pane lays out; see showDetail. */
const DETAIL_MAX = 256 * 1024;
import { Grid, type CellRange } from './grid';
import { RowCache, Requester, fetchRange } from './rows';

export interface VsCodeApi {
  postMessage(msg: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

interface StmtView {
  stmt: number;
  snapshot: StatementSnapshot;
  tab: HTMLElement;
  tabLabel: HTMLSpanElement;
  tabBadge: HTMLElement;
  view: HTMLElement;
  grid?: Grid;
  cache?: RowCache;
  tagEl?: HTMLDivElement;
}

const RUNNING: ReadonlySet<string> = new Set(['launching', 'running']);

function h<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function custom(tag: string, cls?: string, text?: string): HTMLElement {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export class App {
  private readonly requester: Requester;
  private jobId = '';
  private job: JobSnapshot | null = null;
  private readonly stmts = new Map<number, StmtView>();
  private messages: ServerMessage[] = [];
  private activeTab = '';
  private state: PersistedState | undefined;
  private elapsedTimer = 0;
  private saveTimer = 0;
  private detailOpen = false;
  /** Tab id being selected programmatically (see selectTab). */
  private pendingTab: string | undefined;
  private detailSeq = 0;

  // Fixed parts of the page.
  private readonly stateTag = custom('vscode-tag', 'state');
  private readonly title = h('span', 'title');
  private readonly rowsEl = h('span', 'metric rows');
  private readonly elapsedEl = h('span', 'metric elapsed');
  private readonly ring = custom('vscode-progress-ring', 'ring');
  private readonly progressEl = h('span', 'metric progress');
  private readonly cancelBtn = custom('vscode-button', 'cancel', 'Cancel');
  private readonly csvBtn = custom('vscode-button', 'export-csv', 'Export CSV');
  private readonly jsonBtn = custom('vscode-button', 'export-json', 'Export JSON');
  private readonly detailBtn = custom('vscode-button', 'toggle-detail', 'Value');
  private readonly banner = h('div', 'banner');
  private readonly panels = custom('vscode-panels', 'tabs');
  private readonly msgTab = custom('vscode-panel-tab', 'tab-messages');
  private readonly msgBadge = custom('vscode-badge', 'msg-badge', '0');
  private readonly msgView = custom('vscode-panel-view', 'view-messages');
  private readonly msgList = h('div', 'messages');
  private readonly detail = h('div', 'detail');
  private readonly detailHead = h('div', 'detail-head');
  private readonly detailLabel = h('span', 'detail-label');
  private readonly copyValueBtn = custom('vscode-button', 'copy-value', 'Copy value');
  /** The whole value of the focused cell, once known (for "Copy value"). */
  private detailFull: string | undefined;
  private readonly detailValue = custom('vscode-text-area', 'detail-value') as HTMLElement & { value: string };
  private readonly status = h('div', 'statusbar');

  constructor(
    private readonly root: HTMLElement,
    private readonly vscode: VsCodeApi,
  ) {
    this.requester = new Requester((m) => this.send(m));
    this.requester.onPushed = (stmt, reply) => this.stmts.get(stmt)?.cache?.accept(reply);
    const saved = vscode.getState();
    if (isPersistedState(saved)) this.state = saved;
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
    const bar = h('div', 'topbar');
    this.ring.hidden = true;
    this.cancelBtn.hidden = true;
    this.cancelBtn.setAttribute('appearance', 'secondary');
    this.cancelBtn.title = 'Cancel the job';
    for (const b of [this.csvBtn, this.jsonBtn, this.detailBtn]) b.setAttribute('appearance', 'secondary');
    this.detailBtn.title = 'Show the whole value of the focused cell (Enter)';
    const spacer = h('span', 'spacer');
    bar.append(this.stateTag, this.title, this.rowsEl, this.elapsedEl, this.ring, this.progressEl, spacer, this.cancelBtn, this.csvBtn, this.jsonBtn, this.detailBtn);
    this.cancelBtn.addEventListener('click', () => this.send({ type: 'cancel' }));
    this.csvBtn.addEventListener('click', () => this.exportActive('csv'));
    this.jsonBtn.addEventListener('click', () => this.exportActive('json'));
    this.detailBtn.addEventListener('click', () => this.toggleDetail(!this.detailOpen));

    this.banner.hidden = true;
    this.banner.setAttribute('role', 'status');

    this.msgTab.id = 'tab-messages';
    this.msgTab.append(h('span', 'tab-label', 'Messages'), this.msgBadge);
    this.msgView.id = 'view-messages';
    this.msgView.appendChild(this.msgList);
    this.panels.append(this.msgTab, this.msgView);
    this.panels.addEventListener('change', (e: Event) => {
      if (e.target !== this.panels) return; // change events bubble from nested controls
      // While we are selecting a tab ourselves, the toolkit may report transient choices of its
      // own (it re-picks a tab whenever tabs are inserted); those must not override ours.
      if (this.pendingTab !== undefined) return;
      const tab = (this.panels as HTMLElement & { activetab?: HTMLElement }).activetab;
      const id = tab?.id ?? '';
      if (id === 'tab-messages') this.onTabChanged('messages');
      else if (id.startsWith('tab-stmt-') && this.stmts.has(Number(id.slice(9)))) this.onTabChanged(`stmt:${id.slice(9)}`);
    });

    this.detail.hidden = true;
    this.detailValue.setAttribute('readonly', '');
    this.detailValue.setAttribute('resize', 'vertical');
    this.detailValue.setAttribute('rows', '6');
    this.copyValueBtn.setAttribute('appearance', 'secondary');
    this.copyValueBtn.hidden = true;
    this.copyValueBtn.addEventListener('click', () => this.copyDetailValue());
    this.detailHead.append(this.detailLabel, this.copyValueBtn);
    this.detail.append(this.detailHead, this.detailValue);

    this.root.append(bar, this.banner, this.panels, this.detail, this.status);
  }

  // ------------------------------------------------------------------------------------------
  // Messages from the host

  private onMessage(data: unknown): void {
    // Anything else posted to the window (extensions of the browser, stray frames) is ignored.
    if (!isHostMessage(data)) return;
    const msg = data;
    if (this.requester.handle(msg)) return;
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
        this.addMessages(msg.from, msg.messages);
        break;
      case 'unavailable':
        this.showBanner(msg.reason, true);
        break;
      default:
        break;
    }
  }

  private init(msg: Extract<HostMessage, { type: 'init' }>): void {
    this.requester.failAll('reinitialised');
    for (const v of this.stmts.values()) {
      v.grid?.dispose();
      v.tab.remove();
      v.view.remove();
    }
    this.stmts.clear();
    this.messages = [];
    this.msgList.replaceChildren();
    this.jobId = msg.jobId;
    if (this.state && this.state.jobId !== msg.jobId) this.state = undefined;
    if (msg.unavailable) this.showBanner(msg.unavailable, true);
    else this.banner.hidden = true;
    if (msg.job) this.setJob(msg.job);
    this.addMessages(0, msg.messages);
    this.setStatements(msg.statements);
    const wanted = this.state?.activeTab;
    this.activeTab = '';
    if (wanted && (wanted === 'messages' || this.stmts.has(Number(wanted.slice(5))))) this.selectTab(wanted);
    // A job still starting has no statement yet: wait for the first one rather than
    // settling on Messages (setStatements picks the tab when it arrives).
    else if (this.stmts.size > 0 || !(msg.job && RUNNING.has(msg.job.state))) this.selectTab(this.defaultTab());
    this.updateMessagesBadge();
  }

  /** First statement with rows; Messages when there is none but there are errors. */
  private defaultTab(): string {
    for (const v of this.stmts.values()) if (v.snapshot.columns) return `stmt:${v.stmt}`;
    if (this.messages.some((m) => m.kind === 'error') || this.stmts.size === 0) return 'messages';
    const first = this.stmts.values().next().value;
    return first ? `stmt:${first.stmt}` : 'messages';
  }

  private setJob(job: JobSnapshot): void {
    this.job = job;
    this.title.textContent = job.title;
    this.title.title = job.title;
    this.stateTag.textContent = job.state;
    this.stateTag.dataset.state = job.state;
    const running = RUNNING.has(job.state);
    this.ring.hidden = !running;
    this.cancelBtn.hidden = !running;
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
      if (v.grid) v.grid.setTotal(s.rowCount);
      this.updateStmtTab(v);
    }
    this.updateExportButtons();
    if (this.activeTab === '' && this.stmts.size > 0) this.selectTab(this.defaultTab());
    this.updateStatus();
  }

  private addStatement(s: StatementSnapshot): StmtView {
    const tab = custom('vscode-panel-tab', 'tab-stmt');
    tab.id = `tab-stmt-${s.stmt}`;
    const tabLabel = h('span', 'tab-label');
    const tabBadge = custom('vscode-badge', 'tab-badge');
    tab.append(tabLabel, tabBadge);
    const view = custom('vscode-panel-view', 'view-stmt');
    view.id = `view-stmt-${s.stmt}`;
    // Keep statement order: insert before any later statement, else before Messages.
    let beforeTab: Element = this.msgTab;
    let beforeView: Element = this.msgView;
    for (const o of this.stmts.values()) {
      if (o.stmt > s.stmt && o.tab.compareDocumentPosition(beforeTab) & Node.DOCUMENT_POSITION_FOLLOWING) {
        beforeTab = o.tab;
        beforeView = o.view;
      }
    }
    this.panels.insertBefore(tab, beforeTab);
    this.panels.insertBefore(view, beforeView);
    const v: StmtView = { stmt: s.stmt, snapshot: s, tab, tabLabel, tabBadge, view };
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
          if (this.detailOpen) this.showDetail();
        },
        onCopy: (range) => void this.copy(v, range),
        onOpenDetail: () => this.toggleDetail(true),
        onViewChange: () => this.saveStateSoon(),
      },
      { row: saved?.row, left: saved?.left, widths: this.state?.widths?.[String(v.stmt)] },
    );
    v.cache = cache;
    v.grid = grid;
    if (columns.length === 0) {
      v.tagEl = h('div', 'command-tag', 'The statement returned rows without columns.');
      v.view.appendChild(v.tagEl);
    }
    v.view.appendChild(grid.root);
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
        v.tagEl = h('div', 'command-tag');
        v.view.appendChild(v.tagEl);
      }
      const running = this.job !== null && RUNNING.has(this.job.state);
      v.tagEl.textContent = s.commandTag ?? (running ? 'Running…' : 'No result.');
    }
  }

  private addMessages(from: number, list: ServerMessage[]): void {
    // `from` lets a repeated push (after a webview reload) be ignored instead of duplicated.
    const skip = this.messages.length - from;
    for (let i = Math.max(0, skip); i < list.length; i++) {
      this.messages.push(list[i]);
      this.msgList.appendChild(this.renderMessage(list[i]));
    }
    this.updateMessagesBadge();
  }

  private renderMessage(m: ServerMessage): HTMLElement {
    const box = h('div', `msg ${m.kind}`);
    const head = h('div', 'msg-head');
    head.append(h('span', 'msg-sev', m.severity || m.kind.toUpperCase()), h('span', 'msg-code', m.sqlstate));
    if (m.stmt > 0) head.append(h('span', 'msg-stmt', `statement ${m.stmt}`));
    if (m.position !== undefined) {
      head.append(h('span', 'msg-pos', `at character ${m.position}`));
      const go = custom('vscode-button', 'goto', 'Go to error');
      go.setAttribute('appearance', 'secondary');
      const position = m.position;
      go.addEventListener('click', () => this.send({ type: 'goToError', position }));
      head.append(go);
    }
    box.append(head, h('div', 'msg-text', m.message));
    const extra: [string, string | undefined][] = [
      ['DETAIL', m.detail],
      ['HINT', m.hint],
      ['CONTEXT', m.context],
    ];
    for (const [label, text] of extra) {
      if (!text) continue;
      const line = h('div', 'msg-extra');
      line.append(h('span', 'msg-label', `${label}: `), h('span', 'msg-extra-text', text));
      box.append(line);
    }
    return box;
  }

  private updateMessagesBadge(): void {
    this.msgBadge.textContent = String(this.messages.length);
    this.msgBadge.hidden = this.messages.length === 0;
    this.msgTab.classList.toggle('has-error', this.messages.some((m) => m.kind === 'error'));
    if (this.messages.length === 0 && !this.msgList.firstChild) {
      // An empty list still says something, so the tab is not a blank page.
      this.msgList.appendChild(h('div', 'msg-empty', 'No messages.'));
    } else if (this.messages.length > 0) {
      this.msgList.querySelector('.msg-empty')?.remove();
    }
  }

  private showBanner(text: string, isError: boolean): void {
    this.banner.textContent = text;
    this.banner.classList.toggle('error', isError);
    this.banner.hidden = false;
  }

  // ------------------------------------------------------------------------------------------
  // Tabs, state

  private selectTab(id: string): void {
    const tabId = id === 'messages' ? 'tab-messages' : `tab-stmt-${id.slice(5)}`;
    this.onTabChanged(id);
    this.pendingTab = tabId;
    // The toolkit learns about newly inserted tabs on slotchange (a microtask later); setting
    // activeid before that makes it fall back to the first tab it knows. So set it afterwards,
    // and check that it took (retrying for a few frames) before listening to the toolkit again.
    let tries = 0;
    const apply = (): void => {
      if (this.pendingTab !== tabId) return; // a newer selection superseded this one
      this.panels.setAttribute('activeid', tabId);
      const active = (this.panels as HTMLElement & { activetab?: HTMLElement }).activetab;
      if (active?.id === tabId || ++tries > 10) {
        this.pendingTab = undefined;
        this.activeStmt()?.grid?.activate();
      } else {
        requestAnimationFrame(apply);
      }
    };
    setTimeout(apply, 0);
  }

  private onTabChanged(id: string): void {
    if (id === this.activeTab) return;
    this.activeTab = id;
    const v = this.activeStmt();
    // The grid measured 0×0 while its tab was hidden.
    if (v?.grid) requestAnimationFrame(() => v.grid?.activate());
    this.updateExportButtons();
    this.updateStatus();
    if (this.detailOpen) this.showDetail();
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
    for (const b of [this.csvBtn, this.jsonBtn]) {
      if (enabled) b.removeAttribute('disabled');
      else b.setAttribute('disabled', '');
    }
  }

  private exportActive(format: ExportFormat): void {
    const v = this.activeStmt();
    if (v?.snapshot.columns) this.send({ type: 'export', stmt: v.stmt, format });
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
    return { v: 1, jobId: this.jobId, activeTab: this.activeTab || undefined, scroll, widths };
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
    if (v?.grid) this.status.textContent = v.grid.describe();
    else if (this.activeTab === 'messages') this.status.textContent = `${this.messages.length} messages`;
    else this.status.textContent = '';
  }

  // ------------------------------------------------------------------------------------------
  // Detail pane

  private toggleDetail(open: boolean): void {
    this.detailOpen = open;
    this.detail.hidden = !open;
    this.detailBtn.classList.toggle('active', open);
    if (open) this.showDetail();
    // The grid lost height to the pane; let it re-measure.
    this.activeStmt()?.grid?.activate();
  }

  private showDetail(): void {
    const v = this.activeStmt();
    const pos = v?.grid?.focused();
    const seq = ++this.detailSeq;
    this.detailFull = undefined;
    this.copyValueBtn.hidden = true;
    if (!v || !v.grid || !v.cache || !pos) {
      this.detailLabel.textContent = 'Select a cell to see its whole value.';
      this.detailValue.value = '';
      return;
    }
    const col = v.grid.columns[pos.col];
    const where = `Row ${formatCount(pos.row + 1)} · ${col.name} (${col.type})`;
    const row = v.cache.get(pos.row);
    if (!row) {
      this.detailLabel.textContent = where;
      this.detailValue.value = '';
      return;
    }
    const value = row[pos.col] ?? null;
    this.detail.classList.toggle('is-null', value === null);
    const show = (full: string | null): void => {
      this.detailFull = full ?? undefined;
      this.copyValueBtn.hidden = full === null;
      if (full === null) {
        this.detailLabel.textContent = `${where} · NULL`;
        this.detailValue.value = 'NULL';
        return;
      }
      // Laying out megabytes of text in a text area takes seconds; beyond DETAIL_MAX the pane
      // shows the beginning and "Copy value" carries the whole value.
      const shown = cutValue(full, DETAIL_MAX);
      this.detailLabel.textContent =
        shown.length < full.length
          ? `${where} · ${formatCount(full.length)} characters, showing the first ${formatCount(shown.length)}`
          : `${where} · ${formatCount(full.length)} characters`;
      this.detailValue.value = shown;
    };
    if (value !== null && v.cache.isCut(pos.row, pos.col)) {
      // The grid holds a shortened copy; fetch this one row whole.
      this.detailLabel.textContent = `${where} · loading the whole value…`;
      this.detailValue.value = value;
      this.requester.request(v.stmt, pos.row, 1, 'detail').then(
        (reply) => {
          if (seq === this.detailSeq) show(reply.rows[0]?.[pos.col] ?? null);
        },
        () => undefined,
      );
    } else {
      show(value);
    }
  }

  private copyDetailValue(): void {
    const v = this.activeStmt();
    const pos = v?.grid?.focused();
    if (!v || !pos || this.detailFull === undefined) return;
    this.send({ type: 'copyText', text: this.detailFull, stmt: v.stmt, rows: [pos.row, pos.row], cols: [pos.col, pos.col] });
    this.status.textContent = `Copied ${formatCount(this.detailFull.length)} characters`;
  }

  // ------------------------------------------------------------------------------------------
  // Copy

  private readonly onCopyEvent = (e: ClipboardEvent): void => {
    // Only when the grid has focus; text selected in the detail pane copies normally.
    const v = this.activeStmt();
    if (!v?.grid || !v.grid.root.contains(document.activeElement)) return;
    const range = v.grid.selection();
    if (!range) return;
    e.preventDefault();
    void this.copy(v, range);
  };

  private async copy(v: StmtView, range: CellRange): Promise<void> {
    if (!v.cache) return;
    let r1 = range.r1;
    const wanted = range.r1 - range.r0 + 1;
    if (wanted > MAX_COPY_ROWS) {
      r1 = range.r0 + MAX_COPY_ROWS - 1;
      this.send({ type: 'info', message: `Copied the first ${formatCount(MAX_COPY_ROWS)} of ${formatCount(wanted)} selected rows; use Export for the whole result.` });
    }
    const count = r1 - range.r0 + 1;
    // Rows shown in the grid may have been shortened for display, so copy always asks for whole rows.
    this.status.textContent = `Copying ${formatCount(count)} rows…`;
    const rows = await fetchRange(this.requester, v.stmt, range.r0, count);
    const lines: string[] = [];
    for (const row of rows) {
      const fields: string[] = [];
      for (let c = range.c0; c <= range.c1; c++) fields.push(tsvField(row[c] ?? null));
      lines.push(fields.join('\t'));
    }
    const text = lines.join('\n');
    this.send({ type: 'copyText', text, stmt: v.stmt, rows: [range.r0, range.r0 + rows.length - 1], cols: [range.c0, range.c1] });
    this.status.textContent = `Copied ${formatCount(rows.length)} × ${formatCount(range.c1 - range.c0 + 1)} cells`;
  }

  /** Counters for the benchmark and tests (read-only; no data). */
  stats(): { renders: number; requests: number; cachedBlocks: number } {
    const v = this.activeStmt();
    return { renders: v?.grid?.renders ?? 0, requests: v?.cache?.requests ?? 0, cachedBlocks: v?.cache?.cachedBlocks ?? 0 };
  }
}
