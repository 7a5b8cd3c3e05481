// The virtualized result grid. Only the rows and columns in view (plus a small overscan) exist in
// the DOM, row elements are recycled, and the scroll space is compressed past the browser's
// maximum element height (see scrollMath.ts). Every value is placed with textContent.
//
// Structure (all inside .grid-root, which takes keyboard focus):
//   .grid-scroller  (overflow: auto; its scrollbars are the only real scrolling)
//     .grid-canvas  (sized to the columns' width and the (scaled) rows' height)
//       .grid-header  (sticky top: column name + type, resize handles, corner)
//       .grid-layer   (sticky below the header, one viewport tall: the row elements)
//
// Longer than the ~450 lines a module here aims for, on purpose: painting, selection, keyboard,
// pointer and column resizing all read and write the same scroll geometry, column offsets,
// recycled row elements and focus, and one class keeps those consistent within a frame. Pure
// parts live elsewhere (scrollMath.ts, format.ts, rows.ts).

import type { ColumnInfo, Row } from '../src/core/model';
import { NUMERIC_TYPE_OIDS } from '../src/protocol';
import { el } from './dom';
import { cellText, formatCount } from './format';
import type { RowCache } from './rows';
import { clamp, isScaled, scrollFromVirtual, scrollSpace, virtualFromScroll, type ScrollGeometry } from './scrollMath';

export const ROW_HEIGHT = 22;
export const HEADER_HEIGHT = 40;
const OVERSCAN_ROWS = 4;
const OVERSCAN_COLS = 1;
const MIN_COL_WIDTH = 40;

export interface CellPos {
  row: number;
  col: number;
}

/** Inclusive rectangle. */
export interface CellRange {
  r0: number;
  r1: number;
  c0: number;
  c1: number;
}

export interface GridCallbacks {
  /** The focused cell moved (the detail pane follows it). */
  onFocus(pos: CellPos | undefined): void;
  onCopy(range: CellRange): void;
  /** Enter or double-click: show the whole value. */
  onOpenDetail(): void;
  /** Scroll position or column widths changed (for persisted state). */
  onViewChange(): void;
  /** A header was clicked (or S pressed on a column): cycle its sort; `add` keeps the other keys. */
  onSort?(col: number, add: boolean): void;
}

/** A column's place in the sort: direction and (for several keys) its rank from 1. */
export interface HeaderSort {
  col: number;
  desc: boolean;
}

export interface GridInitial {
  row?: number;
  left?: number;
  widths?: number[];
}

interface RowEl {
  el: HTMLDivElement;
  gutter: HTMLDivElement;
  cells: HTMLDivElement[];
  /** Last geometry/class written per cell, so unchanged cells cost no style invalidation. */
  cellGeom: string[];
  cellCls: string[];
  row: number;
  key: string;
  /** Row offset (relative to the body's base row) last written to the transform. */
  pos: number;
  gutterLeft: number;
}

/** A first guess at a readable width from the name and type. */
function defaultWidth(col: ColumnInfo): number {
  const byName = col.name.length * 7 + 28;
  let byType = 140;
  if (NUMERIC_TYPE_OIDS.has(col.typeOid)) byType = 90;
  else if (col.typeOid === 16) byType = 60; // bool
  else if (col.typeOid === 2950) byType = 290; // uuid
  else if (col.typeOid === 1114 || col.typeOid === 1184) byType = 190; // timestamp(tz)
  else if (col.typeOid === 1082) byType = 100; // date
  else if (col.typeOid === 114 || col.typeOid === 3802) byType = 240; // json(b)
  return clamp(Math.max(byName, byType), 60, 320);
}

