// Reconnecting a launcher session that dropped while durable jobs were running (design §8.2):
// retries after 0.5, 1, 2, 4 ... at most 30 s, each with ±20 % jitter (several windows that lost
// the same server must not knock on it in step), until an attempt succeeds or the give-up time
// has passed. The attempt itself (connect, re-attach every job) is the caller's.

import type { Disposable } from './model.js';

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;

/** The delay before attempt `n` (1-based), with jitter in [0.8, 1.2) of the nominal value. */
export function backoffDelay(n: number, random: () => number = Math.random): number {
  const nominal = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.max(0, Math.min(n - 1, 16)));
  return Math.round(Math.min(MAX_DELAY_MS, nominal * (0.8 + 0.4 * random())));
}

export interface ReconnectHooks {
  /** One attempt; true when the connection is back (and its jobs re-attached), false to retry. */
  attempt(n: number): Promise<boolean>;
  /** The next attempt starts in `nextInMs`. */
  waiting(n: number, nextInMs: number): void;
  /** Attempts have failed for the give-up time. */
  gaveUp(): void;
  giveUpMs(): number;
}

/** Starts the loop; disposing it stops it (the engine closes, or the connection is closed). */
export function startReconnect(hooks: ReconnectHooks): Disposable {
  const deadline = Date.now() + Math.max(0, hooks.giveUpMs());
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const schedule = (n: number): void => {
    if (stopped) return;
    const left = deadline - Date.now();
    if (left <= 0 && n > 1) {
      stopped = true;
      hooks.gaveUp();
      return;
    }
    // The last attempt happens at the deadline rather than after it.
    const delay = Math.max(0, Math.min(backoffDelay(n), left));
    hooks.waiting(n, delay);
    timer = setTimeout(() => {
      timer = undefined;
      void hooks.attempt(n).then(
        (ok) => {
          if (ok) stopped = true;
          else schedule(n + 1);
        },
        () => schedule(n + 1),
      );
    }, delay);
  };
  schedule(1);
  return {
    dispose: () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
