// Public types of the job engine that are not part of the shared model: settings, capabilities,
// options and events. Re-exported by jobManager.ts so callers import one module.

import type { JobInfo } from './model.js';

/** The `pgBackground.*` settings the engine reads; re-read on every use so changes apply live. */
export interface EngineSettings {
  /** queue_size passed to launch_v2/submit_v2; 0 = the server's default. */
  queueSize: number;
  /** max_rows per fetch_v2 call. */
  fetchBatchSize: number;
  /** How often running jobs are polled (progress, submit-mode state) when idle, in ms. */
  pollIntervalMs: number;
  /** Rows kept in memory per result store; older rows are served from the spool file. */
  memoryRowBudget: number;
  /** Grace period used when the caller asks for a graceful cancel without a value, in ms. */
  defaultGraceMs: number;
  /**
   * Rows per fetch_v2 tuple asked of servers that can batch them (default FETCH_ROWS_PER_TUPLE);
   * 1 keeps one `row` tuple per row, as before (test/bench/client.mjs measures both).
   */
  fetchRowsPerTuple?: number;
  /**
   * Jobs on servers with pg_background_attach_v2 survive reloads and connection loss (exact
   * resume by sequence number, a meta journal beside each spool). Default true; false behaves as
   * on a server without attach (the bench measures both).
   */
  durableJobs?: boolean;
  /** After a dropped session, how long the engine keeps reconnecting before durable jobs are lost. Default 600. */
  reconnectGiveUpSeconds?: number;
}

/**
 * A tuple of a thousand typical rows is tens of kB: per-tuple costs (the launcher's tuple, a
 * DataRow of three fields here) are paid once per thousand rows. The server caps a tuple's bytes.
 */
export const FETCH_ROWS_PER_TUPLE = 1000;

export const DEFAULT_ENGINE_SETTINGS: EngineSettings = {
  queueSize: 0,
  fetchBatchSize: 10000,
  pollIntervalMs: 500,
  memoryRowBudget: 100000,
  defaultGraceMs: 5000,
  durableJobs: true,
  reconnectGiveUpSeconds: 600,
};

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';
export type EngineLog = (level: LogLevel, message: string) => void;

/** What a connection's server offers, detected when the launcher session connects. */
export interface Capabilities {
  /** pg_background is installed in this database. */
  installed: boolean;
  /** Installed version (pg_extension.extversion), when installed. */
  version?: string;
  /** Schema the extension lives in (it is relocatable), when installed. */
  schema?: string;
  /** Our self-describing fetch exists; without it the engine runs in reduced mode. */
  hasFetchV2: boolean;
  /** Installed but without fetch_v2: results via result_v2 with described column lists. */
  reducedMode: boolean;
  /** Names of the pg_background_* functions found. */
  functions: string[];
  /** server_version, e.g. "15.8". */
  serverVersion: string;
  /** server_version_num, e.g. 150008. */
  serverVersionNum: number;
  /** The current user may CREATE EXTENSION here (superuser or database owner/CREATE privilege). */
  canCreateExtension: boolean;
  /** Launcher backend pid, used to recognise our own workers in pg_stat_activity. */
  launcherPid: number;
  /** The server's standard_conforming_strings, for the statement finder. */
  standardConformingStrings: boolean;
  /** fetch_v2 can return many rows per tuple (kind `rows`, pg_background.fetch_rows_per_tuple). */
  rowBatches: boolean;
  /**
   * pg_background_attach_v2 exists (1.10): fetch_v2 numbers its messages (`seq`, `after_seq`),
   * and jobs can be re-attached after a reload or a dropped session.
   */
  attach: boolean;
}

export interface LaunchOptions {
  /** 'launch' keeps the results (launch_v2); 'submit' is fire-and-forget (submit_v2). */
  mode?: 'launch' | 'submit';
  /** Where the SQL came from, so error positions can be mapped back. */
  source?: { uri: string; offset: number };
  /** Overrides settings().queueSize for this job. */
  queueSize?: number;
}

export type WaitOutcome = 'done' | 'timeout' | 'aborted';

export interface WaitOptions {
  /** Give up waiting after this long (the job goes on). Undefined = until the job ends. */
  timeoutMs?: number;
  /** Aborting stops the wait only; it never cancels the job. */
  signal?: AbortSignal;
}

/** A pg_background worker of the same user that this engine did not launch. */
export interface ForeignWorker {
  connectionName: string;
  pid: number;
  usename: string;
  query: string;
  /** pg_stat_activity.state, e.g. "active", "idle". */
  state: string | null;
  /** Parsed from application_name 'pg_background:<launcher pid>', when present. */
  launcherPid?: number;
  applicationName: string;
  /** Epoch ms. */
  backendStart?: number;
  queryStart?: number;
}

export interface SessionLostEvent {
  connectionName: string;
  /** Jobs that were running on the session and are now `lost`. */
  lostJobIds: string[];
  /** Why the session ended, as readable text. */
  reason: string;
}

export interface ConnectionStateEvent {
  connectionName: string;
  /** 'reconnecting': the session dropped while durable jobs ran; the engine retries with backoff. */
  state: 'connecting' | 'connected' | 'disconnected' | 'failed' | 'reconnecting';
  capabilities?: Capabilities;
  error?: string;
  /** 'reconnecting' only: 1 for the first retry. */
  attempt?: number;
  /** 'reconnecting' only: milliseconds until this attempt starts. */
  nextInMs?: number;
}

/** What re-attaching a durable job needs beyond its JobInfo (pid and cookie are there). */
export interface ReattachState {
  /** Last message seq committed to the store (the meta journal may know a later one: it wins). */
  lastSeq: number;
  /** Base name of the store's files under the storage directory (`<storeId>.spool`, `<storeId>.meta`). */
  storeId?: string;
  /** The job ended but the server has not seen our final acknowledgement: send it on reattach. */
  finalAckPending?: boolean;
}

/** One persisted job: its JobInfo (plain JSON) and, for durable jobs, how to re-attach it. */
export type HistoryRecord = JobInfo & { reattach?: ReattachState };

/** A job in the server-wide registry (pg_background_jobs_v2), in camelCase. */
export interface ServerJob {
  connectionName: string;
  pid: number;
  /** int8 as text: it does not fit a JS number. */
  cookie: string;
  role: string;
  database: string;
  /** Epoch ms. */
  launchedAt: number;
  finishedAt?: number;
  /** running, completed, error, canceled, lost, interrupted */
  state: string;
  /** live, attached, held, delivered, discarded, none */
  output: string;
  rowsHeld: number;
  bytesHeld: number;
  lastSeq: number;
  ackedSeq: number;
  /** Backend reading the output now, if any. */
  readerPid?: number;
  launcherPid?: number;
  truncated: boolean;
  /** Epoch ms: when held output is removed if nobody attaches. */
  expiresAt?: number;
  sqlPreview: string;
  lastError?: string;
  sqlstate?: string;
  /** The local job record of this engine for the same pid and cookie, if any. */
  localJobId?: string;
}

export interface AttachOptions {
  /** Take the job over from another live reader (else a 55006 rejection, `sqlstate === '55006'`). */
  takeover?: boolean;
}
