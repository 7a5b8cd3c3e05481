// How running jobs are moved on. Each connection has one pump loop that visits its running jobs
// in turn (round robin) and calls the job's drain strategy once per visit; a strategy makes one
// short call on the launcher session (or none, when the job is not due), so concurrent jobs
// share the session fairly, no worker stalls on a full queue for long, and cancel, detach and
// new launches interleave promptly:
//   FetchDrain   launched jobs on a server with fetch_v2: one fetch_v2 batch into the store
//                (many rows per tuple where the server offers it), progress polled every
//                pollIntervalMs
//   SubmitPoll   fire-and-forget jobs: list_v2 every pollIntervalMs until the worker is done
//   ReducedRead  launched jobs on a server without fetch_v2: wait in slices, then result_v2

import type { ServerMessage } from './model.js';
import { FETCH_ROWS_PER_TUPLE, type EngineLog, type EngineSettings } from './engineTypes.js';
import { ConnectionError, toServerError } from './errors.js';
import { applyFetchBatch, applySequencedBatch, toServerMessage, type BatchOutcome } from './fetchMessages.js';
import { NOTE_INTERRUPTED } from './reattach.js';
import { isFinal, outcomeFromServerState, type JobEvent } from './jobStateMachine.js';
import { describeError, errorMessage, type Connection, type JobRecord } from './jobRecord.js';
import type { SessionCalls } from './launcherSession.js';
import { classifyReadError, COMMAND_TAG_LIST, readWithNotices, ReducedReadError } from './reducedMode.js';

/** Sequence gaps in a row after which a job is given up (each one asks again from lastSeq). */
const MAX_GAPS = 3;
/** Longest a single wait_ms / wait slice may hold the launcher session. */
const MAX_SLICE_MS = 250;
/** In reduced mode, after this many empty wait slices we read result_v2 anyway (see ReducedRead). */
const REDUCED_MAX_IDLE_SLICES = 8;

/** The columns pg_background_list_v2() returns (it is declared RETURNS SETOF record). */
export const LIST_V2_COLUMNS =
  'pid int4, cookie int8, launched_at timestamptz, user_id oid, queue_size int4, state text, sql_preview text, last_error text, consumed bool';

/** What a strategy needs from the job manager. */
export interface DrainContext {
  settings(): EngineSettings;
  log: EngineLog;
  /** Runs a call on the job's handle, only on the session generation that owns it. */
  onHandle<T>(job: JobRecord, fn: (c: SessionCalls) => Promise<T>): Promise<T>;
  transition(job: JobRecord, event: JobEvent): void;
  /** Tells listeners about new progress (polled, so already rare; rows are told by the store). */
  progressChanged(job: JobRecord): void;
  /** The engine is being disposed: pumps stop. */
  stopped(): boolean;
  /** A durable job's `done` arrived: send the final acknowledgement (without awaiting it). */
  acknowledgeFinal(job: JobRecord, doneSeq: number): void;
}

export interface DrainStrategy {
  /** Keeps the pump busy while such a job runs (it reads rows as they come instead of polling). */
  readonly streams: boolean;
  /** One visit of the pump; true when data arrived (the pump goes round again without sleeping). */
  step(job: JobRecord): Promise<boolean>;
}

/** True when the job's poll interval has passed; then starts the next one. */
function pollDue(ctx: DrainContext, job: JobRecord): boolean {
  if (Date.now() < job.nextPollAt) return false;
  job.nextPollAt = Date.now() + ctx.settings().pollIntervalMs;
  return true;
}

export class FetchDrain implements DrainStrategy {
  readonly streams = true;

  constructor(private readonly ctx: DrainContext) {}

  async step(job: JobRecord): Promise<boolean> {
    // wait_ms only applies when nothing is ready, so it costs nothing while rows flow and saves
    // empty round trips when the worker is slower than we are.
    const progressed = await this.fetchOnce(job, job.conn.sliceMs);
    if (job.info.state === 'running' && pollDue(this.ctx, job)) await pollProgress(this.ctx, job);
    return progressed;
  }

