// Connects profiles to the engine on demand and remembers, per connection, whether its launcher
// session is up, what the server offers and why the last attempt failed. Nothing connects at
// activation: the first command (or the Jobs view) that needs a connection calls ensure().

import * as vscode from 'vscode';
import type { Capabilities, JobManager } from '../core/jobManager.js';
import { DisposableStore } from '../core/disposables.js';
import { ConnectionError } from '../core/errors.js';
import type { ConnectionStore, StoredProfile } from './connectionStore.js';
import { describeConnectionError } from './connectionErrors.js';
import { describeProfile, toClientConfig, validateStoredProfile } from './profileConfig.js';
import type { Log } from './log.js';

export type SessionStatus = 'idle' | 'connecting' | 'connected' | 'failed' | 'reconnecting';

export interface SessionState {
  status: SessionStatus;
  capabilities?: Capabilities;
  /** Readable reason of the last failure. */
  error?: string;
  /** 'reconnecting' only: the engine's attempt number (1 for the first retry). */
  attempt?: number;
}

export interface EnsureOptions {
  /** Show notifications on failure (commands); false for background attempts (the Jobs view). */
  interactive: boolean;
}

export class ConnectionSessions implements vscode.Disposable {
  private readonly states = new Map<string, SessionState>();
  private readonly pending = new Map<string, Promise<Capabilities | undefined>>();
  private readonly reducedModeShown = new Set<string>();
  /**
   * Connections the engine has been reconnecting since they were last connected: a lost session
   * reported for one of them means the loop gave up (its one error), not a fresh drop.
   */
  private readonly wasReconnecting = new Set<string>();
  /** The profile (as JSON) each registered connection was opened with, to notice hand edits. */
  private readonly openedWith = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<string>();
  /** Fires with the connection name whenever its state changes. */
  readonly onDidChange = this.changed.event;
  private readonly subscriptions = new DisposableStore();

  constructor(
    private readonly engine: JobManager,
    private readonly store: ConnectionStore,
    private readonly log: Log,
  ) {
    this.subscriptions.add(
      this.changed,
      store.onDidChange(() => this.onProfilesChanged()),
      engine.onDidChangeConnection((e) => {
        const prev = this.states.get(e.connectionName);
        if (e.state === 'reconnecting') {
          // A transient drop: the status bar says so; no pop-up unless the engine gives up.
          if (prev?.status !== 'reconnecting') this.log.warn(`Session of "${e.connectionName}" dropped${e.error ? ` (${e.error})` : ''}: reconnecting`);
          this.wasReconnecting.add(e.connectionName);
          this.set(e.connectionName, { status: 'reconnecting', capabilities: prev?.capabilities, attempt: e.attempt ?? 1, error: e.error });
          return;
        }
        if (e.state === 'connected') {
          if (this.wasReconnecting.delete(e.connectionName)) this.log.info(`Reconnected "${e.connectionName}"`);
          this.set(e.connectionName, { status: 'connected', capabilities: e.capabilities ?? prev?.capabilities });
        } else if (e.state === 'failed') {
          // The loop's give-up is told by the lost session that follows (with its jobs); a failed
          // attempt in between (a command's own connect) is that command's to report.
          this.set(e.connectionName, { status: 'failed', capabilities: prev?.capabilities, error: e.error });
        } else if (e.state === 'disconnected') this.set(e.connectionName, { status: 'idle', capabilities: prev?.capabilities });
        else this.set(e.connectionName, { status: 'connecting', capabilities: prev?.capabilities });
      }),
      engine.onDidLoseSession((e) => {
        const prev = this.states.get(e.connectionName);
        const n = e.lostJobIds.length;
        if (this.wasReconnecting.delete(e.connectionName)) {
          this.set(e.connectionName, { status: 'failed', capabilities: prev?.capabilities, error: e.reason });
          this.reportGaveUp(e.connectionName, e.reason, e.lostJobIds);
          return;
        }
        this.set(e.connectionName, { status: 'idle', capabilities: prev?.capabilities, error: e.reason });
        this.log.warn(`Session of ${e.connectionName} lost (${e.reason}); ${n} running job(s) marked lost`);
        const jobs = n === 0 ? '' : n === 1 ? ' One running job is now marked lost.' : ` ${n} running jobs are now marked lost.`;
        void vscode.window.showWarningMessage(
          `PG Background: the session to "${e.connectionName}" was lost: ${e.reason}.${jobs} New jobs reconnect automatically; ${
            prev?.capabilities?.attach ? 'jobs still on the server are listed under the connection in the Jobs view' : 'workers that still run appear under "Other sessions"'
          }.`,
        );
      }),
    );
  }

