// Run selection / statement at cursor / whole file, and submit (fire and forget). Everything that
// would only produce a failing job — nothing selected, no connection, psql meta-commands, a
// server without pg_background — is caught here and explained instead.

import * as vscode from 'vscode';
import type { JobManager } from '../core/jobManager.js';
import type { JobInfo } from '../core/model.js';
import { findMetaCommands, segmentAt, splitStatements } from '../core/statementFinder.js';
import type { ConnectionSessions } from './connectionSessions.js';
import type { ConnectionStore } from './connectionStore.js';
import type { ServerExtensionInstaller } from './serverExtension.js';
import { errorText, type Log } from './log.js';
import { formatServerError, jobLabel } from './treeLabels.js';

type Mode = 'launch' | 'submit';

export class RunCommands {
  constructor(
    private readonly engine: JobManager,
    private readonly sessions: ConnectionSessions,
    private readonly store: ConnectionStore,
    private readonly installer: ServerExtensionInstaller,
    private readonly log: Log,
    /** A job was launched (not refused, not failed at launch): e.g. open its result panel. */
    private readonly onStarted?: (job: JobInfo) => void,
  ) {}

  register(): vscode.Disposable[] {
    return [
      vscode.commands.registerCommand('pgBackground.runSelection', () => this.runSelection('launch')),
      vscode.commands.registerCommand('pgBackground.submitSelection', () => this.runSelection('submit')),
      vscode.commands.registerCommand('pgBackground.runStatement', () => this.runStatement('launch')),
      vscode.commands.registerCommand('pgBackground.runFile', () => this.runFile()),
    ];
  }

  /**
   * Lexing options for the statement finder: the active server's standard_conforming_strings when
   * it is known (off makes a backslash escape inside '' strings); libpq's default (on) otherwise.
   */
  private splitOptions(): { standardConformingStrings?: boolean } {
    const name = this.store.activeName();
    const caps = name ? this.sessions.state(name).capabilities : undefined;
    return caps ? { standardConformingStrings: caps.standardConformingStrings } : {};
  }

  private editor(): vscode.TextEditor | undefined {
    const editor = vscode.window.activeTextEditor;
    if (!editor) void vscode.window.showInformationMessage('PG Background: open a SQL file (or an editor with SQL) first.');
    return editor;
  }

  async runSelection(mode: Mode): Promise<JobInfo | undefined> {
    const editor = this.editor();
    if (!editor) return undefined;
    const selection = editor.selection;
    const doc = editor.document;
    if (selection.isEmpty || doc.getText(selection).trim() === '') {
      const atCursor = mode === 'submit' ? 'Submit Statement at Cursor' : 'Run Statement at Cursor';
      const choice = await vscode.window.showInformationMessage(
        `PG Background: nothing is selected. Select the SQL to ${mode === 'submit' ? 'submit' : 'run'}, or use the statement under the cursor.`,
        atCursor,
      );
      if (choice === atCursor) return this.runStatement(mode);
      return undefined;
    }
    if (editor.selections.filter((s) => !s.isEmpty).length > 1) this.log.info('Several selections: running the primary one only');
    const raw = doc.getText(selection);
    const lead = raw.length - raw.trimStart().length;
    return this.launch(doc, raw.trim(), doc.offsetAt(selection.start) + lead, mode);
  }

  async runStatement(mode: Mode): Promise<JobInfo | undefined> {
    const editor = this.editor();
    if (!editor) return undefined;
    const doc = editor.document;
    const text = doc.getText();
    const segment = segmentAt(text, doc.offsetAt(editor.selection.active), this.splitOptions());
    if (!segment) {
      void vscode.window.showInformationMessage('PG Background: there is no SQL statement in this editor.');
      return undefined;
    }
    if (segment.kind === 'meta') {
      this.refuseMeta(segment.command, doc.positionAt(segment.start).line + 1);
      return undefined;
    }
    if (segment.terminator) {
      this.refuseMeta(segment.terminator, doc.positionAt(segment.end).line + 1);
      return undefined;
    }
    const offset = segment.start + Math.max(0, text.slice(segment.start, segment.end).indexOf(segment.text));
    return this.launch(doc, segment.text, offset, mode);
  }

