// The server-wide job registry (pg_background_jobs_v2, 1.10) and the observer calls that work on
// any job of the caller's role, wherever it was launched (design §3.3, §8.4): listing, cancel,
// wait. None of them consumes output; Attach (jobManager.ts) is what makes this session the reader.

import type { ServerJob } from './engineTypes.js';
import { toServerError } from './errors.js';
import type { SessionCalls } from './launcherSession.js';

/** Longest one observer wait may hold the launcher session (the pump shares it). */
const WAIT_SLICE_MS = 250;

interface JobsRow {
  pid: number;
  cookie: string;
  role: string;
  database: string;
  launched_at: Date;
  finished_at: Date | null;
  state: string;
  output: string;
  rows_held: string | null;
  bytes_held: string | null;
  last_seq: string | null;
  acked_seq: string | null;
  reader_pid: number | null;
  launcher_pid: number | null;
  truncated: boolean | null;
  expires_at: Date | null;
  sql_preview: string | null;
  last_error: string | null;
  sqlstate: string | null;
}

/** int8 counters as numbers: byte and row counts stay far below 2^53. */
function count(v: string | null): number {
  const n = Number(v ?? 0);
  return Number.isFinite(n) ? n : 0;
}

export async function listServerJobs(c: SessionCalls, connectionName: string): Promise<ServerJob[]> {
  let res;
  try {
    res = await c.query<JobsRow>(
      `SELECT pid, cookie::text AS cookie, role::text AS role, database::text AS database, launched_at, finished_at, state, output,
              rows_held::text AS rows_held, bytes_held::text AS bytes_held, last_seq::text AS last_seq, acked_seq::text AS acked_seq,
              reader_pid, launcher_pid, truncated, expires_at, sql_preview, last_error, sqlstate
         FROM ${c.fn('pg_background_jobs_v2')}() ORDER BY launched_at, pid`,
    );
  } catch (err) {
    throw toServerError(err) ?? err;
  }
  return res.rows.map((r) => {
    const job: ServerJob = {
      connectionName,
      pid: r.pid,
      cookie: r.cookie,
      role: r.role,
      database: r.database,
      launchedAt: r.launched_at.getTime(),
      state: r.state,
      output: r.output,
      rowsHeld: count(r.rows_held),
      bytesHeld: count(r.bytes_held),
      lastSeq: count(r.last_seq),
      ackedSeq: count(r.acked_seq),
      truncated: r.truncated === true,
      sqlPreview: r.sql_preview ?? '',
    };
    if (r.finished_at) job.finishedAt = r.finished_at.getTime();
    if (r.reader_pid !== null) job.readerPid = r.reader_pid;
    if (r.launcher_pid !== null) job.launcherPid = r.launcher_pid;
    if (r.expires_at) job.expiresAt = r.expires_at.getTime();
    if (r.last_error !== null) job.lastError = r.last_error;
    if (r.sqlstate !== null) job.sqlstate = r.sqlstate;
    return job;
  });
}

/** cancel_v2 as an observer (or reader); `terminate` uses cancel_v2_grace with 0 ms. */
export async function cancelServerJob(c: SessionCalls, pid: number, cookie: string, terminate: boolean): Promise<void> {
  try {
    if (terminate) await c.query(`SELECT ${c.fn('pg_background_cancel_v2_grace')}($1, $2::int8, 0)`, [pid, cookie]);
    else await c.query(`SELECT ${c.fn('pg_background_cancel_v2')}($1, $2::int8)`, [pid, cookie]);
  } catch (err) {
    throw toServerError(err) ?? err;
  }
}

/**
 * One slice of an observer wait: true when the job has ended. A job blocked on output nobody
 * reads (55000) has not ended.
 */
export async function waitSlice(c: SessionCalls, pid: number, cookie: string, ms: number): Promise<boolean> {
  try {
    const res = await c.query<{ done: boolean }>(`SELECT ${c.fn('pg_background_wait_v2_timeout')}($1, $2::int8, $3) AS done`, [
      pid,
      cookie,
      Math.max(0, Math.min(WAIT_SLICE_MS, Math.trunc(ms))),
    ]);
    return res.rows[0].done;
  } catch (err) {
    const server = toServerError(err);
    if (server?.sqlstate === '55000') return false;
    throw server ?? err;
  }
}

export const OBSERVER_WAIT_SLICE_MS = WAIT_SLICE_MS;