  /** The one error of a reconnect loop that gave up. */
  private reportGaveUp(name: string, reason: string, lostJobIds: readonly string[]): void {
    const n = lostJobIds.length;
    this.log.error(`Gave up reconnecting "${name}": ${reason}${n > 0 ? `; ${n} job(s) marked lost` : ''}`);
    const jobs = n === 0 ? '' : n === 1 ? ' One running job is now marked lost.' : ` ${n} running jobs are now marked lost.`;
    void vscode.window.showErrorMessage(`PG Background: gave up reconnecting to "${name}": ${reason}.${jobs}`, 'Show Log').then((choice) => {
      if (choice) this.log.show();
    });
  }

  /**
   * settings.json was edited (or a flow saved a profile): a connection whose profile changed or
   * vanished is closed, so its next use reconnects with the new settings — unless jobs still run
   * on it (closing would lose them); those keep the old session until it is closed later.
   */
  private onProfilesChanged(): void {
    for (const [name, json] of this.openedWith) {
      const profile = this.store.profile(name);
      if (profile && JSON.stringify(profile) === json) continue;
      const busy = this.engine.jobs().some((j) => j.connectionName === name && (j.state === 'running' || j.state === 'launching'));
      if (busy) continue;
      this.log.info(`Profile "${name}" ${profile ? 'changed' : 'removed'}: closing its session`);
      void this.disconnect(name);
    }
  }

  state(name: string): SessionState {
    return this.states.get(name) ?? { status: 'idle' };
  }

  isConnected(name: string): boolean {
    return this.state(name).status === 'connected';
  }

  private set(name: string, state: SessionState): void {
    this.states.set(name, state);
    this.changed.fire(name);
  }

  /**
   * The connection's capabilities, connecting its launcher session first when needed.
   * Undefined when it could not connect (the user has been told when interactive).
   */
  ensure(name: string, options: EnsureOptions): Promise<Capabilities | undefined> {
    const current = this.states.get(name);
    if (current?.status === 'connected' && current.capabilities && this.engine.isConnected(name)) {
      return Promise.resolve(current.capabilities);
    }
    // Several commands may ask at once (e.g. a run while the view connects): share one attempt.
    const inFlight = this.pending.get(name);
    if (inFlight) return inFlight;
    const attempt = this.connect(name, options).finally(() => this.pending.delete(name));
    this.pending.set(name, attempt);
    return attempt;
  }

