// The tab strip: one toolkit <vscode-panels> with a tab and a view per statement plus Messages,
// kept in a fixed order. The toolkit has two habits this class hides from the app:
// - it re-picks a tab of its own whenever tabs are inserted, and reports that as a `change`;
// - it learns about inserted tabs on slotchange (a microtask later), so selecting a tab that was
//   just inserted falls back to the first tab it knows.
// So a programmatic selection is applied after the toolkit caught up, checked, retried for a few
// frames, and the toolkit's own `change` events are ignored until it took.

import { el } from './dom';

interface TabEntry {
  order: number;
  tab: HTMLElement;
  view: HTMLElement;
}

export class TabStrip {
  readonly root = el('vscode-panels', 'tabs');
  private readonly tabs = new Map<string, TabEntry>();
  /** DOM id of the tab being selected programmatically, until the toolkit shows it. */
  private pending: string | undefined;

  /**
   * @param onChange the user (or select()) chose the tab with this key
   * @param onSettled a programmatic selection is now what the toolkit shows (views re-measure)
   */
  constructor(
    private readonly onChange: (key: string) => void,
    private readonly onSettled: () => void,
  ) {
    this.root.addEventListener('change', (e: Event) => {
      if (e.target !== this.root) return; // change events bubble from nested controls
      if (this.pending !== undefined) return;
      const active = this.activeElement();
      for (const [key, t] of this.tabs) {
        if (t.tab === active) {
          this.onChange(key);
          return;
        }
      }
    });
  }

  /**
   * Adds a tab and its view before every tab of a higher `order`. `key` is what the app calls it;
   * `domId` names the elements (`tab-<domId>`, `view-<domId>`) and `cls` classes them the same way.
   */
  add(key: string, domId: string, order: number, cls: string): { tab: HTMLElement; view: HTMLElement } {
    const tab = el('vscode-panel-tab', `tab-${cls}`);
    tab.id = `tab-${domId}`;
    const view = el('vscode-panel-view', `view-${cls}`);
    view.id = `view-${domId}`;
    let next: TabEntry | undefined;
    for (const t of this.tabs.values()) if (t.order > order && (!next || t.order < next.order)) next = t;
    this.root.insertBefore(tab, next?.tab ?? null);
    this.root.insertBefore(view, next?.view ?? null);
    this.tabs.set(key, { order, tab, view });
    return { tab, view };
  }

  has(key: string): boolean {
    return this.tabs.has(key);
  }

  remove(key: string): void {
    const t = this.tabs.get(key);
    if (!t) return;
    t.tab.remove();
    t.view.remove();
    this.tabs.delete(key);
  }

  /** Selects the tab: reports it through onChange at once, then makes the toolkit show it. */
  select(key: string): void {
    const t = this.tabs.get(key);
    if (!t) return;
    const tabId = t.tab.id;
    this.onChange(key);
    this.pending = tabId;
    let tries = 0;
    const apply = (): void => {
      if (this.pending !== tabId) return; // a newer selection superseded this one
      this.root.setAttribute('activeid', tabId);
      if (this.activeElement()?.id === tabId || ++tries > 10) {
        this.pending = undefined;
        this.onSettled();
      } else {
        requestAnimationFrame(apply);
      }
    };
    setTimeout(apply, 0);
  }

  private activeElement(): HTMLElement | undefined {
    return (this.root as HTMLElement & { activetab?: HTMLElement }).activetab;
  }
}
