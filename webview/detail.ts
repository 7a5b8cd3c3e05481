// The detail pane under the grid: the whole value of the focused cell, with "Copy value". The
// grid holds values shortened for display; a shortened one is fetched whole (one row) when shown.
// Laying out megabytes of text in a text area takes seconds, so the pane shows at most
// DETAIL_MAX characters and "Copy value" carries the whole value.

import { cutValue } from '../src/protocol';
import { el } from './dom';
import { formatCount } from './format';
import type { Grid } from './grid';
import type { Requester, RowCache } from './rows';

/** Characters the pane lays out. */
const DETAIL_MAX = 256 * 1024;

/** The statement whose focused cell the pane shows. */
export interface DetailSource {
  stmt: number;
  grid: Grid;
  cache: RowCache;
}

export class DetailPane {
  readonly root = el('div', 'detail');
  private readonly label = el('span', 'detail-label');
  private readonly copyBtn = el('vscode-button', 'copy-value', 'Copy value');
  private readonly value = el('vscode-text-area', 'detail-value') as HTMLElement & { value: string };
  /** The whole value of the focused cell, once known (for "Copy value"). */
  private full: string | undefined;
  /** Bumped per show(), so a late answer for a cell no longer focused is dropped. */
  private seq = 0;
  private shown = false;

  constructor(
    private readonly requester: Requester,
    private readonly onCopy: (text: string) => void,
  ) {
    this.root.hidden = true;
    this.value.setAttribute('readonly', '');
    this.value.setAttribute('resize', 'vertical');
    this.value.setAttribute('rows', '6');
    this.copyBtn.setAttribute('appearance', 'secondary');
    this.copyBtn.hidden = true;
    this.copyBtn.addEventListener('click', () => {
      if (this.full !== undefined) this.onCopy(this.full);
    });
    const head = el('div', 'detail-head');
    head.append(this.label, this.copyBtn);
    this.root.append(head, this.value);
  }

  get isOpen(): boolean {
    return this.shown;
  }

  setOpen(open: boolean): void {
    this.shown = open;
    this.root.hidden = !open;
  }

  show(src: DetailSource | undefined): void {
    const pos = src?.grid.focused();
    const seq = ++this.seq;
    this.full = undefined;
    this.copyBtn.hidden = true;
    if (!src || !pos) {
      this.label.textContent = 'Select a cell to see its whole value.';
      this.value.value = '';
      return;
    }
    const col = src.grid.columns[pos.col];
    const where = `Row ${formatCount(pos.row + 1)} · ${col.name} (${col.type})`;
    const row = src.cache.get(pos.row);
    if (!row) {
      this.label.textContent = where;
      this.value.value = '';
      return;
    }
    const value = row[pos.col] ?? null;
    this.root.classList.toggle('is-null', value === null);
    if (value !== null && src.cache.isCut(pos.row, pos.col)) {
      this.label.textContent = `${where} · loading the whole value…`;
      this.value.value = value;
      this.requester.request(src.stmt, pos.row, 1, undefined, src.cache.view).then(
        (reply) => {
          if (seq === this.seq) this.showValue(where, reply.rows[0]?.[pos.col] ?? null);
        },
        () => undefined,
      );
    } else {
      this.showValue(where, value);
    }
  }

  private showValue(where: string, full: string | null): void {
    this.full = full ?? undefined;
    this.copyBtn.hidden = full === null;
    if (full === null) {
      this.label.textContent = `${where} · NULL`;
      this.value.value = 'NULL';
      return;
    }
    const shown = cutValue(full, DETAIL_MAX);
    this.label.textContent =
      shown.length < full.length
        ? `${where} · ${formatCount(full.length)} characters, showing the first ${formatCount(shown.length)}`
        : `${where} · ${formatCount(full.length)} characters`;
    this.value.value = shown;
  }
}
