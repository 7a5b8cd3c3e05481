// Add / edit / remove / select connection profiles through QuickPick and InputBox steps. Every
// step is pre-filled (Enter accepts it) and validated as the user types; Escape at any step
// abandons the flow without saving anything.

import * as os from 'node:os';
import * as vscode from 'vscode';
import type { JobManager } from '../core/jobManager.js';
import type { ConnectionSessions } from './connectionSessions.js';
import { SSL_MODES, type ConnectionStore, type SslMode, type StoredProfile } from './connectionStore.js';
import { describeProfile, splitUriPassword, validateStoredProfile } from './profileConfig.js';
import type { Log } from './log.js';
import { connectionNameFromArg } from './treeNodes.js';

const FIELDS = 'Enter host, port, database…';
const URI = 'Paste a postgresql:// URI';

type PasswordChoice = { kind: 'keep' } | { kind: 'set'; value: string } | { kind: 'clear' };

export class ConnectionCommands {
  constructor(
    private readonly store: ConnectionStore,
    private readonly sessions: ConnectionSessions,
    private readonly engine: JobManager,
    private readonly log: Log,
  ) {}

  register(): vscode.Disposable[] {
    return [
      vscode.commands.registerCommand('pgBackground.addConnection', () => this.add()),
      vscode.commands.registerCommand('pgBackground.editConnection', (arg?: unknown) => this.edit(arg)),
      vscode.commands.registerCommand('pgBackground.removeConnection', (arg?: unknown) => this.remove(arg)),
      vscode.commands.registerCommand('pgBackground.selectConnection', (arg?: unknown) => this.select(arg)),
    ];
  }

  async add(): Promise<void> {
    const how = await vscode.window.showQuickPick(
      [
        { label: FIELDS, detail: 'Host, port, database, user and SSL mode; empty fields fall back to the PG* environment variables.' },
        { label: URI, detail: 'e.g. postgresql://user@db.example.com:5432/app?sslmode=require' },
      ],
      { title: 'Add PostgreSQL Connection', placeHolder: 'How do you want to connect?', ignoreFocusOut: true },
    );
    if (!how) return;
    const result = how.label === URI ? await this.uriSteps(undefined) : await this.fieldSteps(undefined);
    if (!result) return;
    await this.store.save(result.profile);
    await this.applyPassword(result.profile.name, result.password);
    // A new profile is what the user wants to work with next.
    await this.store.setActive(result.profile.name);
    this.log.info(`Added connection "${result.profile.name}" (${describeProfile(result.profile)})`);
    await this.connectAndReport(result.profile.name);
  }

  async edit(arg?: unknown): Promise<void> {
    const name = connectionNameFromArg(arg) ?? (await this.pickProfile('Edit which connection?'));
    if (!name) return;
    const existing = this.store.profile(name);
    if (!existing) {
      void vscode.window.showErrorMessage(`PG Background: there is no connection named "${name}".`);
      return;
    }
    const result = existing.uri ? await this.uriSteps(existing) : await this.fieldSteps(existing);
    if (!result) return;
    await this.store.save(result.profile, name);
    await this.applyPassword(result.profile.name, result.password);
    this.log.info(`Edited connection "${name}"${name !== result.profile.name ? ` (now "${result.profile.name}")` : ''}`);
    await this.dropSession(name, 'The changed settings apply once its running jobs have ended and it reconnects.');
    await this.connectAndReport(result.profile.name);
  }

  async remove(arg?: unknown): Promise<void> {
    const name = connectionNameFromArg(arg) ?? (await this.pickProfile('Remove which connection?'));
    if (!name) return;
    const running = this.runningJobs(name);
    const detail =
      running > 0
        ? `${running} job(s) still run on it; closing its session marks them lost (their workers may go on server-side).`
        : 'Its stored password is deleted too. Finished jobs stay in the Jobs view until cleared.';
    const answer = await vscode.window.showWarningMessage(`Remove the connection "${name}"?`, { modal: true, detail }, 'Remove');
    if (answer !== 'Remove') return;
    await this.sessions.disconnect(name);
    await this.store.remove(name);
    this.log.info(`Removed connection "${name}"`);
  }

