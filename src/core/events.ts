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

/**
 * "Something changed", rate-limited at its source so that listeners need no timers of their own:
 * after a quiet spell it fires at once (on the next macrotask, so that one burst of changes, such
 * as a fetched batch's rows and command tag, is one signal), then at most once per interval, and
 * always once more after the last change so listeners end on the latest state.
 */
export class ChangeSignal implements Disposable {
  private readonly emitter = new Emitter<void>();
  private last = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private disposed = false;

  readonly event: Event<void> = this.emitter.event;

  constructor(private readonly intervalMs: number) {}

  trigger(): void {
    if (this.disposed || this.timer || this.immediate) return;
    const wait = this.last + this.intervalMs - performance.now();
    if (wait <= 0) {
      this.immediate = setImmediate(() => {
        this.immediate = undefined;
        this.fire();
      });
      this.immediate.unref();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.fire();
    }, wait);
    this.timer.unref();
  }

  /** Fires now (a final state should not wait), whether or not a change is pending. */
  flush(): void {
    this.cancel();
    this.fire();
  }

  dispose(): void {
    this.disposed = true;
    this.cancel();
    this.emitter.dispose();
  }

  private cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  private fire(): void {
    if (this.disposed) return;
    this.last = performance.now();
    this.emitter.fire();
  }
}