  /** One fetch_v2 batch into the job's store; true when something arrived. */
  private async fetchOnce(job: JobRecord, waitMs: number): Promise<boolean> {
    const { pid, cookie } = job.handle!;
    const batchSize = Math.max(1, this.ctx.settings().fetchBatchSize);
    // A statement prepared once per backend, bound with text parameters and executed without
    // Describe (one corked write per call): the launcher skips parsing and planning the call, and
    // rows come back as bare text fields.
    if (!Number.isInteger(pid) || !/^-?\d+$/.test(cookie)) throw new Error(`invalid handle ${pid}/${cookie}`);
    const perTuple = Math.max(1, Math.trunc(this.ctx.settings().fetchRowsPerTuple ?? FETCH_ROWS_PER_TUPLE));
    // A durable job says what it has (after_seq = its store's last commit) and gets each
    // message's seq: that is what makes a resume after a reload or a reconnect exact.
    const sequenced = job.durable === true && job.store !== undefined;
    const after = sequenced ? job.store!.lastSeq : 0;
    const batch = await this.ctx.onHandle(job, async (c) => {
      // Once per backend (and setting): many rows per tuple where the server can (kind `rows`).
      if (job.conn.session.capabilities?.rowBatches && c.rowsPerTuple() !== perTuple) await c.setRowsPerTuple(perTuple);
      const args = [String(pid), cookie, String(Math.trunc(batchSize)), String(Math.trunc(waitMs))];
      return sequenced
        ? c.queryPrepared(`SELECT kind, stmt, data, seq FROM ${c.fn('pg_background_fetch_v2')}($1, $2::int8, $3, $4, $5::int8)`, [...args, String(after)])
        : c.queryPrepared(`SELECT kind, stmt, data FROM ${c.fn('pg_background_fetch_v2')}($1, $2::int8, $3, $4)`, args);
    });
    if (isFinal(job.info.state) || !job.store || job.info.reconnecting) return batch.length > 0;
    // A batch that raced a reattach (asked before it, answered after) must not be applied twice.
    if (sequenced && job.store.lastSeq !== after) return true;
    const outcome = sequenced ? applySequencedBatch(job.store, batch) : applyFetchBatch(job.store, batch);
    if (outcome.sequence && !this.sequenceOk(job, outcome)) return true;
    job.failures = 0;
    // The store signals the rows it got; listeners read rowsReceived then.
    job.info.rowsReceived += outcome.rows;
    if (outcome.error) job.info.error = outcome.error;
    if (outcome.done !== undefined) {
      if (outcome.doneSeq !== undefined) this.ctx.acknowledgeFinal(job, outcome.doneSeq);
      if (outcome.done === 'interrupted') {
        job.info.note = NOTE_INTERRUPTED;
        this.ctx.transition(job, { type: 'done', outcome: 'lost' });
        return true;
      }
      const final = outcomeFromServerState(outcome.done) ?? 'lost';
      if (final === 'lost' && (!job.info.note || job.info.note.startsWith('Not durable'))) job.info.note = 'The worker ended without reporting an outcome (terminated?).';
      this.ctx.transition(job, { type: 'done', outcome: final });
    }
    return batch.length > 0;
  }

  /** Logs what the sequence check found; false when the batch was not applied (a gap). */
  private sequenceOk(job: JobRecord, outcome: BatchOutcome): boolean {
    const seq = outcome.sequence!;
    if (seq.duplicates > 0) this.ctx.log('warn', `[${job.conn.name}] job ${job.info.id}: skipped ${seq.duplicates} message(s) already stored (seq ≤ ${job.store?.lastSeq})`);
    if (seq.gap === undefined) {
      job.gaps = 0;
      return true;
    }
    job.gaps = (job.gaps ?? 0) + 1;
    this.ctx.log('warn', `[${job.conn.name}] job ${job.info.id}: sequence gap, batch not applied, asking again after ${job.store?.lastSeq}: ${seq.gap}`);
    if (job.gaps >= MAX_GAPS) {
      job.info.error = { kind: 'error', stmt: 0, severity: 'ERROR', sqlstate: '08P01', message: `fetch_v2 skipped messages ${MAX_GAPS} times in a row (${seq.gap})` };
      job.info.note = 'The server sent this job\'s messages out of sequence; reading it was stopped so that no row is missing or twice.';
      this.ctx.transition(job, { type: 'done', outcome: 'lost' });
    }
    return false;
  }
}

