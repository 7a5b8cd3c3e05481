// The chart pane: line, bar or scatter of the current view, drawn by uPlot (a small canvas
// charting library: ~50 kB, no dependencies, fast on large series). The host computes the data
// and reduces a large view to what a screen can show; the pane says so on the chart. Colours
// come from the theme's CSS variables and the chart is redrawn when the theme changes. No
// inline styles: uPlot sizes its elements through the CSSOM, which the CSP allows.

import uPlot from 'uplot';
import type { ColumnInfo } from '../src/core/model';
import { NUMERIC_TYPE_OIDS, type ChartKindName, type ChartSnapshot } from '../src/protocol';
import { secondaryButtons } from './buttons';
import { el } from './dom';
import { formatCount } from './format';

export interface ChartRequestSink {
  draw(kind: ChartKindName, x: number, y: number[]): void;
  savePng(name: string, base64: string): void;
}

/** Series colours: the theme's chart palette where VS Code defines one. */
const PALETTE_VARS = ['--vscode-charts-blue', '--vscode-charts-orange', '--vscode-charts-green', '--vscode-charts-purple', '--vscode-charts-red', '--vscode-charts-yellow'];
const PALETTE_FALLBACK = ['#3794ff', '#d18616', '#89d185', '#b180d7', '#f14c4c', '#cca700'];

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.body).getPropertyValue(name).trim();
  return v || fallback;
}

export class ChartPane {
  readonly root = el('div', 'chart-pane');
  private readonly kind = el('select', 'chart-kind');
  private readonly x = el('select', 'chart-x');
  private readonly ys = el('div', 'chart-y');
  private readonly btn = secondaryButtons({ draw: ['chart-draw', 'Draw'], save: ['chart-save', 'Save PNG'], close: ['chart-close', 'Close'] });
  readonly note = el('div', 'chart-note');
  private readonly legend = el('div', 'chart-legend');
  private readonly canvasBox = el('div', 'chart-canvas');
  private plot: uPlot | undefined;
  private data: ChartSnapshot | undefined;
  private columns: ColumnInfo[] = [];
  private readonly themeObserver: MutationObserver;
  private readonly resizeObserver: ResizeObserver;

