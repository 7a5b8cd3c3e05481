// Commands on one job (cancel, wait, detach, re-run, copy, show, export, go to error, remove),
// on all jobs (clear finished, refresh), on other sessions' workers and on server jobs (attach,
// cancel, wait, discard: jobs of this role the server holds that this window did not launch).
// Each takes the tree node or a job id; from the palette it asks with a QuickPick of the jobs it
// applies to (server job commands need their tree node and are hidden from the palette).

import * as vscode from 'vscode';
import type { JobManager } from '../core/jobManager.js';
import type { JobInfo } from '../core/model.js';
import type { ConnectionSessions } from './connectionSessions.js';
import type { ConnectionStore } from './connectionStore.js';
import { formatSeconds, parseDuration } from './durations.js';
import type { JobEvents } from './jobEvents.js';
import type { JobsTree } from './jobsTree.js';
import { errorText, type Log } from './log.js';
import type { Results } from './results.js';
import type { ServerExtensionInstaller } from './serverExtension.js';
import { defaultGraceMs } from './settings.js';
import { formatElapsed } from '../core/elapsed.js';
import { isFinal } from '../core/jobStateMachine.js';
import { formatRows, jobLabel, stateLabel } from './treeLabels.js';
import { connectionNameFromArg, foreignWorkerFromArg, jobIdFromArg, serverJobFromArg, type ServerJobNode } from './treeNodes.js';
import { isServerJobFinal, serverJobLabel, serverStateLabel } from './serverJobLabels.js';

/** A wait on a server job is asked in slices, so it never holds the launcher session's queue long. */
const SERVER_WAIT_SLICE_MS = 2000;

type JobFilter = (job: JobInfo) => boolean;
const running: JobFilter = (j) => !isFinal(j.state);
const finished: JobFilter = (j) => isFinal(j.state);
const withResult: JobFilter = (j) => j.hasResult;
const any: JobFilter = () => true;

export class JobCommands {
  constructor(
    private readonly engine: JobManager,
    private readonly sessions: ConnectionSessions,
    private readonly store: ConnectionStore,
    private readonly tree: JobsTree,
    private readonly events: JobEvents,
    private readonly results: Results,
    private readonly installer: ServerExtensionInstaller,
    private readonly log: Log,
  ) {}

  register(): vscode.Disposable[] {
    const job = (id: string, filter: JobFilter, placeHolder: string, run: (job: JobInfo) => Promise<unknown> | unknown) =>
      vscode.commands.registerCommand(id, async (arg?: unknown) => {
        const target = await this.resolveJob(arg, filter, placeHolder);
        if (target) await run(target);
      });
    return [
      job('pgBackground.showResult', withResult, 'Show the result of which job?', (j) => this.results.show(j.id)),
      job('pgBackground.cancelJob', running, 'Cancel which job?', (j) => this.cancel(j)),
      job('pgBackground.cancelJobWithGrace', running, 'Cancel which job with a grace period?', (j) => this.cancelWithGrace(j)),
      job('pgBackground.waitJob', running, 'Wait for which job?', (j) => this.wait(j, false)),
      job('pgBackground.waitJobWithTimeout', running, 'Wait for which job?', (j) => this.wait(j, true)),
      job('pgBackground.detachJob', running, 'Detach which job?', (j) => this.detach(j)),
      job('pgBackground.rerunJob', any, 'Re-run which job?', (j) => this.rerun(j)),
      job('pgBackground.copyJobSql', any, 'Copy the SQL of which job?', (j) => this.copySql(j)),
      job('pgBackground.clearJob', finished, 'Remove which finished job from the list?', (j) => this.clear(j)),
      job('pgBackground.exportResult', withResult, 'Export the result of which job?', (j) => this.results.exportResult(j.id)),
      vscode.commands.registerCommand('pgBackground.goToError', (arg?: unknown, position?: unknown) => this.goToError(arg, position)),
      vscode.commands.registerCommand('pgBackground.clearFinishedJobs', () => this.clearFinished()),
      vscode.commands.registerCommand('pgBackground.refreshJobs', () => this.refresh()),
      vscode.commands.registerCommand('pgBackground.cancelForeignWorker', (arg?: unknown) => this.foreign(arg, false)),
      vscode.commands.registerCommand('pgBackground.terminateForeignWorker', (arg?: unknown) => this.foreign(arg, true)),
      vscode.commands.registerCommand('pgBackground.attachServerJob', (arg?: unknown) => this.onServerJob(arg, (n) => this.attachServerJob(n))),
      vscode.commands.registerCommand('pgBackground.cancelServerJob', (arg?: unknown) => this.onServerJob(arg, (n) => this.cancelServerJob(n))),
      vscode.commands.registerCommand('pgBackground.waitServerJob', (arg?: unknown) => this.onServerJob(arg, (n) => this.waitServerJob(n))),
      vscode.commands.registerCommand('pgBackground.discardServerJob', (arg?: unknown) => this.onServerJob(arg, (n) => this.discardServerJob(n))),
      vscode.commands.registerCommand('pgBackground.installServerExtension', async (arg?: unknown) => {
        const name = connectionNameFromArg(arg) ?? this.store.activeName();
        if (!name) {
          void vscode.window.showInformationMessage('PG Background: add or select a connection first.');
          return;
        }
        await this.installer.command(name);
      }),
      vscode.commands.registerCommand('pgBackground.showLog', () => this.log.show()),
    ];
  }

