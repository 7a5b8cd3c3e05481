// The one element factory of the page. Every text it sets goes through textContent, so values
// from the database are never parsed as HTML.

/** A new element with an optional class and text; toolkit tags (vscode-*) come back as HTMLElement. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K];
export function el(tag: string, cls?: string, text?: string): HTMLElement;
export function el(tag: string, cls?: string, text?: string): HTMLElement {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
