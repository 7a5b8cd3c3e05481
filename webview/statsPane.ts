// Column statistics: count, NULLs, distinct (exact, or "≈" once estimated), min, max, mean, a
// histogram for number and time columns and the most frequent values for text. Computed by the
// host over the whole view; this only lays them out.

import type { ColumnInfo } from '../src/core/model';
import type { StatsSnapshot } from '../src/protocol';
import { el } from './dom';
import { formatCount } from './format';

function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const abs = Math.abs(n);
  if (abs !== 0 && (abs >= 1e15 || abs < 1e-4)) return n.toExponential(4);
  return n.toLocaleString('en-US', { maximumFractionDigits: 6 });
}

function formatTime(seconds: number): string {
  const d = new Date(seconds * 1000);
  return Number.isNaN(d.getTime()) ? String(seconds) : d.toISOString().replace('T', ' ').replace(/\.000Z$|Z$/, '');
}

export class StatsPane {
  readonly root = el('div', 'stats-pane');
  private readonly title = el('div', 'stats-title');
  private readonly body = el('div', 'stats-body');
  private readonly closeBtn = el('vscode-button', 'stats-close', 'Close');

  constructor(private readonly onClose: () => void) {
    this.root.hidden = true;
    this.root.setAttribute('role', 'region');
    this.root.setAttribute('aria-label', 'Column statistics');
    this.title.setAttribute('aria-live', 'polite');
    this.closeBtn.setAttribute('appearance', 'secondary');
    const head = el('div', 'stats-head');
    head.append(this.title, this.closeBtn);
    this.root.append(head, this.body);
    this.closeBtn.addEventListener('click', () => this.onClose());
    this.root.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.stopPropagation();
        this.onClose();
      }
    });
  }

  get isOpen(): boolean {
    return !this.root.hidden;
  }

  loading(col: ColumnInfo): void {
    this.root.hidden = false;
    this.title.textContent = `${col.name} (${col.type}): computing…`;
    this.body.replaceChildren();
  }

  progress(pct: number): void {
    const t = this.title.textContent ?? '';
    this.title.textContent = t.replace(/: computing.*$/, `: computing… ${Math.floor(pct)}%`);
  }

  close(): void {
    this.root.hidden = true;
  }

  show(col: ColumnInfo, s: StatsSnapshot, scope: string): void {
    this.root.hidden = false;
    this.title.textContent = `${col.name} (${col.type}) · ${scope}`;
    const time = s.kind === 'time';
    const dl = el('dl', 'stats-list');
    const item = (k: string, v: string): void => {
      dl.append(el('dt', undefined, k), el('dd', undefined, v));
    };
    item('Count', formatCount(s.count));
    item('NULL', `${formatCount(s.nulls)}${s.count ? ` (${((s.nulls / s.count) * 100).toFixed(1)} %)` : ''}`);
    item('Distinct', s.distinctExact ? formatCount(s.distinct) : `≈ ${formatCount(s.distinct)} (estimated: more than can be counted exactly)`);
    if (s.min !== undefined) item('Min', s.min);
    if (s.max !== undefined) item('Max', s.max);
    if (s.mean !== undefined) item('Mean', time ? formatTime(s.mean) : formatNumber(s.mean));
    if (s.unparsed) item('Not parsed', `${formatCount(s.unparsed)} values`);
    const parts: HTMLElement[] = [dl];
    if (s.histogram && s.histogram.length > 0) {
      const max = Math.max(1, ...s.histogram.map((b) => b.count));
      const hist = el('div', 'stats-hist');
      hist.setAttribute('role', 'list');
      hist.setAttribute('aria-label', 'Histogram');
      for (const b of s.histogram) {
        const bar = el('div', 'stats-bar');
        bar.setAttribute('role', 'listitem');
        const range = time ? `${formatTime(b.from)} – ${formatTime(b.to)}` : `${formatNumber(b.from)} – ${formatNumber(b.to)}`;
        bar.title = `${range}: ${formatCount(b.count)}`;
        bar.setAttribute('aria-label', bar.title);
        const fill = el('div', 'stats-bar-fill');
        fill.style.height = `${Math.max(b.count > 0 ? 2 : 0, (b.count / max) * 100)}%`;
        bar.append(fill);
        hist.append(bar);
      }
      const axis = el('div', 'stats-hist-axis');
      const first = s.histogram[0];
      const last = s.histogram[s.histogram.length - 1];
      axis.append(el('span', undefined, time ? formatTime(first.from) : formatNumber(first.from)), el('span', undefined, time ? formatTime(last.to) : formatNumber(last.to)));
      const box = el('div', 'stats-hist-box');
      box.append(hist, axis);
      parts.push(box);
    }
    if (s.top && s.top.length > 0) {
      const table = el('table', 'stats-top');
      const cap = el('caption', undefined, s.topApprox ? 'Most frequent (approximate counts)' : 'Most frequent');
      table.append(cap);
      for (const t of s.top) {
        const tr = el('tr');
        tr.append(el('td', 'stats-top-value', t.value === '' ? '(empty)' : t.value), el('td', 'stats-top-count', formatCount(t.count)));
        table.append(tr);
      }
      parts.push(table);
    }
    this.body.replaceChildren(...parts);
  }
}
