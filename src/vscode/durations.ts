// Parsing of the durations users type for "Cancel with grace period" and "Wait with timeout".
// Pure (no `vscode`), so the InputBox validation is unit-tested.

/** int4 milliseconds: the server functions take grace_ms / timeout_ms as int4. */
export const MAX_DURATION_MS = 2_147_483_647;

const UNITS: Record<string, number> = { ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

/**
 * "500ms", "5s", "1.5 s", "2m", "1h", or a bare number of seconds ("10") -> milliseconds.
 * Returns an error message (string) instead of a number when the text is not a valid duration.
 */
export function parseDuration(text: string, options: { allowZero?: boolean } = {}): number | string {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h)?\s*$/i.exec(text);
  if (!match) return 'Type a duration such as 500ms, 5s, 2m or 1h (a bare number means seconds).';
  const unit = (match[2] ?? 's').toLowerCase();
  const ms = Math.round(Number(match[1]) * UNITS[unit]);
  if (ms === 0 && !options.allowZero) return 'The duration must be greater than zero.';
  if (ms > MAX_DURATION_MS) return 'The duration must be at most 24 days (2147483647 ms).';
  return ms;
}

/** The inverse, for pre-filling an InputBox: 5000 -> "5s", 1500 -> "1500ms", 120000 -> "2m". */
export function formatDuration(ms: number): string {
  if (ms > 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms > 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** Milliseconds as a bare seconds value for an InputBox that asks in seconds: 5000 -> "5", 1500 -> "1.5". */
export function formatSeconds(ms: number): string {
  return String(Math.round(ms) / 1000);
}