  async runFile(): Promise<JobInfo | undefined> {
    const editor = this.editor();
    if (!editor) return undefined;
    const doc = editor.document;
    const raw = doc.getText();
    const lead = raw.length - raw.trimStart().length;
    return this.launch(doc, raw.trim(), lead, 'launch');
  }

  private refuseMeta(command: string, line: number): void {
    void vscode.window.showWarningMessage(
      `PG Background: "${command}" (line ${line}) is a psql meta-command, not SQL: the server cannot run it in a background worker. Remove it, or select only the SQL around it.`,
    );
  }

  /** Resolves the active connection, asking the user to add or pick one when needed. */
  private async activeConnection(): Promise<string | undefined> {
    const name = this.store.activeName();
    if (name) return name;
    if (this.store.profiles().length === 0) {
      const add = await vscode.window.showInformationMessage('PG Background: there is no connection yet. Add one to run SQL in the background.', 'Add Connection');
      if (add) await vscode.commands.executeCommand('pgBackground.addConnection');
    } else {
      const pick = await vscode.window.showInformationMessage('PG Background: no connection is active. Choose the one new jobs run on.', 'Select Connection');
      if (pick) await vscode.commands.executeCommand('pgBackground.selectConnection');
    }
    return this.store.activeName();
  }

  private async launch(doc: vscode.TextDocument, sql: string, offset: number, mode: Mode): Promise<JobInfo | undefined> {
    if (splitStatements(sql, this.splitOptions()).length === 0) {
      void vscode.window.showInformationMessage('PG Background: there is nothing to run — only whitespace or comments.');
      return undefined;
    }
    const meta = findMetaCommands(sql, this.splitOptions())[0];
    if (meta) {
      this.refuseMeta(meta.command, doc.positionAt(offset + meta.start).line + 1);
      return undefined;
    }
    const name = await this.activeConnection();
    if (!name) return undefined;
    const caps = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `Connecting to ${name}…` }, () =>
      this.sessions.ensure(name, { interactive: true }),
    );
    if (!caps) return undefined;
    if (!caps.installed) {
      await this.installer.offer(name, caps);
      return undefined;
    }
    try {
      const job = await this.engine.launch(name, sql, { mode, source: { uri: doc.uri.toString(), offset } });
      this.log.info(`${mode === 'submit' ? 'Submitted' : 'Launched'} job ${job.id} on "${name}"${job.pid ? ` (worker pid ${job.pid})` : ''}: ${jobLabel(sql)}`);
      if (job.state === 'error' && job.error) {
        void this.reportLaunchError(job);
      } else {
        vscode.window.setStatusBarMessage(`$(sync~spin) PG Background: ${mode === 'submit' ? 'submitted' : 'running'} ${jobLabel(sql, 40)}`, 3000);
        if (mode === 'launch') this.onStarted?.(job);
      }
      return job;
    } catch (err) {
      this.log.error(`Launching on "${name}" failed`, err);
      const choice = await vscode.window.showErrorMessage(`PG Background: could not start the job: ${errorText(err)}`, 'Show Log');
      if (choice) this.log.show();
      return undefined;
    }
  }

  private async reportLaunchError(job: JobInfo): Promise<void> {
    if (!job.error) return;
    const actions = job.error.position !== undefined && job.source ? ['Go to Error', 'Show Log'] : ['Show Log'];
    const choice = await vscode.window.showErrorMessage(`PG Background: ${formatServerError(job.error)}`, ...actions);
    if (choice === 'Go to Error') await vscode.commands.executeCommand('pgBackground.goToError', job.id);
    else if (choice === 'Show Log') this.log.show();
  }
}
