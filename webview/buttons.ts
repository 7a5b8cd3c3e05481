// The panel's secondary toolkit buttons, declared as one table per bar (class, label, tooltip)
// rather than a field and an appearance/title line each.

import { el } from './dom';

/** [CSS class, label, tooltip]. */
export type ButtonSpec = readonly [cls: string, label: string, title?: string];

export function secondaryButtons<K extends string>(specs: Record<K, ButtonSpec>): Record<K, HTMLElement> {
  const out = {} as Record<K, HTMLElement>;
  for (const key of Object.keys(specs) as K[]) {
    const [cls, label, title] = specs[key];
    const b = el('vscode-button', cls, label);
    b.setAttribute('appearance', 'secondary');
    if (title) b.title = title;
    out[key] = b;
  }
  return out;
}
