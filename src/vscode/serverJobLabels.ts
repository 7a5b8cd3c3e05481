// Pure text for durable jobs in the editor (issue 11): the Jobs tree's rows of server jobs (jobs
// this role has on the server that are not this window's records), the "While you were away"
// count, the reconnecting status text and the not-durable note of older servers. No `vscode`
// import, so it is unit-tested in plain Node (test/unit/vscode-serverJobLabels.test.ts).
//
// Everything that comes from the database (SQL preview, error text, role and database names) is
// untrusted: it is escaped for Markdown or shown as plain tree text, never as HTML or links.

import { formatElapsed } from '../core/elapsed.js';
import { isFinal } from '../core/jobStateMachine.js';
import type { JobState } from '../core/model.js';
import { escapeMarkdown, formatRows, jobLabel, markdownCodeBlock } from './treeLabels.js';

/**
 * The fields of a pg_background_jobs_v2() row this layer reads (the engine's ServerJob has them
 * all, and more). Timestamps are epoch ms; absent SQL NULLs are undefined.
 */
export interface ServerJobRow {
  pid: number;
  cookie: string;
  role?: string;
  database?: string;
  launchedAt?: number;
  finishedAt?: number;
  /** running, completed, error, canceled, lost, interrupted */
  state: string;
  /** live, attached, held, delivered, discarded, none */
  output: string;
  rowsHeld?: number;
  bytesHeld?: number;
  readerPid?: number;
  launcherPid?: number;
  truncated?: boolean;
  expiresAt?: number;
  sqlPreview?: string;
  lastError?: string;
  sqlstate?: string;
  /** Set when a local record of this window has the same pid and cookie. */
  localJobId?: string;
}

