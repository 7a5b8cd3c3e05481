// Re-attaching durable jobs (design §8.2): after a window reload (restoreHistory) and after a
// dropped launcher session, a job this engine launched is attached again from the current
// session with take-over (the previous reader was our own, dead or about to be), positioned at
// the store's last committed seq, and the pump goes on with fetch_v2(..., after_seq). The
// server keeps everything after that seq, so the store ends with every message exactly once.

import { ConnectionError, PgServerError, toServerError } from './errors.js';
import type { SessionCalls } from './launcherSession.js';
import type { JobRecord } from './jobRecord.js';

/** What attach_v2 says of the job (pg_background_attachment). */
export interface Attachment {
  state: string;
  output: string;
  lastSeq: number;
  ackedSeq: number;
  launchedAt?: number;
  sqlPreview?: string;
  truncated: boolean;
}

interface AttachmentRow {
  state: string;
  output: string;
  last_seq: string | null;
  acked_seq: string | null;
  launched_at: Date | null;
  sql_preview: string | null;
  truncated: boolean | null;
}

/** Notes a job gets when the server cannot give it back. */
export const NOTE_NOT_HELD = 'Lost: the server no longer holds this job (retention expired or discarded).';
export const NOTE_INTERRUPTED = 'Lost: interrupted by a server restart.';
export const NOTE_UNREACHABLE = 'Lost: server unreachable; the job may have finished server-side (see the server jobs of this connection).';

function seqValue(v: string | null): number {
  const n = Number(v ?? 0);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`attach_v2 returned an invalid seq ${String(v)}`);
  return n;
}

/**
 * attach_v2 on this session. `afterSeq` undefined: from what the server has acknowledged (it then
 * replays the current statement's columns). Rejections come back as PgServerError (sqlstate).
 */
export async function attach(c: SessionCalls, pid: number, cookie: string, afterSeq: number | undefined, takeover: boolean): Promise<Attachment> {
  let res;
  try {
    res = await c.query<AttachmentRow>(
      `SELECT state, output, last_seq::text AS last_seq, acked_seq::text AS acked_seq, launched_at, sql_preview, truncated
         FROM ${c.fn('pg_background_attach_v2')}($1, $2::int8, after_seq => $3::int8, takeover => $4)`,
      [pid, cookie, afterSeq === undefined ? null : String(afterSeq), takeover],
    );
  } catch (err) {
    throw toServerError(err) ?? err;
  }
  const r = res.rows[0];
  return {
    state: r.state,
    output: r.output,
    lastSeq: seqValue(r.last_seq),
    ackedSeq: seqValue(r.acked_seq),
    launchedAt: r.launched_at ? r.launched_at.getTime() : undefined,
    sqlPreview: r.sql_preview ?? undefined,
    truncated: r.truncated === true,
  };
}

/**
 * The final acknowledgement: fetch_v2 with after_seq = the `done` message's seq returns nothing
 * and lets the server free the job (its worker slot, if kept, and its registry entry).
 */
export async function acknowledgeFinal(c: SessionCalls, pid: number, cookie: string, doneSeq: number): Promise<void> {
  if (!Number.isInteger(pid) || !/^-?\d+$/.test(cookie) || !Number.isSafeInteger(doneSeq)) throw new Error(`invalid handle ${pid}/${cookie}/${doneSeq}`);
  await c.queryRawText(`SELECT kind FROM ${c.fn('pg_background_fetch_v2')}(${pid}, ${cookie}::int8, 1, 0, ${doneSeq}::int8)`);
}

/** How a refused reattach ends the job: the note it gets (the server's message where it has one). */
export function refusalNote(err: PgServerError): string {
  switch (err.sqlstate) {
    case '42704':
      return NOTE_NOT_HELD;
    default:
      // 42501 (another role), 55000 (another database, or acknowledged past us), 22023, ...
      return `Lost: the server refused to re-attach this job: ${err.server.message}${err.server.hint ? ` (${err.server.hint})` : ''}`;
  }
}

/** True for failures that mean "try again once connected" rather than "this job is gone". */
export function isConnectionTrouble(err: unknown): boolean {
  if (err instanceof ConnectionError) return true;
  const server = toServerError(err);
  if (!server) return true; // a plain Error from pg: "Connection terminated", ...
  return /^57P0[123]$/.test(server.sqlstate) || server.sqlstate.startsWith('08');
}

/** The position a reattach asks for: the store's last commit, or from what the server acknowledged. */
export function resumePoint(job: JobRecord): number | undefined {
  if (job.attachFromAcked || !job.store) return undefined;
  return job.store.lastSeq;
}
