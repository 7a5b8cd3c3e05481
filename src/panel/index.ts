// Result panels in VS Code: one WebviewPanel per job, restored after a window reload by a
// WebviewPanelSerializer. This file is the thin `vscode`-dependent shell: the protocol work is
// done by PanelController (controller.ts), the encoding by export.ts, the page by html.ts.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { VIEW_TYPE, isPersistedState, type ExportFormat } from '../protocol';
import { PanelController, jobTitle, type PanelHost } from './controller';
import type { ResultView } from '../core/resultOps/view';
import { exportStatement, type TextSink } from './export';
import { makeNonce, panelHtml } from './html';
import { DisposableStore } from '../core/disposables';

export type { PanelHost } from './controller';

interface OpenPanel {
  panel: vscode.WebviewPanel;
  controller: PanelController;
}

export class ResultPanels implements vscode.Disposable {
  private readonly panels = new Map<string, OpenPanel>();
  private readonly subscriptions = new DisposableStore();

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly host: PanelHost,
  ) {
    this.subscriptions.add(
      vscode.window.registerWebviewPanelSerializer(VIEW_TYPE, {
        deserializeWebviewPanel: async (panel: vscode.WebviewPanel, state: unknown) => {
          // The state is whatever the webview last stored; trust nothing but a valid shape.
          const jobId = isPersistedState(state) ? state.jobId : '';
          const existing = jobId ? this.panels.get(jobId) : undefined;
          if (existing) {
            panel.dispose();
            existing.panel.reveal(undefined, true);
            return;
          }
          // A job unknown to this window still gets a panel: the controller tells the webview
          // that the result is gone, instead of leaving an empty page.
          this.attach(panel, jobId);
        },
      }),
    );
    const jobSub = host.onDidChangeJob((job) => {
      const open = this.panels.get(job.id);
      if (open) open.panel.title = jobTitle(job);
    });
    this.subscriptions.add(jobSub);
  }

  /** Opens the job's panel, or reveals it when it is already open. */
  /** `background`: a job that just started; open beside the editor without taking focus. */
  show(jobId: string, background = false): void {
    const open = this.panels.get(jobId);
    if (open) {
      if (!background) open.panel.reveal(open.panel.viewColumn, false);
      return;
    }
    const job = this.host.job(jobId);
    const panel = vscode.window.createWebviewPanel(VIEW_TYPE, job ? jobTitle(job) : 'Result', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: background }, this.webviewOptions());
    this.attach(panel, jobId);
  }

  /**
   * Export for the `pgBackground.exportResult` command (Jobs tree / palette): asks which
   * statement (when several returned rows) and which format, then exports like the panel's
   * buttons do.
   */
  async exportResult(jobId: string, stmt?: number, format?: ExportFormat): Promise<void> {
    const store = this.host.store(jobId);
    if (!store) {
      void vscode.window.showWarningMessage('The result of this job is no longer available.');
      return;
    }
    let target = stmt;
    if (target === undefined) {
      const withRows = store.statements().filter((s) => s.columns);
      if (withRows.length === 0) {
        void vscode.window.showInformationMessage('This job returned no rows to export.');
        return;
      }
      if (withRows.length === 1) target = withRows[0].stmt;
      else {
        const pick = await vscode.window.showQuickPick(
          withRows.map((s) => ({ label: `Result ${s.stmt}`, description: `${s.rowCount.toLocaleString('en-US')} rows`, stmt: s.stmt })),
          { title: 'Export which result?' },
        );
        if (!pick) return;
        target = pick.stmt;
      }
    }
    let fmt = format;
    if (!fmt) {
      const pick = await vscode.window.showQuickPick(
        [
          { label: 'CSV', description: 'comma-separated, header row', format: 'csv' as const },
          { label: 'JSON', description: 'array of objects', format: 'json' as const },
        ],
        { title: 'Export format' },
      );
      if (!pick) return;
      fmt = pick.format;
    }
    try {
      await this.exportToFile(jobId, target, fmt);
    } catch (err) {
      void vscode.window.showErrorMessage(`Export failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  isVisible(jobId: string): boolean {
    return this.panels.get(jobId)?.panel.visible ?? false;
  }

  dispose(): void {
    for (const open of [...this.panels.values()]) open.panel.dispose();
    this.subscriptions.dispose();
  }

  private webviewOptions(): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    const root = this.context.extensionUri;
    return {
      enableScripts: true,
      // State survives hiding through vscode.setState; keeping hidden webviews alive would cost
      // memory per open result.
      retainContextWhenHidden: false,
      localResourceRoots: [vscode.Uri.joinPath(root, 'dist'), vscode.Uri.joinPath(root, 'media')],
    };
  }

  private attach(panel: vscode.WebviewPanel, jobId: string): void {
    const webview = panel.webview;
    webview.options = this.webviewOptions();
    const root = this.context.extensionUri;
    const job = jobId ? this.host.job(jobId) : undefined;
    if (job) panel.title = jobTitle(job);
    webview.html = panelHtml({
      cspSource: webview.cspSource,
      nonce: makeNonce(),
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(root, 'dist', 'webview.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(root, 'media', 'webview.css')).toString(),
      title: panel.title,
    });
    const controller = new PanelController(jobId, this.host, {
      post: (msg) => webview.postMessage(msg),
      exportResult: (stmt, format, view) => this.exportToFile(jobId, stmt, format, view),
      copyText: async (text) => {
        await vscode.env.clipboard.writeText(text);
        vscode.window.setStatusBarMessage(`Copied ${text.length.toLocaleString('en-US')} characters`, 3000);
      },
      info: (message) => void vscode.window.showInformationMessage(message),
      saveImage: async (name, png) => {
        const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
        const uri = await vscode.window.showSaveDialog({
          defaultUri: folder ? vscode.Uri.joinPath(folder, name) : undefined,
          filters: { PNG: ['png'] },
          saveLabel: 'Save chart',
        });
        if (uri) await vscode.workspace.fs.writeFile(uri, png);
      },
    }, { tempDir: path.join(this.context.globalStorageUri.fsPath, 'results') });
    const subscriptions = new DisposableStore();
    subscriptions.add(
      webview.onDidReceiveMessage((m: unknown) => void controller.receive(m)),
      panel.onDidDispose(() => {
        controller.dispose();
        subscriptions.dispose();
        if (this.panels.get(jobId)?.panel === panel) this.panels.delete(jobId);
      }),
    );
    if (jobId) this.panels.set(jobId, { panel, controller });
  }

  /** Save dialog, then the statement streamed from the store to the file with a progress
   *  notification; a 10-million-row result never sits in memory. */
  private async exportToFile(jobId: string, stmt: number, format: ExportFormat, view?: ResultView): Promise<void> {
    const store = this.host.store(jobId);
    if (!store) throw new Error('The result of this job is no longer available.');
    const info = store.statements().find((s) => s.stmt === stmt);
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const name = `result-${jobId}-${stmt}.${format}`;
    const uri = await vscode.window.showSaveDialog({
      defaultUri: folder ? vscode.Uri.joinPath(folder, name) : undefined,
      filters: format === 'csv' ? { CSV: ['csv'] } : { JSON: ['json'] },
      saveLabel: 'Export',
      title: `Export result ${stmt} as ${format.toUpperCase()}`,
    });
    if (!uri) return;
    if (uri.scheme !== 'file') throw new Error('Export writes to local files only.');
    const file = uri.fsPath;
    const total = view ? view.length : (info?.rowCount ?? 0);
    const rows = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Exporting to ${path.basename(file)}`, cancellable: true },
      async (progress, token) => {
        const abort = new AbortController();
        token.onCancellationRequested(() => abort.abort());
        const out = fs.createWriteStream(file, { encoding: 'utf8' });
        let failure: Error | undefined;
        out.on('error', (err) => (failure = err));
        const sink: TextSink = {
          write: (chunk) =>
            new Promise<void>((resolve, reject) => {
              if (failure) return reject(failure);
              // Respect back-pressure so memory stays flat whatever the row count.
              if (out.write(chunk)) resolve();
              else out.once('drain', () => (failure ? reject(failure) : resolve()));
            }),
        };
        let reported = 0;
        try {
          const n = await exportStatement(store, stmt, format, sink, {
            view,
            signal: abort.signal,
            onProgress: (done) => {
              const pct = total > 0 ? Math.min(100, (done / total) * 100) : 0;
              progress.report({ increment: pct - reported, message: `${done.toLocaleString('en-US')} rows` });
              reported = pct;
            },
          });
          await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
          if (failure) throw failure;
          return n;
        } catch (err) {
          out.destroy();
          await fs.promises.rm(file, { force: true });
          throw err;
        }
      },
    );
    const choice = await vscode.window.showInformationMessage(`Exported ${rows.toLocaleString('en-US')} rows to ${path.basename(file)}.`, 'Open');
    if (choice === 'Open') await vscode.commands.executeCommand('vscode.open', uri);
  }
}
