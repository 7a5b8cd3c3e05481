// Mapping between the scroll container's pixels and the grid's "virtual" pixels.
//
// Browsers cap an element's height (Chromium ~33.5M px, Firefox ~17.9M px); 10,000,000 rows of
// 22 px need 220M px. Past MAX_SCROLL_PX the scroll space is compressed: the scrollbar position is
// a fraction of the whole, and the grid places rows relative to the virtual offset that fraction
// stands for. Wheel and keyboard scrolling work in virtual pixels so that one notch still moves
// a few rows rather than thousands.

export const MAX_SCROLL_PX = 8_000_000;

export interface ScrollGeometry {
  rows: number;
  rowHeight: number;
  /** Height of the visible row area (without the header). */
  viewHeight: number;
}

export function contentHeight(g: ScrollGeometry): number {
  return g.rows * g.rowHeight;
}

/** Height the spacer gets: the real content height, or the cap when it is too tall. */
export function scrollSpace(g: ScrollGeometry): number {
  return Math.min(contentHeight(g), MAX_SCROLL_PX);
}

export function isScaled(g: ScrollGeometry): boolean {
  return contentHeight(g) > MAX_SCROLL_PX;
}

export function maxVirtualTop(g: ScrollGeometry): number {
  return Math.max(0, contentHeight(g) - g.viewHeight);
}

/** Virtual offset shown for a given scrollTop. */
export function virtualFromScroll(scrollTop: number, g: ScrollGeometry): number {
  if (!isScaled(g)) return clamp(scrollTop, 0, maxVirtualTop(g));
  const maxScroll = Math.max(1, scrollSpace(g) - g.viewHeight);
  return clamp((scrollTop / maxScroll) * maxVirtualTop(g), 0, maxVirtualTop(g));
}

/** scrollTop that stands for a virtual offset (inverse of virtualFromScroll). */
export function scrollFromVirtual(virtualTop: number, g: ScrollGeometry): number {
  const v = clamp(virtualTop, 0, maxVirtualTop(g));
  if (!isScaled(g)) return v;
  const maxVirtual = maxVirtualTop(g);
  const maxScroll = Math.max(0, scrollSpace(g) - g.viewHeight);
  return maxVirtual === 0 ? 0 : (v / maxVirtual) * maxScroll;
}

export function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
