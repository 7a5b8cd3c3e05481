// Reactions to the engine's job events that are not the tree: the log, completion notifications
// and the persisted history.
//
// Notifications: a job that ends while its result is not in view gets a toast (setting
// pgBackground.notifyOnCompletion) with "Show Result" — except when the user already knows
// (they canceled or detached it, or are waiting on it and will see the wait's own message).
//
// History: the engine's records go to workspaceState after every state change, end and clear,
// with the time of the save (pgBackground.lastActiveAt), so jobs survive a reload. Durable jobs
// (servers with attach) come back running and re-attach; the others come back `lost` with a
// note (the engine decides). After the first reattach pass one "While you were away" message
// sums up what ended meanwhile; the restored jobs it counts get no toast of their own.

import * as vscode from 'vscode';
import type { JobManager } from '../core/jobManager.js';
import { DisposableStore } from '../core/disposables.js';
import type { JobInfo, JobState } from '../core/model.js';
import type { Results } from './results.js';
import { notifyOnCompletion } from './settings.js';
import type { Log } from './log.js';
import { formatElapsed } from '../core/elapsed.js';
import { formatRows, formatServerError, jobLabel } from './treeLabels.js';
import { isFinal } from '../core/jobStateMachine.js';
import { awayMessage, countAway, type ServerJobRow } from './serverJobLabels.js';

const HISTORY_KEY = 'pgBackground.history';
/** Epoch ms of the last history save: "away" is everything that ended after it. */
const LAST_ACTIVE_KEY = 'pgBackground.lastActiveAt';
/** Enough to be useful after a reload without letting workspaceState grow without bound. */
const HISTORY_LIMIT = 200;
const SAVE_DELAY_MS = 500;
/**
 * lastActiveAt also moves while nothing changes, so jobs of other clients that end while this
 * window is open are not news at the next start (a crash loses at most this much).
 */
const ACTIVE_TICK_MS = 60_000;

export class JobEvents implements vscode.Disposable {
  /** Jobs whose end the user caused or is watching; no completion toast for them. */
  private readonly expected = new Set<string>();
  private readonly lastState = new Map<string, JobState>();
  private readonly subscriptions = new DisposableStore();
  private saveTimer: NodeJS.Timeout | undefined;
  private restoring = false;
  /** Restored records that were not final when saved (id → saved state), for the away summary. */
  private readonly restoredUnfinished = new Map<string, JobState>();
  /** When the previous window last saved; read before this window saves anything. */
  private previousActiveAt: number | undefined;
  /** Until the away summary has run, restored jobs that end are left to it (no toast each). */
  private awayPending = false;
  private readonly countedAway = new Set<string>();
  private readonly activeTick: NodeJS.Timeout;

  constructor(
    private readonly engine: JobManager,
    private readonly state: vscode.Memento,
    private readonly results: Results,
    private readonly log: Log,
  ) {
    this.subscriptions.add(
      engine.onDidChangeJob((job) => this.onChange(job)),
      engine.onDidEndJob((job) => this.onEnd(job)),
    );
    this.activeTick = setInterval(() => {
      // Only after restore() has read the previous value.
      if (!this.restoring) void this.state.update(LAST_ACTIVE_KEY, Date.now()).then(undefined, () => undefined);
    }, ACTIVE_TICK_MS);
  }

  /** Restores the history saved by a previous window; returns how many jobs came back. */
  restore(): number {
    const at = this.state.get<unknown>(LAST_ACTIVE_KEY);
    this.previousActiveAt = typeof at === 'number' && Number.isFinite(at) ? at : undefined;
    const records = this.state.get<unknown>(HISTORY_KEY, []);
    if (!Array.isArray(records) || records.length === 0) return 0;
    try {
      this.restoring = true;
      for (const r of records) {
        if (typeof r !== 'object' || r === null) continue;
        const { id, state } = r as { id?: unknown; state?: unknown };
        if (typeof id === 'string' && typeof state === 'string' && !isFinal(state as JobState)) this.restoredUnfinished.set(id, state as JobState);
      }
      this.awayPending = this.restoredUnfinished.size > 0 || this.previousActiveAt !== undefined;
      const restored = this.engine.restoreHistory(records as Parameters<JobManager['restoreHistory']>[0]);
      for (const job of restored) this.lastState.set(job.id, job.state);
      this.log.info(`Restored ${restored.length} job(s) from the previous session`);
      return restored.length;
    } catch (err) {
      this.log.error('Restoring the job history failed; starting empty', err);
      return 0;
    } finally {
      this.restoring = false;
    }
  }