export class Grid {
  readonly root: HTMLDivElement;
  private readonly scroller: HTMLDivElement;
  private readonly canvas: HTMLDivElement;
  private readonly header: HTMLDivElement;
  private readonly corner: HTMLDivElement;
  private readonly layer: HTMLDivElement;
  /** Holds the rows; one transform on it per frame moves them all (see render). */
  private readonly body: HTMLDivElement;
  private baseRow = 0;
  private lastBodyY = NaN;
  private lastCornerLeft = NaN;
  private readonly numeric: boolean[];
  private widths: number[];
  private lefts: number[] = [];
  private gutterWidth = 48;
  private total = 0;
  private vTop = 0;
  /** scrollTop we set ourselves; a scroll event at this position keeps our precise vTop. */
  private ownScrollTop = -1;
  private viewHeight = 0;
  private viewWidth = 0;
  private anchor: CellPos | undefined;
  private focusPos: CellPos | undefined;
  private wholeRows = false;
  private wholeCols = false;
  private selVersion = 0;
  private layoutVersion = 0;
  private readonly rowEls = new Map<number, RowEl>();
  private readonly spare: RowEl[] = [];
  private headerCells: HTMLDivElement[] = [];
  private headerKey = '';
  private sortKeys: HeaderSort[] = [];
  private sortVersion = 0;
  /** The cell find stepped to, highlighted until the next find or selection. */
  private foundPos: CellPos | undefined;
  private frame = 0;
  private dragging: 'cells' | 'rows' | 'cols' | undefined;
  private resizing: { col: number; startX: number; startWidth: number } | undefined;
  private readonly resizeObserver: ResizeObserver;
  private pendingRestore: GridInitial | undefined;
  /** False until widths were fitted to the first rows (skipped when the user's widths were restored). */
  private autoSized: boolean;
  private disposed = false;
  /** Frames rendered; the benchmark reports it. */
  renders = 0;

  constructor(
    readonly columns: ColumnInfo[],
    private readonly cache: RowCache,
    private readonly cb: GridCallbacks,
    initial: GridInitial = {},
  ) {
    this.numeric = columns.map((c) => NUMERIC_TYPE_OIDS.has(c.typeOid));
    this.widths =
      initial.widths && initial.widths.length === columns.length
        ? initial.widths.map((w) => Math.max(MIN_COL_WIDTH, w))
        : columns.map(defaultWidth);
    this.pendingRestore = initial;
    this.autoSized = this.widths !== undefined && initial.widths !== undefined && initial.widths.length === columns.length;

    this.root = el('div', 'grid-root');
    this.root.tabIndex = 0;
    this.root.setAttribute('role', 'grid');
    this.root.setAttribute('aria-colcount', String(columns.length));
    this.scroller = el('div', 'grid-scroller');
    this.canvas = el('div', 'grid-canvas');
    this.header = el('div', 'grid-header');
    this.corner = el('div', 'grid-corner');
    this.corner.textContent = '#';
    this.header.appendChild(this.corner);
    this.layer = el('div', 'grid-layer');
    this.body = el('div', 'grid-body');
    this.layer.appendChild(this.body);
    this.canvas.append(this.header, this.layer);
    this.scroller.appendChild(this.canvas);
    this.root.appendChild(this.scroller);
    this.computeLefts();

    this.scroller.addEventListener('scroll', this.onScroll, { passive: true });
    // Not passive: when the scroll space is compressed the wheel is handled in virtual pixels.
    this.scroller.addEventListener('wheel', this.onWheel, { passive: false });
    this.root.addEventListener('keydown', this.onKey);
    this.layer.addEventListener('pointerdown', this.onPointerDown);
    this.layer.addEventListener('pointermove', this.onPointerMove);
    this.layer.addEventListener('pointerup', this.onPointerUp);
    this.layer.addEventListener('dblclick', () => this.cb.onOpenDetail());
    this.header.addEventListener('pointerdown', this.onHeaderDown);
    this.header.addEventListener('pointermove', this.onHeaderMove);
    this.header.addEventListener('pointerup', this.onHeaderUp);
    this.resizeObserver = new ResizeObserver(() => this.measure());
    this.resizeObserver.observe(this.root);
  }

  dispose(): void {
    this.disposed = true;
    this.resizeObserver.disconnect();
    if (this.frame) cancelAnimationFrame(this.frame);
    this.root.remove();
  }

