// Entry for @vscode/test-electron (extensionTestsPath): runs checks.ts in the desktop VS Code
// that run-electron.mjs downloads and starts, and fails the run if any check fails.

import * as vscode from 'vscode';
import { defineChecks } from './checks';
import { MiniMocha } from './mini-mocha';

export async function run(): Promise<void> {
  const m = new MiniMocha();
  const profileName = vscode.workspace.getConfiguration('pgBackground').get<string>('activeConnection') || undefined;
  defineChecks(m, { profileName, measure: (name, ms) => console.log(`# ${name}: ${ms} ms`) });
  const results = await m.run(90_000);
  for (const r of results) console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name} (${r.ms} ms)${r.error ? `\n     ${r.error}` : ''}`);
  const failed = results.filter((r) => !r.ok).length;
  console.log(`${results.length - failed} passed, ${failed} failed`);
  if (failed > 0) throw new Error(`${failed} vscode-API check(s) failed`);
}
