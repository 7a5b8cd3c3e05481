// Connection profiles: the non-secret part lives in the `pgBackground.connections` setting (user
// settings, so profiles follow the user — unless a workspace defines its own list, which is then
// the one edited); the password lives only in SecretStorage, keyed by profile name. Nothing here
// opens a connection.

import * as vscode from 'vscode';
import type { ConnectionProfile } from '../core/connectionProfile.js';
import { DisposableStore } from '../core/disposables.js';
export { SSL_MODES, type SslMode } from '../core/connectionProfile.js';

/** One entry of `pgBackground.connections`, exactly as stored in settings (the core's profile shape). */
export type StoredProfile = ConnectionProfile;

const SECRET_PREFIX = 'pgBackground.password.';

export class ConnectionStore implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  /** Profiles or the active connection changed (settings edited by us or by hand). */
  readonly onDidChange = this.changed.event;
  private readonly subscriptions = new DisposableStore();

  constructor(private readonly secrets: vscode.SecretStorage) {
    this.subscriptions.add(
      this.changed,
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('pgBackground.connections') || e.affectsConfiguration('pgBackground.activeConnection')) {
          this.changed.fire();
        }
      }),
    );
  }

  profiles(): StoredProfile[] {
    const raw = vscode.workspace.getConfiguration('pgBackground').get<unknown>('connections', []);
    if (!Array.isArray(raw)) return [];
    // settings.json is hand-editable: keep only entries that at least have a name.
    return raw.filter((p): p is StoredProfile => typeof p === 'object' && p !== null && typeof (p as { name?: unknown }).name === 'string' && (p as StoredProfile).name.trim() !== '');
  }

  profile(name: string): StoredProfile | undefined {
    return this.profiles().find((p) => p.name === name);
  }

  /** The active profile: the configured one, or the only profile when there is exactly one. */
  activeName(): string | undefined {
    const configured = vscode.workspace.getConfiguration('pgBackground').get<string>('activeConnection', '');
    const profiles = this.profiles();
    if (configured && profiles.some((p) => p.name === configured)) return configured;
    return profiles.length === 1 ? profiles[0].name : undefined;
  }

  async setActive(name: string): Promise<void> {
    await vscode.workspace.getConfiguration('pgBackground').update('activeConnection', name, targetOf('activeConnection'));
  }

  /** Inserts or replaces the profile called `previousName` (or `profile.name`). */
  async save(profile: StoredProfile, previousName?: string): Promise<void> {
    const key = previousName ?? profile.name;
    const list = this.profiles().filter((p) => p.name !== key && p.name !== profile.name);
    const index = this.profiles().findIndex((p) => p.name === key);
    const clean = stripEmpty(profile);
    if (index >= 0 && index <= list.length) list.splice(index, 0, clean);
    else list.push(clean);
    await vscode.workspace.getConfiguration('pgBackground').update('connections', list, targetOf('connections'));
    if (previousName && previousName !== profile.name) {
      const password = await this.password(previousName);
      await this.secrets.delete(SECRET_PREFIX + previousName);
      if (password !== undefined) await this.setPassword(profile.name, password);
      if (this.activeName() === previousName || vscode.workspace.getConfiguration('pgBackground').get<string>('activeConnection') === previousName) {
        await this.setActive(profile.name);
      }
    }
  }

  async remove(name: string): Promise<void> {
    const list = this.profiles().filter((p) => p.name !== name);
    await vscode.workspace.getConfiguration('pgBackground').update('connections', list, targetOf('connections'));
    await this.secrets.delete(SECRET_PREFIX + name);
    if (vscode.workspace.getConfiguration('pgBackground').get<string>('activeConnection') === name) await this.setActive('');
  }

  async password(name: string): Promise<string | undefined> {
    return this.secrets.get(SECRET_PREFIX + name);
  }

  async setPassword(name: string, password: string | undefined): Promise<void> {
    if (password === undefined || password === '') await this.secrets.delete(SECRET_PREFIX + name);
    else await this.secrets.store(SECRET_PREFIX + name, password);
  }

  dispose(): void {
    this.subscriptions.dispose();
  }
}

/**
 * Where to write a setting: user settings, unless the workspace already defines it (then a
 * user-level write would be shadowed and look like it did nothing).
 */
function targetOf(key: string): vscode.ConfigurationTarget {
  const inspected = vscode.workspace.getConfiguration('pgBackground').inspect(key);
  if (inspected?.workspaceValue !== undefined) return vscode.ConfigurationTarget.Workspace;
  return vscode.ConfigurationTarget.Global;
}

/** Drops empty strings so settings.json stays minimal and PG* env fallbacks apply. */
function stripEmpty(p: StoredProfile): StoredProfile {
  const out: StoredProfile = { name: p.name.trim() };
  if (p.uri?.trim()) out.uri = p.uri.trim();
  if (p.host?.trim()) out.host = p.host.trim();
  if (p.port !== undefined && Number.isFinite(p.port)) out.port = p.port;
  if (p.database?.trim()) out.database = p.database.trim();
  if (p.user?.trim()) out.user = p.user.trim();
  if (p.sslmode) out.sslmode = p.sslmode;
  return out;
}
