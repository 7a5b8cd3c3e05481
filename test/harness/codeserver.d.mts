// Types for codeserver.mjs, so the TypeScript e2e tests can import it under strict checking.
import type { ChildProcess } from 'node:child_process';

export declare const codeServerVersion: string;
export declare function cacheRoot(): string;
export declare function codeServerDir(): string;
export declare function isInstalled(): boolean;
export declare function cleanNpmEnv(base?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
export declare function npmInstall(cwd: string, spec: string, env: NodeJS.ProcessEnv, extraArgs?: string[]): void;
export declare function ensureCodeServer(): { dir: string; node: string; entry: string };
export declare function installExtension(vsix: string, dirs: { extensionsDir: string; userDataDir: string }): string;
export interface CodeServer {
  url: string;
  workspaceUrl: string;
  port: number;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
  child: ChildProcess;
}
export declare function startCodeServer(opts: {
  port: number;
  userDataDir: string;
  extensionsDir: string;
  folder?: string;
  settings?: Record<string, unknown>;
  logFile?: string;
  extraArgs?: string[];
}): Promise<CodeServer>;