  /** The user canceled, detached or waits on this job: they will see the outcome anyway. */
  expectEnd(id: string): void {
    this.expected.add(id);
  }

  /** Undo expectEnd (a wait that timed out: the eventual end is news again). */
  forgetExpected(id: string): void {
    this.expected.delete(id);
  }

  /** Persist soon (coalesced): after ends, clears and reruns. */
  scheduleSave(): void {
    if (this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      void this.save();
    }, SAVE_DELAY_MS);
  }

  async save(): Promise<void> {
    try {
      const records = this.engine.toHistory();
      await this.state.update(HISTORY_KEY, records.slice(-HISTORY_LIMIT));
      await this.state.update(LAST_ACTIVE_KEY, Date.now());
    } catch (err) {
      this.log.error('Saving the job history failed', err);
    }
  }

  /** The connections of restored jobs that wait to be re-attached. */
  reattachConnections(): string[] {
    return [...new Set(this.engine.jobs().filter((j) => j.reconnecting && !isFinal(j.state)).map((j) => j.connectionName))];
  }

  /** Whether a previous window saved a history here (the away summary also lists the server). */
  hadPreviousWindow(): boolean {
    return this.previousActiveAt !== undefined;
  }

  /**
   * Once per activation, after the first reattach pass: one message for what ended while no
   * window was open (restored jobs, and jobs of this role on the listed servers). `serverJobs`
   * are the listings of the connections that could be read.
   */
  async reportAway(serverJobs: readonly ServerJobRow[], showJobs: () => Promise<void>): Promise<void> {
    if (!this.awayPending) return;
    this.awayPending = false;
    const saved = [...this.restoredUnfinished].map(([id, state]) => ({ id, state }));
    const counts = countAway({
      saved,
      currentState: (id) => this.engine.job(id)?.state,
      serverJobs,
      lastActiveAt: this.previousActiveAt,
      onCounted: (id) => this.countedAway.add(id),
    });
    const message = awayMessage(counts);
    this.log.info(message ? `${message} (shown once)` : 'Nothing ended while no window was open');
    if (!message) return;
    const choice = await vscode.window.showInformationMessage(`PG Background: ${message}.`, 'Show Jobs');
    if (choice === 'Show Jobs') await showJobs();
  }

  private onChange(job: JobInfo): void {
    if (this.restoring) return;
    const previous = this.lastState.get(job.id);
    if (previous === job.state) return;
    this.lastState.set(job.id, job.state);
    this.log.info(`Job ${job.id} on "${job.connectionName}": ${previous ?? 'new'} → ${job.state}${job.pid ? ` (pid ${job.pid})` : ''}`);
    // Every state change is worth remembering at once: a job that has just got its pid and
    // cookie can be re-attached after the window closes, even if it never saves again.
    this.scheduleSave();
  }

  private onEnd(job: JobInfo): void {
    this.lastState.set(job.id, job.state);
    const summary = `${job.state} after ${formatElapsed((job.endedAt ?? Date.now()) - job.launchedAt)}${job.mode === 'launch' ? `, ${formatRows(job.rowsReceived)}` : ''}`;
    if (job.error) this.log.error(`Job ${job.id} ${summary}: ${formatServerError(job.error)}`);
    else this.log.info(`Job ${job.id} ${summary}${job.note ? ` (${job.note})` : ''}`);
    this.scheduleSave();
    const expected = this.expected.delete(job.id);
    if (expected || job.state === 'detached' || job.state === 'lost') return; // lost: the session-lost warning covers it
    // A restored job that ended while away: the away summary counts it instead.
    if (this.restoredUnfinished.has(job.id) && (this.awayPending || this.countedAway.has(job.id))) return;
    if (!notifyOnCompletion() || this.results.isVisible(job.id)) return;
    void this.notify(job, summary);
  }

  private async notify(job: JobInfo, summary: string): Promise<void> {
    const label = jobLabel(job.sql, 60);
    const actions = job.hasResult ? ['Show Result'] : [];
    let choice: string | undefined;
    if (job.state === 'error' && job.error) {
      if (job.error.position !== undefined && job.source) actions.push('Go to Error');
      choice = await vscode.window.showErrorMessage(`PG Background: "${label}" failed — ${formatServerError(job.error)}`, ...actions);
    } else {
      choice = await vscode.window.showInformationMessage(`PG Background: "${label}" ${summary}.`, ...actions);
    }
    if (choice === 'Show Result') this.results.show(job.id);
    else if (choice === 'Go to Error') await this.results.goToError(job.id);
  }

  dispose(): void {
    clearInterval(this.activeTick);
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveTimer = undefined;
      void this.save();
    }
    this.subscriptions.dispose();
  }
}