export class SubmitPoll implements DrainStrategy {
  readonly streams = false;

  constructor(private readonly ctx: DrainContext) {}

  async step(job: JobRecord): Promise<boolean> {
    if (pollDue(this.ctx, job)) await this.poll(job);
    return false;
  }

  /** Nothing to drain; list_v2 says when the worker is done. */
  private async poll(job: JobRecord): Promise<void> {
    const { pid, cookie } = job.handle!;
    const row = await this.ctx.onHandle(job, async (c) => {
      const res = await c.query<{ state: string; last_error: string | null }>(
        `SELECT state, last_error FROM ${c.fn('pg_background_list_v2')}() AS (${LIST_V2_COLUMNS}) WHERE pid = $1 AND cookie = $2::int8`,
        [pid, cookie],
      );
      const r = res.rows[0];
      if (r && r.state !== 'running') {
        // Release the finished handle so it does not occupy a slot in this session.
        await c.query(`SELECT ${c.fn('pg_background_detach_v2')}($1, $2::int8)`, [pid, cookie]).catch(() => undefined);
      }
      return r;
    });
    if (!row) {
      job.info.note = 'The server no longer knows this worker; its outcome is unknown.';
      this.ctx.transition(job, { type: 'done', outcome: 'lost' });
      return;
    }
    if (row.state === 'running') {
      await pollProgress(this.ctx, job).catch(() => undefined);
      return;
    }
    if (row.last_error) job.info.error = { kind: 'error', stmt: 0, severity: 'ERROR', sqlstate: '', message: row.last_error };
    if (job.info.reducedMode && row.state === 'stopped' && !row.last_error) {
      // The original says `stopped` for every outcome, and a submitted job has no result to read.
      finishUnknown(this.ctx, job, 'a submitted job has no result to read');
      return;
    }
    this.ctx.transition(job, { type: 'done', outcome: outcomeFromServerState(row.state) ?? 'lost' });
  }
}

/**
 * Reduced mode: wait in short slices; once the worker is done read everything with result_v2.
 * A readable result larger than the queue keeps the worker from finishing until we read, so
 * after a few idle slices we read anyway — that call holds the session until the worker is
 * done (the original API offers nothing better). SQL we could not describe, or whose result
 * the original cannot return, is read only once the worker has ended: the read then tells its
 * errors and notices, and at worst that its outcome is unknown.
 */
export class ReducedRead implements DrainStrategy {
  readonly streams = false;

  constructor(private readonly ctx: DrainContext) {}

  async step(job: JobRecord): Promise<boolean> {
    if (!pollDue(this.ctx, job)) return false;
    const { pid, cookie } = job.handle!;
    const ended = await this.ctx.onHandle(job, (c) => reducedWorkerEnded(c, pid, cookie, MAX_SLICE_MS));
    if (job.unreadable !== undefined) {
      if (ended === true) finishUnknown(this.ctx, job, job.unreadable);
      return false;
    }
    const plan = job.reduced;
    const eager = plan !== undefined && plan !== null && plan.unreadable === undefined;
    if (ended === false && !(eager && ++job.idleSlices >= REDUCED_MAX_IDLE_SLICES)) return false;
    if (ended === 'blocked' && !eager) return false;
    await this.read(job, ended === true);
    return false;
  }