  private async connect(name: string, options: EnsureOptions): Promise<Capabilities | undefined> {
    const profile = this.store.profile(name);
    if (!profile) {
      if (options.interactive) void vscode.window.showErrorMessage(`PG Background: there is no connection named "${name}".`);
      return undefined;
    }
    const invalid = validateStoredProfile(profile);
    if (invalid) {
      this.set(name, { status: 'failed', error: invalid });
      if (options.interactive) await this.reportFailure(profile, invalid, false);
      return undefined;
    }
    const target = describeProfile(profile);
    this.set(name, { status: 'connecting', capabilities: this.states.get(name)?.capabilities });
    this.log.info(`Connecting "${name}" (${target})`);
    try {
      // A registered connection keeps its config (edits and new passwords disconnect() it
      // first); re-registering a connected one would drop its session.
      const caps = this.engine.connectionNames().includes(name)
        ? await this.engine.capabilities(name)
        : await this.openWith(name, profile);
      this.set(name, { status: 'connected', capabilities: caps });
      this.log.info(
        `Connected "${name}": PostgreSQL ${caps.serverVersion}, launcher pid ${caps.launcherPid}, ` +
          (caps.installed ? `pg_background ${caps.version ?? '?'}${caps.reducedMode ? ' (reduced mode: no fetch_v2)' : ''}` : 'pg_background not installed'),
      );
      if (caps.installed && caps.reducedMode && !this.reducedModeShown.has(name)) {
        this.reducedModeShown.add(name);
        void vscode.window.showInformationMessage(
          `PG Background: "${name}" has pg_background ${caps.version ?? ''} without fetch_v2 — reduced mode. Jobs launch, cancel, wait and detach; results are read when the job ends, where their column types can be described.`,
        );
      }
      return caps;
    } catch (err) {
      const readable = err instanceof ConnectionError ? err.message : describeConnectionError(err, target).message;
      const authProblem =
        (err instanceof ConnectionError && err.kind === 'auth') || ['auth', 'password-missing'].includes(describeConnectionError(err, target).kind);
      this.set(name, { status: 'failed', error: readable });
      this.log.error(`Connecting "${name}" failed`, err);
      if (options.interactive) await this.reportFailure(profile, readable, authProblem);
      return undefined;
    }
  }

  private async openWith(name: string, profile: StoredProfile): Promise<Capabilities> {
    this.openedWith.set(name, JSON.stringify(profile));
    const config = await toClientConfig(profile, await this.store.password(name), (m) => this.log.warn(m));
    return this.engine.openConnection(name, config);
  }

  /** A readable failure with the ways to fix it; "Retry" runs the attempt again. */
  private async reportFailure(profile: StoredProfile, message: string, authProblem: boolean): Promise<void> {
    const actions = authProblem ? ['Enter Password', 'Edit Connection', 'Show Log'] : ['Edit Connection', 'Show Log'];
    const choice = await vscode.window.showErrorMessage(`PG Background: ${message}`, ...actions);
    if (choice === 'Edit Connection') await vscode.commands.executeCommand('pgBackground.editConnection', profile.name);
    else if (choice === 'Show Log') this.log.show();
    else if (choice === 'Enter Password') {
      const password = await vscode.window.showInputBox({
        title: `Password for "${profile.name}"`,
        prompt: 'Stored in VS Code\'s secret storage, never in settings.',
        password: true,
        ignoreFocusOut: true,
      });
      if (password !== undefined) {
        await this.store.setPassword(profile.name, password);
        await this.disconnect(profile.name);
        await this.ensure(profile.name, { interactive: true });
      }
    }
  }

  /** Ends the launcher session (after a profile edit or removal). */
  async disconnect(name: string): Promise<void> {
    this.openedWith.delete(name);
    if (!this.engine.connectionNames().includes(name)) {
      this.states.delete(name);
      this.changed.fire(name);
      return;
    }
    try {
      await this.engine.closeConnection(name);
      this.log.info(`Disconnected "${name}"`);
    } catch (err) {
      this.log.error(`Closing "${name}" failed`, err);
    }
    this.states.delete(name);
    this.changed.fire(name);
  }

  /** Re-detects capabilities (after CREATE EXTENSION or a local install). */
  async refreshCapabilities(name: string): Promise<Capabilities | undefined> {
    try {
      const caps = await this.engine.capabilities(name);
      this.set(name, { status: 'connected', capabilities: caps });
      return caps;
    } catch (err) {
      this.log.error(`Checking pg_background on "${name}" failed`, err);
      return undefined;
    }
  }

  /** Records capabilities learnt elsewhere (installExtension returns fresh ones). */
  updateCapabilities(name: string, caps: Capabilities): void {
    this.set(name, { status: 'connected', capabilities: caps });
  }

  dispose(): void {
    this.subscriptions.dispose();
  }
}
