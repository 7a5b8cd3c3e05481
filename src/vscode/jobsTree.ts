// The Jobs view: connections at the root, their jobs (newest first) below. Beside them, on
// servers with attach (pg_background 1.10), the jobs of this role in the server's registry that
// this window has no record of (launched from psql, another window or machine, or a session that
// ended), each with Attach / Cancel / Wait / Discard; on older servers an "Other sessions" node
// lists the pg_background workers of the same user that this window did not launch.
// Engine events arrive often (a streaming job's at most ten a second), so redraws go through a
// change signal: at once after a quiet spell, then at most every REDRAW_INTERVAL_MS; a one-second
// ticker keeps elapsed times moving only while a job runs and the view is visible.

import * as vscode from 'vscode';
import type { Capabilities, ForeignWorker, JobManager, ServerJob } from '../core/jobManager.js';
import { DisposableStore } from '../core/disposables.js';
import { ChangeSignal } from '../core/events.js';
import { formatElapsed } from '../core/elapsed.js';
import { isFinal } from '../core/jobStateMachine.js';
import type { JobInfo } from '../core/model.js';
import type { ConnectionSessions } from './connectionSessions.js';
import type { ConnectionStore } from './connectionStore.js';
import { describeProfile } from './profileConfig.js';
import { errorText, type Log } from './log.js';
import {
  connectionContextValue,
  connectionDescription,
  escapeMarkdown,
  jobContextValue,
  jobDescription,
  jobLabel,
  jobTooltipMarkdown,
  markdownCodeBlock,
  stateColorId,
  stateIconId,
} from './treeLabels.js';
import type { ConnectionNode, ForeignWorkerNode, JobNode, OtherSessionsNode, ServerJobNode, TreeNode } from './treeNodes.js';
import { notDurableNote, serverJobColorId, serverJobDescription, serverJobIconId, serverJobLabel, serverJobTooltipMarkdown } from './serverJobLabels.js';
import { engineSettings } from './settings.js';

/** Redraws are whole-tree: with many jobs streaming, at most four a second. */
const REDRAW_INTERVAL_MS = 250;
const FOREIGN_POLL_MS = 10_000;

