// The "PG Background" log channel. A LogOutputChannel gives levels, timestamps and the user's
// chosen log level for free; the engine's log callback is routed into it too.

import * as vscode from 'vscode';
import type { EngineLog } from '../core/jobManager.js';

export class Log implements vscode.Disposable {
  readonly channel: vscode.LogOutputChannel;

  constructor() {
    this.channel = vscode.window.createOutputChannel('PG Background', { log: true });
  }

  info(message: string): void {
    this.channel.info(message);
  }

  warn(message: string): void {
    this.channel.warn(message);
  }

  error(message: string, err?: unknown): void {
    if (err === undefined) this.channel.error(message);
    else this.channel.error(`${message}: ${errorText(err)}`);
  }

  debug(message: string): void {
    this.channel.debug(message);
  }

  show(): void {
    this.channel.show(true);
  }

  /** Adapter for JobManager's `log` option. */
  readonly engineLog: EngineLog = (level, message) => {
    switch (level) {
      case 'trace':
        this.channel.trace(message);
        break;
      case 'debug':
        this.channel.debug(message);
        break;
      case 'info':
        this.channel.info(message);
        break;
      case 'warn':
        this.channel.warn(message);
        break;
      case 'error':
        this.channel.error(message);
        break;
    }
  };

  dispose(): void {
    this.channel.dispose();
  }
}

/** Message of anything thrown, without a stack (stacks go to the log at debug level only). */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
