// The engine the VS Code layer drives: one launcher session per connection, jobs launched
// through pg_background, results drained into ResultStores, history for window reloads.
// Nothing here imports `vscode`; the UI adapts the events and calls these methods.
//
// This module is job control (launch, cancel, wait, detach, clear) and the job events; beside
// it are connectionRegistry.ts (launcher sessions and their events), drain.ts (the per-connection
// pump and how each kind of job is moved on), jobHistory.ts (what survives a reload) and
// jobRecord.ts (the records they share). Waiting for a job never blocks the session: the pump
// already observes the end; wait() only awaits that, with a timeout and an AbortSignal, and
// never touches the job itself.
//
// Durable jobs (servers with attach_v2, issue 11): reattach.ts says how a job is attached again,
// reconnect.ts how a dropped session is retried, serverJobs.ts what the server-wide registry
// offers; this module decides when (after a reload, after a drop) and keeps the records.

import type { ClientConfig } from 'pg';
import { Emitter } from './events.js';
import type { Event, JobInfo, ResultStore } from './model.js';
import {
  DEFAULT_ENGINE_SETTINGS,
  type AttachOptions,
  type Capabilities,
  type ConnectionStateEvent,
  type EngineLog,
  type EngineSettings,
  type ForeignWorker,
  type HistoryRecord,
  type LaunchOptions,
  type ServerJob,
  type SessionLostEvent,
  type WaitOptions,
  type WaitOutcome,
} from './engineTypes.js';
import { ConnectionError, ExtensionMissingError } from './errors.js';
import type { SessionCalls } from './launcherSession.js';
import { SpooledResultStore } from './resultStore.js';
import { isFinal, nextState, type JobEvent } from './jobStateMachine.js';
import { planReducedRead } from './reducedMode.js';
import { ConnectionRegistry } from './connectionRegistry.js';
import { FetchDrain, reducedWorkerEnded, ReducedRead, startPump, SubmitPoll, wakePump, type DrainContext, type DrainStrategy } from './drain.js';
import { isRestorable, restoredRecord, toHistory } from './jobHistory.js';
import { describeError, errorMessage, type Connection, type JobRecord } from './jobRecord.js';
import { DurableJobs } from './durableJobs.js';
import type { EngineInternals } from './engineInternals.js';
import { ServerJobActions } from './serverJobActions.js';
import { collectStoreGarbage, SHARED_STORAGE_MIN_AGE_MS } from './storeGc.js';

export * from './engineTypes.js';

export interface JobManagerOptions {
  /** Directory for spool files (the extension's storage); created when missing. */
  storageDir: string;
  /** Current settings; called whenever a value is needed so changes apply live. */
  settings?: () => EngineSettings;
  log?: EngineLog;
  /**
   * storageDir is shared with other windows (VS Code's globalStorage, used without a workspace):
   * restoring a history then deletes only unreferenced store files older than a week.
   */
  sharedStorage?: boolean;
}

/**
 * Longest dispose() waits for calls already on the wire (a fetch_v2 holds the session for at most
 * its wait_ms, 250 ms, plus the transfer of one batch).
 */
const DISPOSE_SETTLE_MS = 5000;