  async select(arg?: unknown): Promise<void> {
    let name = connectionNameFromArg(arg);
    if (!name) {
      const profiles = this.store.profiles();
      const active = this.store.activeName();
      const items: (vscode.QuickPickItem & { name?: string })[] = profiles.map((p) => ({
        label: p.name,
        description: p.name === active ? `${describeProfile(p)} · active` : describeProfile(p),
        name: p.name,
      }));
      items.push({ label: '$(add) Add Connection…' });
      const pick = await vscode.window.showQuickPick(items, { title: 'Select Active Connection', placeHolder: 'New jobs run on the active connection' });
      if (!pick) return;
      if (!pick.name) {
        await this.add();
        return;
      }
      name = pick.name;
    }
    await this.store.setActive(name);
    this.log.info(`Active connection: "${name}"`);
  }

  private runningJobs(name: string): number {
    return this.engine.jobs().filter((j) => j.connectionName === name && (j.state === 'running' || j.state === 'launching')).length;
  }

  /** Closes the session so new settings apply, unless jobs still run on it. */
  private async dropSession(name: string, whyNot: string): Promise<void> {
    if (this.runningJobs(name) > 0) {
      void vscode.window.showInformationMessage(`PG Background: "${name}" still has running jobs. ${whyNot}`);
      return;
    }
    await this.sessions.disconnect(name);
  }

  private async connectAndReport(name: string): Promise<void> {
    const caps = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: `Connecting to ${name}…` },
      () => this.sessions.ensure(name, { interactive: true }),
    );
    if (!caps) return;
    if (!caps.installed) {
      await vscode.commands.executeCommand('pgBackground.installServerExtension', name);
      return;
    }
    const mode = caps.reducedMode ? ' (reduced mode: no fetch_v2)' : '';
    void vscode.window.showInformationMessage(`PG Background: connected to "${name}" — PostgreSQL ${caps.serverVersion}, pg_background ${caps.version ?? ''}${mode}.`);
  }

  private async pickProfile(placeHolder: string): Promise<string | undefined> {
    const profiles = this.store.profiles();
    if (profiles.length === 0) {
      const add = await vscode.window.showInformationMessage('PG Background: there are no connections yet.', 'Add Connection');
      if (add) await this.add();
      return undefined;
    }
    const pick = await vscode.window.showQuickPick(
      profiles.map((p) => ({ label: p.name, description: describeProfile(p) })),
      { placeHolder },
    );
    return pick?.label;
  }

  private async applyPassword(name: string, choice: PasswordChoice): Promise<void> {
    if (choice.kind === 'set') await this.store.setPassword(name, choice.value);
    else if (choice.kind === 'clear') await this.store.setPassword(name, undefined);
  }

  private nameValidator(previous: string | undefined): (value: string) => string | undefined {
    return (value) => {
      const v = value.trim();
      if (!v) return 'Give the connection a name.';
      if (v !== previous && this.store.profile(v)) return `A connection named "${v}" already exists.`;
      return undefined;
    };
  }

  private async fieldSteps(existing: StoredProfile | undefined): Promise<{ profile: StoredProfile; password: PasswordChoice } | undefined> {
    const env = process.env;
    const title = existing ? `Edit Connection "${existing.name}"` : 'Add PostgreSQL Connection';
    const host = await input(title, 'Host name, IP address or Unix socket directory', existing?.host ?? env.PGHOST ?? 'localhost', (v) =>
      v.trim() ? undefined : 'Enter a host (e.g. localhost).',
    );
    if (host === undefined) return undefined;
    const port = await input(title, 'Port', String(existing?.port ?? env.PGPORT ?? 5432), (v) =>
      /^\d+$/.test(v.trim()) && Number(v) >= 1 && Number(v) <= 65535 ? undefined : 'The port is a number between 1 and 65535.',
    );
    if (port === undefined) return undefined;
    const database = await input(title, 'Database', existing?.database ?? env.PGDATABASE ?? 'postgres', (v) => (v.trim() ? undefined : 'Enter a database name.'));
    if (database === undefined) return undefined;
    const user = await input(title, 'User', existing?.user ?? env.PGUSER ?? safeUserName(), (v) => (v.trim() ? undefined : 'Enter a user name.'));
    if (user === undefined) return undefined;
    const sslmode = await pickSslMode(title, existing?.sslmode);
    if (sslmode === undefined) return undefined;
    const defaultName = existing?.name ?? uniqueName(this.store, `${database.trim()}@${host.trim()}`);
    const name = await input(title, 'Connection name (shown in the Jobs view and the status bar)', defaultName, this.nameValidator(existing?.name));
    if (name === undefined) return undefined;
    const profile: StoredProfile = { name: name.trim(), host: host.trim(), port: Number(port), database: database.trim(), user: user.trim(), sslmode };
    const invalid = validateStoredProfile(profile);
    if (invalid) {
      void vscode.window.showErrorMessage(`PG Background: ${invalid}`);
      return undefined;
    }
    const password = await this.passwordStep(title, existing);
    if (!password) return undefined;
    return { profile, password };
  }

  private async uriSteps(existing: StoredProfile | undefined): Promise<{ profile: StoredProfile; password: PasswordChoice } | undefined> {
    const title = existing ? `Edit Connection "${existing.name}"` : 'Add PostgreSQL Connection';
    const uri = await input(title, 'postgresql://user@host:port/database?sslmode=… (a password in the URI goes to secret storage)', existing?.uri ?? 'postgresql://', (v) =>
      validateStoredProfile({ name: 'x', uri: v.trim() }),
    );
    if (uri === undefined) return undefined;
    // Never keep a password in settings: move it to SecretStorage.
    const { uri: cleanUri, password: embedded } = splitUriPassword(uri.trim());
    const target = describeProfile({ name: 'x', uri: cleanUri });
    const defaultName = existing?.name ?? uniqueName(this.store, target.slice(target.indexOf('@') + 1));
    const name = await input(title, 'Connection name (shown in the Jobs view and the status bar)', defaultName, this.nameValidator(existing?.name));
    if (name === undefined) return undefined;
    const profile: StoredProfile = { name: name.trim(), uri: cleanUri };
    if (embedded !== undefined) return { profile, password: { kind: 'set', value: embedded } };
    const password = await this.passwordStep(title, existing);
    if (!password) return undefined;
    return { profile, password };
  }

  private async passwordStep(title: string, existing: StoredProfile | undefined): Promise<PasswordChoice | undefined> {
    if (existing && (await this.store.password(existing.name)) !== undefined) {
      const pick = await vscode.window.showQuickPick(
        [
          { label: 'Keep the stored password', choice: 'keep' as const },
          { label: 'Change the password', choice: 'change' as const },
          { label: 'Remove the stored password', description: 'use .pgpass, PGPASSWORD or no password', choice: 'clear' as const },
        ],
        { title, placeHolder: 'Password', ignoreFocusOut: true },
      );
      if (!pick) return undefined;
      if (pick.choice === 'keep') return { kind: 'keep' };
      if (pick.choice === 'clear') return { kind: 'clear' };
    }
    const value = await vscode.window.showInputBox({
      title,
      prompt: 'Password — kept in VS Code\'s secret storage, never in settings. Leave empty to use .pgpass, PGPASSWORD or no password.',
      password: true,
      value: '',
      ignoreFocusOut: true,
    });
    if (value === undefined) return undefined;
    return value === '' ? (existing ? { kind: 'clear' } : { kind: 'keep' }) : { kind: 'set', value };
  }
}

