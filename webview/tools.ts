// Sort, filter, find, statistics and chart on the page: the view bar, the find bar and the two
// panes, and per statement the view the grid shows. The host computes every view and answer
// (src/panel/viewOps.ts); this keeps what the user asked for, tells the grid which rows it shows
// (view positions, named by the view's version), and keeps the spec in the persisted state.

import type { ColumnInfo } from '../src/core/model';
import type { ConditionSpec, HostMessage, OpName, SortSpec, ViewSpec, WebviewMessage } from '../src/protocol';
import { ChartPane } from './chartPane';
import { el } from './dom';
import { formatCount } from './format';
import type { Grid } from './grid';
import type { RowCache } from './rows';
import { StatsPane } from './statsPane';
import { FindBar, ViewBar } from './viewBar';

/** What the tools need of a statement's tab. */
export interface ToolTarget {
  stmt: number;
  columns: ColumnInfo[];
  rowCount: number;
  grid: Grid;
  cache: RowCache;
}

interface StmtTools {
  /** What the user asked for, as last sent to the host. */
  spec: ViewSpec;
  sent: string;
  /** Rows the grid shows when a filter is active; undefined = all rows. */
  viewRows: number | undefined;
  baseRows: number;
  busy: string;
  error: string;
}

export const isIdentitySpec = (s: ViewSpec): boolean => (s.sort?.length ?? 0) === 0 && (s.quick ?? '') === '' && (s.conditions?.length ?? 0) === 0;

/** A spec without empty parts, so equal views compare equal. */
function normalize(s: ViewSpec): ViewSpec {
  const out: ViewSpec = {};
  if (s.sort && s.sort.length > 0) out.sort = s.sort.map((k) => (k.desc ? { col: k.col, desc: true } : { col: k.col }));
  if (s.quick) {
    out.quick = s.quick;
    if (s.quickCol !== undefined) out.quickCol = s.quickCol;
  }
  if (s.conditions && s.conditions.length > 0) out.conditions = s.conditions;
  return out;
}

const OP_WORDS: Record<OpName, string> = { view: 'Sorting and filtering', find: 'Finding', stats: 'Computing statistics', chart: 'Computing the chart' };

export class Tools {
  readonly viewBar: ViewBar;
  readonly findBar: FindBar;
  readonly stats: StatsPane;
  readonly chart: ChartPane;
  /** Announces sort changes to screen readers. */
  readonly announcer = el('div', 'sr-only');
  private readonly byStmt = new Map<number, StmtTools>();
  private runningOp: OpName | undefined;

  constructor(
    private readonly send: (msg: WebviewMessage) => void,
    private readonly active: () => ToolTarget | undefined,
    private readonly onChanged: () => void,
  ) {
    this.announcer.setAttribute('aria-live', 'polite');
    this.viewBar = new ViewBar({
      onFilter: (quick, quickCol, conditions) => this.filter(quick, quickCol, conditions),
      onClearView: () => this.apply(this.active(), {}),
      onCancelOp: () => {
        const t = this.active();
        if (t && this.runningOp) this.send({ type: 'cancelOp', stmt: t.stmt, op: this.runningOp });
      },
      onCopy: () => this.onCopyButton?.(),
      onStats: () => this.requestStats(),
      onChart: () => this.openChart(),
    });
    this.findBar = new FindBar({
      onFind: (text, forward) => this.find(text, forward),
      onClose: () => {
        this.findBar.hide();
        this.active()?.grid.clearFound();
        this.active()?.grid.focus();
      },
    });
    this.stats = new StatsPane(() => this.closePane(this.stats));
    this.chart = new ChartPane(
      {
        draw: (kind, x, y) => {
          const t = this.active();
          if (t) this.send({ type: 'getChart', stmt: t.stmt, kind, x, y });
        },
        savePng: (name, png) => this.send({ type: 'saveImage', name, png }),
      },
      () => this.closePane(this.chart),
    );
    document.addEventListener('keydown', (e) => {
      if ((e.ctrlKey || e.metaKey) && !e.altKey && (e.key === 'f' || e.key === 'F')) {
        if (!this.active()) return;
        e.preventDefault();
        this.findBar.open();
      } else if (e.key === 'F3' && this.findBar.input.value !== '') {
        e.preventDefault();
        this.find(this.findBar.input.value, !e.shiftKey);
      }
    });
  }

  /** Set by the app: copy the selection with the bar's scope and format. */
  onCopyButton: (() => void) | undefined;

  private closePane(p: StatsPane | ChartPane): void {
    p.close();
    this.active()?.grid.activate();
    this.active()?.grid.focus();
  }

  private state(stmt: number): StmtTools {
    let s = this.byStmt.get(stmt);
    if (!s) {
      s = { spec: {}, sent: '{}', viewRows: undefined, baseRows: 0, busy: '', error: '' };
      this.byStmt.set(stmt, s);
    }
    return s;
  }

