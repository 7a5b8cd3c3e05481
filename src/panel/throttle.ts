// Leading + trailing throttle without timers leaking past dispose. The store fires onDidChange
// for every fetched batch (many per second at full speed); the panel only needs a few status
// pushes per second, and always the last state.

export class Throttle {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private last = 0;
  private pending = false;
  private disposed = false;

  constructor(
    private readonly intervalMs: number,
    private readonly fn: () => void,
  ) {}

  trigger(): void {
    if (this.disposed) return;
    const now = Date.now();
    const wait = this.last + this.intervalMs - now;
    if (wait <= 0 && !this.timer) {
      this.last = now;
      this.fn();
      return;
    }
    this.pending = true;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      if (this.pending && !this.disposed) {
        this.pending = false;
        this.last = Date.now();
        this.fn();
      }
    }, Math.max(0, wait));
  }

  /** Runs a pending call now (e.g. when the job ended, so the final state is not delayed). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending && !this.disposed) {
      this.pending = false;
      this.last = Date.now();
      this.fn();
    }
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
