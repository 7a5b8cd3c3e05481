// Pure text for the Jobs tree: labels, descriptions, tooltips and the contextValue tags the
// manifest's menus match on. No `vscode` import, so it is unit-tested in plain Node
// (test/unit/vscode-treeLabels.test.ts) and the tree provider stays a thin adapter.

import { formatElapsed } from '../core/elapsed.js';
import { isFinal } from '../core/jobStateMachine.js';
import type { JobInfo, JobState } from '../core/model.js';
import { sqlLabel } from '../core/sqlLabel.js';

/**
 * What a job (or a worker's query) is called in the tree, notifications and titles: the name
 * of a `-- name: …` first line, else its first SQL words without comments; "…" marks a cut.
 */
export function jobLabel(sql: string, max = 80): string {
  return sqlLabel(sql, max);
}

/** 1234567 -> "1,234,567 rows"; locale-independent so labels (and e2e tests) are stable. */
export function formatRows(n: number): string {
  const digits = String(Math.max(0, Math.trunc(n))).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${digits} ${n === 1 ? 'row' : 'rows'}`;
}

const STATE_LABELS: Record<JobState, string> = {
  launching: 'launching',
  running: 'running',
  completed: 'completed',
  error: 'error',
  canceled: 'canceled',
  detached: 'detached',
  lost: 'lost',
  finished: 'finished, outcome unknown',
};

export function stateLabel(state: JobState): string {
  return STATE_LABELS[state];
}

/** Milliseconds the job has run (until now, or until it ended). */
export function jobElapsed(job: JobInfo, now: number): number {
  return (job.endedAt ?? now) - job.launchedAt;
}

/**
 * The grey text next to a job's label: state · elapsed · rows · progress.
 * Submit-mode jobs keep no results, so they show no row count.
 */
export function jobDescription(job: JobInfo, now: number): string {
  const parts = [stateLabel(job.state)];
  if (job.mode === 'submit') parts[0] += ' (submitted)';
  if (job.reconnecting && !isFinal(job.state)) parts[0] += ' (reconnecting)';
  parts.push(formatElapsed(jobElapsed(job, now)));
  if (job.mode === 'launch' && (job.rowsReceived > 0 || job.state === 'completed')) parts.push(formatRows(job.rowsReceived));
  if (!isFinal(job.state) && job.progressPct !== undefined) {
    parts.push(job.progressMsg ? `${job.progressPct}% ${job.progressMsg}` : `${job.progressPct}%`);
  }
  return parts.join(' · ');
}

/** Codicon id per state; the running one spins so activity is visible at a glance. */
export function stateIconId(state: JobState): string {
  switch (state) {
    case 'launching':
      return 'loading~spin';
    case 'running':
      return 'sync~spin';
    case 'completed':
      return 'pass';
    case 'error':
      return 'error';
    case 'canceled':
      return 'circle-slash';
    case 'detached':
      return 'debug-disconnect';
    case 'lost':
      return 'question';
    case 'finished':
      return 'circle-large-outline';
  }
}

/** Theme color id matching stateIconId, or undefined for the default foreground. */
export function stateColorId(state: JobState): string | undefined {
  switch (state) {
    case 'completed':
      return 'testing.iconPassed';
    case 'error':
      return 'errorForeground';
    case 'lost':
      return 'list.warningForeground';
    default:
      return undefined;
  }
}

/**
 * Space-separated tags the manifest's view/item/context menus match with regexes, e.g.
 * "pgbgJob state-running mode-launch has-result". Keep in sync with package.json.
 */
export function jobContextValue(job: JobInfo): string {
  const tags = ['pgbgJob', `state-${job.state}`, `mode-${job.mode}`];
  if (job.hasResult) tags.push('has-result');
  if (job.error) tags.push('has-error');
  if (job.error?.position !== undefined && job.source) tags.push('has-error-position');
  if (job.source) tags.push('has-source');
  return tags.join(' ');
}

export interface ConnectionNodeState {
  active: boolean;
  /** undefined while the capabilities are not known (not connected yet). */
  installed?: boolean;
  reducedMode?: boolean;
  connected: boolean;
  failed: boolean;
  /** The engine is re-establishing a dropped session (durable jobs wait for it). */
  reconnecting?: boolean;
}

export function connectionContextValue(s: ConnectionNodeState): string {
  const tags = ['pgbgConnection', s.active ? 'active' : 'inactive', s.connected ? 'connected' : 'disconnected'];
  if (s.installed === false) tags.push('ext-missing');
  if (s.reducedMode) tags.push('reduced');
  if (s.failed) tags.push('failed');
  return tags.join(' ');
}

export function connectionDescription(s: ConnectionNodeState, jobCount: number): string {
  const parts: string[] = [];
  if (s.active) parts.push('active');
  if (s.failed) parts.push('connection failed');
  else if (s.installed === false) parts.push('pg_background missing');
  else if (s.reducedMode) parts.push('reduced mode');
  else if (s.reconnecting) parts.push('reconnecting');
  else if (!s.connected) parts.push('not connected');
  parts.push(jobCount === 1 ? '1 job' : `${jobCount} jobs`);
  return parts.join(' · ');
}

/** A fenced code block that cannot be broken out of: the fence is longer than any backtick run inside. */
export function markdownCodeBlock(text: string, language = 'sql'): string {
  let longest = 0;
  for (const run of text.match(/`+/g) ?? []) longest = Math.max(longest, run.length);
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${fence}${language}\n${text}\n${fence}`;
}

/** Escapes Markdown syntax so server text (error messages, names) renders literally. */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>~&]/g, (ch) => `\\${ch}`);
}

function formatTime(epochMs: number): string {
  // ISO without the date noise of toString(); the tooltip is for humans, local time is fine.
  const d = new Date(epochMs);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** The job tooltip as Markdown (the provider wraps it in a MarkdownString without trusted links). */
export function jobTooltipMarkdown(job: JobInfo, now: number): string {
  const lines: string[] = [];
  lines.push(`**${escapeMarkdown(stateLabel(job.state))}** on ${escapeMarkdown(job.connectionName)}` + (job.pid ? ` · worker pid ${job.pid}` : ''));
  lines.push('');
  lines.push(`Started ${formatTime(job.launchedAt)} · ${formatElapsed(jobElapsed(job, now))}` + (job.mode === 'submit' ? ' · fire and forget' : ` · ${formatRows(job.rowsReceived)}`));
  if (job.reconnecting && !isFinal(job.state)) {
    lines.push('');
    lines.push('Re-attaching to the server: the rows continue where they stopped, none lost and none twice.');
  }
  if (job.progressPct !== undefined && !isFinal(job.state)) {
    lines.push('');
    lines.push(`Progress: ${job.progressPct}%` + (job.progressMsg ? ` ${escapeMarkdown(job.progressMsg)}` : ''));
  }
  if (job.state === 'detached') {
    lines.push('');
    lines.push('Detached: the worker goes on without this window; it appears under "Other sessions" while it runs.');
  }
  if (job.state === 'finished') {
    lines.push('');
    lines.push(job.note ? escapeMarkdown(job.note) : 'Finished: the worker has ended, but this server\'s pg_background (without fetch_v2) does not report whether the job succeeded, failed or was canceled.');
  }
  if (job.state === 'lost') {
    lines.push('');
    lines.push(
      job.durable
        ? 'Lost: the server no longer holds this job\'s output, or could not be reached again.'
        : 'Lost: the worker or this window\'s session ended without a final report. A worker that is still running appears under "Other sessions".',
    );
  }
  if (job.error) {
    const e = job.error;
    lines.push('');
    lines.push(`**${escapeMarkdown(e.severity)} ${escapeMarkdown(e.sqlstate)}:** ${escapeMarkdown(e.message)}`);
    if (e.detail) lines.push(`\n*Detail:* ${escapeMarkdown(e.detail)}`);
    if (e.hint) lines.push(`\n*Hint:* ${escapeMarkdown(e.hint)}`);
  }
  lines.push('');
  lines.push(markdownCodeBlock(job.sql));
  return lines.join('\n');
}

/** One line for the error notification: "ERROR 42P01: relation "x" does not exist (hint: …)". */
export function formatServerError(e: { severity: string; sqlstate: string; message: string; detail?: string; hint?: string }): string {
  let text = `${e.severity} ${e.sqlstate}: ${e.message}`;
  if (e.detail) text += ` — ${e.detail}`;
  if (e.hint) text += ` (hint: ${e.hint})`;
  return text;
}

/** Document offset of a server error position (1-based, in characters) inside SQL that began at `sourceOffset`. */
export function errorDocumentOffset(sourceOffset: number, position: number): number {
  return sourceOffset + Math.max(1, position) - 1;
}
