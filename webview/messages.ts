// The Messages tab: the job's notices and errors in arrival order, each with its SQLSTATE,
// statement, DETAIL/HINT/CONTEXT and, when the server gave a position, a "Go to error" button.
// The tab's badge counts them and turns red when one is an error.

import type { ServerMessage } from '../src/core/model';
import { el } from './dom';

export class MessagesView {
  private list: ServerMessage[] = [];
  private readonly badge = el('vscode-badge', 'msg-badge', '0');
  private readonly box = el('div', 'messages');

  constructor(
    private readonly tab: HTMLElement,
    view: HTMLElement,
    private readonly goToError: (position: number) => void,
  ) {
    tab.append(el('span', 'tab-label', 'Messages'), this.badge);
    view.appendChild(this.box);
  }

  get count(): number {
    return this.list.length;
  }

  hasError(): boolean {
    return this.list.some((m) => m.kind === 'error');
  }

  reset(): void {
    this.list = [];
    this.box.replaceChildren();
  }

  /** Appends the messages from index `from` on; a repeated push (after a webview reload) is not duplicated. */
  add(from: number, list: ServerMessage[]): void {
    const skip = this.list.length - from;
    for (let i = Math.max(0, skip); i < list.length; i++) {
      this.list.push(list[i]);
      this.box.appendChild(this.render(list[i]));
    }
    this.updateBadge();
  }

  updateBadge(): void {
    this.badge.textContent = String(this.list.length);
    this.badge.hidden = this.list.length === 0;
    this.tab.classList.toggle('has-error', this.hasError());
    if (this.list.length === 0 && !this.box.firstChild) {
      // An empty list still says something, so the tab is not a blank page.
      this.box.appendChild(el('div', 'msg-empty', 'No messages.'));
    } else if (this.list.length > 0) {
      this.box.querySelector('.msg-empty')?.remove();
    }
  }

  private render(m: ServerMessage): HTMLElement {
    const box = el('div', `msg ${m.kind}`);
    const head = el('div', 'msg-head');
    head.append(el('span', 'msg-sev', m.severity || m.kind.toUpperCase()), el('span', 'msg-code', m.sqlstate));
    if (m.stmt > 0) head.append(el('span', 'msg-stmt', `statement ${m.stmt}`));
    if (m.position !== undefined) {
      head.append(el('span', 'msg-pos', `at character ${m.position}`));
      const go = el('vscode-button', 'goto', 'Go to error');
      go.setAttribute('appearance', 'secondary');
      const position = m.position;
      go.addEventListener('click', () => this.goToError(position));
      head.append(go);
    }
    box.append(head, el('div', 'msg-text', m.message));
    const extra: [string, string | undefined][] = [
      ['DETAIL', m.detail],
      ['HINT', m.hint],
      ['CONTEXT', m.context],
    ];
    for (const [label, text] of extra) {
      if (!text) continue;
      const line = el('div', 'msg-extra');
      line.append(el('span', 'msg-label', `${label}: `), el('span', 'msg-extra-text', text));
      box.append(line);
    }
    return box;
  }
}
