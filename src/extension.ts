// Entry point of the PG Background extension. Activation only wires things together: it
// restores the job history and registers the view, commands and status bar. It opens no
// connection and runs no query — the first command (or the Jobs view) that needs the server
// connects it through ConnectionSessions. Straight after activation (not inside it), durable
// jobs of the previous window re-attach (reattach.ts).

import * as path from 'node:path';
import * as vscode from 'vscode';
import { JobManager } from './core/jobManager.js';
import type { JobInfo } from './core/model.js';
import { ResultPanels, type PanelHost } from './panel/index.js';
import { ConnectionCommands } from './vscode/connectionCommands.js';
import { ConnectionSessions } from './vscode/connectionSessions.js';
import { ConnectionStore } from './vscode/connectionStore.js';
import { JobCommands } from './vscode/jobCommands.js';
import { JobEvents } from './vscode/jobEvents.js';
import { JobsTree } from './vscode/jobsTree.js';
import { Log } from './vscode/log.js';
import { Results } from './vscode/results.js';
import { RunCommands } from './vscode/runCommands.js';
import { ServerExtensionInstaller } from './vscode/serverExtension.js';
import { engineSettings, openResultOnStart } from './vscode/settings.js';
import { ConnectionStatusBar } from './vscode/statusBar.js';
import { reattachAfterActivation } from './vscode/reattach.js';

let shutdown: (() => Promise<void>) | undefined;

/** What activate() returns: a read-only view for tests and other extensions. */
export interface PgBackgroundApi {
  /** Snapshots of the jobs the Jobs view shows, oldest first. */
  jobs(): JobInfo[];
}

export function activate(context: vscode.ExtensionContext): PgBackgroundApi {
  const log = new Log();
  context.subscriptions.push(log);
  log.info(`PG Background ${String(context.extension.packageJSON.version ?? '')} activated`);

  // Result files live with the workspace (its jobs re-attach into them after a reload); a window
  // without a folder has only the global storage.
  const engine = new JobManager({
    storageDir: path.join((context.storageUri ?? context.globalStorageUri).fsPath, 'results'),
    sharedStorage: context.storageUri === undefined,
    settings: engineSettings,
    log: log.engineLog,
  });
  const store = new ConnectionStore(context.secrets);
  const sessions = new ConnectionSessions(engine, store, log);
  const results = new Results(engine, log);
  const events = new JobEvents(engine, context.workspaceState, results, log);
  // Before the tree exists, so its first render already lists the previous window's jobs.
  events.restore();

  const host: PanelHost = {
    job: (id) => engine.job(id),
    store: (id) => engine.store(id),
    cancel: async (id) => {
      events.expectEnd(id);
      await engine.cancel(id);
    },
    onDidChangeJob: engine.onDidChangeJob,
    goToError: (jobId, position) => results.goToError(jobId, position),
    log: (msg) => log.info(msg),
  };
  const panels = new ResultPanels(context, host);
  results.attach({
    show: (id, background) => panels.show(id, background),
    isVisible: (id) => panels.isVisible(id),
    exportResult: (id, stmt) => panels.exportResult(id, stmt),
  });

  const installer = new ServerExtensionInstaller(context, engine, sessions, store, log);
  const tree = new JobsTree(engine, sessions, store, log);
  const statusBar = new ConnectionStatusBar(store, sessions);
  context.subscriptions.push(store, sessions, events, panels, installer, tree, statusBar);

  context.subscriptions.push(
    ...new ConnectionCommands(store, sessions, engine, log).register(),
    ...new RunCommands(engine, sessions, store, installer, log, (job) => {
      if (openResultOnStart()) results.showOnStart(job.id);
    }).register(),
    ...new JobCommands(engine, sessions, store, tree, events, results, installer, log).register(),
  );

  // The engine's sessions and spool files go last, after the history has been written.
  shutdown = async () => {
    // Stop reacting first: closing the sessions below would otherwise raise "session lost"
    // warnings and record the still-running jobs as lost by us rather than by the reload.
    events.dispose();
    sessions.dispose();
    await events.save();
    await engine.dispose();
  };
  context.subscriptions.push({ dispose: () => void shutdown?.() });

  // After activation has returned: connect what the restored jobs need (quietly, with the
  // passwords in secret storage), re-attach, then sum up what ended while no window was open.
  const startup = setTimeout(() => {
    void reattachAfterActivation({ engine, sessions, store, events, tree, log });
  }, 0);
  context.subscriptions.push({ dispose: () => clearTimeout(startup) });
  return { jobs: () => engine.jobs() };
}

export async function deactivate(): Promise<void> {
  const done = shutdown;
  shutdown = undefined;
  await done?.();
}