  /** The job an argument names, or one the user picks among those `filter` accepts. */
  private async resolveJob(arg: unknown, filter: JobFilter, placeHolder: string): Promise<JobInfo | undefined> {
    const id = jobIdFromArg(arg);
    if (id !== undefined) {
      const job = this.engine.job(id);
      if (!job) void vscode.window.showWarningMessage('PG Background: that job is no longer in the list.');
      return job;
    }
    const candidates = this.engine
      .jobs()
      .filter(filter)
      .sort((a, b) => b.launchedAt - a.launchedAt);
    if (candidates.length === 0) {
      void vscode.window.showInformationMessage('PG Background: there is no job this applies to.');
      return undefined;
    }
    const now = Date.now();
    const pick = await vscode.window.showQuickPick(
      candidates.map((j) => ({
        label: jobLabel(j.sql),
        description: `${stateLabel(j.state)} · ${formatElapsed((j.endedAt ?? now) - j.launchedAt)} · ${j.connectionName}`,
        id: j.id,
      })),
      { placeHolder, matchOnDescription: true },
    );
    return pick ? this.engine.job(pick.id) : undefined;
  }

  private async cancel(job: JobInfo, graceMs?: number): Promise<void> {
    if (isFinal(job.state)) {
      void vscode.window.showInformationMessage(`PG Background: the job is already ${job.state}.`);
      return;
    }
    this.events.expectEnd(job.id);
    try {
      await this.engine.cancel(job.id, graceMs);
      this.log.info(`Cancel requested for job ${job.id}${graceMs !== undefined ? ` with a grace period of ${graceMs} ms` : ''}`);
    } catch (err) {
      this.log.error(`Canceling job ${job.id} failed`, err);
      void vscode.window.showErrorMessage(`PG Background: could not cancel the job: ${errorText(err)}`);
    }
  }

  private async cancelWithGrace(job: JobInfo): Promise<void> {
    const text = await vscode.window.showInputBox({
      title: `Cancel "${jobLabel(job.sql, 50)}" with a grace period`,
      prompt: 'Grace period in seconds (e.g. 5 or 0.5; 2m also works): the worker is asked to stop and is terminated only if it is still running after this.',
      value: formatSeconds(defaultGraceMs()),
      validateInput: (v) => {
        const r = parseDuration(v, { allowZero: true });
        return typeof r === 'string' ? r : undefined;
      },
    });
    if (text === undefined) return;
    const ms = parseDuration(text, { allowZero: true });
    if (typeof ms === 'number') await this.cancel(job, ms);
  }

