// The engine the VS Code layer drives: one launcher session per connection, jobs launched
// through pg_background, results drained into ResultStores, history for window reloads.
// Nothing here imports `vscode`; the UI adapts the events and calls these methods.

import type { ClientConfig } from 'pg';
import { Emitter } from './events.js';
import type { Event, JobInfo, ResultStore } from './model.js';
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

export * from './engineTypes.js';

export interface JobManagerOptions {
  /** Directory for spool files (the extension's storage); created when missing. */
  storageDir: string;
  /** Current settings; called whenever a value is needed so changes apply live. */
  settings?: () => EngineSettings;
  log?: EngineLog;
}

export class JobManager {
  private readonly changeJob = new Emitter<JobInfo>();
  private readonly endJob = new Emitter<JobInfo>();
  private readonly loseSession = new Emitter<SessionLostEvent>();
  private readonly changeConnection = new Emitter<ConnectionStateEvent>();

  /** Any change of any job (state, rows received, progress). */
  readonly onDidChangeJob: Event<JobInfo> = this.changeJob.event;
  /** A job reached a final state (completed, error, canceled, detached, lost). */
  readonly onDidEndJob: Event<JobInfo> = this.endJob.event;
  /** A launcher session dropped; its running jobs are now `lost`. */
  readonly onDidLoseSession: Event<SessionLostEvent> = this.loseSession.event;
  /** A launcher session connected, failed or disconnected. */
  readonly onDidChangeConnection: Event<ConnectionStateEvent> = this.changeConnection.event;

  constructor(private readonly options: JobManagerOptions) {
    void this.options;
  }

  protected settings(): EngineSettings {
    return this.options.settings?.() ?? DEFAULT_ENGINE_SETTINGS;
  }

  /**
   * Registers (or re-registers) a connection and connects its launcher session now.
   * Rejects with a ConnectionError (readable message, `kind`) when the server cannot be reached.
   */
  async openConnection(name: string, config: ClientConfig): Promise<Capabilities> {
    throw new Error(`not implemented: ${name} ${String(config.host)}`);
  }

  /** Ends the launcher session; running jobs of that connection become `lost`. */
  async closeConnection(name: string): Promise<void> {
    throw new Error(`not implemented: ${name}`);
  }

  /** Names of registered connections. */
  connectionNames(): string[] {
    return [];
  }

  /** Capabilities of the connection's server, connecting lazily if needed. */
  async capabilities(name: string): Promise<Capabilities> {
    throw new Error(`not implemented: ${name}`);
  }

  /** Runs CREATE EXTENSION pg_background on that connection and re-detects capabilities. */
  async installExtension(name: string, schema?: string): Promise<Capabilities> {
    throw new Error(`not implemented: ${name} ${schema ?? ''}`);
  }

  /** Starts a job. Resolves once the worker is launched (state `running`) or failed (`error`). */
  async launch(connectionName: string, sql: string, options: LaunchOptions = {}): Promise<JobInfo> {
    throw new Error(`not implemented: ${connectionName} ${sql} ${String(options.mode)}`);
  }

  /** Cancels a job now, or with a grace period (cancel_v2_grace) before the worker is terminated. */
  async cancel(id: string, graceMs?: number): Promise<void> {
    throw new Error(`not implemented: ${id} ${String(graceMs)}`);
  }

  /** Waits for a job to end; aborting or timing out ends the wait only, never the job. */
  async wait(id: string, options: WaitOptions = {}): Promise<WaitOutcome> {
    throw new Error(`not implemented: ${id} ${String(options.timeoutMs)}`);
  }

  /** Lets go of the worker (detach_v2): it goes on server-side; results so far stay readable. */
  async detach(id: string): Promise<void> {
    throw new Error(`not implemented: ${id}`);
  }

  /** Launches the same SQL again on the same connection, as a new job. */
  async rerun(id: string): Promise<JobInfo> {
    throw new Error(`not implemented: ${id}`);
  }

  /** Forgets a finished job and frees its result store (spool file included). */
  clear(id: string): void {
    void id;
  }

  /** clear() for every finished job; returns how many were cleared. */
  clearFinished(): number {
    return 0;
  }

  /** Snapshots of all known jobs, oldest first. */
  jobs(): JobInfo[] {
    return [];
  }

  job(id: string): JobInfo | undefined {
    void id;
    return undefined;
  }

  /** The job's result store, while it holds readable results. */
  store(id: string): ResultStore | undefined {
    void id;
    return undefined;
  }

  /** pg_background workers of the same user on that connection's server that we did not launch. */
  async foreignWorkers(connectionName: string): Promise<ForeignWorker[]> {
    throw new Error(`not implemented: ${connectionName}`);
  }

  /** pg_cancel_backend on a foreign worker; false when the server refused or it was gone. */
  async cancelForeign(connectionName: string, pid: number): Promise<boolean> {
    throw new Error(`not implemented: ${connectionName} ${pid}`);
  }

  /** pg_terminate_backend on a foreign worker; false when the server refused or it was gone. */
  async terminateForeign(connectionName: string, pid: number): Promise<boolean> {
    throw new Error(`not implemented: ${connectionName} ${pid}`);
  }

  /** Serializable records of all jobs, for workspace state. */
  toHistory(): HistoryRecord[] {
    return [];
  }

  /**
   * Restores records saved by toHistory(). Jobs that were not final are marked `lost` with a note
   * (their worker may still run server-side and shows up among the foreign workers).
   */
  restoreHistory(records: HistoryRecord[]): JobInfo[] {
    void records;
    return [];
  }

  /** Closes every session and frees every store. */
  async dispose(): Promise<void> {
    this.changeJob.dispose();
    this.endJob.dispose();
    this.loseSession.dispose();
    this.changeConnection.dispose();
  }
}
