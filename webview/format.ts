// How a database value becomes cell text, and how counts are written. Pure (no DOM), so it is
// easy to reason about and unit-tested in plain Node.

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

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}
