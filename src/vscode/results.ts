// Bridge between the job commands and the result panel (src/panel). The VS Code layer only needs
// "show", "is it visible" and "export" from it, so it depends on this small interface and
// extension.ts plugs the real panels in. Also hosts "Go to error", which the panel asks for.

import * as vscode from 'vscode';
import type { JobManager } from '../core/jobManager.js';
import { serverPositionToOffset } from '../core/statementFinder.js';
import { errorText, type Log } from './log.js';

export interface ResultViewer {
  /** `background`: open beside the editor without taking focus, and leave an open panel where it is. */
  show(jobId: string, background?: boolean): void;
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

  /** A job just started: its panel opens beside the editor without taking focus (quietly: no message when it cannot). */
  showOnStart(jobId: string): void {
    const job = this.engine.job(jobId);
    if (job && job.mode === 'launch' && job.state !== 'error') this.viewer?.show(jobId, true);
  }

  async exportResult(jobId: string): Promise<void> {
    const job = this.engine.job(jobId);
    const store = this.engine.store(jobId);
    if (!job || !store) {
      void vscode.window.showInformationMessage('PG Background: this job has no result to export.');
      return;
    }
    if (!this.viewer?.exportResult) {
      void vscode.window.showWarningMessage('PG Background: exporting needs the result panel, which is not available in this build.');
      return;
    }
    try {
      await this.viewer.exportResult(jobId);
    } catch (err) {
      this.log.error(`Exporting job ${jobId} failed`, err);
      void vscode.window.showErrorMessage(`PG Background: export failed: ${errorText(err)}`);
    }
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
