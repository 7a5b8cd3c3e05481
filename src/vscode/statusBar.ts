// The status bar item showing the active connection; clicking it switches. Its tooltip tells
// whether the session is connected, the server's pg_background version and reduced mode.

import * as vscode from 'vscode';
import { DisposableStore } from '../core/disposables.js';
import type { ConnectionSessions } from './connectionSessions.js';
import type { ConnectionStore } from './connectionStore.js';
import { describeProfile } from './profileConfig.js';
import { reconnectingText } from './serverJobLabels.js';
import { escapeMarkdown } from './treeLabels.js';

export class ConnectionStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly subscriptions = new DisposableStore();

  constructor(
    private readonly store: ConnectionStore,
    private readonly sessions: ConnectionSessions,
  ) {
    this.item = vscode.window.createStatusBarItem('pgBackground.connection', vscode.StatusBarAlignment.Left, 50);
    this.item.name = 'PG Background Connection';
    this.item.command = 'pgBackground.selectConnection';
    this.subscriptions.add(
      this.item,
      store.onDidChange(() => this.update()),
      sessions.onDidChange(() => this.update()),
    );
    this.update();
  }

  private update(): void {
    // A dropped session being re-established matters more than which connection is active.
    const reconnecting = [this.store.activeName(), ...this.store.profiles().map((p) => p.name)].find(
      (n): n is string => n !== undefined && this.sessions.state(n).status === 'reconnecting',
    );
    if (reconnecting) {
      const state = this.sessions.state(reconnecting);
      this.item.text = reconnectingText(reconnecting, state.attempt ?? 1);
      this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
      const md = new vscode.MarkdownString();
      md.appendMarkdown(`**PG Background** — the session to **${escapeMarkdown(reconnecting)}** dropped`);
      if (state.error) md.appendMarkdown(` (${escapeMarkdown(state.error)})`);
      md.appendMarkdown('.\n\nReconnecting with backoff; running jobs re-attach and continue where they stopped.');
      this.item.tooltip = md;
      this.item.show();
      return;
    }
    const name = this.store.activeName();
    if (!name) {
      this.item.text = '$(database) PG: no connection';
      this.item.tooltip = this.store.profiles().length === 0 ? 'PG Background: add a connection' : 'PG Background: select the active connection';
      this.item.backgroundColor = undefined;
      this.item.show();
      return;
    }
    const state = this.sessions.state(name);
    const caps = state.capabilities;
    const warn = state.status === 'failed' || caps?.installed === false;
    const reduced = caps?.installed && caps.reducedMode;
    const icon = state.status === 'connecting' ? '$(sync~spin)' : warn ? '$(warning)' : '$(database)';
    this.item.text = `${icon} ${name}${reduced ? ' (reduced)' : ''}`;
    this.item.backgroundColor = warn ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    const profile = this.store.profile(name);
    const md = new vscode.MarkdownString();
    md.appendMarkdown(`**PG Background** — active connection **${escapeMarkdown(name)}**`);
    if (profile) md.appendMarkdown(`\n\n${escapeMarkdown(describeProfile(profile))}`);
    const status: Record<typeof state.status, string> = {
      idle: 'Not connected yet (the first job connects).',
      connecting: 'Connecting…',
      reconnecting: 'Reconnecting…',
      connected: 'Connected.',
      failed: `Connection failed: ${state.error ?? 'unknown error'}`,
    };
    md.appendMarkdown(`\n\n${escapeMarkdown(status[state.status])}`);
    if (caps) {
      md.appendMarkdown(`\n\nPostgreSQL ${escapeMarkdown(caps.serverVersion)} · `);
      md.appendMarkdown(caps.installed ? `pg_background ${escapeMarkdown(caps.version ?? '')}` : 'pg_background **not installed**');
      if (reduced) md.appendMarkdown('\n\n**Reduced mode:** this pg_background has no fetch_v2; results are read with result_v2 when a job ends.');
    }
    md.appendMarkdown('\n\nClick to switch connections.');
    this.item.tooltip = md;
    this.item.show();
  }

  dispose(): void {
    this.subscriptions.dispose();
  }
}