  /** Forgets every statement (the host sent a fresh init); returns the specs to restore. */
  reset(): Record<string, ViewSpec> {
    const specs = this.specs();
    this.byStmt.clear();
    this.runningOp = undefined;
    return specs;
  }

  /** Rows the statement's grid shows. */
  totalFor(stmt: number, rowCount: number): number {
    return this.byStmt.get(stmt)?.viewRows ?? rowCount;
  }

  specs(): Record<string, ViewSpec> {
    const out: Record<string, ViewSpec> = {};
    for (const [stmt, s] of this.byStmt) if (!isIdentitySpec(s.spec)) out[String(stmt)] = s.spec;
    return out;
  }

  /** A grid was created: restore its persisted view. */
  attach(t: ToolTarget, saved: ViewSpec | undefined): void {
    const s = this.state(t.stmt);
    s.baseRows = t.rowCount;
    if (saved && !isIdentitySpec(saved)) this.apply(t, saved);
  }

  /** The active tab changed (or its columns arrived). */
  bindActive(): void {
    const t = this.active();
    this.viewBar.setEnabled(t !== undefined);
    this.findBar.hide();
    this.stats.close();
    this.chart.close();
    if (!t) return;
    const s = this.state(t.stmt);
    this.viewBar.bind(t.columns, s.spec.quick ?? '', s.spec.quickCol, s.spec.conditions ?? []);
    this.viewBar.setBusy(s.busy || s.error, s.busy !== '' && this.runningOp !== undefined);
  }

  /** Header click / S key: cycle ascending → descending → off; `add` keeps the other keys. */
  sort(col: number, add: boolean): void {
    const t = this.active();
    if (!t) return;
    const s = this.state(t.stmt);
    const keys: SortSpec[] = add ? [...(s.spec.sort ?? [])] : (s.spec.sort ?? []).filter((k) => k.col === col);
    const i = keys.findIndex((k) => k.col === col);
    if (i < 0) keys.push({ col });
    else if (!keys[i].desc) keys[i] = { col, desc: true };
    else keys.splice(i, 1);
    this.apply(t, { ...s.spec, sort: keys });
  }

  private filter(quick: string, quickCol: number | undefined, conditions: ConditionSpec[]): void {
    const t = this.active();
    if (!t) return;
    const s = this.state(t.stmt);
    this.apply(t, { sort: s.spec.sort, quick, quickCol, conditions });
  }

  private apply(t: ToolTarget | undefined, spec: ViewSpec): void {
    if (!t) return;
    const s = this.state(t.stmt);
    const norm = normalize(spec);
    s.spec = norm;
    const key = JSON.stringify(norm);
    t.grid.setSort((norm.sort ?? []).map((k) => ({ col: k.col, desc: k.desc === true })));
    this.announceSort(t, norm);
    if (key === s.sent) return;
    s.sent = key;
    s.error = '';
    s.busy = isIdentitySpec(norm) ? '' : (norm.sort?.length ?? 0) > 0 ? 'Sorting…' : 'Filtering…';
    this.runningOp = isIdentitySpec(norm) ? undefined : 'view';
    if (this.active()?.stmt === t.stmt) this.viewBar.setBusy(s.busy, s.busy !== '');
    this.send({ type: 'setView', stmt: t.stmt, spec: norm });
    this.onChanged();
  }

  private announceSort(t: ToolTarget, spec: ViewSpec): void {
    const keys = spec.sort ?? [];
    const text =
      keys.length === 0
        ? 'Not sorted.'
        : `Sorted by ${keys.map((k) => `${t.columns[k.col]?.name ?? k.col} ${k.desc ? 'descending' : 'ascending'}`).join(', then ')}.`;
    if (this.announcer.textContent !== text) this.announcer.textContent = text;
  }

  private find(text: string, forward: boolean): void {
    const t = this.active();
    if (!t) return;
    const pos = t.grid.focused();
    if (text !== '') this.findBar.count.textContent = 'Searching…';
    this.send({ type: 'find', stmt: t.stmt, text, row: pos?.row ?? -1, col: pos?.col ?? -1, forward });
  }

  private requestStats(): void {
    const t = this.active();
    if (!t || t.columns.length === 0) return;
    const col = t.grid.focused()?.col ?? 0;
    this.chart.close();
    this.stats.loading(t.columns[col]);
    this.runningOp = 'stats';
    this.send({ type: 'getStats', stmt: t.stmt, col });
    t.grid.activate();
  }

  private openChart(): void {
    const t = this.active();
    if (!t) return;
    this.stats.close();
    this.chart.setColumns(t.columns, t.grid.focused()?.col);
    this.chart.open();
    t.grid.activate();
  }