  private async read(job: JobRecord, ended: boolean): Promise<void> {
    const { pid, cookie } = job.handle!;
    const plan = job.reduced ?? undefined;
    let read;
    try {
      read = await this.ctx.onHandle(job, (c) => readWithNotices(c, pid, cookie, plan ? plan.definitionList : COMMAND_TAG_LIST));
    } catch (err) {
      if (!(err instanceof ReducedReadError)) throw err;
      for (const n of err.notices) job.store?.addMessage(n);
      const failure = classifyReadError(err.cause);
      if (!failure) throw err.cause;
      if (failure.kind === 'unreadable') {
        job.unreadable =
          plan?.unreadable ??
          (plan
            ? `this server's pg_background_result_v2 refused to return its result (${failure.message.sqlstate}: ${failure.message.message})`
            : 'its SQL could not be described, so no column definition list could match its rows');
        this.ctx.log('info', `[${job.conn.name}] job ${job.info.id}: result not readable: ${describeError(err.cause)}`);
        if (ended) finishUnknown(this.ctx, job, job.unreadable);
        return;
      }
      await release(this.ctx, job);
      job.info.error = failure.message;
      job.store?.addMessage(failure.message);
      if (failure.kind === 'lost') {
        job.info.note = 'The worker ended without finishing its report (terminated?).';
        this.ctx.transition(job, { type: 'done', outcome: job.cancelRequested ? 'canceled' : 'lost' });
        return;
      }
      // The original's cancel is a SIGTERM: the worker dies with 57P01, not 57014.
      const canceled = failure.message.sqlstate === '57014' || (job.cancelRequested === true && failure.message.sqlstate === '57P01');
      this.ctx.transition(job, { type: 'done', outcome: canceled ? 'canceled' : 'error' });
      return;
    }
    for (const n of read.notices) job.store?.addMessage(n);
    if (plan && job.store) {
      if (plan.commandOnly) {
        if (read.rows[0]?.[0]) job.store.setCommand(1, read.rows[0][0], undefined);
      } else {
        job.store.addRows(1, read.rows);
        job.info.rowsReceived += read.rows.length;
      }
    }
    // result_v2 returned: the worker reported the end of its work and no error.
    this.ctx.transition(job, { type: 'done', outcome: 'completed' });
  }
}

/** Progress is a nicety: a server without get_progress_v2, or a failed poll, never fails the job. */
async function pollProgress(ctx: DrainContext, job: JobRecord): Promise<void> {
  const { pid, cookie } = job.handle!;
  if (!job.conn.session.capabilities?.functions.includes('pg_background_get_progress_v2')) return;
  let res;
  try {
    res = await ctx.onHandle(job, (c) =>
      c.query<{ pct: number | null; msg: string | null }>(
        `SELECT (p).progress_pct AS pct, (p).progress_msg AS msg FROM (SELECT ${c.fn('pg_background_get_progress_v2')}($1, $2::int8) AS p) s`,
        [pid, cookie],
      ),
    );
  } catch (err) {
    if (err instanceof ConnectionError || !toServerError(err)) throw err;
    // The job may have just ended (handle released); the next fetch reports its outcome.
    return;
  }
  const row = res.rows[0];
  if (!row) return;
  const pct = row.pct ?? undefined;
  const msg = row.msg ?? undefined;
  if (pct !== job.info.progressPct || msg !== job.info.progressMsg) {
    job.info.progressPct = pct;
    job.info.progressMsg = msg;
    ctx.progressChanged(job);
  }
}

/** Reduced mode: the worker has ended and nothing says how. */
function finishUnknown(ctx: DrainContext, job: JobRecord, why: string): void {
  void release(ctx, job);
  if (job.cancelRequested) {
    job.info.note = `Canceled while running; this server's pg_background does not report more (${why}).`;
    ctx.transition(job, { type: 'done', outcome: 'canceled' });
    return;
  }
  job.info.note = `Finished; outcome not reported by this server version: ${why}, and its pg_background (without fetch_v2) does not say whether the job succeeded.`;
  ctx.transition(job, { type: 'done', outcome: 'finished' });
}

/** Frees the handle of a reduced-mode job whose result will not be read (a slot of this session). */
async function release(ctx: DrainContext, job: JobRecord): Promise<void> {
  const { pid, cookie } = job.handle!;
  await ctx.onHandle(job, (c) => c.query(`SELECT ${c.fn('pg_background_detach_v2')}($1, $2::int8)`, [pid, cookie])).catch(() => undefined);
}

/**
 * wait_v2_timeout: true when the worker has exited, false when it still runs; 'blocked' when our
 * own server says it waits for its results to be read (55000; the original never says so).
 */