async function input(title: string, prompt: string, value: string, validateInput: (v: string) => string | undefined): Promise<string | undefined> {
  return vscode.window.showInputBox({ title, prompt, value, validateInput, ignoreFocusOut: true });
}

async function pickSslMode(title: string, current: SslMode | undefined): Promise<SslMode | undefined> {
  const details: Record<SslMode, string> = {
    disable: 'no SSL',
    allow: 'no SSL (node-postgres cannot fall back like libpq)',
    prefer: 'no SSL (node-postgres cannot fall back like libpq)',
    require: 'SSL, certificate not verified',
    'verify-ca': 'SSL, certificate verified against trusted CAs',
    'verify-full': 'SSL, certificate and host name verified',
  };
  const chosen = current ?? 'prefer';
  const items = SSL_MODES.map((mode) => ({ label: mode, description: details[mode], picked: mode === chosen }));
  // Put the current/default choice first so Enter keeps it.
  items.sort((a, b) => Number(b.label === chosen) - Number(a.label === chosen));
  const pick = await vscode.window.showQuickPick(items, { title, placeHolder: 'SSL mode', ignoreFocusOut: true });
  return pick?.label;
}

function uniqueName(store: ConnectionStore, base: string): string {
  if (!store.profile(base)) return base;
  for (let i = 2; ; i++) if (!store.profile(`${base} (${i})`)) return `${base} (${i})`;
}

function safeUserName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return 'postgres';
  }
}