export class JobsTree implements vscode.TreeDataProvider<TreeNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<TreeNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  readonly view: vscode.TreeView<TreeNode>;
  private readonly subscriptions = new DisposableStore();
  private readonly foreign = new Map<string, ForeignWorker[]>();
  /** Per connection with attach: its server jobs that are not local records. */
  private readonly serverJobs = new Map<string, ServerJob[]>();
  // Stable element objects, so VS Code keeps selection and focus across redraws.
  private readonly connectionNodes = new Map<string, ConnectionNode>();
  private readonly jobNodes = new Map<string, JobNode>();
  private readonly othersNodes = new Map<string, OtherSessionsNode>();
  private readonly serverJobNodes = new Map<string, ServerJobNode>();
  private readonly redraw = new ChangeSignal(REDRAW_INTERVAL_MS);
  private ticker: NodeJS.Timeout | undefined;
  private foreignPoll: NodeJS.Timeout | undefined;
  private foreignTimer: NodeJS.Timeout | undefined;
  private autoConnectTried = false;
  private readonly contextKeys = new Map<string, boolean>();

  constructor(
    private readonly engine: JobManager,
    private readonly sessions: ConnectionSessions,
    private readonly store: ConnectionStore,
    private readonly log: Log,
  ) {
    this.view = vscode.window.createTreeView('pgBackground.jobs', { treeDataProvider: this, showCollapseAll: true });
    this.subscriptions.add(
      this.changed,
      this.redraw,
      this.redraw.event(() => this.flush()),
      this.view,
      this.view.onDidChangeVisibility(() => this.onVisibility()),
      engine.onDidChangeJob(() => this.scheduleRefresh()),
      engine.onDidEndJob(() => {
        this.scheduleRefresh();
        this.scheduleForeignRefresh();
      }),
      sessions.onDidChange((name) => {
        if (!sessions.isConnected(name)) {
          this.foreign.delete(name);
          this.serverJobs.delete(name);
        } else this.scheduleForeignRefresh();
        this.scheduleRefresh();
      }),
      store.onDidChange(() => {
        this.updateContextKeys();
        this.scheduleRefresh();
      }),
    );
    this.updateContextKeys();
    this.onVisibility();
  }

  /** Full refresh now, including the foreign workers of connected sessions (the Refresh button). */
  async refresh(): Promise<void> {
    await this.refreshForeign();
    this.flush();
  }

  /**
   * Schedules a coalesced redraw: the events of one moment (and, while jobs stream, of a quarter
   * second) collapse into one. Redraws are whole-tree on purpose: row-level refreshes (firing the changed elements)
   * left new rows unrendered for a long time in code-server 1.139 when they raced a structural one.
   */
  scheduleRefresh(): void {
    this.redraw.trigger();
  }

  private flush(): void {
    this.updateContextKeys();
    this.updateTicker();
    this.updateBadge();
    this.changed.fire(undefined);
  }

  private onVisibility(): void {
    if (this.view.visible) {
      // The view needs the active connection to list other sessions' workers: connect it once,
      // quietly (failures show on its node, not as pop-ups).
      const active = this.store.activeName();
      if (active && !this.autoConnectTried && this.sessions.state(active).status === 'idle') {
        this.autoConnectTried = true;
        void this.sessions.ensure(active, { interactive: false });
      }
      void this.refreshForeign().then(() => this.scheduleRefresh());
      if (!this.foreignPoll) this.foreignPoll = setInterval(() => void this.refreshForeign().then(() => this.scheduleRefresh()), FOREIGN_POLL_MS);
    } else if (this.foreignPoll) {
      clearInterval(this.foreignPoll);
      this.foreignPoll = undefined;
    }
    this.updateTicker();
  }

  private scheduleForeignRefresh(): void {
    if (this.foreignTimer || !this.view.visible) return;
    this.foreignTimer = setTimeout(() => {
      this.foreignTimer = undefined;
      void this.refreshForeign().then(() => this.scheduleRefresh());
    }, 1000);
  }

  /**
   * Re-reads, for every connected session, the server jobs (servers with attach) or the foreign
   * workers (older servers); never connects by itself.
   */
  private async refreshForeign(): Promise<void> {
    const names = this.engine.connectionNames().filter((n) => this.sessions.isConnected(n));
    await Promise.all(
      names.map(async (name) => {
        if (this.sessions.state(name).capabilities?.attach) {
          this.foreign.delete(name);
          try {
            this.serverJobs.set(name, (await this.engine.listServerJobs(name)).filter((j) => j.localJobId === undefined));
          } catch (err) {
            this.log.debug(`Listing the server's jobs on "${name}" failed: ${errorText(err)}`);
          }
          return;
        }
        this.serverJobs.delete(name);
        try {
          this.foreign.set(name, await this.engine.foreignWorkers(name));
        } catch (err) {
          this.log.debug(`Listing other sessions' workers on "${name}" failed: ${errorText(err)}`);
        }
      }),
    );
  }

  /** Focuses the Jobs view and expands the connection's node (the "Show Jobs" buttons). */
  async reveal(connectionName?: string): Promise<void> {
    await vscode.commands.executeCommand('pgBackground.jobs.focus');
    await this.refresh();
    const name = connectionName ?? this.connectionNames()[0];
    if (!name) return;
    const node = cached(this.connectionNodes, name, (): ConnectionNode => ({ kind: 'connection', name }));
    try {
      await this.view.reveal(node, { expand: true, focus: false, select: false });
    } catch (err) {
      this.log.debug(`Revealing "${name}" in the Jobs view failed: ${errorText(err)}`);
    }
  }

  /** Ticks once a second while something runs and the view is visible, so elapsed times move. */
  private updateTicker(): void {
    const running = this.engine.jobs().some((j) => !isFinal(j.state)) || [...this.serverJobs.values()].some((l) => l.some((j) => j.state === 'running'));
    if (running && this.view.visible) {
      if (!this.ticker) this.ticker = setInterval(() => this.changed.fire(undefined), 1000);
    } else if (this.ticker) {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  private updateBadge(): void {
    const running = this.engine.jobs().filter((j) => !isFinal(j.state)).length;
    this.view.badge = running > 0 ? { value: running, tooltip: running === 1 ? '1 job running' : `${running} jobs running` } : undefined;
  }

  /** Context keys for the welcome content; set only when they change (each set is an IPC round trip). */
  private updateContextKeys(): void {
    const keys: [string, boolean][] = [
      ['pgBackground.hasConnections', this.store.profiles().length > 0],
      ['pgBackground.hasJobs', this.engine.jobs().length > 0],
    ];
    for (const [key, value] of keys) {
      if (this.contextKeys.get(key) === value) continue;
      this.contextKeys.set(key, value);
      void vscode.commands.executeCommand('setContext', key, value);
    }
  }

  /** Connections worth a root node: with jobs, with foreign workers, or whose connection failed. */
  private connectionNames(): string[] {
    const names = new Set<string>();
    for (const job of this.engine.jobs()) names.add(job.connectionName);
    for (const [name, workers] of this.foreign) if (workers.length > 0) names.add(name);
    for (const [name, jobs] of this.serverJobs) if (jobs.length > 0) names.add(name);
    for (const p of this.store.profiles()) if (this.sessions.state(p.name).status === 'failed') names.add(p.name);
    const order = this.store.profiles().map((p) => p.name);
    const active = this.store.activeName();
    return [...names].sort((a, b) => {
      if (a === active) return -1;
      if (b === active) return 1;
      const ia = order.indexOf(a);
      const ib = order.indexOf(b);
      return (ia < 0 ? Infinity : ia) - (ib < 0 ? Infinity : ib) || a.localeCompare(b);
    });
  }

  getChildren(element?: TreeNode): TreeNode[] {
    if (!element) return this.connectionNames().map((name) => cached(this.connectionNodes, name, () => ({ kind: 'connection', name })));
    if (element.kind === 'connection') {
      const jobs = this.engine
        .jobs()
        .filter((j) => j.connectionName === element.name)
        .sort((a, b) => b.launchedAt - a.launchedAt)
        .map((j) => cached(this.jobNodes, j.id, (): JobNode => ({ kind: 'job', id: j.id })));
      this.forgetClearedJobs();
      const onServer = this.serverJobNodesOf(element.name);
      const others: TreeNode[] =
        (this.foreign.get(element.name)?.length ?? 0) > 0
          ? [cached(this.othersNodes, element.name, (): OtherSessionsNode => ({ kind: 'others', connectionName: element.name }))]
          : [];
      return [...jobs, ...onServer, ...others];
    }
    if (element.kind === 'others') {
      return (this.foreign.get(element.connectionName) ?? []).map((worker): ForeignWorkerNode => ({ kind: 'foreign', connectionName: element.connectionName, worker }));
    }
    return [];
  }

  /** Server jobs of a connection as stable node objects (updated in place), newest first. */
  private serverJobNodesOf(connectionName: string): ServerJobNode[] {
    const list = [...(this.serverJobs.get(connectionName) ?? [])].sort((a, b) => b.launchedAt - a.launchedAt);
    const keep = new Set<string>();
    const nodes = list.map((job) => {
      const key = serverJobKey(connectionName, job);
      keep.add(key);
      const node = cached(this.serverJobNodes, key, (): ServerJobNode => ({ kind: 'serverJob', connectionName, job }));
      node.job = job;
      return node;
    });
    for (const [key, node] of this.serverJobNodes) if (node.connectionName === connectionName && !keep.has(key)) this.serverJobNodes.delete(key);
    return nodes;
  }

  /** The server jobs last listed (not local records), for commands and the away summary. */
  listedServerJobs(connectionName: string): readonly ServerJob[] {
    return this.serverJobs.get(connectionName) ?? [];
  }

  /** Drops node objects of jobs the engine no longer knows (cleared), so the cache stays small. */
  private forgetClearedJobs(): void {
    for (const id of this.jobNodes.keys()) if (!this.engine.job(id)) this.jobNodes.delete(id);
  }

  /** Needed by TreeView.reveal: every node's parent, from the stable node caches. */
  getParent(element: TreeNode): TreeNode | undefined {
    switch (element.kind) {
      case 'connection':
        return undefined;
      case 'job': {
        const job = this.engine.job(element.id);
        return job ? cached(this.connectionNodes, job.connectionName, (): ConnectionNode => ({ kind: 'connection', name: job.connectionName })) : undefined;
      }
      case 'others':
        return cached(this.connectionNodes, element.connectionName, (): ConnectionNode => ({ kind: 'connection', name: element.connectionName }));
      case 'foreign':
        return cached(this.othersNodes, element.connectionName, (): OtherSessionsNode => ({ kind: 'others', connectionName: element.connectionName }));
      case 'serverJob':
        return cached(this.connectionNodes, element.connectionName, (): ConnectionNode => ({ kind: 'connection', name: element.connectionName }));
    }
  }

  getTreeItem(element: TreeNode): vscode.TreeItem {
    switch (element.kind) {
      case 'connection':
        return this.connectionItem(element);
      case 'job': {
        const job = this.engine.job(element.id);
        return job ? jobItem(job, this.sessions.state(job.connectionName).capabilities) : new vscode.TreeItem('(cleared job)');
      }
      case 'others':
        return this.othersItem(element);
      case 'foreign':
        return foreignItem(element);
      case 'serverJob':
        return serverJobItem(element);
    }
  }

  private connectionItem(node: ConnectionNode): vscode.TreeItem {
    const state = this.sessions.state(node.name);
    const caps = state.capabilities;
    const nodeState = {
      active: this.store.activeName() === node.name,
      connected: state.status === 'connected',
      failed: state.status === 'failed',
      reconnecting: state.status === 'reconnecting',
      installed: caps?.installed,
      reducedMode: caps?.installed ? caps.reducedMode : undefined,
    };
    const jobCount = this.engine.jobs().filter((j) => j.connectionName === node.name).length;
    const item = new vscode.TreeItem(node.name, vscode.TreeItemCollapsibleState.Expanded);
    item.id = `connection:${node.name}`;
    item.description = connectionDescription(nodeState, jobCount);
    item.contextValue = connectionContextValue(nodeState);
    item.iconPath = new vscode.ThemeIcon(
      state.status === 'failed' ? 'debug-disconnect' : state.status === 'reconnecting' ? 'sync~spin' : caps?.installed === false || caps?.reducedMode ? 'warning' : 'database',
      state.status === 'failed' || caps?.installed === false ? new vscode.ThemeColor('list.warningForeground') : undefined,
    );
    const profile = this.store.profile(node.name);
    const md = new vscode.MarkdownString();
    md.appendMarkdown(`**${escapeMarkdown(node.name)}**`);
    if (profile) md.appendMarkdown(` — ${escapeMarkdown(describeProfile(profile))}`);
    else md.appendMarkdown(' — this connection profile was removed');
    if (caps) {
      md.appendMarkdown(`\n\nPostgreSQL ${escapeMarkdown(caps.serverVersion)}`);
      if (!caps.installed) md.appendMarkdown(' · **pg_background is not installed** (use "Install pg_background on the Server…")');
      else md.appendMarkdown(` · pg_background ${escapeMarkdown(caps.version ?? '')}`);
      if (caps.installed && caps.reducedMode) {
        md.appendMarkdown('\n\n**Reduced mode:** the server\'s pg_background has no fetch_v2; results are read with result_v2 when a job ends.');
      }
    }
    if (state.status === 'failed' && state.error) md.appendMarkdown(`\n\n**Connection failed:** ${escapeMarkdown(state.error)}`);
    else if (state.status === 'reconnecting') {
      md.appendMarkdown(`\n\n**Reconnecting** (attempt ${state.attempt ?? 1})${state.error ? `: ${escapeMarkdown(state.error)}` : ''}. Running jobs continue where they stopped once it is back.`);
    } else if (state.status !== 'connected') md.appendMarkdown('\n\nNot connected: the next job connects it.');
    item.tooltip = md;
    return item;
  }

  private othersItem(node: OtherSessionsNode): vscode.TreeItem {
    const count = this.foreign.get(node.connectionName)?.length ?? 0;
    const item = new vscode.TreeItem('Other sessions', vscode.TreeItemCollapsibleState.Expanded);
    item.id = `others:${node.connectionName}`;
    item.description = count === 1 ? '1 worker' : `${count} workers`;
    item.contextValue = 'pgbgOtherSessions';
    item.iconPath = new vscode.ThemeIcon('server-process');
    item.tooltip = 'pg_background workers of the same user that this window did not launch: another window, psql, or a session that has ended (e.g. before a reload).';
    return item;
  }

  dispose(): void {
    if (this.foreignTimer) clearTimeout(this.foreignTimer);
    if (this.ticker) clearInterval(this.ticker);
    if (this.foreignPoll) clearInterval(this.foreignPoll);
    this.subscriptions.dispose();
  }
}

function cached<N>(map: Map<string, N>, key: string, make: () => N): N {
  let node = map.get(key);
  if (!node) {
    node = make();
    map.set(key, node);
  }
  return node;
}

function serverJobKey(connectionName: string, job: { pid: number; cookie: string }): string {
  return `${connectionName}:${job.pid}:${job.cookie}`;
}

function jobItem(job: JobInfo, caps: Capabilities | undefined): vscode.TreeItem {
  const now = Date.now();
  const item = new vscode.TreeItem(jobLabel(job.sql), vscode.TreeItemCollapsibleState.None);
  item.id = `job:${job.id}`;
  item.description = jobDescription(job, now);
  item.contextValue = jobContextValue(job);
  const color = stateColorId(job.state);
  item.iconPath = new vscode.ThemeIcon(job.reconnecting ? 'sync~spin' : stateIconId(job.state), color ? new vscode.ThemeColor(color) : undefined);
  let tooltip = jobTooltipMarkdown(job, now);
  if (job.note) tooltip = `${escapeMarkdown(job.note)}\n\n${tooltip}`;
  // Servers without attach (design §8.5): a running job dies with this window or its connection.
  const durableOff = engineSettings().durableJobs === false;
  if (!isFinal(job.state) && job.mode === 'launch' && !job.durable && caps?.installed && (!caps.attach || durableOff)) {
    tooltip = `*${escapeMarkdown(notDurableNote(caps.version, caps.attach && durableOff))}*\n\n${tooltip}`;
  }
  if (job.reducedMode) tooltip = `*Reduced mode (no fetch_v2): results arrive when the job ends.*\n\n${tooltip}`;
  // Not trusted and no HTML: the SQL and server messages are untrusted text.
  item.tooltip = new vscode.MarkdownString(tooltip);
  const node: JobNode = { kind: 'job', id: job.id };
  if (job.hasResult) item.command = { command: 'pgBackground.showResult', title: 'Show Result', arguments: [node] };
  else if (job.error?.position !== undefined && job.source) item.command = { command: 'pgBackground.goToError', title: 'Go to Error', arguments: [node] };
  return item;
}

function serverJobItem(node: ServerJobNode): vscode.TreeItem {
  const job = node.job;
  const now = Date.now();
  const item = new vscode.TreeItem(serverJobLabel(job), vscode.TreeItemCollapsibleState.None);
  item.id = `serverJob:${serverJobKey(node.connectionName, job)}`;
  item.description = serverJobDescription(job, now);
  item.contextValue = 'serverJob';
  const color = serverJobColorId(job);
  item.iconPath = new vscode.ThemeIcon(serverJobIconId(job), color ? new vscode.ThemeColor(color) : undefined);
  // Not trusted and no HTML: the SQL, names and messages come from the database.
  item.tooltip = new vscode.MarkdownString(serverJobTooltipMarkdown(job, now));
  item.accessibilityInformation = { label: `${serverJobLabel(job)}, on the server, ${item.description}` };
  return item;
}

function foreignItem(node: ForeignWorkerNode): vscode.TreeItem {
  const w = node.worker;
  const item = new vscode.TreeItem(`pid ${w.pid} · ${jobLabel(w.query || '(no query)', 60)}`, vscode.TreeItemCollapsibleState.None);
  item.id = `foreign:${node.connectionName}:${w.pid}`;
  const parts = [w.state ?? 'unknown'];
  if (w.queryStart) parts.push(formatElapsed(Date.now() - w.queryStart));
  if (w.launcherPid) parts.push(`launched by pid ${w.launcherPid}`);
  item.description = parts.join(' · ');
  item.contextValue = 'pgbgForeign';
  item.iconPath = new vscode.ThemeIcon('server-process');
  const md = new vscode.MarkdownString();
  md.appendMarkdown(`Worker pid ${w.pid} of user ${escapeMarkdown(w.usename)} (${escapeMarkdown(w.applicationName)})\n\n`);
  md.appendMarkdown(markdownCodeBlock(w.query || ''));
  item.tooltip = md;
  return item;
}
