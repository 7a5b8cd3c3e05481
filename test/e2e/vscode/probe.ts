// The probe: a tiny extension installed next to pg-background in code-server. On startup it
// runs checks.ts in the real extension host and writes the results to the file named by the
// user setting "pgbgProbe.resultFile", which the e2e test (vscode-api.test.ts) reads.

import fs from 'node:fs';
import * as vscode from 'vscode';
import { defineChecks } from './checks';
import { MiniMocha } from './mini-mocha';

export async function activate(): Promise<void> {
  const file = vscode.workspace.getConfiguration('pgbgProbe').get<string>('resultFile');
  if (!file) return;
  const profileName = vscode.workspace.getConfiguration('pgBackground').get<string>('activeConnection') || undefined;
  const measures: Record<string, number> = {};
  const m = new MiniMocha();
  defineChecks(m, { profileName, measure: (name, ms) => (measures[name] = ms) });
  let results;
  try {
    results = await m.run(90_000);
  } catch (err) {
    results = [{ name: 'probe runner', ok: false, ms: 0, error: String(err) }];
  }
  fs.writeFileSync(`${file}.tmp`, JSON.stringify({ results, measures, vscodeVersion: vscode.version }, null, 2));
  fs.renameSync(`${file}.tmp`, file);
}

export function deactivate(): void {}
