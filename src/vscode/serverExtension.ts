// What happens when a connected server lacks pg_background: an actionable message offering
// CREATE EXTENSION (after a modal confirmation, only when the user may), the SQL for an
// administrator in an untitled editor, or a build-and-install of the bundled extension-c/
// sources into a local PostgreSQL through a VS Code task the user watches in a terminal.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import * as vscode from 'vscode';
import type { Capabilities, JobManager } from '../core/jobManager.js';
import { DisposableStore } from '../core/disposables.js';
import type { ConnectionSessions } from './connectionSessions.js';
import type { ConnectionStore } from './connectionStore.js';
import { adminSql, buildCommand, pgConfigCandidates } from './installPaths.js';
import { describeProfile } from './profileConfig.js';
import { errorText, type Log } from './log.js';

const CREATE = 'Create Extension';
const SHOW_SQL = 'Show SQL for an Administrator';
const BUILD = 'Build and Install Locally';

export class ServerExtensionInstaller implements vscode.Disposable {
  private readonly subscriptions = new DisposableStore();

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly engine: JobManager,
    private readonly sessions: ConnectionSessions,
    private readonly store: ConnectionStore,
    private readonly log: Log,
  ) {}

  /** Tells the user pg_background is missing and offers the three ways out. */
  async offer(name: string, caps: Capabilities): Promise<void> {
    const actions = caps.canCreateExtension ? [CREATE, SHOW_SQL, BUILD] : [SHOW_SQL, BUILD];
    const why = caps.canCreateExtension
      ? 'You may create it in this database if its files are installed on the server.'
      : 'Your user may not create extensions in this database; an administrator can.';
    const choice = await vscode.window.showWarningMessage(
      `PG Background: the extension pg_background is not installed for connection "${name}" (PostgreSQL ${caps.serverVersion}). ${why}`,
      ...actions,
    );
    await this.act(choice, name, caps);
  }

  /** The pgBackground.installServerExtension command: the same choices, for any connection. */
  async command(name: string): Promise<void> {
    const caps = await this.sessions.ensure(name, { interactive: true });
    if (!caps) return;
    if (caps.installed && !caps.reducedMode) {
      void vscode.window.showInformationMessage(`PG Background: pg_background ${caps.version ?? ''} is already installed for "${name}".`);
      return;
    }
    const items: (vscode.QuickPickItem & { action: string })[] = [];
    if (!caps.installed && caps.canCreateExtension) items.push({ label: CREATE, detail: 'Runs CREATE EXTENSION pg_background on this connection (after confirmation).', action: CREATE });
    items.push({ label: SHOW_SQL, detail: 'Opens the statements an administrator runs, in a new SQL editor.', action: SHOW_SQL });
    items.push({
      label: BUILD,
      detail: 'Builds the bundled extension-c/ sources and installs them into a PostgreSQL on this machine (make install, in a terminal).',
      action: BUILD,
    });
    const title = caps.installed ? `pg_background ${caps.version ?? ''} lacks fetch_v2 (reduced mode) on "${name}"` : `Install pg_background for "${name}"`;
    const pick = await vscode.window.showQuickPick(items, { title, placeHolder: 'How do you want to install pg_background?' });
    await this.act(pick?.action, name, caps);
  }

  private async act(choice: string | undefined, name: string, caps: Capabilities): Promise<void> {
    if (choice === CREATE) await this.createExtension(name);
    else if (choice === SHOW_SQL) await this.showAdminSql(name, caps);
    else if (choice === BUILD) await this.buildLocally(name, caps);
  }

  private async createExtension(name: string): Promise<void> {
    const confirm = await vscode.window.showWarningMessage(
      `Run "CREATE EXTENSION pg_background" for connection "${name}"?`,
      { modal: true, detail: 'This changes the database: it adds the extension\'s functions for every user of this database.' },
      CREATE,
    );
    if (confirm !== CREATE) return;
    try {
      const caps = await this.engine.installExtension(name);
      this.sessions.updateCapabilities(name, caps);
      this.log.info(`CREATE EXTENSION pg_background on "${name}": version ${caps.version ?? '?'}`);
      void vscode.window.showInformationMessage(`PG Background: pg_background ${caps.version ?? ''} is now installed for "${name}".`);
    } catch (err) {
      this.log.error(`CREATE EXTENSION on "${name}" failed`, err);
      const choice = await vscode.window.showErrorMessage(`PG Background: CREATE EXTENSION failed: ${errorText(err)}`, SHOW_SQL, BUILD);
      const caps = this.sessions.state(name).capabilities;
      if (caps) await this.act(choice, name, caps);
    }
  }

  private async showAdminSql(name: string, caps: Capabilities): Promise<void> {
    const profile = this.store.profile(name);
    const text = adminSql({
      connectionName: name,
      target: profile ? describeProfile(profile) : name,
      database: profile?.database,
      user: profile?.user,
      serverVersion: caps.serverVersion,
      extensionSourceDir: this.sourceDir(),
    });
    const doc = await vscode.workspace.openTextDocument({ language: 'sql', content: text });
    await vscode.window.showTextDocument(doc, { preview: false });
  }

  /** The extension-c/ sources shipped inside the .vsix. */
  private sourceDir(): string {
    return path.join(this.context.extensionPath, 'extension-c');
  }

  private async buildLocally(name: string, caps: Capabilities): Promise<void> {
    const source = this.sourceDir();
    if (!fs.existsSync(source)) {
      void vscode.window.showErrorMessage(`PG Background: the extension sources are missing from this installation (${source}).`);
      return;
    }
    const pgConfig = await this.pickPgConfig(Math.floor(caps.serverVersionNum / 10000) || undefined);
    if (!pgConfig) return;
    // Build in a private copy: the installed extension's folder may be read-only, and object
    // files must not end up inside it.
    const buildDir = path.join(this.context.globalStorageUri.fsPath, 'extension-c-build');
    try {
      fs.rmSync(buildDir, { recursive: true, force: true });
      fs.mkdirSync(path.dirname(buildDir), { recursive: true });
      fs.cpSync(source, buildDir, { recursive: true });
    } catch (err) {
      void vscode.window.showErrorMessage(`PG Background: could not prepare the build directory: ${errorText(err)}`);
      return;
    }
    const useSudo = await needsSudo(pgConfig);
    const command = buildCommand(buildDir, pgConfig, useSudo);
    this.log.info(`Building pg_background: ${command}`);
    const task = new vscode.Task(
      { type: 'shell', task: 'pgBackground.install' },
      vscode.TaskScope.Global,
      'Build and install pg_background',
      'PG Background',
      new vscode.ShellExecution(command),
    );
    task.presentationOptions = { reveal: vscode.TaskRevealKind.Always, panel: vscode.TaskPanelKind.Dedicated, clear: true };
    const execution = await vscode.tasks.executeTask(task);
    const done = vscode.tasks.onDidEndTaskProcess(async (e) => {
      if (e.execution !== execution) return;
      done.dispose();
      if (e.exitCode === 0) {
        this.log.info('pg_background built and installed');
        const next = await vscode.window.showInformationMessage(
          `PG Background: pg_background was built and installed with ${pgConfig}. Create the extension in the database of "${name}" now?`,
          CREATE,
        );
        if (next === CREATE) await this.createExtension(name);
      } else {
        this.log.error(`Building pg_background failed (exit code ${String(e.exitCode)})`);
        void vscode.window.showErrorMessage(
          `PG Background: building or installing pg_background failed (exit code ${String(e.exitCode)}). The terminal shows why; PostgreSQL's server development files (postgresql-server-dev-*) are required.`,
        );
      }
    });
    this.subscriptions.add(done);
  }

  private async pickPgConfig(major: number | undefined): Promise<string | undefined> {
    const found = pgConfigCandidates(major, process.platform).filter((p) => fs.existsSync(p));
    const items: vscode.QuickPickItem[] = found.map((p) => ({ label: p, description: major && p.includes(String(major)) ? `matches the server (PostgreSQL ${major})` : undefined }));
    items.push({ label: 'pg_config', description: 'the one on PATH' }, { label: 'Browse…', description: 'choose a pg_config executable' });
    const pick = await vscode.window.showQuickPick(items, {
      title: 'Which PostgreSQL installation should pg_background be installed into?',
      placeHolder: 'Pick the pg_config of the server this connection uses (it must run on this machine)',
    });
    if (!pick) return undefined;
    if (pick.label !== 'Browse…') return pick.label;
    const uris = await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: 'Use this pg_config', defaultUri: vscode.Uri.file(os.homedir()) });
    return uris?.[0]?.fsPath;
  }

  dispose(): void {
    this.subscriptions.dispose();
  }
}

/** True when the install directories are not writable by us (so `make install` needs sudo). */
async function needsSudo(pgConfig: string): Promise<boolean> {
  if (process.platform === 'win32' || process.getuid?.() === 0) return false;
  const dir = await new Promise<string | undefined>((resolve) => {
    execFile(pgConfig, ['--pkglibdir'], { timeout: 5000 }, (err, stdout) => resolve(err ? undefined : stdout.trim()));
  });
  if (!dir) return false;
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return false;
  } catch {
    return true;
  }
}
