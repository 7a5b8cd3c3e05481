// The engine the VS Code layer drives: one launcher session per connection, jobs launched
// through pg_background, results drained into ResultStores, history for window reloads.
// Nothing here imports `vscode`; the UI adapts the events and calls these methods.
//
// Draining: each connection has one pump loop that visits its running jobs in turn (round
// robin, one fetch_v2 batch per visit) so concurrent jobs share the session fairly and no job's
// worker stalls on a full queue for long. Every call is short (fetch_v2 with a small wait_ms,
// list_v2 / get_progress_v2 polls), so cancel, detach and new launches interleave promptly.
// Waiting for a job never blocks the session: the pump already observes the end; wait() only
// awaits that, with a timeout and an AbortSignal, and never touches the job itself.

import pg from 'pg';
import type { ClientConfig } from 'pg';
import { Emitter } from './events.js';
import type { Event, JobInfo, ResultStore, ServerMessage } from './model.js';
import {
  DEFAULT_ENGINE_SETTINGS,
  type Capabilities,
  type ConnectionStateEvent,
  type EngineLog,
  type EngineSettings,
  type ForeignWorker,
  type HistoryRecord,
  type LaunchOptions,
  type SessionLostEvent,
  type WaitOptions,
  type WaitOutcome,
} from './engineTypes.js';
import { ConnectionError, ExtensionMissingError, formatServerMessage, toServerError } from './errors.js';
import { LauncherSession, type SessionCalls } from './launcherSession.js';
import { SpooledResultStore } from './resultStore.js';
import { isFinal, nextState, outcomeFromServerState, type JobEvent } from './jobStateMachine.js';
import { applyFetchBatch, toServerMessage } from './fetchMessages.js';
import { classifyReadError, COMMAND_TAG_LIST, planReducedRead, readWithNotices, ReducedReadError, type ReducedPlan } from './reducedMode.js';
import { listForeignWorkers, signalWorker } from './foreignWorkers.js';

export * from './engineTypes.js';

export interface JobManagerOptions {
  /** Directory for spool files (the extension's storage); created when missing. */
  storageDir: string;
  /** Current settings; called whenever a value is needed so changes apply live. */
  settings?: () => EngineSettings;
  log?: EngineLog;
}

/** Longest a single wait_ms / wait slice may hold the launcher session. */
const MAX_SLICE_MS = 250;
/** Row-count-only job changes are coalesced to this interval. */
const JOB_CHANGE_INTERVAL_MS = 250;
/** In reduced mode, after this many empty wait slices we read result_v2 anyway (see readReduced). */
const REDUCED_MAX_IDLE_SLICES = 8;

interface Connection {
  name: string;
  session: LauncherSession;
  jobs: Set<JobRecord>;
  pumping: boolean;
  wake?: () => void;
}

interface JobRecord {
  info: JobInfo;
  conn: Connection;
  store?: SpooledResultStore;
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
  changeTimer?: NodeJS.Timeout;
  /** Consecutive calls that failed without a server error or a dropped session. */
  failures: number;
}

