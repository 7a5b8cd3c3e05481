// Bridge between the job commands and the result panel (src/panel). The panel module is built by
// another engineer; the VS Code layer only needs "show", "is it visible" and optionally
// "export", so it depends on this small interface, and extension.ts plugs the real panels in.
// Also hosts "Go to error" (the panel asks for it) and a fallback export.

import * as fs from 'node:fs';
import * as vscode from 'vscode';
import type { JobManager } from '../core/jobManager.js';
import { serverPositionToOffset } from '../core/statementFinder.js';
import { exportStatement } from '../panel/export.js';
import { errorText, type Log } from './log.js';

export interface ResultViewer {
  show(jobId: string): void;
  isVisible(jobId: string): boolean;
  exportResult?(jobId: string, stmt?: number): Promise<void>;
}

export class Results {
  private viewer: ResultViewer | undefined;

  constructor(
    private readonly engine: JobManager,
    private readonly log: Log,
  ) {}

  attach(viewer: ResultViewer): void {
    this.viewer = viewer;
  }

  isVisible(jobId: string): boolean {
    return this.viewer?.isVisible(jobId) ?? false;
  }

  show(jobId: string): void {
    const job = this.engine.job(jobId);
    if (!job) {
      void vscode.window.showWarningMessage('PG Background: that job is no longer in the list.');
      return;
    }
    if (!job.hasResult) {
      const why =
        job.mode === 'submit'
          ? 'it was submitted fire-and-forget, so its rows were not kept'
          : job.state === 'lost' || job.state === 'detached'
            ? `it is ${job.state} and its rows were not kept`
            : 'its result is no longer held (e.g. after a window reload only the job\'s summary is kept)';
      void vscode.window.showInformationMessage(`PG Background: this job has no result to show: ${why}.`);
      return;
    }
    if (!this.viewer) {
      void vscode.window.showWarningMessage('PG Background: the result panel is not available in this build.');
      return;
    }
    this.viewer.show(jobId);
  }

  async exportResult(jobId: string): Promise<void> {
    const job = this.engine.job(jobId);
    const store = this.engine.store(jobId);
    if (!job || !store) {
      void vscode.window.showInformationMessage('PG Background: this job has no result to export.');
      return;
    }
    if (this.viewer?.exportResult) {
      await this.viewer.exportResult(jobId);
      return;
    }
    // Fallback: the panel module's streaming encoder with our own dialog.
    const withRows = store.statements().filter((s) => s.columns);
    if (withRows.length === 0) {
      void vscode.window.showInformationMessage('PG Background: no statement of this job returned rows.');
      return;
    }
    let stmt = withRows[0].stmt;
    if (withRows.length > 1) {
      const pick = await vscode.window.showQuickPick(
        withRows.map((s) => ({ label: `Statement ${s.stmt}`, description: `${s.rowCount} rows · ${(s.columns ?? []).map((c) => c.name).join(', ')}`, stmt: s.stmt })),
        { placeHolder: 'Export which statement\'s rows?' },
      );
      if (!pick) return;
      stmt = pick.stmt;
    }
    const target = await vscode.window.showSaveDialog({
      filters: { CSV: ['csv'], JSON: ['json'] },
      saveLabel: 'Export',
      title: 'Export Result',
    });
    if (!target) return;
    const format = target.fsPath.toLowerCase().endsWith('.json') ? 'json' : 'csv';
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Exporting to ${target.fsPath}`, cancellable: true },
      async (progress, token) => {
        const abort = new AbortController();
        const sub = token.onCancellationRequested(() => abort.abort());
        const out = fs.createWriteStream(target.fsPath, { encoding: 'utf8' });
        try {
          const rows = await exportStatement(
            store,
            stmt,
            format,
            { write: (chunk) => (out.write(chunk) ? undefined : new Promise<void>((resolve) => out.once('drain', () => resolve()))) },
            { signal: abort.signal, onProgress: (n) => progress.report({ message: `${n} rows` }) },
          );
          await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
          this.log.info(`Exported ${rows} rows of job ${jobId} statement ${stmt} to ${target.fsPath}`);
          void vscode.window.showInformationMessage(`PG Background: exported ${rows} rows to ${target.fsPath}.`);
        } catch (err) {
          out.destroy();
          this.log.error('Export failed', err);
          void vscode.window.showErrorMessage(`PG Background: export failed: ${errorText(err)}`);
        } finally {
          sub.dispose();
        }
      },
    );
  }

  /**
   * Opens the document the job's SQL came from and selects the error position there. `position`
   * is the server's 1-based character position inside the job's SQL (defaults to the job error's).
   */
  async goToError(jobId: string, position?: number): Promise<void> {
    const job = this.engine.job(jobId);
    if (!job) return;
    const pos = position ?? job.error?.position;
    if (!job.source) {
      void vscode.window.showInformationMessage('PG Background: this job\'s SQL did not come from a document, so there is no place to go to.');
      return;
    }
    if (pos === undefined) {
      void vscode.window.showInformationMessage('PG Background: the server reported no position for this error.');
      return;
    }
    const uri = vscode.Uri.parse(job.source.uri);
    let doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === job.source?.uri);
    if (!doc) {
      try {
        doc = await vscode.workspace.openTextDocument(uri);
      } catch {
        doc = undefined;
      }
    }
    if (!doc || doc.isClosed) {
      void vscode.window.showWarningMessage(`PG Background: the document this job came from is gone (${uri.scheme === 'untitled' ? 'an unsaved editor that was closed' : uri.fsPath}).`);
      return;
    }
    const start = job.source.offset;
    const offset = start + serverPositionToOffset(job.sql, pos);
    // If the text moved since the launch, the position may be off: say so rather than mislead.
    const still = doc.getText(new vscode.Range(doc.positionAt(start), doc.positionAt(start + job.sql.length))) === job.sql;
    const editor = await vscode.window.showTextDocument(doc, { preview: false });
    const at = doc.positionAt(offset);
    const wordRange = doc.getWordRangeAtPosition(at);
    // Highlight the offending word but keep the cursor at its start, where the server points.
    editor.selection = wordRange && wordRange.start.isEqual(at) ? new vscode.Selection(wordRange.end, wordRange.start) : new vscode.Selection(at, at);
    editor.revealRange(new vscode.Range(at, at), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
    if (!still) void vscode.window.showWarningMessage('PG Background: the document changed since the job ran; the error position may be off.');
  }
}