  /** Host messages for the tools; returns false for others. */
  handle(msg: HostMessage): boolean {
    const t = this.active();
    switch (msg.type) {
      case 'view':
        this.onView(msg);
        return true;
      case 'found':
        if (!t || msg.stmt !== t.stmt || msg.text !== this.findBar.input.value) return true;
        if (msg.hit) {
          t.grid.reveal(msg.hit.row, msg.hit.col);
          this.findBar.count.textContent = `${formatCount(msg.hit.ordinal)} of ${formatCount(msg.total)}`;
        } else {
          this.findBar.count.textContent = msg.text === '' ? '' : 'No matches';
        }
        return true;
      case 'stats':
        if (t && msg.stmt === t.stmt && t.columns[msg.stats.col]) {
          const s = this.state(t.stmt);
          const scope = s.viewRows !== undefined ? `${formatCount(msg.stats.count)} filtered rows` : `all ${formatCount(msg.stats.count)} rows`;
          this.stats.show(t.columns[msg.stats.col], msg.stats, scope);
          this.doneOp('stats');
        }
        return true;
      case 'chart':
        if (t && msg.stmt === t.stmt) {
          this.chart.show(msg.chart);
          this.doneOp('chart');
        }
        return true;
      case 'opProgress': {
        if (!t || msg.stmt !== t.stmt) return true;
        const pct = msg.total > 0 ? Math.min(99, (msg.done / msg.total) * 100) : 0;
        if (msg.op === 'stats') this.stats.progress(pct);
        if (msg.op === 'chart') this.chart.note.textContent = `Computing the chart… ${Math.floor(pct)}%`;
        if (msg.op === 'find') this.findBar.count.textContent = `Searching… ${Math.floor(pct)}%`;
        this.runningOp = msg.op;
        const s = this.state(msg.stmt);
        s.busy = `${OP_WORDS[msg.op]}… ${Math.floor(pct)}%`;
        this.viewBar.setBusy(s.busy, true);
        return true;
      }
      case 'opError': {
        const s = this.state(msg.stmt);
        s.busy = '';
        s.error = msg.op === 'view' && msg.message === 'Canceled.' ? 'Canceled: showing all rows.' : `${OP_WORDS[msg.op]} failed: ${msg.message}`;
        if (t && msg.stmt === t.stmt) {
          this.viewBar.setBusy(s.error, false);
          if (msg.op === 'find') this.findBar.count.textContent = msg.message;
          if (msg.op === 'chart') this.chart.note.textContent = msg.message;
          if (msg.op === 'stats') this.stats.close();
        }
        this.runningOp = undefined;
        return true;
      }
      default:
        return false;
    }
  }

  private doneOp(op: OpName): void {
    if (this.runningOp === op) this.runningOp = undefined;
    const t = this.active();
    if (!t) return;
    const s = this.state(t.stmt);
    if (s.busy.startsWith(OP_WORDS[op])) {
      s.busy = '';
      this.viewBar.setBusy(s.error, false);
    }
  }

  private onView(msg: Extract<HostMessage, { type: 'view' }>): void {
    const s = this.state(msg.stmt);
    const key = JSON.stringify(normalize(msg.spec));
    // Only the view last asked for counts; the host falls back to all rows on error or cancel.
    if (key !== s.sent && msg.error === undefined && !isIdentitySpec(msg.spec)) return;
    const target = this.targetFor(msg.stmt);
    if (key !== s.sent) {
      s.spec = normalize(msg.spec);
      s.sent = key;
    }
    const ident = isIdentitySpec(msg.spec);
    s.viewRows = ident ? undefined : msg.rows;
    s.baseRows = msg.baseRows;
    s.error = msg.error ? `Filter: ${msg.error}` : s.error.startsWith('Canceled') ? s.error : '';
    s.busy = msg.busy ? `Filtering… ${formatCount(msg.rows)} matches so far (${Math.floor((msg.busy.done / Math.max(1, msg.busy.total)) * 100)}%)` : '';
    if (!msg.busy && this.runningOp === 'view') this.runningOp = undefined;
    if (target) {
      target.cache.setView(ident ? undefined : msg.version);
      target.grid.invalidateRows();
      target.grid.setSort((s.spec.sort ?? []).map((k) => ({ col: k.col, desc: k.desc === true })));
      target.grid.setTotal(ident ? target.rowCount : msg.rows);
    }
    if (this.active()?.stmt === msg.stmt) {
      this.viewBar.setBusy(s.busy || s.error, msg.busy !== undefined);
      if (msg.error !== undefined) this.viewBar.bind(target?.columns ?? [], '', undefined, []);
    }
    this.onChanged();
  }

  /** Resolved by the app: the statement's grid, whether or not its tab is active. */
  targetFor: (stmt: number) => ToolTarget | undefined = () => undefined;

  /** "12 of 1,000 rows" while a filter is active. */
  describe(stmt: number): string | undefined {
    const s = this.byStmt.get(stmt);
    if (!s || s.viewRows === undefined) return undefined;
    return `${formatCount(s.viewRows)} of ${formatCount(s.baseRows)} rows`;
  }

  dispose(): void {
    this.chart.dispose();
  }
}
