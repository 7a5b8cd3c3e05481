// The bar above a statement's grid: quick filter (all columns or one), per-column conditions,
// what copy and export take (the rows as shown or all rows; TSV or Markdown), statistics and
// chart buttons, and the status of a running operation with its Cancel. Plus the find bar
// (Ctrl/Cmd+F). Form fields are native <input>/<select> themed with VS Code's variables: they
// are keyboard-accessible and labelled as they are; buttons come from the toolkit.

import type { ColumnInfo } from '../src/core/model';
import { CONDITION_OPS, type ConditionOpName, type ConditionSpec, type CopyFormat, type RowScope } from '../src/protocol';
import { secondaryButtons } from './buttons';
import { el } from './dom';

const OP_LABELS: Record<ConditionOpName, string> = {
  eq: '=',
  ne: '≠',
  lt: '<',
  le: '≤',
  gt: '>',
  ge: '≥',
  between: 'between',
  contains: 'contains',
  isnull: 'is null',
  notnull: 'is not null',
};

export interface ViewBarEvents {
  /** Quick filter or conditions changed (already debounced). */
  onFilter(quick: string, quickCol: number | undefined, conditions: ConditionSpec[]): void;
  onClearView(): void;
  onCancelOp(): void;
  onCopy(): void;
  onStats(): void;
  onChart(): void;
}

function labelled(text: string, control: HTMLElement, cls: string): HTMLLabelElement {
  const l = el('label', cls);
  l.append(el('span', 'bar-label', text), control);
  return l;
}

function option(value: string, text: string): HTMLOptionElement {
  const o = el('option', undefined, text);
  o.value = value;
  return o;
}

export class ViewBar {
  readonly root = el('div', 'viewbar');
  readonly conditionsRoot = el('div', 'conditions');
  readonly quick = el('input', 'quick-filter');
  readonly quickCol = el('select', 'quick-col');
  readonly scope = el('select', 'row-scope');
  readonly copyFormat = el('select', 'copy-format');
  private readonly btn = secondaryButtons({
    cond: ['conditions-btn', 'Conditions'],
    clear: ['clear-view', 'Clear'],
    copy: ['copy-btn', 'Copy', 'Copy the selection (Ctrl+C) in the chosen format'],
    stats: ['stats-btn', 'Statistics', 'Statistics of the focused column'],
    chart: ['chart-btn', 'Chart'],
    cancel: ['op-cancel', 'Cancel'],
  });
  readonly opStatus = el('span', 'op-status');
  private readonly condList = el('div', 'cond-list');
  private columns: ColumnInfo[] = [];
  private timer = 0;