let jobCounter = 0;
function newJobId(): string {
  jobCounter++;
  return `${Date.now().toString(36)}-${jobCounter.toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
}

function describeError(err: unknown): string {
  const server = toServerError(err);
  if (server) return formatServerMessage(server.server);
  return err instanceof Error ? err.message : String(err);
}

function errorMessage(err: unknown): ServerMessage {
  const server = toServerError(err);
  if (server) return server.server;
  return { kind: 'error', stmt: 0, severity: 'ERROR', sqlstate: '', message: err instanceof Error ? err.message : String(err) };
}

export class JobManager {
  private readonly connections = new Map<string, Connection>();
  private readonly records = new Map<string, JobRecord>();
  private readonly changeJob = new Emitter<JobInfo>();
  private readonly endJob = new Emitter<JobInfo>();
  private readonly loseSession = new Emitter<SessionLostEvent>();
  private readonly changeConnection = new Emitter<ConnectionStateEvent>();
  private disposed = false;

  /** Any change of any job (state, rows received, progress). */
  readonly onDidChangeJob: Event<JobInfo> = this.changeJob.event;
  /** A job reached a final state (completed, error, canceled, detached, lost). */
  readonly onDidEndJob: Event<JobInfo> = this.endJob.event;
  /** A launcher session dropped while it had running jobs; they are now `lost`. */
  readonly onDidLoseSession: Event<SessionLostEvent> = this.loseSession.event;
  /** A launcher session connected, failed or disconnected. */
  readonly onDidChangeConnection: Event<ConnectionStateEvent> = this.changeConnection.event;

  constructor(private readonly options: JobManagerOptions) {}

  protected settings(): EngineSettings {
    return { ...DEFAULT_ENGINE_SETTINGS, ...(this.options.settings?.() ?? {}) };
  }

  private log(level: Parameters<EngineLog>[0], message: string): void {
    this.options.log?.(level, message);
  }

  // ---- connections -------------------------------------------------------------------------

  /**
   * Registers a connection without connecting (activation must not touch the network).
   * Re-registering replaces the config; an idle session reconnects with it on next use.
   */
  registerConnection(name: string, config: ClientConfig): void {
    const existing = this.connections.get(name);
    if (existing) {
      existing.session.setConfig(config);
      const busy = [...existing.jobs].some((j) => !isFinal(j.info.state));
      if (!busy && existing.session.connected) void existing.session.disconnect('connection profile changed');
      return;
    }
    const session = new LauncherSession(name, config, (level, msg) => this.log(level, msg));
    const conn: Connection = { name, session, jobs: new Set(), pumping: false };
    session.onDidDrop(({ generation, reason }) => this.onSessionDropped(conn, generation, reason));
    this.connections.set(name, conn);
  }

  /**
   * Registers (or re-registers) a connection and connects its launcher session now.
   * Rejects with a ConnectionError (readable message, `kind`) when the server cannot be reached.
   */
  async openConnection(name: string, config: ClientConfig): Promise<Capabilities> {
    this.registerConnection(name, config);
    return this.capabilities(name);
  }

  /** Ends the launcher session; running jobs of that connection become `lost`. */
  async closeConnection(name: string): Promise<void> {
    const conn = this.connections.get(name);
    if (!conn) return;
    this.connections.delete(name);
    await conn.session.close();
    this.changeConnection.fire({ connectionName: name, state: 'disconnected' });
  }

  /** Names of registered connections. */
  connectionNames(): string[] {
    return [...this.connections.keys()];
  }

  /** Whether the connection's launcher session is currently connected. */
  isConnected(name: string): boolean {
    return this.connections.get(name)?.session.connected ?? false;
  }

  /** Capabilities of the connection's server, connecting lazily if needed. */
  async capabilities(name: string): Promise<Capabilities> {
    const conn = this.connection(name);
    if (conn.session.connected && conn.session.capabilities) return conn.session.capabilities;
    this.changeConnection.fire({ connectionName: name, state: 'connecting' });
    try {
      const caps = await conn.session.connect();
      this.changeConnection.fire({ connectionName: name, state: 'connected', capabilities: caps });
      return caps;
    } catch (err) {
      this.changeConnection.fire({ connectionName: name, state: 'failed', error: describeError(err) });
      throw err;
    }
  }

  /**
   * Runs CREATE EXTENSION pg_background (in `schema`, created if needed) and re-detects
   * capabilities; a refusal (e.g. insufficient privilege, 42501) is thrown as PgServerError.
   */
  async installExtension(name: string, schema?: string): Promise<Capabilities> {
    const conn = this.connection(name);
    try {
      await conn.session.run(async (c) => {
        if (schema) await c.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(schema)}`);
        const withSchema = schema ? ` WITH SCHEMA ${pg.escapeIdentifier(schema)}` : '';
        await c.query(`CREATE EXTENSION IF NOT EXISTS pg_background${withSchema}`);
      });
    } catch (err) {
      throw toServerError(err) ?? err;
    }
    const caps = await conn.session.refreshCapabilities();
    this.log('info', `[${name}] pg_background ${caps.version ?? ''} installed`);
    this.changeConnection.fire({ connectionName: name, state: 'connected', capabilities: caps });
    return caps;
  }

  // ---- jobs --------------------------------------------------------------------------------

  /**
   * Starts a job. Resolves once the worker is launched (state `running`) or the launch failed
   * (state `error`, with `error` set); rejects only for a connection that cannot be reached
   * (ConnectionError), a missing extension (ExtensionMissingError) or an unknown connection.
   */
  async launch(connectionName: string, sql: string, options: LaunchOptions = {}): Promise<JobInfo> {
    const conn = this.connection(connectionName);
    if (!sql.trim()) throw new Error('Nothing to run: the SQL is empty.');
    const mode = options.mode ?? 'launch';
    const caps = await this.capabilities(connectionName);
    if (!caps.installed) throw new ExtensionMissingError(connectionName, caps.canCreateExtension);

    let resolveEnded!: () => void;
    const ended = new Promise<void>((r) => (resolveEnded = r));
    const info: JobInfo = {
      id: newJobId(),
      connectionName,
      sql,
      mode,
      state: 'launching',
      launchedAt: Date.now(),
      rowsReceived: 0,
      hasResult: false,
    };
    if (options.source) info.source = { ...options.source };
    if (caps.reducedMode) {
      info.reducedMode = true;
      info.note = 'Reduced mode: the server has no pg_background_fetch_v2; results are read with result_v2 when the job ends.';
    }
    const job: JobRecord = { info, conn, ended, resolveEnded, idleSlices: 0, nextPollAt: 0, failures: 0 };
    this.records.set(info.id, job);
    conn.jobs.add(job);
    this.emitChange(job);

    const queueSize = options.queueSize ?? this.settings().queueSize;
    const fn = mode === 'submit' ? 'pg_background_submit_v2' : 'pg_background_launch_v2';
    try {
      const launched = await conn.session.run(async (c) => {
        if (caps.reducedMode && mode === 'launch') job.reduced = (await planReducedRead(c, sql)) ?? null;
        const res = await c.query<{ pid: number; cookie: string }>(
          `SELECT (h).pid, (h).cookie::text AS cookie FROM (SELECT ${c.fn(fn)}($1, $2) AS h) s`,
          [sql, queueSize],
        );
        return { generation: c.generation, ...res.rows[0] };
      });
      job.generation = launched.generation;
      job.handle = { pid: launched.pid, cookie: launched.cookie };
      info.pid = launched.pid;
      info.cookie = launched.cookie;
      if (mode === 'launch') {
        // In reduced mode even a job whose rows cannot be read gets a store: its Messages tab
        // holds the notices and the error that result_v2 relays.
        job.store = new SpooledResultStore(info.id, { storageDir: this.options.storageDir, memoryRowBudget: this.settings().memoryRowBudget });
        info.hasResult = true;
        if (job.reduced) job.store.setColumns(1, job.reduced.columns);
      }
      if (job.reduced === null) {
        info.note = 'Reduced mode: the server has no pg_background_fetch_v2 and this SQL cannot be described (several statements, or describing it failed), so its rows cannot be read; its errors and notices are read when it ends.';
      }
      this.log('info', `[${connectionName}] ${mode} job ${info.id}: worker ${launched.pid}: ${info.sql.split('\n')[0].slice(0, 120)}`);
      this.transition(job, { type: 'launched' });
    } catch (err) {
      if (!isFinal(info.state)) {
        info.error = errorMessage(err);
        this.log('error', `[${connectionName}] launch failed: ${describeError(err)}`);
        this.transition(job, { type: 'launchFailed' });
      }
      if (err instanceof ConnectionError) throw err;
      return { ...info };
    }
    if (job.cancelAfterLaunch) void this.cancel(info.id, job.cancelAfterLaunch.graceMs).catch(() => undefined);
    this.startPump(conn);
    return { ...info };
  }

  /**
   * Cancels a job now (cancel_v2), or with a grace period: cancel now, and if the worker is still
   * running after graceMs terminate it (cancel_v2_grace with 0 ms). The grace wait happens here,
   * not in the server call, so the launcher session is never held for the grace period.
   */
  async cancel(id: string, graceMs?: number): Promise<void> {
    const job = this.record(id);
    if (isFinal(job.info.state)) return;
    if (job.info.state === 'launching' || !job.handle) {
      job.cancelAfterLaunch = graceMs === undefined ? {} : { graceMs };
      return;
    }
    const { pid, cookie } = job.handle;
    if (job.info.reducedMode) {
      // The original's cancel_v2 sends SIGTERM to the pid whatever became of the worker, and
      // reports nothing afterwards: only a cancel of a worker that still runs is a cancel.
      const ended = await this.onHandle(job, (c) => reducedWorkerEnded(c, pid, cookie, 0));
      if (ended === true) {
        this.log('info', `[${job.conn.name}] cancel job ${id}: worker ${pid} has already ended`);
        this.wakePump(job.conn);
        return;
      }
    }
    job.cancelRequested = true;
    this.log('info', `[${job.conn.name}] cancel job ${id} (worker ${pid}${graceMs !== undefined ? `, grace ${graceMs} ms` : ''})`);
    await this.onHandle(job, (c) => c.query(`SELECT ${c.fn('pg_background_cancel_v2')}($1, $2::int8)`, [pid, cookie]));
    if (graceMs !== undefined && !isFinal(job.info.state)) {
      if (job.graceTimer) clearTimeout(job.graceTimer);
      job.graceTimer = setTimeout(() => {
        job.graceTimer = undefined;
        if (isFinal(job.info.state)) return;
        this.log('info', `[${job.conn.name}] job ${id}: grace period over, terminating worker ${pid}`);
        void this.onHandle(job, (c) => c.query(`SELECT ${c.fn('pg_background_cancel_v2_grace')}($1, $2::int8, 0)`, [pid, cookie])).catch(
          (err: unknown) => this.log('warn', `[${job.conn.name}] terminate after grace failed: ${describeError(err)}`),
        );
      }, Math.max(0, graceMs));
      job.graceTimer.unref();
    }
    this.wakePump(job.conn);
  }

  /** Waits for a job to end; aborting or timing out ends the wait only, never the job. */
  async wait(id: string, options: WaitOptions = {}): Promise<WaitOutcome> {
    const job = this.record(id);
    if (isFinal(job.info.state)) return 'done';
    if (options.signal?.aborted) return 'aborted';
    return new Promise<WaitOutcome>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (outcome: WaitOutcome): void => {
        if (timer) clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        resolve(outcome);
      };
      const onAbort = (): void => finish('aborted');
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (options.timeoutMs !== undefined) timer = setTimeout(() => finish('timeout'), Math.max(0, options.timeoutMs));
      void job.ended.then(() => finish('done'));
    });
  }

  /** Lets go of the worker (detach_v2): it goes on server-side; results so far stay readable. */
  async detach(id: string): Promise<void> {
    const job = this.record(id);
    if (isFinal(job.info.state) || !job.handle) return;
    const { pid, cookie } = job.handle;
    await this.onHandle(job, (c) => c.query(`SELECT ${c.fn('pg_background_detach_v2')}($1, $2::int8)`, [pid, cookie]));
    job.info.note = 'Detached: the worker goes on server-side without us; results received so far stay readable.';
    this.log('info', `[${job.conn.name}] detached job ${id} (worker ${pid})`);
    this.transition(job, { type: 'detached' });
  }

  /** Launches the same SQL again on the same connection, as a new job. */
  async rerun(id: string): Promise<JobInfo> {
    const old = this.record(id).info;
    return this.launch(old.connectionName, old.sql, { mode: old.mode, source: old.source });
  }

  /** Forgets a finished job and frees its result store (spool file included). Running jobs stay. */
  clear(id: string): void {
    const job = this.records.get(id);
    if (!job || !isFinal(job.info.state)) return;
    job.store?.dispose();
    job.store = undefined;
    if (job.changeTimer) clearTimeout(job.changeTimer);
    job.conn.jobs.delete(job);
    this.records.delete(id);
  }

  /** clear() for every finished job; returns how many were cleared. */
  clearFinished(): number {
    let n = 0;
    for (const job of [...this.records.values()]) {
      if (isFinal(job.info.state)) {
        this.clear(job.info.id);
        n++;
      }
    }
    return n;
  }

  /** Snapshots of all known jobs, oldest first. */
  jobs(): JobInfo[] {
    return [...this.records.values()].map((j) => ({ ...j.info }));
  }

  job(id: string): JobInfo | undefined {
    const j = this.records.get(id);
    return j ? { ...j.info } : undefined;
  }

  /** The job's result store, while it holds readable results. */
  store(id: string): ResultStore | undefined {
    return this.records.get(id)?.store;
  }

  // ---- other sessions' workers ---------------------------------------------------------------

  /** pg_background workers of the same user on that connection's server that we did not launch. */
  async foreignWorkers(connectionName: string): Promise<ForeignWorker[]> {
    const conn = this.connection(connectionName);
    const caps = await conn.session.connect();
    const own = new Set<number>();
    for (const j of this.records.values()) if (j.info.pid !== undefined && !isFinal(j.info.state)) own.add(j.info.pid);
    return conn.session.run((c) => listForeignWorkers(c, connectionName, caps.launcherPid, own));
  }

  /** pg_cancel_backend on a foreign worker; false when it was gone; throws (PgServerError) when refused. */
  async cancelForeign(connectionName: string, pid: number): Promise<boolean> {
    return this.signalForeign(connectionName, pid, 'cancel');
  }

  /** pg_terminate_backend on a foreign worker; false when it was gone; throws (PgServerError) when refused. */
  async terminateForeign(connectionName: string, pid: number): Promise<boolean> {
    return this.signalForeign(connectionName, pid, 'terminate');
  }

  private async signalForeign(connectionName: string, pid: number, how: 'cancel' | 'terminate'): Promise<boolean> {
    const conn = this.connection(connectionName);
    try {
      const ok = await conn.session.run((c) => signalWorker(c, pid, how));
      this.log('info', `[${connectionName}] ${how} foreign worker ${pid}: ${ok ? 'signalled' : 'not found'}`);
      return ok;
    } catch (err) {
      throw toServerError(err) ?? err;
    }
  }

  // ---- history -----------------------------------------------------------------------------

  /** Serializable records of all jobs, for workspace state. */
  toHistory(): HistoryRecord[] {
    return [...this.records.values()].map((j) => ({ ...j.info, hasResult: false }));
  }

  /**
   * Restores records saved by toHistory(). Jobs that were not final are marked `lost` with a note
   * (their worker may still run server-side and shows up among the foreign workers). Results do
   * not survive a reload. Records whose id is already known are skipped.
   */
  restoreHistory(records: HistoryRecord[]): JobInfo[] {
    const restored: JobInfo[] = [];
    for (const r of records) {
      if (!r || typeof r.id !== 'string' || this.records.has(r.id)) continue;
      const info: JobInfo = { ...r, hasResult: false };
      if (!isFinal(info.state)) {
        info.state = 'lost';
        info.note = `The window closed while this job was ${r.state}; its worker may still be running server-side (see other sessions' workers).`;
        info.endedAt ??= Date.now();
      }
      let conn = this.connections.get(info.connectionName);
      if (!conn) {
        // Keep the record attached to a placeholder so the job list stays grouped by connection;
        // rerun needs the connection to be registered again.
        // (a session object that is never connected: restored jobs are final, nothing runs on it).
        const session = new LauncherSession(info.connectionName, {}, () => undefined);
        conn = { name: info.connectionName, session, jobs: new Set(), pumping: false };
      }
      const job: JobRecord = { info, conn, ended: Promise.resolve(), resolveEnded: () => undefined, idleSlices: 0, nextPollAt: 0, failures: 0 };
      this.records.set(info.id, job);
      if (this.connections.get(info.connectionName) === conn) conn.jobs.add(job);
      restored.push({ ...info });
      this.changeJob.fire({ ...info });
    }
    return restored;
  }

  /** Closes every session and frees every store. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.all([...this.connections.values()].map((c) => c.session.close().catch(() => undefined)));
    for (const job of this.records.values()) {
      job.store?.dispose();
      if (job.changeTimer) clearTimeout(job.changeTimer);
      if (job.graceTimer) clearTimeout(job.graceTimer);
    }
    this.changeJob.dispose();
    this.endJob.dispose();
    this.loseSession.dispose();
    this.changeConnection.dispose();
  }

  // ---- internals ---------------------------------------------------------------------------

  private connection(name: string): Connection {
    const conn = this.connections.get(name);
    if (!conn) throw new Error(`Unknown connection "${name}".`);
    return conn;
  }

  private record(id: string): JobRecord {
    const job = this.records.get(id);
    if (!job) throw new Error(`Unknown job ${id}.`);
    return job;
  }

  /** Runs a call on the job's handle, only if the session that owns the handle is still the same. */
  private onHandle<T>(job: JobRecord, fn: (c: SessionCalls) => Promise<T>): Promise<T> {
    if (this.connections.get(job.conn.name) !== job.conn) return Promise.reject(new Error('The connection of this job is no longer registered.'));
    return job.conn.session.run((c) => {
      if (c.generation !== job.generation) {
        throw new ConnectionError('The launcher session that owned this job has ended; the job is lost.', 'lost');
      }
      return fn(c);
    });
  }

  private transition(job: JobRecord, event: JobEvent): void {
    const before = job.info.state;
    const after = nextState(before, event);
    if (after === before) return;
    job.info.state = after;
    if (isFinal(after)) {
      job.info.endedAt = Date.now();
      if (job.graceTimer) clearTimeout(job.graceTimer);
      job.store?.markComplete();
      this.log(after === 'completed' || after === 'detached' ? 'info' : 'warn',
        `[${job.conn.name}] job ${job.info.id} ${after}${job.info.error ? `: ${job.info.error.message}` : ''} (${job.info.rowsReceived} rows)`);
    }
    this.emitChange(job);
    if (isFinal(after)) {
      this.endJob.fire({ ...job.info });
      job.resolveEnded();
    }
  }

  private emitChange(job: JobRecord): void {
    if (job.changeTimer) {
      clearTimeout(job.changeTimer);
      job.changeTimer = undefined;
    }
    this.changeJob.fire({ ...job.info });
  }

  /** Row counts change very often: tell listeners at most every JOB_CHANGE_INTERVAL_MS. */
  private scheduleChange(job: JobRecord): void {
    if (job.changeTimer) return;
    job.changeTimer = setTimeout(() => {
      job.changeTimer = undefined;
      this.changeJob.fire({ ...job.info });
    }, JOB_CHANGE_INTERVAL_MS);
    job.changeTimer.unref();
  }

  private onSessionDropped(conn: Connection, generation: number, reason: string): void {
    const lost: string[] = [];
    for (const job of conn.jobs) {
      if (isFinal(job.info.state)) continue;
      if (job.generation !== undefined && job.generation !== generation) continue;
      job.info.note = `The launcher session ended (${reason}); the worker may still finish its work server-side, but its results can no longer be read.`;
      this.transition(job, { type: 'sessionLost' });
      lost.push(job.info.id);
    }
    if (!this.disposed) {
      // Only a drop that cost running jobs is news for the user; an idle session simply reconnects.
      if (lost.length > 0) this.loseSession.fire({ connectionName: conn.name, lostJobIds: lost, reason });
      this.changeConnection.fire({ connectionName: conn.name, state: 'disconnected', error: reason });
    }
  }

  private wakePump(conn: Connection): void {
    conn.wake?.();
  }

  private startPump(conn: Connection): void {
    if (conn.pumping) {
      this.wakePump(conn);
      return;
    }
    conn.pumping = true;
    void this.pump(conn)
      .catch((err: unknown) => this.log('error', `[${conn.name}] drain loop failed: ${describeError(err)}`))
      .finally(() => {
        conn.pumping = false;
        // A job may have been launched just as the loop decided to stop.
        if (this.activeJobs(conn).length > 0 && !this.disposed) this.startPump(conn);
      });
  }

  private activeJobs(conn: Connection): JobRecord[] {
    return [...conn.jobs].filter((j) => j.info.state === 'running' && j.handle !== undefined);
  }

  private async pump(conn: Connection): Promise<void> {
    for (;;) {
      const active = this.activeJobs(conn);
      if (active.length === 0 || this.disposed) return;
      const draining = active.filter((j) => j.info.mode === 'launch' && !j.info.reducedMode);
      const slice = Math.max(10, Math.min(MAX_SLICE_MS, Math.floor(100 / Math.max(1, draining.length))));
      let progressed = false;
      for (const job of active) {
        if (job.info.state !== 'running') continue;
        try {
          if (job.info.mode === 'launch' && !job.info.reducedMode) {
            // wait_ms only applies when nothing is ready, so it costs nothing while rows flow and
            // saves empty round trips when the worker is slower than we are.
            if (await this.fetchOnce(job, slice)) progressed = true;
          } else if (Date.now() >= job.nextPollAt) {
            job.nextPollAt = Date.now() + this.settings().pollIntervalMs;
            if (job.info.mode === 'submit') await this.pollSubmitted(job);
            else await this.stepReduced(job);
          }
          if (job.info.state === 'running' && Date.now() >= job.nextPollAt && job.info.mode === 'launch' && !job.info.reducedMode) {
            job.nextPollAt = Date.now() + this.settings().pollIntervalMs;
            await this.pollProgress(job);
          }
        } catch (err) {
          this.onJobCallFailed(job, err);
        }
      }
      if (!progressed && draining.length === 0) await this.sleep(conn, this.settings().pollIntervalMs);
    }
  }

  private sleep(conn: Connection, ms: number): Promise<void> {
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

  /** One fetch_v2 batch into the job's store; true when something arrived. */
  private async fetchOnce(job: JobRecord, waitMs: number): Promise<boolean> {
    const { pid, cookie } = job.handle!;
    const batchSize = Math.max(1, this.settings().fetchBatchSize);
    // Simple protocol with inlined integers (all validated): one message per call instead of
    // Parse/Bind/Describe/Execute, and rows come back as bare text fields.
    if (!Number.isInteger(pid) || !/^-?\d+$/.test(cookie)) throw new Error(`invalid handle ${pid}/${cookie}`);
    const batch = await this.onHandle(job, (c) =>
      c.queryRawText(`SELECT kind, stmt, data FROM ${c.fn('pg_background_fetch_v2')}(${pid}, ${cookie}::int8, ${Math.trunc(batchSize)}, ${Math.trunc(waitMs)})`),
    );
    if (isFinal(job.info.state) || !job.store) return batch.length > 0;
    const outcome = applyFetchBatch(job.store, batch);
    job.failures = 0;
    if (outcome.rows > 0) {
      job.info.rowsReceived += outcome.rows;
      this.scheduleChange(job);
    }
    if (outcome.error) job.info.error = outcome.error;
    if (outcome.done !== undefined) {
      const final = outcomeFromServerState(outcome.done) ?? 'lost';
      if (final === 'lost' && !job.info.note) job.info.note = 'The worker ended without reporting an outcome (terminated?).';
      this.transition(job, { type: 'done', outcome: final });
    }
    return batch.length > 0;
  }

  /** Progress is a nicety: a server without get_progress_v2, or a failed poll, never fails the job. */
  private async pollProgress(job: JobRecord): Promise<void> {
    const { pid, cookie } = job.handle!;
    if (!job.conn.session.capabilities?.functions.includes('pg_background_get_progress_v2')) return;
    let res;
    try {
      res = await this.onHandle(job, (c) =>
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
      this.scheduleChange(job);
    }
  }

  /** Fire-and-forget jobs: nothing to drain; list_v2 says when the worker is done. */
  private async pollSubmitted(job: JobRecord): Promise<void> {
    const { pid, cookie } = job.handle!;
    const row = await this.onHandle(job, async (c) => {
      const res = await c.query<{ state: string; last_error: string | null }>(
        `SELECT state, last_error FROM ${c.fn('pg_background_list_v2')}()
           AS (pid int4, cookie int8, launched_at timestamptz, user_id oid, queue_size int4, state text, sql_preview text, last_error text, consumed bool)
          WHERE pid = $1 AND cookie = $2::int8`,
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
      this.transition(job, { type: 'done', outcome: 'lost' });
      return;
    }
    if (row.state === 'running') {
      await this.pollProgress(job).catch(() => undefined);
      return;
    }
    if (row.last_error) job.info.error = { kind: 'error', stmt: 0, severity: 'ERROR', sqlstate: '', message: row.last_error };
    if (job.info.reducedMode && row.state === 'stopped' && !row.last_error) {
      // The original says `stopped` for every outcome, and a submitted job has no result to read.
      this.finishUnknown(job, 'a submitted job has no result to read');
      return;
    }
    this.transition(job, { type: 'done', outcome: outcomeFromServerState(row.state) ?? 'lost' });
  }

  /**
   * Reduced mode: wait in short slices; once the worker is done read everything with result_v2.
   * A readable result larger than the queue keeps the worker from finishing until we read, so
   * after a few idle slices we read anyway — that call holds the session until the worker is
   * done (the original API offers nothing better). SQL we could not describe, or whose result
   * the original cannot return, is read only once the worker has ended: the read then tells its
   * errors and notices, and at worst that its outcome is unknown.
   */
  private async stepReduced(job: JobRecord): Promise<void> {
    const { pid, cookie } = job.handle!;
    const ended = await this.onHandle(job, (c) => reducedWorkerEnded(c, pid, cookie, MAX_SLICE_MS));
    if (job.unreadable !== undefined) {
      if (ended === true) this.finishUnknown(job, job.unreadable);
      return;
    }
    const plan = job.reduced;
    const eager = plan !== undefined && plan !== null && plan.unreadable === undefined;
    if (ended === false && !(eager && ++job.idleSlices >= REDUCED_MAX_IDLE_SLICES)) return;
    if (ended === 'blocked' && !eager) return;
    await this.readReduced(job, ended === true);
  }

  private async readReduced(job: JobRecord, ended: boolean): Promise<void> {
    const { pid, cookie } = job.handle!;
    const plan = job.reduced ?? undefined;
    let read;
    try {
      read = await this.onHandle(job, (c) => readWithNotices(c, pid, cookie, plan ? plan.definitionList : COMMAND_TAG_LIST));
    } catch (err) {
      if (!(err instanceof ReducedReadError)) throw err;
      for (const n of err.notices) job.store?.addMessage(n);
      const failure = classifyReadError(err.cause);
      if (!failure) throw err.cause;
      if (failure.kind === 'unreadable') {
        job.unreadable = plan?.unreadable ?? (plan
          ? `this server's pg_background_result_v2 refused to return its result (${failure.message.sqlstate}: ${failure.message.message})`
          : 'its SQL could not be described, so no column definition list could match its rows');
        this.log('info', `[${job.conn.name}] job ${job.info.id}: result not readable: ${describeError(err.cause)}`);
        if (ended) this.finishUnknown(job, job.unreadable);
        return;
      }
      await this.release(job);
      job.info.error = failure.message;
      job.store?.addMessage(failure.message);
      if (failure.kind === 'lost') {
        job.info.note = 'The worker ended without finishing its report (terminated?).';
        this.transition(job, { type: 'done', outcome: job.cancelRequested ? 'canceled' : 'lost' });
        return;
      }
      // The original's cancel is a SIGTERM: the worker dies with 57P01, not 57014.
      const canceled = failure.message.sqlstate === '57014' || (job.cancelRequested === true && failure.message.sqlstate === '57P01');
      this.transition(job, { type: 'done', outcome: canceled ? 'canceled' : 'error' });
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
    this.transition(job, { type: 'done', outcome: 'completed' });
  }

  /** Reduced mode: the worker has ended and nothing says how. */
  private finishUnknown(job: JobRecord, why: string): void {
    void this.release(job);
    if (job.cancelRequested) {
      job.info.note = `Canceled while running; this server's pg_background does not report more (${why}).`;
      this.transition(job, { type: 'done', outcome: 'canceled' });
      return;
    }
    job.info.note = `Finished; outcome not reported by this server version: ${why}, and its pg_background (without fetch_v2) does not say whether the job succeeded.`;
    this.transition(job, { type: 'done', outcome: 'finished' });
  }

  /** Frees the handle of a reduced-mode job whose result will not be read (a slot of this session). */
  private async release(job: JobRecord): Promise<void> {
    const { pid, cookie } = job.handle!;
    await this.onHandle(job, (c) => c.query(`SELECT ${c.fn('pg_background_detach_v2')}($1, $2::int8)`, [pid, cookie])).catch(() => undefined);
  }

  /** A call on a running job failed: the session dropping is handled by its drop event. */
  private onJobCallFailed(job: JobRecord, err: unknown): void {
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
      this.log('warn', `[${job.conn.name}] job ${job.info.id}: ${describeError(err)}`);
      if (++job.failures < 3) return;
      job.info.error = errorMessage(err);
      job.info.note = 'Reading this job failed repeatedly on the client side; the job is lost.';
      this.transition(job, { type: 'done', outcome: 'lost' });
      return;
    }
    job.info.error = toServerMessage('error', 0, { ...server.server });
    job.info.note = `The server rejected a call on this job's handle (${server.sqlstate}); the job is lost.`;
    job.store?.addMessage(job.info.error);
    this.log('error', `[${job.conn.name}] job ${job.info.id}: ${describeError(err)}`);
    this.transition(job, { type: 'done', outcome: 'lost' });
  }
}

/**
 * wait_v2_timeout: true when the worker has exited, false when it still runs; 'blocked' when our
 * own server says it waits for its results to be read (55000; the original never says so).
 */
async function reducedWorkerEnded(c: SessionCalls, pid: number, cookie: string, waitMs: number): Promise<boolean | 'blocked'> {
  try {
    const res = await c.query<{ done: boolean }>(`SELECT ${c.fn('pg_background_wait_v2_timeout')}($1, $2::int8, $3) AS done`, [pid, cookie, waitMs]);
    return res.rows[0].done;
  } catch (err) {
    if (toServerError(err)?.sqlstate === '55000') return 'blocked';
    throw err;
  }
}