  constructor(
    private readonly sink: ChartRequestSink,
    private readonly onClose: () => void,
  ) {
    this.root.hidden = true;
    this.root.setAttribute('role', 'region');
    this.root.setAttribute('aria-label', 'Chart');
    const controls = el('div', 'chart-controls');
    for (const [value, label] of [
      ['line', 'Line'],
      ['bar', 'Bar'],
      ['scatter', 'Scatter'],
    ]) {
      const o = el('option', undefined, label);
      o.value = value;
      this.kind.append(o);
    }
    this.kind.setAttribute('aria-label', 'Chart type');
    this.x.setAttribute('aria-label', 'X axis column');
    this.ys.setAttribute('role', 'group');
    this.ys.setAttribute('aria-label', 'Y axis columns');
    this.btn.save.setAttribute('disabled', '');
    controls.append(label('Chart', this.kind), label('X', this.x), this.ys, this.btn.draw, this.btn.save, this.btn.close);
    this.note.setAttribute('role', 'status');
    this.root.append(controls, this.note, this.legend, this.canvasBox);
    this.btn.draw.addEventListener('click', () => this.requestDraw());
    this.btn.save.addEventListener('click', () => this.save());
    this.btn.close.addEventListener('click', () => this.onClose());
    this.root.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.stopPropagation();
        this.onClose();
      }
    });
    // Theme switches change the body's class and variables: draw again in the new colours.
    this.themeObserver = new MutationObserver(() => this.render());
    this.themeObserver.observe(document.body, { attributes: true, attributeFilter: ['class', 'style', 'data-vscode-theme-kind'] });
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(this.canvasBox);
  }

  get isOpen(): boolean {
    return !this.root.hidden;
  }

  /** Fills the column choices for a statement: x any column, y the numeric ones. */
  setColumns(columns: ColumnInfo[], focusCol: number | undefined): void {
    const same = columns.length === this.columns.length && columns.every((c, i) => c.name === this.columns[i].name && c.typeOid === this.columns[i].typeOid);
    if (same) return;
    this.columns = columns;
    this.x.replaceChildren();
    columns.forEach((c, i) => {
      const o = el('option', undefined, c.name);
      o.value = String(i);
      this.x.append(o);
    });
    this.ys.replaceChildren();
    const numeric = columns.map((c, i) => ({ c, i })).filter(({ c }) => NUMERIC_TYPE_OIDS.has(c.typeOid));
    // A sensible first chart: x the first column, y the first numeric column that is not x.
    const xi = 0;
    this.x.value = String(xi);
    const firstY = numeric.find(({ i }) => i !== xi) ?? numeric[0];
    for (const { c, i } of numeric) {
      const box = el('input', 'chart-y-box');
      box.type = 'checkbox';
      box.value = String(i);
      box.checked = i === (focusCol !== undefined && focusCol !== xi && NUMERIC_TYPE_OIDS.has(columns[focusCol]?.typeOid ?? -1) ? focusCol : firstY?.i);
      this.ys.append(label(c.name, box, 'chart-y-label'));
    }
    if (numeric.length === 0) this.ys.append(el('span', 'chart-y-none', 'No numeric column to plot.'));
  }

  open(): void {
    this.root.hidden = false;
    this.kind.focus();
  }

  close(): void {
    this.root.hidden = true;
  }

  private selectedY(): number[] {
    return [...this.ys.querySelectorAll<HTMLInputElement>('input:checked')].map((b) => Number(b.value));
  }

  requestDraw(): void {
    const y = this.selectedY();
    if (y.length === 0) {
      this.note.textContent = 'Choose at least one numeric column for the y axis.';
      return;
    }
    this.note.textContent = 'Computing the chart…';
    this.sink.draw(this.kind.value as ChartKindName, Number(this.x.value), y);
  }

  show(data: ChartSnapshot): void {
    this.data = data;
    const reduced =
      data.reduced === 'buckets'
        ? ` (reduced to ${formatCount(data.points)} points for the screen: first, last, min and max per x interval)`
        : data.reduced === 'sample'
          ? ` (a random sample of ${formatCount(data.points)} points)`
          : '';
    this.note.textContent = `${formatCount(data.rows)} rows${reduced}.`;
    this.note.classList.toggle('reduced', data.reduced !== undefined);
    this.btn.save.removeAttribute('disabled');
    this.render();
  }

  private size(): { width: number; height: number } {
    const r = this.canvasBox.getBoundingClientRect();
    return { width: Math.max(200, Math.floor(r.width)), height: Math.max(160, Math.floor(r.height)) };
  }

  private resize(): void {
    if (this.plot && this.isOpen) this.plot.setSize(this.size());
  }

  private render(): void {
    const data = this.data;
    this.plot?.destroy();
    this.plot = undefined;
    if (!data || this.root.hidden) return;
    const fg = cssVar('--vscode-editor-foreground', '#cccccc');
    const grid = cssVar('--vscode-editorWidget-border', 'rgba(128,128,128,0.35)');
    const font = `${cssVar('--vscode-font-size', '12px')} ${cssVar('--vscode-font-family', 'sans-serif')}`;
    const colours = PALETTE_VARS.map((v, i) => cssVar(v, PALETTE_FALLBACK[i]));
    const labels = data.labels;
    const axis = (): uPlot.Axis => ({ stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font });
    const yAxis = axis();
    // Wide enough for the longest tick label ("20,000", "-1.5e+9"), which the default 50 px cuts.
    yAxis.size = (_u, values) => (values && values.length > 0 ? Math.max(50, 16 + 7.5 * Math.max(...values.map((v) => String(v).length))) : 50);
    const xAxis = axis();
    if (data.xKind === 'category' && labels) {
      // Category x: positions in view order, labelled with the x column's text.
      const byPos = new Map(data.x.map((x, i) => [x, labels[i]]));
      xAxis.values = (_u, splits) => splits.map((s) => byPos.get(Math.round(s)) ?? '');
    }
    const bars = data.kind === 'bar' ? uPlot.paths.bars?.({ size: [0.8, 40] }) : undefined;
    const series: uPlot.Series[] = [
      { label: data.xName },
      ...data.series.map((s, i): uPlot.Series => {
        const c = colours[i % colours.length];
        if (data.kind === 'scatter') return { label: s.name, stroke: c, fill: c, paths: () => null, points: { show: true, size: 4, stroke: c, fill: c } };
        if (data.kind === 'bar') return { label: s.name, stroke: c, fill: c, paths: bars, points: { show: false } };
        return { label: s.name, stroke: c, width: 1.5, points: { show: data.points < 200 }, spanGaps: false };
      }),
    ];
    this.legend.replaceChildren(
      ...data.series.map((s, i) => {
        const item = el('span', 'chart-legend-item');
        const swatch = el('span', 'chart-swatch');
        swatch.style.backgroundColor = colours[i % colours.length];
        item.append(swatch, el('span', undefined, s.name));
        return item;
      }),
    );
    const opts: uPlot.Options = {
      ...this.size(),
      legend: { show: false },
      cursor: { show: true, points: { show: false } },
      scales: { x: { time: data.xKind === 'time' } },
      axes: [xAxis, yAxis],
      series,
    };
    const aligned: uPlot.AlignedData = [data.x, ...data.series.map((s) => s.values)];
    this.plot = new uPlot(opts, aligned, this.canvasBox);
    const canvas = this.canvasBox.querySelector('canvas');
    canvas?.setAttribute('role', 'img');
    canvas?.setAttribute('aria-label', `${data.kind} chart of ${data.series.map((s) => s.name).join(', ')} by ${data.xName}. ${this.note.textContent ?? ''}`);
  }

  /** The chart as drawn plus its note, on the theme's background, as a PNG for the host to save. */
  private save(): void {
    const src = this.canvasBox.querySelector('canvas');
    if (!src || !this.data) return;
    const out = document.createElement('canvas');
    const pad = 28;
    out.width = src.width;
    out.height = src.height + pad;
    const ctx = out.getContext('2d');
    if (!ctx) return;
    ctx.fillStyle = cssVar('--vscode-editor-background', '#1e1e1e');
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.drawImage(src, 0, pad);
    ctx.fillStyle = cssVar('--vscode-editor-foreground', '#cccccc');
    ctx.font = `${Math.round(12 * (window.devicePixelRatio || 1))}px ${cssVar('--vscode-font-family', 'sans-serif')}`;
    ctx.fillText(`${this.data.series.map((s) => s.name).join(', ')} by ${this.data.xName} — ${this.note.textContent ?? ''}`, 8, pad - 9);
    const b64 = out.toDataURL('image/png').replace(/^data:image\/png;base64,/, '');
    this.sink.savePng(`chart-${this.data.xName.replace(/[^\w.-]/g, '_').slice(0, 40) || 'x'}.png`, b64);
  }

  dispose(): void {
    this.plot?.destroy();
    this.themeObserver.disconnect();
    this.resizeObserver.disconnect();
  }
}

function label(text: string, control: HTMLElement, cls = 'chart-label'): HTMLLabelElement {
  const l = el('label', cls);
  l.append(el('span', undefined, text), control);
  return l;
}