  setTotal(n: number): void {
    if (n === this.total) return;
    const digitsChanged = String(n).length !== String(this.total).length;
    this.total = n;
    this.cache.setTotal(n);
    this.root.setAttribute('aria-rowcount', String(n));
    if (digitsChanged) this.computeLefts();
    this.layoutCanvas();
    // Not measured yet (tab still hidden, first layout pending): ask for the first screenful
    // now, so the rows travel while the page lays out.
    if (this.viewHeight <= 0) {
      const from = this.pendingRestore?.row ?? 0;
      this.cache.want(from, Math.min(n - 1, from + 60));
    }
    this.schedule();
  }

  /** New rows arrived in the cache. */
  refresh(): void {
    this.schedule();
  }

  /** First visible row and horizontal offset, for persisted state. */
  viewState(): { row: number; left: number } {
    return { row: Math.floor(this.vTop / ROW_HEIGHT), left: this.scroller.scrollLeft };
  }

  columnWidths(): number[] {
    return [...this.widths];
  }

  focused(): CellPos | undefined {
    return this.focusPos;
  }

  selection(): CellRange | undefined {
    if (!this.anchor || !this.focusPos || this.total === 0 || this.columns.length === 0) return undefined;
    const a = this.anchor;
    const f = this.focusPos;
    return {
      r0: this.wholeCols ? 0 : Math.min(a.row, f.row),
      r1: this.wholeCols ? this.total - 1 : Math.max(a.row, f.row),
      c0: this.wholeRows ? 0 : Math.min(a.col, f.col),
      c1: this.wholeRows ? this.columns.length - 1 : Math.max(a.col, f.col),
    };
  }

  selectAll(): void {
    if (this.total === 0 || this.columns.length === 0) return;
    this.anchor = { row: 0, col: 0 };
    this.focusPos = this.focusPos ?? { row: 0, col: 0 };
    this.wholeRows = true;
    this.wholeCols = true;
    this.selChanged();
  }

  /** Called when the tab becomes visible again: sizes were 0 while hidden. */
  activate(): void {
    this.measure();
  }

  focus(): void {
    this.root.focus({ preventScroll: true });
  }

  /** Shows the sort on the headers (indicator and aria-sort). */
  setSort(keys: HeaderSort[]): void {
    this.sortKeys = keys;
    this.sortVersion++;
    this.schedule();
  }

  /** Scrolls to a cell, focuses it and marks it as the current find match. */
  reveal(row: number, col: number): void {
    if (this.total === 0) return;
    this.foundPos = { row, col };
    this.moveTo({ row, col }, false);
  }

  /** The rows behind the same positions changed (another view): repaint every row. */
  invalidateRows(): void {
    this.selVersion++;
    this.schedule();
  }

  clearFound(): void {
    if (!this.foundPos) return;
    this.foundPos = undefined;
    this.selChanged();
  }

  // ------------------------------------------------------------------------------------------
  // Geometry

  private geometry(): ScrollGeometry {
    return { rows: this.total, rowHeight: ROW_HEIGHT, viewHeight: Math.max(ROW_HEIGHT, this.viewHeight) };
  }

  private computeLefts(): void {
    this.gutterWidth = Math.max(48, String(this.total).length * 8 + 20);
    this.lefts = new Array<number>(this.widths.length + 1);
    let x = 0;
    for (let i = 0; i < this.widths.length; i++) {
      this.lefts[i] = x;
      x += this.widths[i];
    }
    this.lefts[this.widths.length] = x;
    this.layoutVersion++;
    this.layoutCanvas();
  }