/** "12 MB", "640 kB", "3.4 GB": binary units, short enough for a tree row. */
export function formatBytes(n: number | undefined): string {
  const v = typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : 0;
  if (v < 1024) return `${v} ${v === 1 ? 'byte' : 'bytes'}`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let x = v / 1024;
  let i = 0;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${x >= 10 ? Math.round(x) : Math.round(x * 10) / 10} ${units[i]}`;
}

/** Server job states that ended (everything but running). */
export function isServerJobFinal(state: string): boolean {
  return state !== 'running';
}

const SERVER_STATE_LABELS: Record<string, string> = {
  running: 'running',
  completed: 'completed',
  error: 'error',
  canceled: 'canceled',
  lost: 'lost',
  interrupted: 'interrupted by a server restart',
};

export function serverStateLabel(state: string): string {
  return SERVER_STATE_LABELS[state] ?? state;
}

/** Where the output of a server job is, in a few words for the tree. */
function outputLabel(job: ServerJobRow): string | undefined {
  switch (job.output) {
    case 'held':
      return `held ${formatBytes(job.bytesHeld)}`;
    case 'live':
    case 'attached':
      return 'attached elsewhere';
    case 'delivered':
      return 'output delivered';
    case 'discarded':
      return 'output discarded';
    default:
      return undefined;
  }
}

/** The label of a server job's row: its SQL's first words, or its pid when the server kept none. */
export function serverJobLabel(job: ServerJobRow): string {
  const sql = job.sqlPreview?.trim();
  return sql ? jobLabel(sql) : `pid ${job.pid}`;
}

/** "running 12s · held 12 MB · launched by pid 4711", "completed · attached elsewhere". */
export function serverJobDescription(job: ServerJobRow, now: number): string {
  let state = serverStateLabel(job.state);
  if (job.state === 'running' && job.launchedAt !== undefined) state += ` ${formatElapsed(now - job.launchedAt)}`;
  const parts = [state];
  const output = outputLabel(job);
  if (output) parts.push(output);
  if (job.launcherPid !== undefined) parts.push(`launched by pid ${job.launcherPid}`);
  return parts.join(' · ');
}

/** Codicon of a server job: a cloud, "on the server", whatever its state. */
export function serverJobIconId(job: ServerJobRow): string {
  return job.output === 'held' || job.state === 'running' ? 'cloud' : 'cloud-download';
}

/** Theme color of the cloud: the outcome at a glance, like local jobs. */
export function serverJobColorId(job: ServerJobRow): string | undefined {
  switch (job.state) {
    case 'completed':
      return 'testing.iconPassed';
    case 'error':
      return 'errorForeground';
    case 'lost':
    case 'interrupted':
      return 'list.warningForeground';
    default:
      return undefined;
  }
}

function formatTime(epochMs: number): string {
  const d = new Date(epochMs);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** The tooltip of a server job as Markdown (wrapped in an untrusted MarkdownString, no HTML). */
export function serverJobTooltipMarkdown(job: ServerJobRow, now: number): string {
  const lines: string[] = [];
  lines.push(`**${escapeMarkdown(serverStateLabel(job.state))}** on the server · worker pid ${job.pid}`);
  lines.push('');
  lines.push('Not launched by this window: from psql, another window or another machine, or a session that has ended.');
  const who: string[] = [];
  if (job.role) who.push(`role ${escapeMarkdown(job.role)}`);
  if (job.database) who.push(`database ${escapeMarkdown(job.database)}`);
  if (job.launcherPid !== undefined) who.push(`launched by pid ${job.launcherPid}`);
  if (who.length > 0) {
    lines.push('');
    lines.push(who.join(' · '));
  }
  const when: string[] = [];
  if (job.launchedAt !== undefined) when.push(`Started ${formatTime(job.launchedAt)}`);
  if (job.finishedAt !== undefined) when.push(`finished ${formatTime(job.finishedAt)}`);
  else if (job.launchedAt !== undefined && job.state === 'running') when.push(formatElapsed(now - job.launchedAt));
  if (when.length > 0) {
    lines.push('');
    lines.push(when.join(' · '));
  }
  lines.push('');
  if (job.output === 'held') {
    lines.push(`Output held on the server for a reader: ${formatRows(job.rowsHeld ?? 0)}, ${formatBytes(job.bytesHeld)}. **Attach** streams it here.`);
    if (job.expiresAt !== undefined) lines.push(`\nKept until ${formatTime(job.expiresAt)} unless read.`);
  } else if (job.output === 'live' || job.output === 'attached') {
    lines.push(`Read by another session${job.readerPid !== undefined ? ` (pid ${job.readerPid})` : ''}. **Attach** offers to take it over.`);
  } else if (job.output === 'delivered') {
    lines.push('Its output has been delivered to a reader.');
  } else if (job.output === 'discarded') {
    lines.push('Its output was discarded (detached or removed).');
  } else {
    lines.push('It keeps no output (submitted fire-and-forget).');
  }
  if (job.truncated) lines.push('\n**Output truncated:** the server\'s bound for held output was reached.');
  if (job.lastError) {
    lines.push('');
    lines.push(`**${job.sqlstate ? `${escapeMarkdown(job.sqlstate)}: ` : ''}**${escapeMarkdown(job.lastError)}`);
  }
  lines.push('');
  lines.push(markdownCodeBlock(job.sqlPreview ?? ''));
  return lines.join('\n');
}

// ---- While you were away ---------------------------------------------------------------------

export interface AwayCounts {
  completed: number;
  failed: number;
}

type Outcome = keyof AwayCounts | undefined;

/** How a local job's final state counts; detached jobs were let go on purpose and don't count. */
export function localOutcome(state: JobState): Outcome {
  switch (state) {
    case 'completed':
    case 'finished':
      return 'completed';
    case 'error':
    case 'canceled':
    case 'lost':
      return 'failed';
    default:
      return undefined;
  }
}

export function serverOutcome(state: string): Outcome {
  if (state === 'completed') return 'completed';
  if (state === 'error' || state === 'canceled' || state === 'lost' || state === 'interrupted') return 'failed';
  return undefined;
}

export interface AwayInput {
  /** The records as the previous window saved them (id and state are all that is read). */
  saved: readonly { id: string; state: JobState }[];
  /** The state the restored job has now, after the first reattach pass. */
  currentState: (id: string) => JobState | undefined;
  /** The server jobs of this role on every connected connection. */
  serverJobs: readonly ServerJobRow[];
  /** When the previous window last saved its history (epoch ms); undefined on a first start. */
  lastActiveAt?: number;
  /** Told the id of each restored record that was counted. */
  onCounted?: (id: string) => void;
}

/**
 * What "While you were away" sums up: restored records that were not final when saved and are
 * final now (or whose server job has ended, when its remaining output is still streaming in),
 * plus the jobs of this role that no record of this window knows and that ended after the
 * previous window last saved.
 */
export function countAway(input: AwayInput): AwayCounts {
  const counts: AwayCounts = { completed: 0, failed: 0 };
  const byLocal = new Map<string, ServerJobRow>();
  for (const s of input.serverJobs) if (s.localJobId !== undefined) byLocal.set(s.localJobId, s);
  for (const r of input.saved) {
    if (isFinal(r.state)) continue;
    const now = input.currentState(r.id);
    let outcome: Outcome;
    if (now !== undefined && isFinal(now)) outcome = localOutcome(now);
    else {
      const server = byLocal.get(r.id);
      if (server && isServerJobFinal(server.state)) outcome = serverOutcome(server.state);
    }
    if (outcome) {
      counts[outcome] += 1;
      input.onCounted?.(r.id);
    }
  }
  if (input.lastActiveAt !== undefined) {
    const since = input.lastActiveAt;
    for (const s of input.serverJobs) {
      if (s.localJobId !== undefined || s.finishedAt === undefined || s.finishedAt <= since) continue;
      const outcome = serverOutcome(s.state);
      if (outcome) counts[outcome] += 1;
    }
  }
  return counts;
}

/** "While you were away: 3 jobs completed, 1 failed"; undefined when there is nothing to say. */
export function awayMessage(c: AwayCounts): string | undefined {
  if (c.completed === 0 && c.failed === 0) return undefined;
  return `While you were away: ${c.completed} ${c.completed === 1 ? 'job' : 'jobs'} completed, ${c.failed} failed`;
}

// ---- connection loss and older servers -------------------------------------------------------

/** The status bar text while the engine re-establishes a lost session. */
export function reconnectingText(connectionName: string, attempt: number): string {
  return `$(sync~spin) pg-background: reconnecting to ${connectionName} (attempt ${attempt})`;
}

/** The tooltip/note line of a running job that cannot survive the window (design §8.5). */
export function notDurableNote(version: string | undefined, durableSettingOff = false): string {
  if (durableSettingOff) {
    return 'Not durable: the setting pgBackground.durableJobs is off; closing the window or losing the connection loses this job\'s results.';
  }
  return `Not durable: pg_background ${version ?? '(unknown version)'} on this server cannot re-attach; closing the window or losing the connection loses this job's results.`;
}