  constructor(private readonly ev: ViewBarEvents) {
    this.root.setAttribute('role', 'toolbar');
    this.root.setAttribute('aria-label', 'Sort, filter and tools');
    this.quick.type = 'search';
    this.quick.placeholder = 'Filter rows…';
    this.quick.setAttribute('aria-label', 'Quick filter: rows containing this text (case-insensitive)');
    this.quickCol.setAttribute('aria-label', 'Quick filter column');
    this.scope.append(option('shown', 'As shown'), option('all', 'All rows'));
    this.scope.setAttribute('aria-label', 'Rows that copy and export take');
    this.copyFormat.append(option('tsv', 'TSV'), option('markdown', 'Markdown'));
    this.copyFormat.setAttribute('aria-label', 'Copy format');
    this.btn.cond.setAttribute('aria-expanded', 'false');
    this.btn.cond.setAttribute('aria-controls', 'conditions');
    this.opStatus.setAttribute('role', 'status');
    this.opStatus.setAttribute('aria-live', 'polite');
    this.btn.cancel.hidden = true;
    const filterBox = el('span', 'filter-box');
    filterBox.append(this.quick, this.quickCol);
    this.root.append(
      filterBox,
      this.btn.cond,
      this.btn.clear,
      this.opStatus,
      this.btn.cancel,
      el('span', 'spacer'),
      labelled('Rows', this.scope, 'scope-label'),
      labelled('Copy as', this.copyFormat, 'format-label'),
      this.btn.copy,
      this.btn.stats,
      this.btn.chart,
    );
    this.quick.addEventListener('input', () => this.changedSoon());
    this.quick.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') this.changedNow();
      if (e.key === 'Escape' && this.quick.value !== '') {
        e.stopPropagation();
        this.quick.value = '';
        this.changedNow();
      }
    });
    this.quickCol.addEventListener('change', () => this.changedNow());
    this.btn.cond.addEventListener('click', () => this.toggleConditions());
    this.btn.clear.addEventListener('click', () => {
      this.quick.value = '';
      this.condList.replaceChildren();
      this.ev.onClearView();
    });
    this.btn.cancel.addEventListener('click', () => this.ev.onCancelOp());
    this.btn.copy.addEventListener('click', () => this.ev.onCopy());
    this.btn.stats.addEventListener('click', () => this.ev.onStats());
    this.btn.chart.addEventListener('click', () => this.ev.onChart());

    this.conditionsRoot.id = 'conditions';
    this.conditionsRoot.hidden = true;
    this.conditionsRoot.setAttribute('role', 'group');
    this.conditionsRoot.setAttribute('aria-label', 'Column conditions');
    const add = el('vscode-button', 'cond-add', 'Add condition');
    const apply = el('vscode-button', 'cond-apply', 'Apply');
    add.setAttribute('appearance', 'secondary');
    add.addEventListener('click', () => this.addCondition());
    apply.addEventListener('click', () => this.changedNow());
    const actions = el('div', 'cond-actions');
    actions.append(add, apply);
    this.conditionsRoot.append(this.condList, actions);
    this.conditionsRoot.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.target as HTMLElement).tagName === 'INPUT') this.changedNow();
    });
  }

  get rowScope(): RowScope {
    return this.scope.value === 'all' ? 'all' : 'shown';
  }

  get format(): CopyFormat {
    return this.copyFormat.value === 'markdown' ? 'markdown' : 'tsv';
  }

  /** Shows a statement's columns and its current filter. */
  bind(columns: ColumnInfo[], quick: string, quickCol: number | undefined, conditions: ConditionSpec[]): void {
    this.columns = columns;
    this.quickCol.replaceChildren(option('', 'All columns'), ...columns.map((c, i) => option(String(i), c.name)));
    this.quick.value = quick;
    this.quickCol.value = quickCol === undefined ? '' : String(quickCol);
    this.condList.replaceChildren();
    for (const c of conditions) this.addCondition(c);
  }

  setBusy(text: string, cancellable: boolean): void {
    this.opStatus.textContent = text;
    this.btn.cancel.hidden = !cancellable;
  }

  setEnabled(enabled: boolean): void {
    this.root.hidden = !enabled;
    if (!enabled) this.conditionsRoot.hidden = true;
  }

  private toggleConditions(): void {
    const open = this.conditionsRoot.hidden;
    this.conditionsRoot.hidden = !open;
    this.btn.cond.setAttribute('aria-expanded', String(open));
    if (open && this.condList.childElementCount === 0) this.addCondition();
    if (open) this.conditionsRoot.querySelector('select')?.focus();
  }

  private addCondition(c?: ConditionSpec): void {
    const row = el('div', 'cond');
    const col = el('select', 'cond-col');
    col.setAttribute('aria-label', 'Column');
    col.append(...this.columns.map((cc, i) => option(String(i), cc.name)));
    const op = el('select', 'cond-op');
    op.setAttribute('aria-label', 'Comparison');
    op.append(...CONDITION_OPS.map((o) => option(o, OP_LABELS[o])));
    const v1 = el('input', 'cond-value');
    v1.setAttribute('aria-label', 'Value');
    const v2 = el('input', 'cond-value2');
    v2.setAttribute('aria-label', 'Upper bound');
    const remove = el('vscode-button', 'cond-remove', 'Remove');
    remove.setAttribute('appearance', 'secondary');
    remove.setAttribute('aria-label', 'Remove this condition');
    const sync = (): void => {
      v1.hidden = op.value === 'isnull' || op.value === 'notnull';
      v2.hidden = op.value !== 'between';
    };
    op.addEventListener('change', sync);
    remove.addEventListener('click', () => {
      row.remove();
      this.changedNow();
    });
    if (c) {
      col.value = String(c.col);
      op.value = c.op;
      v1.value = c.value ?? '';
      v2.value = c.value2 ?? '';
    }
    sync();
    row.append(col, op, v1, v2, remove);
    this.condList.append(row);
    if (!c) col.focus();
  }

  /** The conditions as entered; incomplete ones (no value) are left out. */
  private conditions(): ConditionSpec[] {
    const out: ConditionSpec[] = [];
    for (const row of this.condList.querySelectorAll<HTMLElement>('.cond')) {
      const col = Number(row.querySelector<HTMLSelectElement>('.cond-col')!.value);
      const op = row.querySelector<HTMLSelectElement>('.cond-op')!.value as ConditionOpName;
      const value = row.querySelector<HTMLInputElement>('.cond-value')!.value;
      const value2 = row.querySelector<HTMLInputElement>('.cond-value2')!.value;
      if (op === 'isnull' || op === 'notnull') out.push({ col, op });
      else if (op === 'between') {
        if (value !== '' && value2 !== '') out.push({ col, op, value, value2 });
      } else if (value !== '') out.push({ col, op, value });
    }
    return out;
  }

  private changedSoon(): void {
    clearTimeout(this.timer);
    this.timer = window.setTimeout(() => this.changedNow(), 250);
  }

  private changedNow(): void {
    clearTimeout(this.timer);
    const qc = this.quickCol.value;
    this.ev.onFilter(this.quick.value, qc === '' ? undefined : Number(qc), this.conditions());
  }
}

