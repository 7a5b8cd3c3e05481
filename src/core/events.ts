// A tiny event emitter matching model.ts's Event<T>, so the engine can publish changes without
// depending on `vscode` (the VS Code layer adapts these to vscode.EventEmitter if it wants).

import type { Disposable, Event, Listener } from './model.js';

export class Emitter<T> implements Disposable {
  private listeners = new Set<Listener<T>>();

  readonly event: Event<T> = (listener: Listener<T>): Disposable => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };

  fire(value: T): void {
    // Copy first: a listener may unsubscribe (or subscribe) while we iterate.
    for (const listener of [...this.listeners]) {
      try {
        listener(value);
      } catch {
        // A faulty listener must not break the engine or starve the other listeners.
      }
    }
  }

  dispose(): void {
    this.listeners.clear();
  }
}
