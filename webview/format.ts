// How a database value becomes cell text. Pure (no DOM) so it is shared by the grid and the
// copy path, and easy to reason about.

/** Longest text put into a grid cell; the cell shows an ellipsis anyway, and laying out a
 *  10 MB text node for every repaint would stall scrolling. The detail pane shows all of it. */
export const CELL_TEXT_MAX = 400;

// C0 controls (except the ones mapped below) and DEL become their Unicode "control picture",
// so a value with a bell or an escape stays one visible line and cannot confuse the layout.
const PICTURES: Record<string, string> = { '\n': '\u21b5', '\r': '\u240d', '\t': '\u2192' };

/** One-line display text of a non-null value, cut to CELL_TEXT_MAX. */
export function cellText(value: string): string {
  const short = value.length > CELL_TEXT_MAX ? value.slice(0, CELL_TEXT_MAX) : value;
  // eslint-disable-next-line no-control-regex
  return short.replace(/[\u0000-\u001f\u007f]/g, (c) => PICTURES[c] ?? String.fromCharCode(c === '\u007f' ? 0x2421 : 0x2400 + c.charCodeAt(0)));
}

/** TSV field: tabs/newlines would break the table a spreadsheet pastes, so they are escaped
 *  the way PostgreSQL's COPY text format does; NULL becomes the empty field. */
export function tsvField(value: string | null): string {
  if (value === null) return '';
  if (!/[\t\n\r\\]/.test(value)) return value;
  return value.replace(/[\t\n\r\\]/g, (c) => (c === '\t' ? '\\t' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\\\'));
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** "850 ms", "12.3 s", "4:05", "1:02:03". */
export function formatElapsed(ms: number): string {
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const total = Math.floor(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}