  /** Waits inside a cancellable notification; cancelling it stops the wait, never the job. */
  private async wait(job: JobInfo, askTimeout: boolean): Promise<void> {
    if (isFinal(job.state)) {
      void vscode.window.showInformationMessage(`PG Background: the job is already ${job.state}.`);
      return;
    }
    let timeoutMs: number | undefined;
    if (askTimeout) {
      const text = await vscode.window.showInputBox({
        title: `Wait for "${jobLabel(job.sql, 50)}"`,
        prompt: 'Timeout in seconds (e.g. 10 or 2.5; 2m also works). The job keeps running when the wait times out.',
        value: '10',
        validateInput: (v) => {
          const r = parseDuration(v);
          return typeof r === 'string' ? r : undefined;
        },
      });
      if (text === undefined) return;
      const ms = parseDuration(text);
      if (typeof ms !== 'number') return;
      timeoutMs = ms;
    }
    const label = jobLabel(job.sql, 50);
    this.events.expectEnd(job.id);
    const outcome = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Waiting for "${label}"`, cancellable: true },
      async (progress, token) => {
        const abort = new AbortController();
        const subs = [
          token.onCancellationRequested(() => abort.abort()),
          this.engine.onDidChangeJob((j) => {
            if (j.id !== job.id) return;
            const parts = [stateLabel(j.state), formatRows(j.rowsReceived)];
            if (j.progressPct !== undefined) parts.push(`${j.progressPct}%${j.progressMsg ? ` ${j.progressMsg}` : ''}`);
            progress.report({ message: parts.join(' · ') });
          }),
        ];
        try {
          return await this.engine.wait(job.id, { timeoutMs, signal: abort.signal });
        } finally {
          for (const s of subs) s.dispose();
        }
      },
    );
    const after = this.engine.job(job.id) ?? job;
    if (outcome === 'done') {
      const summary = `${after.state} after ${formatElapsed((after.endedAt ?? Date.now()) - after.launchedAt)}${after.mode === 'launch' ? `, ${formatRows(after.rowsReceived)}` : ''}`;
      const choice = await vscode.window.showInformationMessage(`PG Background: "${label}" ${summary}.`, ...(after.hasResult ? ['Show Result'] : []));
      if (choice) this.results.show(job.id);
      return;
    }
    // The wait ended but the job goes on: its end should notify as usual again.
    this.events.forgetExpected(job.id);
    if (outcome === 'timeout') {
      void vscode.window.showInformationMessage(`PG Background: "${label}" is still running after ${formatElapsed(timeoutMs ?? 0)} — the wait timed out; the job goes on.`);
    } else {
      void vscode.window.showInformationMessage(`PG Background: stopped waiting for "${label}"; the job goes on.`);
    }
  }

  private async detach(job: JobInfo): Promise<void> {
    this.events.expectEnd(job.id);
    try {
      await this.engine.detach(job.id);
      this.log.info(`Detached job ${job.id}: the worker goes on without this window`);
    } catch (err) {
      this.log.error(`Detaching job ${job.id} failed`, err);
      void vscode.window.showErrorMessage(`PG Background: could not detach the job: ${errorText(err)}`);
    }
  }

  private async rerun(job: JobInfo): Promise<void> {
    if (!this.store.profile(job.connectionName)) {
      void vscode.window.showErrorMessage(`PG Background: the connection "${job.connectionName}" no longer exists.`);
      return;
    }
    const caps = await this.sessions.ensure(job.connectionName, { interactive: true });
    if (!caps) return;
    if (!caps.installed) {
      await this.installer.offer(job.connectionName, caps);
      return;
    }
    try {
      const again = await this.engine.rerun(job.id);
      this.log.info(`Re-ran job ${job.id} as ${again.id}`);
    } catch (err) {
      this.log.error(`Re-running job ${job.id} failed`, err);
      void vscode.window.showErrorMessage(`PG Background: could not re-run the job: ${errorText(err)}`);
    }
  }

  private async copySql(job: JobInfo): Promise<void> {
    await vscode.env.clipboard.writeText(job.sql);
    vscode.window.setStatusBarMessage('PG Background: SQL copied', 2000);
  }

  private clear(job: JobInfo): void {
    if (!isFinal(job.state)) {
      void vscode.window.showInformationMessage('PG Background: cancel or detach a running job before removing it.');
      return;
    }
    this.engine.clear(job.id);
    this.events.scheduleSave();
    this.tree.scheduleRefresh();
  }

  private clearFinished(): void {
    const n = this.engine.clearFinished();
    this.events.scheduleSave();
    this.tree.scheduleRefresh();
    vscode.window.setStatusBarMessage(`PG Background: cleared ${n} finished job${n === 1 ? '' : 's'}`, 3000);
  }

  private async refresh(): Promise<void> {
    // Refresh also retries a connection that failed (the user may have started the server).
    const active = this.store.activeName();
    if (active && this.sessions.state(active).status === 'failed') await this.sessions.ensure(active, { interactive: true });
    await this.tree.refresh();
  }

  private async goToError(arg: unknown, position: unknown): Promise<void> {
    const id = jobIdFromArg(arg);
    if (!id) {
      void vscode.window.showInformationMessage('PG Background: choose a failed job in the Jobs view.');
      return;
    }
    await this.results.goToError(id, typeof position === 'number' ? position : undefined);
  }

  private async foreign(arg: unknown, terminate: boolean): Promise<void> {
    const node = foreignWorkerFromArg(arg);
    if (!node) return;
    const { worker, connectionName } = node;
    if (terminate) {
      const ok = await vscode.window.showWarningMessage(
        `Terminate pg_background worker ${worker.pid}?`,
        { modal: true, detail: `Its session ends and its transaction is rolled back.\n\n${jobLabel(worker.query, 200)}` },
        'Terminate',
      );
      if (ok !== 'Terminate') return;
    }
    try {
      const done = terminate ? await this.engine.terminateForeign(connectionName, worker.pid) : await this.engine.cancelForeign(connectionName, worker.pid);
      this.log.info(`${terminate ? 'Terminate' : 'Cancel'} worker ${worker.pid} on "${connectionName}": ${done ? 'done' : 'refused or gone'}`);
      if (!done) {
        void vscode.window.showWarningMessage(
          `PG Background: the server did not ${terminate ? 'terminate' : 'cancel'} worker ${worker.pid}: it has ended already, or your user may not signal it (only its own user, a member of pg_signal_backend or a superuser may).`,
        );
      }
    } catch (err) {
      this.log.error(`Signalling worker ${worker.pid} failed`, err);
      void vscode.window.showErrorMessage(`PG Background: ${errorText(err)}`);
    }
    await this.tree.refresh();
  }

  // ---- server jobs (issue 11) --------------------------------------------------------------

  private async onServerJob(arg: unknown, run: (node: ServerJobNode) => Promise<void>): Promise<void> {
    const node = serverJobFromArg(arg);
    if (!node) {
      void vscode.window.showInformationMessage('PG Background: choose a job listed on the server in the Jobs view.');
      return;
    }
    try {
      await run(node);
    } catch (err) {
      this.log.error(`Server job ${node.job.pid} on "${node.connectionName}" failed`, err);
      void vscode.window.showErrorMessage(`PG Background: ${errorText(err)}`);
    }
    await this.tree.refresh();
  }

  /** Attach: a local job streams the held output here, and its result panel opens. */
  private async attachServerJob(node: ServerJobNode): Promise<void> {
    const { connectionName, job } = node;
    let attached: JobInfo;
    try {
      attached = await this.engine.attachServerJob(connectionName, job.pid, job.cookie, { takeover: false });
    } catch (err) {
      if (sqlstateOf(err) !== '55006') throw err;
      const choice = await vscode.window.showWarningMessage(
        `"${serverJobLabel(job)}" is being read by another session.`,
        {
          modal: true,
          detail: 'Take it over? Its output continues here from where that reader stopped; the other session gets an error on its next read.',
        },
        'Take over',
      );
      if (choice !== 'Take over') return;
      attached = await this.engine.attachServerJob(connectionName, job.pid, job.cookie, { takeover: true });
    }
    this.log.info(`Attached server job ${job.pid} on "${connectionName}" as job ${attached.id}`);
    this.events.scheduleSave();
    this.tree.scheduleRefresh();
    this.results.show(attached.id);
  }

  private async cancelServerJob(node: ServerJobNode): Promise<void> {
    const { connectionName, job } = node;
    if (isServerJobFinal(job.state)) {
      void vscode.window.showInformationMessage(`PG Background: the job is already ${serverStateLabel(job.state)}.`);
      return;
    }
    await this.engine.cancelServerJob(connectionName, job.pid, job.cookie);
    this.log.info(`Cancel requested for server job ${job.pid} on "${connectionName}"`);
    vscode.window.setStatusBarMessage('PG Background: cancel requested', 3000);
  }

  /** Waits in a cancellable notification; cancelling stops the wait, never the job. */
  private async waitServerJob(node: ServerJobNode): Promise<void> {
    const { connectionName, job } = node;
    const label = jobLabel(serverJobLabel(job), 50);
    if (isServerJobFinal(job.state)) {
      void vscode.window.showInformationMessage(`PG Background: "${label}" is already ${serverStateLabel(job.state)}.`);
      return;
    }
    const ended = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Waiting for "${label}" on the server`, cancellable: true },
      async (_progress, token) => {
        while (!token.isCancellationRequested) {
          if (await this.engine.waitServerJob(connectionName, job.pid, job.cookie, SERVER_WAIT_SLICE_MS)) return true;
        }
        return false;
      },
    );
    if (!ended) {
      void vscode.window.showInformationMessage(`PG Background: stopped waiting for "${label}"; the job goes on.`);
      return;
    }
    await this.tree.refresh();
    const now = this.tree.listedServerJobs(connectionName).find((j) => j.pid === job.pid && j.cookie === job.cookie);
    const state = now ? serverStateLabel(now.state) : 'finished';
    const held = now?.output === 'held';
    const choice = await vscode.window.showInformationMessage(`PG Background: "${label}" ${state}.`, ...(held ? ['Attach'] : []));
    if (choice === 'Attach' && now) await this.attachServerJob({ ...node, job: now });
  }

  private async discardServerJob(node: ServerJobNode): Promise<void> {
    const { connectionName, job } = node;
    const running = !isServerJobFinal(job.state);
    const ok = await vscode.window.showWarningMessage(
      `Discard "${jobLabel(serverJobLabel(job), 60)}"?`,
      {
        modal: true,
        detail: running
          ? 'Its output is thrown away as it comes and nobody can attach to it any more; the job itself runs to its end.'
          : 'Its held output is removed from the server; nobody can attach to it any more.',
      },
      'Discard',
    );
    if (ok !== 'Discard') return;
    await this.engine.discardServerJob(connectionName, job.pid, job.cookie);
    this.log.info(`Discarded server job ${job.pid} on "${connectionName}"`);
  }
}

function sqlstateOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { sqlstate?: unknown; code?: unknown }).sqlstate ?? (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}