let jobCounter = 0;
function newJobId(): string {
  jobCounter++;
  return `${Date.now().toString(36)}-${jobCounter.toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
}

export class JobManager {
  private readonly registry: ConnectionRegistry;
  private readonly records = new Map<string, JobRecord>();
  private readonly changeJob = new Emitter<JobInfo>();
  private readonly endJob = new Emitter<JobInfo>();
  private readonly loseSession = new Emitter<SessionLostEvent>();
  private readonly drainContext: DrainContext;
  private readonly drains: { fetch: DrainStrategy; submit: DrainStrategy; reduced: DrainStrategy };
  private readonly durable: DurableJobs;
  private readonly serverJobs: ServerJobActions;
  private disposed = false;
  /** Calls on job handles that have not answered yet (dispose() lets them finish). */
  private readonly callsInFlight = new Set<Promise<void>>();

  /** Any change of any job (state, rows received, progress). */
  readonly onDidChangeJob: Event<JobInfo> = this.changeJob.event;
  /** A job reached a final state (completed, error, canceled, detached, lost, finished). */
  readonly onDidEndJob: Event<JobInfo> = this.endJob.event;
  /**
   * Running jobs were lost with their launcher session: a drop cost non-durable jobs, or the
   * reconnect loop gave up on durable ones (reason 'server unreachable').
   */
  readonly onDidLoseSession: Event<SessionLostEvent> = this.loseSession.event;
  /** A launcher session connected, failed, disconnected, or is being re-established ('reconnecting'). */
  readonly onDidChangeConnection: Event<ConnectionStateEvent>;

  constructor(private readonly options: JobManagerOptions) {
    this.registry = new ConnectionRegistry(
      (level, msg) => this.log(level, msg),
      (conn, generation, reason) => this.onSessionDropped(conn, generation, reason),
    );
    this.onDidChangeConnection = this.registry.onDidChange;
    this.registry.onDidChange((e) => {
      if (e.state === 'connected') this.durable.onConnected(e.connectionName);
    });
    const ctx: DrainContext = {
      settings: () => this.settings(),
      log: (level, msg) => this.log(level, msg),
      onHandle: (job, fn) => this.onHandle(job, fn),
      transition: (job, event) => this.transition(job, event),
      progressChanged: (job) => this.emitChange(job),
      stopped: () => this.disposed,
      acknowledgeFinal: (job, doneSeq) => this.durable.acknowledgeFinal(job, doneSeq),
    };
    this.drainContext = ctx;
    this.drains = { fetch: new FetchDrain(ctx), submit: new SubmitPoll(ctx), reduced: new ReducedRead(ctx) };
    const internals: EngineInternals = {
      registry: this.registry,
      drainContext: ctx,
      fetchDrain: this.drains.fetch,
      records: () => this.records.values(),
      addRecord: (job) => {
        this.records.set(job.info.id, job);
        job.conn.jobs.add(job);
      },
      emitChange: (job) => this.emitChange(job),
      newJobId,
      newStore: (jobId, journal) => this.newStore(jobId, journal),
      attachStore: (job, store) => this.attachStore(job, store),
      cancel: (id, graceMs) => this.cancel(id, graceMs),
      wait: (id, options) => this.wait(id, options),
      detach: (id) => this.detach(id),
      sessionLost: (event) => this.loseSession.fire(event),
    };
    this.durable = new DurableJobs(internals);
    this.serverJobs = new ServerJobActions(internals, this.durable);
  }

  protected settings(): EngineSettings {
    return { ...DEFAULT_ENGINE_SETTINGS, ...(this.options.settings?.() ?? {}) };
  }

  private log(level: Parameters<EngineLog>[0], message: string): void {
    this.options.log?.(level, message);
  }

  // ---- connections: passed on to the registry (connectionRegistry.ts says what each does) ----

  registerConnection(name: string, config: ClientConfig): void {
    this.registry.register(name, config);
  }

  /** Registers and connects now; rejects with a ConnectionError (readable, `kind`) when the server cannot be reached. */
  async openConnection(name: string, config: ClientConfig): Promise<Capabilities> {
    this.registry.register(name, config);
    return this.registry.capabilities(name);
  }

  /** Ends the launcher session; running jobs of that connection become `lost`. */
  async closeConnection(name: string): Promise<void> {
    const conn = this.registry.get(name);
    this.durable.stopReconnecting(conn);
    await this.registry.close(name);
    // Jobs waiting for a reconnect had no session to drop: they end here.
    for (const job of conn?.jobs ?? []) {
      if (isFinal(job.info.state)) continue;
      job.info.note = 'The connection was closed while this job was being re-attached; it may still be on the server (see its server jobs).';
      delete job.info.reconnecting;
      this.transition(job, { type: 'sessionLost' });
    }
  }

  connectionNames(): string[] {
    return this.registry.names();
  }

  isConnected(name: string): boolean {
    return this.registry.isConnected(name);
  }

  async capabilities(name: string): Promise<Capabilities> {
    return this.registry.capabilities(name);
  }

  async installExtension(name: string, schema?: string): Promise<Capabilities> {
    return this.registry.installExtension(name, schema);
  }

  // ---- jobs --------------------------------------------------------------------------------

  /**
   * Starts a job. Resolves once the worker is launched (state `running`) or the launch failed
   * (state `error`, with `error` set); rejects only for a connection that cannot be reached
   * (ConnectionError), a missing extension (ExtensionMissingError) or an unknown connection.
   */
  async launch(connectionName: string, sql: string, options: LaunchOptions = {}): Promise<JobInfo> {
    const conn = this.registry.require(connectionName);
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
    const durable = mode === 'launch' && caps.attach && !caps.reducedMode && this.settings().durableJobs !== false;
    info.durable = durable;
    if (mode === 'launch' && !durable && !caps.reducedMode) info.note = notDurableNote(caps);
    if (caps.reducedMode) {
      info.reducedMode = true;
      info.note = 'Reduced mode: the server has no pg_background_fetch_v2; results are read with result_v2 when the job ends.';
    }
    const job: JobRecord = { info, conn, ended, resolveEnded, idleSlices: 0, nextPollAt: 0, failures: 0, durable };
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
        const store = this.newStore(info.id, durable);
        this.attachStore(job, store);
        info.hasResult = true;
        if (job.reduced) store.setColumns(1, job.reduced.columns);
      }
      if (job.reduced === null) {
        info.note = 'Reduced mode: the server has no pg_background_fetch_v2 and this SQL cannot be described (several statements, or describing it failed), so its rows cannot be read; its errors and notices are read when it ends.';
      }
      job.drain = mode === 'submit' ? this.drains.submit : caps.reducedMode ? this.drains.reduced : this.drains.fetch;
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
    startPump(this.drainContext, conn);
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
    if (job.info.state === 'launching' || !job.handle || job.info.reconnecting) {
      // Sent once the worker is launched, or once the job is attached again.
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
        wakePump(job.conn);
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
    wakePump(job.conn);
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
    if (job.info.reconnecting) throw new Error('This job is being re-attached; detach it once it has reconnected.');
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
    const own = new Set<number>();
    for (const j of this.records.values()) if (j.info.pid !== undefined && !isFinal(j.info.state)) own.add(j.info.pid);
    return this.registry.foreignWorkers(connectionName, own);
  }

  /** pg_cancel_backend on a foreign worker; false when it was gone; throws (PgServerError) when refused. */
  async cancelForeign(connectionName: string, pid: number): Promise<boolean> {
    return this.registry.signalWorker(connectionName, pid, 'cancel');
  }

  /** pg_terminate_backend on a foreign worker; false when it was gone; throws (PgServerError) when refused. */
  async terminateForeign(connectionName: string, pid: number): Promise<boolean> {
    return this.registry.signalWorker(connectionName, pid, 'terminate');
  }

  // ---- history -----------------------------------------------------------------------------

  /** Serializable records of all jobs, for workspace state. */
  toHistory(): HistoryRecord[] {
    return toHistory(this.records.values());
  }

  /**
   * Restores records saved by toHistory(). Durable jobs that were running come back `running`
   * with `reconnecting: true` and their store reopened: call reattachAll() next (activation
   * itself stays offline). Durable jobs that had ended come back with their store, read-only.
   * Other jobs that were not final are marked `lost` with a note (their worker may still run
   * server-side). Records whose id is already known are skipped. Store files that no record
   * refers to are deleted.
   */
  restoreHistory(records: HistoryRecord[]): JobInfo[] {
    const restored: JobInfo[] = [];
    const openStore = (jobId: string, storeId: string): SpooledResultStore | undefined => {
      try {
        return SpooledResultStore.open(jobId, storeId, { storageDir: this.options.storageDir, memoryRowBudget: this.settings().memoryRowBudget });
      } catch (err) {
        this.log('warn', `job ${jobId}: its stored results could not be reopened (${describeError(err)})`);
        return undefined;
      }
    };
    const referenced = new Set<string>();
    for (const r of Array.isArray(records) ? records : []) {
      if (!isRestorable(r)) continue;
      if (typeof r.reattach?.storeId === 'string') referenced.add(r.reattach.storeId);
      if (this.records.has(r.id)) continue;
      const conn = this.registry.get(r.connectionName);
      const job = restoredRecord(r, conn, openStore);
      if (job.store) this.attachStore(job, job.store);
      if (!isFinal(job.info.state)) job.drain = this.drains.fetch;
      this.records.set(job.info.id, job);
      job.conn.jobs.add(job);
      restored.push({ ...job.info });
      this.changeJob.fire({ ...job.info });
    }
    for (const job of this.records.values()) if (job.store) referenced.add(job.store.storeId);
    const removed = collectStoreGarbage(this.options.storageDir, referenced, this.options.sharedStorage ? SHARED_STORAGE_MIN_AGE_MS : 0);
    if (removed.length > 0) this.log('info', `removed ${removed.length} result file(s) no job refers to`);
    return restored;
  }

  // ---- durable jobs: reattach, reconnect, server jobs ------------------------------------------

  // ---- durable jobs: reattach, reconnect, server jobs (durableJobs.ts, serverJobActions.ts) ---

  /**
   * Attaches again every durable job that waits for it (restored from history, or whose session
   * dropped), connection by connection, and sends the final acknowledgements still owed. A
   * connection that cannot be reached now is retried with backoff (state 'reconnecting').
   */
  reattachAll(): Promise<void> {
    return this.durable.reattachAll();
  }

  /** The server's jobs of this role (pg_background_jobs_v2), `localJobId` set for ours; [] on servers without it. */
  listServerJobs(connectionName: string): Promise<ServerJob[]> {
    return this.serverJobs.list(connectionName);
  }

  /**
   * Makes this engine the reader of a job launched elsewhere (psql, another window): a local
   * record and store, streaming from the first message the server still holds. A job read by
   * another live session is refused with a PgServerError whose `sqlstate` is '55006' unless
   * `takeover` is set. A job this engine already reads is returned as it is.
   */
  attachServerJob(connectionName: string, pid: number, cookie: string, options: AttachOptions = {}): Promise<JobInfo> {
    return this.serverJobs.attach(connectionName, pid, cookie, options);
  }

  /** Cancels a server job (an observer call unless this engine reads it); graceMs as in cancel(). */
  cancelServerJob(connectionName: string, pid: number, cookie: string, graceMs?: number): Promise<void> {
    return this.serverJobs.cancel(connectionName, pid, cookie, graceMs);
  }

  /** Waits until a server job ends (in short slices on the session); false when timeoutMs passed first. */
  waitServerJob(connectionName: string, pid: number, cookie: string, timeoutMs?: number): Promise<boolean> {
    return this.serverJobs.wait(connectionName, pid, cookie, timeoutMs);
  }

  /** Throws away a server job's output (attach, then detach_v2); a job still running runs on. */
  discardServerJob(connectionName: string, pid: number, cookie: string): Promise<void> {
    return this.serverJobs.discard(connectionName, pid, cookie);
  }

  /**
   * Closes every session and frees every store. Order matters for durable jobs: from here on no
   * call is started on a job's handle (onHandle refuses), the calls already on the wire finish
   * and their batches reach the store's journal, and only then are the sessions ended (on an
   * idle connection, so the backend is not left inside a fetch_v2 that the next window's
   * take-over would race) and the stores closed.
   */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const name of this.registry.names()) this.durable.stopReconnecting(this.registry.get(name));
    await this.settleCalls();
    await this.registry.dispose();
    for (const job of this.records.values()) {
      // A journaled store outlives the engine: the next window reopens it (or collects it).
      if (job.store?.journaled) job.store.close();
      else job.store?.dispose();
      if (job.graceTimer) clearTimeout(job.graceTimer);
    }
    this.changeJob.dispose();
    this.endJob.dispose();
    this.loseSession.dispose();
  }

  // ---- internals ---------------------------------------------------------------------------

  private record(id: string): JobRecord {
    const job = this.records.get(id);
    if (!job) throw new Error(`Unknown job ${id}.`);
    return job;
  }

  /**
   * Runs a call on the job's handle, only if the session that owns the handle is still the same
   * and the engine is not being disposed: a fetch_v2 started during dispose() would acknowledge
   * (after_seq) a batch whose answer nobody applies, and would keep the backend busy.
   */
  private onHandle<T>(job: JobRecord, fn: (c: SessionCalls) => Promise<T>): Promise<T> {
    if (this.registry.get(job.conn.name) !== job.conn) return Promise.reject(new Error('The connection of this job is no longer registered.'));
    const call = job.conn.session.run((c) => {
      if (this.disposed) throw new ConnectionError('The engine is shutting down.', 'lost');
      if (c.generation !== job.generation) {
        throw new ConnectionError('The launcher session that owned this job has ended; the job is lost.', 'lost');
      }
      return fn(c);
    });
    const settled = call.then(
      () => undefined,
      () => undefined,
    );
    this.callsInFlight.add(settled);
    void settled.then(() => this.callsInFlight.delete(settled));
    return call;
  }

  /**
   * Waits until the calls on job handles already started have answered and their callers have
   * applied the answers (the drain commits a batch in the same turn as it gets it). Bounded: a
   * server that stopped answering must not keep the window from closing; its calls are then cut
   * by the session's close, and their batches come again (nothing was acknowledged for them).
   */
  private async settleCalls(): Promise<void> {
    const deadline = Date.now() + DISPOSE_SETTLE_MS;
    while (this.callsInFlight.size > 0 && Date.now() < deadline) {
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))));
      await Promise.race([Promise.all([...this.callsInFlight]), bound]);
      clearTimeout(timer);
      // The callers' continuations (apply, commit) run before the next macrotask.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
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
    this.changeJob.fire({ ...job.info });
  }

  private onSessionDropped(conn: Connection, generation: number, reason: string): void {
    const lost: string[] = [];
    let waiting = 0;
    // Closed on purpose (closeConnection, dispose): nothing to reconnect.
    const deliberate = conn.session.isClosed;
    for (const job of conn.jobs) {
      if (isFinal(job.info.state)) continue;
      if (job.generation !== undefined && job.generation !== generation) continue;
      if (job.durable && job.handle && !deliberate) {
        // The server keeps its output: re-attach once the session is back.
        if (!job.info.reconnecting) {
          job.info.reconnecting = true;
          this.emitChange(job);
        }
        waiting++;
        continue;
      }
      if (job.durable && job.handle && this.disposed) continue; // the window closes: the next one re-attaches
      job.info.note = `The launcher session ended (${reason}); the worker may still finish its work server-side, but its results can no longer be read.`;
      delete job.info.reconnecting;
      this.transition(job, { type: 'sessionLost' });
      lost.push(job.info.id);
    }
    if (!this.disposed) {
      // Only a drop that cost running jobs is news for the user; an idle session simply reconnects.
      if (lost.length > 0) this.loseSession.fire({ connectionName: conn.name, lostJobIds: lost, reason });
      this.registry.disconnected(conn.name, reason);
      if (waiting > 0) {
        this.log('info', `[${conn.name}] ${waiting} durable job(s) wait for the session to come back`);
        this.durable.startReconnecting(conn);
      }
    }
  }

  private newStore(jobId: string, journal: boolean): SpooledResultStore {
    return new SpooledResultStore(jobId, { storageDir: this.options.storageDir, memoryRowBudget: this.settings().memoryRowBudget, journal });
  }

  private attachStore(job: JobRecord, store: SpooledResultStore): void {
    job.store = store;
    // Rows received are told with the store's own signal (rate-limited there, at once after a
    // quiet spell), not with a second timer of ours.
    store.onDidChange(() => {
      if (!isFinal(job.info.state)) this.changeJob.fire({ ...job.info });
    });
  }
}

/** Why a job on this server does not survive the window (design §8.5). */
function notDurableNote(caps: Capabilities): string {
  const why = caps.attach ? 'durable jobs are turned off (pgBackground.durableJobs)' : `pg_background ${caps.version ?? ''} on this server cannot re-attach`;
  return `Not durable: ${why}; closing the window or losing the connection loses this job's results.`;
}