  private layoutCanvas(): void {
    const width = this.gutterWidth + this.lefts[this.widths.length];
    const space = scrollSpace(this.geometry());
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${HEADER_HEIGHT + space}px`;
    this.layer.style.height = `${Math.min(Math.max(this.viewHeight, 0), space)}px`;
    this.corner.style.width = `${this.gutterWidth}px`;
  }

  private measure(): void {
    if (this.disposed) return;
    const h = this.scroller.clientHeight - HEADER_HEIGHT;
    const w = this.scroller.clientWidth;
    if (h <= 0 || w <= 0) return; // hidden tab
    this.viewHeight = h;
    this.viewWidth = w;
    this.layoutCanvas();
    if (this.pendingRestore) {
      const r = this.pendingRestore;
      this.pendingRestore = undefined;
      if (r.row) this.setVTop(r.row * ROW_HEIGHT);
      if (r.left) this.scroller.scrollLeft = r.left;
    } else {
      this.setVTop(this.vTop);
    }
    this.schedule();
  }

  private setVTop(v: number): void {
    const g = this.geometry();
    const max = Math.max(0, g.rows * g.rowHeight - g.viewHeight);
    this.vTop = clamp(v, 0, max);
    const st = scrollFromVirtual(this.vTop, g);
    this.scroller.scrollTop = st;
    this.ownScrollTop = st;
    this.schedule();
  }

  private readonly onScroll = (): void => {
    // Positions are read at the start of the next frame (render), where layout is clean;
    // reading scrollTop here, after the last frame's writes, would force a layout.
    this.schedule();
    this.cb.onViewChange();
  };

  /** Takes over a scroll the user made with the scrollbar (not one we set ourselves). */
  private syncScroll(): void {
    const st = this.scroller.scrollTop;
    if (Math.abs(st - this.ownScrollTop) > 1.5) {
      this.vTop = virtualFromScroll(st, this.geometry());
      this.ownScrollTop = st;
    }
  }

  private readonly onWheel = (e: WheelEvent): void => {
    const g = this.geometry();
    if (!isScaled(g) || e.ctrlKey) return;
    e.preventDefault();
    this.syncScroll(); // a scrollbar move since the last frame must not be undone
    const unit = e.deltaMode === 1 ? ROW_HEIGHT : e.deltaMode === 2 ? this.viewHeight : 1;
    if (e.deltaY) this.setVTop(this.vTop + e.deltaY * unit);
    if (e.deltaX) this.scroller.scrollLeft += e.deltaX * unit;
  };

  private schedule(): void {
    if (this.frame || this.disposed) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  private colAt(x: number): number {
    // Binary search over the column offsets.
    let lo = 0;
    let hi = this.widths.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lefts[mid] <= x) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  // ------------------------------------------------------------------------------------------
  // Rendering

  private render(): void {
    if (this.viewHeight <= 0) return;
    this.renders++;
    // Reads first (layout is clean at the start of a frame), writes after.
    this.syncScroll();
    const ncols = this.columns.length;
    const sl = this.scroller.scrollLeft;
    const first = Math.floor(this.vTop / ROW_HEIGHT);
    const offset = this.vTop - first * ROW_HEIGHT;
    const visible = Math.ceil((this.viewHeight + offset) / ROW_HEIGHT);
    const from = Math.max(0, first - OVERSCAN_ROWS);
    const to = Math.min(this.total - 1, first + visible + OVERSCAN_ROWS);
    const c0 = ncols ? Math.max(0, this.colAt(sl) - OVERSCAN_COLS) : 0;
    const c1 = ncols ? Math.min(ncols - 1, this.colAt(sl + this.viewWidth - this.gutterWidth) + OVERSCAN_COLS) : -1;
    if (this.total > 0) this.cache.want(first, Math.min(this.total - 1, first + visible));
    if (!this.autoSized && this.cache.get(first) !== undefined) this.autoSize(first, Math.min(this.total - 1, first + visible));

    this.renderHeader(c0, c1, sl);

    for (const [r, re] of this.rowEls) {
      if (r < from || r > to) {
        this.rowEls.delete(r);
        re.el.hidden = true;
        this.spare.push(re);
      }
    }
    const sel = this.selection();
    const rowKeyBase = `${c0}|${c1}|${this.selVersion}|${this.layoutVersion}`;
    // Rows sit at fixed offsets from a base row that moves rarely; the body's one transform
    // does the scrolling, so a row already on screen is not touched again.
    if (first < this.baseRow || first >= this.baseRow + 2000) this.baseRow = Math.max(0, first - 1000);
    const bodyY = (this.baseRow - first) * ROW_HEIGHT - offset;
    if (bodyY !== this.lastBodyY) {
      this.lastBodyY = bodyY;
      this.body.style.transform = `translateY(${bodyY}px)`;
    }
    for (let r = from; r <= to; r++) {
      let re = this.rowEls.get(r);
      if (!re) {
        re = this.spare.pop() ?? this.newRow();
        re.el.hidden = false;
        re.row = r;
        re.key = '';
        this.rowEls.set(r, re);
      }
      const pos = (r - this.baseRow) * ROW_HEIGHT;
      if (re.pos !== pos) {
        re.pos = pos;
        re.el.style.transform = `translateY(${pos}px)`;
      }
      if (re.gutterLeft !== sl) {
        re.gutterLeft = sl;
        re.gutter.style.left = `${sl}px`;
      }
      const data = this.cache.get(r);
      const key = `${r}|${data ? 'L' : 'u'}|${rowKeyBase}`;
      if (re.key !== key) {
        re.key = key;
        this.fillRow(re, r, data, c0, c1, sel);
      }
    }
  }

  /** Fits each column to its header and the rows in view, once, so md5s and timestamps are not
   *  cut by a guess made from the type alone. */
  private autoSize(from: number, to: number): void {
    this.autoSized = true;
    const ctx = document.createElement('canvas').getContext('2d');
    if (!ctx) return;
    const cs = getComputedStyle(this.root);
    ctx.font = `${cs.fontSize} ${cs.fontFamily}`;
    const charW = ctx.measureText('0000000000').width / 10 || 7.5;
    const longest = this.columns.map((c) => Math.max(c.name.length * 1.1, c.type.length * 0.85));
    for (let r = from; r <= to; r++) {
      const row = this.cache.get(r);
      if (!row) continue;
      for (let c = 0; c < longest.length; c++) {
        const v = row[c];
        const len = v === null || v === undefined ? 4 : Math.min(v.length, 60);
        if (len > longest[c]) longest[c] = len;
      }
    }
    this.widths = longest.map((n) => clamp(Math.ceil(n * charW) + 18, 72, 420));
    this.computeLefts();
    this.schedule();
  }

  private newRow(): RowEl {
    const e = el('div', 'grid-row');
    e.setAttribute('role', 'row');
    const gutter = el('div', 'grid-gutter');
    e.appendChild(gutter);
    this.body.appendChild(e);
    return { el: e, gutter, cells: [], cellGeom: [], cellCls: [], row: -1, key: '', pos: NaN, gutterLeft: NaN };
  }

  private fillRow(re: RowEl, r: number, data: Row | undefined, c0: number, c1: number, sel: CellRange | undefined): void {
    const inRows = sel !== undefined && r >= sel.r0 && r <= sel.r1;
    re.el.className = inRows && sel && sel.c0 === 0 && sel.c1 === this.columns.length - 1 ? 'grid-row selected-row' : 'grid-row';
    re.el.setAttribute('aria-rowindex', String(r + 1));
    re.gutter.textContent = String(r + 1);
    const gw = `${this.gutterWidth}px`;
    if (re.gutter.style.width !== gw) re.gutter.style.width = gw;
    re.gutter.className = inRows ? 'grid-gutter sel' : 'grid-gutter';
    const n = c1 - c0 + 1;
    while (re.cells.length < n) {
      const c = el('div', 'grid-cell');
      c.setAttribute('role', 'gridcell');
      re.el.appendChild(c);
      re.cells.push(c);
    }
    for (let j = 0; j < re.cells.length; j++) {
      const cell = re.cells[j];
      if (j >= n) {
        cell.hidden = true;
        continue;
      }
      cell.hidden = false;
      const c = c0 + j;
      const geom = `${this.gutterWidth + this.lefts[c]}|${this.widths[c]}`;
      if (re.cellGeom[j] !== geom) {
        re.cellGeom[j] = geom;
        cell.style.left = `${this.gutterWidth + this.lefts[c]}px`;
        cell.style.width = `${this.widths[c]}px`;
      }
      let cls = 'grid-cell';
      if (data === undefined) {
        cls += ' loading';
        cell.textContent = '';
      } else {
        const v = data[c];
        if (v === null || v === undefined) {
          cls += ' null';
          cell.textContent = 'NULL';
        } else {
          cell.textContent = cellText(v);
        }
      }
      if (this.numeric[c]) cls += ' num';
      if (inRows && sel && c >= sel.c0 && c <= sel.c1) cls += ' sel';
      if (this.focusPos && this.focusPos.row === r && this.focusPos.col === c) cls += ' focus';
      if (this.foundPos && this.foundPos.row === r && this.foundPos.col === c) cls += ' found';
      const key = `${cls}|${c}`;
      if (re.cellCls[j] !== key) {
        re.cellCls[j] = key;
        cell.className = cls;
        cell.dataset.col = String(c);
      }
    }
  }

  private renderHeader(c0: number, c1: number, sl: number): void {
    if (this.lastCornerLeft !== sl) {
      this.lastCornerLeft = sl;
      this.corner.style.left = `${sl}px`;
    }
    const sel = this.selection();
    const key = `${c0}|${c1}|${this.layoutVersion}|${sel ? `${sel.c0}-${sel.c1}` : ''}|${this.sortVersion}`;
    if (key === this.headerKey) return;
    this.headerKey = key;
    const n = c1 - c0 + 1;
    while (this.headerCells.length < n) {
      const h = el('div', 'grid-hcell');
      h.setAttribute('role', 'columnheader');
      const name = el('div', 'grid-hname');
      const type = el('div', 'grid-htype');
      const handle = el('div', 'grid-resize');
      const sort = el('div', 'grid-hsort');
      sort.setAttribute('aria-hidden', 'true');
      h.append(name, type, handle, sort);
      this.header.insertBefore(h, this.corner);
      this.headerCells.push(h);
    }
    for (let j = 0; j < this.headerCells.length; j++) {
      const h = this.headerCells[j];
      if (j >= n) {
        h.hidden = true;
        continue;
      }
      const c = c0 + j;
      const col = this.columns[c];
      h.hidden = false;
      h.dataset.col = String(c);
      h.style.left = `${this.gutterWidth + this.lefts[c]}px`;
      h.style.width = `${this.widths[c]}px`;
      h.className = `grid-hcell${this.numeric[c] ? ' num' : ''}${sel && c >= sel.c0 && c <= sel.c1 ? ' sel' : ''}`;
      (h.children[0] as HTMLElement).textContent = col.name;
      (h.children[1] as HTMLElement).textContent = col.type;
      const rank = this.sortKeys.findIndex((k) => k.col === c);
      const key = rank >= 0 ? this.sortKeys[rank] : undefined;
      (h.children[3] as HTMLElement).textContent = key ? `${key.desc ? '▼' : '▲'}${this.sortKeys.length > 1 ? rank + 1 : ''}` : '';
      h.setAttribute('aria-sort', key ? (key.desc ? 'descending' : 'ascending') : 'none');
      h.classList.toggle('sorted', key !== undefined);
      h.title = `${col.name}\n${col.type}\nClick to sort (ascending, descending, off); Shift+click to sort by several columns. Click the type to select the column.`;
    }
  }

  // ------------------------------------------------------------------------------------------
  // Selection and keyboard

  private selChanged(): void {
    this.selVersion++;
    this.schedule();
    this.cb.onFocus(this.focusPos);
  }

  private moveTo(pos: CellPos, extend: boolean): void {
    if (this.foundPos && (this.foundPos.row !== pos.row || this.foundPos.col !== pos.col)) this.foundPos = undefined;
    const p = { row: clamp(pos.row, 0, this.total - 1), col: clamp(pos.col, 0, this.columns.length - 1) };
    this.focusPos = p;
    if (!extend || !this.anchor) {
      this.anchor = p;
      this.wholeRows = false;
      this.wholeCols = false;
    }
    this.ensureVisible(p);
    this.selChanged();
  }

  private ensureVisible(p: CellPos): void {
    const top = p.row * ROW_HEIGHT;
    if (top < this.vTop) this.setVTop(top);
    else if (top + ROW_HEIGHT > this.vTop + this.viewHeight) this.setVTop(top + ROW_HEIGHT - this.viewHeight);
    const sl = this.scroller.scrollLeft;
    const avail = this.viewWidth - this.gutterWidth;
    const left = this.lefts[p.col];
    const right = left + this.widths[p.col];
    if (left < sl) this.scroller.scrollLeft = left;
    else if (right > sl + avail) this.scroller.scrollLeft = Math.min(left, right - avail);
  }

  private readonly onKey = (e: KeyboardEvent): void => {
    if (this.total === 0 || this.columns.length === 0) return;
    this.syncScroll();
    const mod = e.ctrlKey || e.metaKey;
    const f = this.focusPos ?? { row: Math.floor(this.vTop / ROW_HEIGHT), col: 0 };
    const page = Math.max(1, Math.floor(this.viewHeight / ROW_HEIGHT) - 1);
    let target: CellPos | undefined;
    switch (e.key) {
      case 'ArrowDown':
        target = { row: mod ? this.total - 1 : f.row + 1, col: f.col };
        break;
      case 'ArrowUp':
        target = { row: mod ? 0 : f.row - 1, col: f.col };
        break;
      case 'ArrowRight':
        target = { row: f.row, col: mod ? this.columns.length - 1 : f.col + 1 };
        break;
      case 'ArrowLeft':
        target = { row: f.row, col: mod ? 0 : f.col - 1 };
        break;
      case 'PageDown':
        target = { row: f.row + page, col: f.col };
        break;
      case 'PageUp':
        target = { row: f.row - page, col: f.col };
        break;
      case 'Home':
        target = mod ? { row: 0, col: 0 } : { row: f.row, col: 0 };
        break;
      case 'End':
        target = mod ? { row: this.total - 1, col: this.columns.length - 1 } : { row: f.row, col: this.columns.length - 1 };
        break;
      case 'Enter':
        this.cb.onOpenDetail();
        e.preventDefault();
        return;
      case 'Escape':
        if (this.focusPos) this.moveTo(this.focusPos, false);
        return;
      case 's':
      case 'S':
        if (!mod && !e.altKey && this.cb.onSort) {
          e.preventDefault();
          this.cb.onSort(f.col, e.shiftKey);
        }
        return;
      default:
        if (mod && (e.key === 'a' || e.key === 'A')) {
          e.preventDefault();
          this.selectAll();
        } else if (mod && (e.key === 'c' || e.key === 'C')) {
          const range = this.selection();
          if (range) {
            e.preventDefault();
            this.cb.onCopy(range);
          }
        }
        return;
    }
    e.preventDefault();
    this.moveTo(target, e.shiftKey);
  };

  /** Cell (or gutter: col -1) under a pointer position, clamped to the grid. */
  private hit(e: PointerEvent | MouseEvent): { row: number; col: number } {
    const rect = this.layer.getBoundingClientRect();
    const y = e.clientY - rect.top;
    const row = clamp(Math.floor((this.vTop + y) / ROW_HEIGHT), 0, Math.max(0, this.total - 1));
    const xInView = e.clientX - rect.left - this.scroller.scrollLeft;
    if (xInView < this.gutterWidth) return { row, col: -1 };
    const col = this.colAt(e.clientX - rect.left - this.gutterWidth);
    return { row, col };
  }

  private readonly onPointerDown = (e: PointerEvent): void => {
    if (e.button !== 0 || this.total === 0) return;
    this.focus();
    const h = this.hit(e);
    if (h.col < 0) {
      // Gutter: whole rows.
      const extend = e.shiftKey && this.anchor !== undefined;
      this.focusPos = { row: h.row, col: this.columns.length - 1 };
      if (!extend) this.anchor = { row: h.row, col: 0 };
      this.wholeRows = true;
      this.wholeCols = false;
      this.dragging = 'rows';
      this.selChanged();
    } else {
      this.moveTo(h, e.shiftKey);
      this.dragging = 'cells';
    }
    this.layer.setPointerCapture(e.pointerId);
    e.preventDefault();
  };

  private readonly onPointerMove = (e: PointerEvent): void => {
    if (!this.dragging || this.dragging === 'cols') return;
    const rect = this.layer.getBoundingClientRect();
    // Dragging past the top or bottom edge scrolls, one row per move event.
    if (e.clientY < rect.top) this.setVTop(this.vTop - ROW_HEIGHT);
    else if (e.clientY > rect.bottom) this.setVTop(this.vTop + ROW_HEIGHT);
    const h = this.hit(e);
    const col = this.dragging === 'rows' ? this.columns.length - 1 : Math.max(0, h.col);
    if (this.focusPos && this.focusPos.row === h.row && this.focusPos.col === col) return;
    this.focusPos = { row: h.row, col };
    this.selChanged();
  };

  private readonly onPointerUp = (e: PointerEvent): void => {
    if (this.dragging) this.layer.releasePointerCapture(e.pointerId);
    this.dragging = undefined;
  };

  // ------------------------------------------------------------------------------------------
  // Header: column selection and resizing

  private readonly onHeaderDown = (e: PointerEvent): void => {
    if (e.button !== 0) return;
    const target = e.target as HTMLElement;
    const hcell = target.closest<HTMLElement>('.grid-hcell');
    if (!hcell || hcell.dataset.col === undefined) return;
    const col = Number(hcell.dataset.col);
    e.preventDefault();
    this.header.setPointerCapture(e.pointerId);
    if (target.classList.contains('grid-resize')) {
      this.resizing = { col, startX: e.clientX, startWidth: this.widths[col] };
      return;
    }
    if (!target.closest('.grid-htype') && this.cb.onSort) {
      this.focusPos = { row: this.focusPos?.row ?? Math.floor(this.vTop / ROW_HEIGHT), col };
      this.anchor = this.focusPos;
      this.wholeCols = false;
      this.wholeRows = false;
      this.selChanged();
      this.cb.onSort(col, e.shiftKey);
      return;
    }
    if (this.total === 0) return;
    this.focus();
    const extend = e.shiftKey && this.anchor !== undefined;
    if (!extend) this.anchor = { row: 0, col };
    this.focusPos = { row: this.focusPos?.row ?? 0, col };
    this.wholeCols = true;
    this.wholeRows = false;
    this.dragging = 'cols';
    this.selChanged();
  };

  private readonly onHeaderMove = (e: PointerEvent): void => {
    if (this.resizing) {
      const w = Math.max(MIN_COL_WIDTH, this.resizing.startWidth + e.clientX - this.resizing.startX);
      if (w !== this.widths[this.resizing.col]) {
        this.widths[this.resizing.col] = w;
        this.computeLefts();
        this.schedule();
      }
    }
  };

  private readonly onHeaderUp = (e: PointerEvent): void => {
    if (this.header.hasPointerCapture(e.pointerId)) this.header.releasePointerCapture(e.pointerId);
    if (this.resizing) {
      this.resizing = undefined;
      this.cb.onViewChange();
    }
    this.dragging = undefined;
  };

  /** Text for the status line: "Row 12 of 1,000,000 · 3 × 4 selected". */
  describe(): string {
    const parts: string[] = [];
    if (this.focusPos) parts.push(`Row ${formatCount(this.focusPos.row + 1)} of ${formatCount(this.total)}, ${this.columns[this.focusPos.col]?.name ?? ''}`);
    else parts.push(`${formatCount(this.total)} rows`);
    const s = this.selection();
    if (s && (s.r1 > s.r0 || s.c1 > s.c0)) parts.push(`${formatCount(s.r1 - s.r0 + 1)} × ${formatCount(s.c1 - s.c0 + 1)} selected`);
    return parts.join(' · ');
  }
}
