// How long a job has run, as text. One formatter for every place that shows it (Jobs tree,
// tooltips, notifications, the result panel's header), so the same job reads the same
// everywhere; short enough for a tree row. Pure, no `vscode`, also bundled into the webview.

/** "0.4s", "12s", "3m 05s", "2h 03m". */
export function formatElapsed(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) ms = 0;
  if (ms < 10_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)}s`;
  const totalSeconds = Math.floor(ms / 1000);
  if (totalSeconds < 60) return `${totalSeconds}s`;
  const minutes = Math.floor(totalSeconds / 60);
  const seconds = totalSeconds % 60;
  if (minutes < 60) return `${minutes}m ${String(seconds).padStart(2, '0')}s`;
  const hours = Math.floor(minutes / 60);
  return `${hours}h ${String(minutes % 60).padStart(2, '0')}m`;
}
