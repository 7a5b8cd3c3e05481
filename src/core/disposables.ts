// Ownership of what a long-lived object subscribed to or created (event subscriptions, emitters,
// status bar items, tree views): added as they are made, disposed together exactly once, in the
// order they were added. vscode-free: VS Code's Disposable and the engine's have the same shape.

import type { Disposable } from './model.js';

export class DisposableStore implements Disposable {
  private readonly items: Disposable[] = [];
  private disposed = false;

  /** Takes ownership. Anything added after dispose() is disposed at once, so nothing leaks. */
  add(...items: Disposable[]): void {
    if (this.disposed) {
      for (const d of items) d.dispose();
      return;
    }
    this.items.push(...items);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const d of this.items.splice(0)) d.dispose();
  }
}