export async function reducedWorkerEnded(c: SessionCalls, pid: number, cookie: string, waitMs: number): Promise<boolean | 'blocked'> {
  try {
    const res = await c.query<{ done: boolean }>(`SELECT ${c.fn('pg_background_wait_v2_timeout')}($1, $2::int8, $3) AS done`, [pid, cookie, waitMs]);
    return res.rows[0].done;
  } catch (err) {
    if (toServerError(err)?.sqlstate === '55000') return 'blocked';
    throw err;
  }
}

/**
 * A call of a strategy failed. A dropped session is handled by its drop event (the job becomes
 * lost with the right note); a server error on the handle loses the job; a client-side fault is
 * retried a few times.
 */
function drainCallFailed(ctx: DrainContext, job: JobRecord, err: unknown): void {
  if (isFinal(job.info.state)) return;
  if (err instanceof ConnectionError || !job.conn.session.connected || job.generation !== job.conn.session.generation) {
    return; // onSessionDropped marks the job lost
  }
  const server = toServerError(err);
  // admin_shutdown / crash_shutdown / cannot_connect_now / connection exceptions: the session
  // itself is going away, and its drop event will mark the job lost with the right note.
  if (server && (/^57P0[123]$/.test(server.sqlstate) || server.sqlstate.startsWith('08'))) return;
  if (!server) {
    // Usually connection trouble reported as a plain Error ("Connection terminated") just before
    // the session's drop event; retry, but do not spin forever on a persistent client-side fault.
    ctx.log('warn', `[${job.conn.name}] job ${job.info.id}: ${describeError(err)}`);
    if (++job.failures < 3) return;
    job.info.error = errorMessage(err);
    job.info.note = 'Reading this job failed repeatedly on the client side; the job is lost.';
    ctx.transition(job, { type: 'done', outcome: 'lost' });
    return;
  }
  const message: ServerMessage = toServerMessage('error', 0, { ...server.server });
  job.info.error = message;
  job.info.note = `The server rejected a call on this job's handle (${server.sqlstate}); the job is lost.`;
  job.store?.addMessage(message);
  ctx.log('error', `[${job.conn.name}] job ${job.info.id}: ${describeError(err)}`);
  ctx.transition(job, { type: 'done', outcome: 'lost' });
}

// ---- the pump ---------------------------------------------------------------------------------

/** Starts the connection's pump, or wakes it from its idle sleep when it already runs. */
export function startPump(ctx: DrainContext, conn: Connection): void {
  if (conn.pumping) {
    wakePump(conn);
    return;
  }
  conn.pumping = true;
  void pump(ctx, conn)
    .catch((err: unknown) => ctx.log('error', `[${conn.name}] drain loop failed: ${describeError(err)}`))
    .finally(() => {
      conn.pumping = false;
      // A job may have been launched just as the loop decided to stop.
      if (activeJobs(conn).length > 0 && !ctx.stopped()) startPump(ctx, conn);
    });
}

/** Ends the pump's idle sleep (a cancel, a new job): it goes round at once. */
export function wakePump(conn: Connection): void {
  conn.wake?.();
}

/** Jobs the pump moves on: running, launched, and not waiting to be re-attached. */
function activeJobs(conn: Connection): JobRecord[] {
  return [...conn.jobs].filter((j) => j.info.state === 'running' && j.handle !== undefined && !j.info.reconnecting);
}

async function pump(ctx: DrainContext, conn: Connection): Promise<void> {
  for (;;) {
    const active = activeJobs(conn);
    if (active.length === 0 || ctx.stopped()) return;
    const streaming = active.filter((j) => j.drain?.streams).length;
    // The round's time is shared by the jobs that stream; the others only poll when due.
    conn.sliceMs = Math.max(10, Math.min(MAX_SLICE_MS, Math.floor(100 / Math.max(1, streaming))));
    let progressed = false;
    for (const job of active) {
      if (job.info.state !== 'running' || !job.drain) continue;
      try {
        if (await job.drain.step(job)) progressed = true;
      } catch (err) {
        drainCallFailed(ctx, job, err);
      }
    }
    if (!progressed && streaming === 0) await sleep(conn, ctx.settings().pollIntervalMs);
  }
}

function sleep(conn: Connection, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      conn.wake = undefined;
      resolve();
    }
    conn.wake = done;
  });
}
