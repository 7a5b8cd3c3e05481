// What the engine keeps per connection and per job. Shared by the job manager (control and
// events), the connection registry, the drain strategies and the history; nothing here acts.

import type { Disposable, JobInfo, ServerMessage } from './model.js';
import type { LauncherSession } from './launcherSession.js';
import type { ReducedPlan } from './reducedMode.js';
import type { SpooledResultStore } from './resultStore.js';
import { formatServerMessage, toServerError } from './errors.js';
import type { DrainStrategy } from './drain.js';

/** A registered connection: its launcher session and the jobs launched on it. */
export interface Connection {
  name: string;
  session: LauncherSession;
  jobs: Set<JobRecord>;
  /** Its pump loop is running (see JobManager.startPump). */
  pumping: boolean;
  /** Ends the pump's idle sleep early (a cancel, a new job). */
  wake?: () => void;
  /** fetch_v2's wait_ms for this round of the pump: the round's time shared by the jobs that stream. */
  sliceMs: number;
  /** The backoff loop re-connecting this connection after a drop (reconnect.ts), while it runs. */
  reconnecting?: Disposable;
  /** A pass re-attaching this connection's jobs is running; a second caller joins it. */
  reattaching?: Promise<boolean>;
}

export interface JobRecord {
  info: JobInfo;
  conn: Connection;
  /** How the pump moves this job on; set once it is launched. */
  drain?: DrainStrategy;
  store?: SpooledResultStore;
  /** The session generation that owns the handle; a call on another generation would be on the wrong backend. */
  generation?: number;
  handle?: { pid: number; cookie: string };
  ended: Promise<void>;
  resolveEnded: () => void;
  idleSlices: number;
  nextPollAt: number;
  cancelAfterLaunch?: { graceMs?: number };
  graceTimer?: NodeJS.Timeout;
  reduced?: ReducedPlan | null;
  /** The user asked to cancel while the worker was still running. */
  cancelRequested?: boolean;
  /** Reduced mode: result_v2 could not read the result (why); only the worker's end is left to see. */
  unreadable?: string;
  /** Consecutive calls that failed without a server error or a dropped session. */
  failures: number;
  /**
   * Durable job (server with attach_v2, durable jobs on): fetch_v2 passes after_seq = the store's
   * lastSeq, the store keeps a journal, and a dropped session re-attaches instead of losing it.
   */
  durable?: boolean;
  /** The job ended, but the final acknowledgement has not reached the server yet. */
  finalAckPending?: boolean;
  /** The `done` message's seq: what the final acknowledgement passes (kept even without a store). */
  finalAckSeq?: number;
  /**
   * Attach without a position (after_seq NULL: from what the server has acknowledged) on the
   * next reattach: the store has nothing of this job yet (Attach from the tree, a lost store).
   */
  attachFromAcked?: boolean;
  /** Consecutive sequence gaps (each one re-asks from lastSeq). */
  gaps?: number;
}

/** A record whose `ended` promise is already settled: a job restored from history. */
export function endedRecord(info: JobInfo, conn: Connection): JobRecord {
  return { info, conn, ended: Promise.resolve(), resolveEnded: () => undefined, idleSlices: 0, nextPollAt: 0, failures: 0 };
}

export function describeError(err: unknown): string {
  const server = toServerError(err);
  if (server) return formatServerMessage(server.server);
  return err instanceof Error ? err.message : String(err);
}

export function errorMessage(err: unknown): ServerMessage {
  const server = toServerError(err);
  if (server) return server.server;
  return { kind: 'error', stmt: 0, severity: 'ERROR', sqlstate: '', message: err instanceof Error ? err.message : String(err) };
}