export interface FindEvents {
  onFind(text: string, forward: boolean): void;
  onClose(): void;
}

/** Ctrl/Cmd+F: text, "k of n", previous/next, close. */
export class FindBar {
  readonly root = el('div', 'findbar');
  readonly input = el('input', 'find-input');
  readonly count = el('span', 'find-count');
  private readonly btn = secondaryButtons({ prev: ['find-prev', 'Previous'], next: ['find-next', 'Next'], close: ['find-close', 'Close'] });
  private timer = 0;

  constructor(private readonly ev: FindEvents) {
    this.root.hidden = true;
    this.root.setAttribute('role', 'search');
    this.input.type = 'search';
    this.input.placeholder = 'Find';
    this.input.setAttribute('aria-label', 'Find in result (Enter: next, Shift+Enter: previous)');
    this.count.setAttribute('role', 'status');
    this.count.setAttribute('aria-live', 'polite');
    this.root.append(this.input, this.count, this.btn.prev, this.btn.next, this.btn.close);
    this.input.addEventListener('input', () => {
      clearTimeout(this.timer);
      this.timer = window.setTimeout(() => this.ev.onFind(this.input.value, true), 200);
    });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === 'F3') {
        e.preventDefault();
        clearTimeout(this.timer);
        this.ev.onFind(this.input.value, !e.shiftKey);
      } else if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        this.ev.onClose();
      }
    });
    this.btn.prev.addEventListener('click', () => this.ev.onFind(this.input.value, false));
    this.btn.next.addEventListener('click', () => this.ev.onFind(this.input.value, true));
    this.btn.close.addEventListener('click', () => this.ev.onClose());
  }

  open(): void {
    this.root.hidden = false;
    this.input.focus();
    this.input.select();
  }

  hide(): void {
    this.root.hidden = true;
  }

  get isOpen(): boolean {
    return !this.root.hidden;
  }
}
