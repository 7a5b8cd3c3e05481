// Reactions to the engine's job events that are not the tree: the log, completion notifications
// and the persisted history.
//
// Notifications: a job that ends while its result is not in view gets a toast (setting
// pgBackground.notifyOnCompletion) with "Show Result" — except when the user already knows
// (they canceled or detached it, or are waiting on it and will see the wait's own message).
//
// History: the engine's records go to workspaceState after every end/clear, so finished jobs
// survive a reload; running ones come back as `lost` with a note (the engine decides that).

import * as vscode from 'vscode';
import type { JobManager } from '../core/jobManager.js';
import { DisposableStore } from '../core/disposables.js';
import type { JobInfo, JobState } from '../core/model.js';
import type { Results } from './results.js';
import { notifyOnCompletion } from './settings.js';
import type { Log } from './log.js';
import { formatElapsed } from '../core/elapsed.js';
import { formatRows, formatServerError, jobLabel } from './treeLabels.js';

const HISTORY_KEY = 'pgBackground.history';
/** Enough to be useful after a reload without letting workspaceState grow without bound. */
const HISTORY_LIMIT = 200;
const SAVE_DELAY_MS = 500;

export class JobEvents implements vscode.Disposable {
  /** Jobs whose end the user caused or is watching; no completion toast for them. */
  private readonly expected = new Set<string>();
  private readonly lastState = new Map<string, JobState>();
  private readonly subscriptions = new DisposableStore();
  private saveTimer: NodeJS.Timeout | undefined;
  private restoring = false;

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
  }

  /** Restores the history saved by a previous window; returns how many jobs came back. */
  restore(): number {
    const records = this.state.get<JobInfo[]>(HISTORY_KEY, []);
    if (!Array.isArray(records) || records.length === 0) return 0;
    try {
      this.restoring = true;
      const restored = this.engine.restoreHistory(records);
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
    } catch (err) {
      this.log.error('Saving the job history failed', err);
    }
  }

  private onChange(job: JobInfo): void {
    if (this.restoring) return;
    const previous = this.lastState.get(job.id);
    if (previous === job.state) return;
    this.lastState.set(job.id, job.state);
    this.log.info(`Job ${job.id} on "${job.connectionName}": ${previous ?? 'new'} → ${job.state}${job.pid ? ` (pid ${job.pid})` : ''}`);
    // A new job is worth remembering at once: if the window closes now, it returns as `lost`.
    if (previous === undefined) this.scheduleSave();
  }

  private onEnd(job: JobInfo): void {
    this.lastState.set(job.id, job.state);
    const summary = `${job.state} after ${formatElapsed((job.endedAt ?? Date.now()) - job.launchedAt)}${job.mode === 'launch' ? `, ${formatRows(job.rowsReceived)}` : ''}`;
    if (job.error) this.log.error(`Job ${job.id} ${summary}: ${formatServerError(job.error)}`);
    else this.log.info(`Job ${job.id} ${summary}${job.note ? ` (${job.note})` : ''}`);
    this.scheduleSave();
    const expected = this.expected.delete(job.id);
    if (expected || job.state === 'detached' || job.state === 'lost') return; // lost: the session-lost warning covers it
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
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveTimer = undefined;
      void this.save();
    }
    this.subscriptions.dispose();
  }
}
