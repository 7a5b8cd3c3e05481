// The vscode-API checks (vscode/checks.ts) run inside code-server's real extension host: a
// probe extension installed next to the packaged pg-background runs them on startup and writes
// its results to a file; each result becomes a test here. On a desktop with network the same
// checks run under @vscode/test-electron (npm run test:vscode, vscode/run-electron.mjs).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as esbuild from 'esbuild';
import { nodeBundle } from '../../scripts/bundles.mjs';
import { e2eTmp, repoRoot, testProfile, until, Workbench } from './workbench';

interface ProbeReport {
  results: { name: string; ok: boolean; ms: number; error?: string }[];
  measures: Record<string, number>;
  vscodeVersion: string;
}

/** Bundles vscode/probe.ts into a throwaway extension and packages it as a .vsix. */
async function buildProbe(): Promise<string> {
  const dir = path.join(e2eTmp(), 'probe');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  await esbuild.build(nodeBundle(path.join(__dirname, 'vscode', 'probe.ts'), path.join(dir, 'probe.js')));
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({
      name: 'pgbg-probe',
      displayName: 'pg-background test probe',
      description: 'Runs the vscode-API checks of pg-background inside the extension host.',
      version: '0.0.1',
      publisher: 'pgbg-tests',
      license: 'MIT',
      engines: { vscode: '^1.90.0' },
      main: './probe.js',
      activationEvents: ['onStartupFinished'],
    }),
  );
  fs.writeFileSync(path.join(dir, 'README.md'), 'Test probe for pg-background; not a product.\n');
  fs.writeFileSync(path.join(dir, 'LICENSE'), 'MIT\n');
  const out = path.join(e2eTmp(), 'pgbg-probe.vsix');
  const res = spawnSync(
    path.join(repoRoot, 'node_modules', '.bin', 'vsce'),
    ['package', '--no-dependencies', '--allow-missing-repository', '--out', out],
    { cwd: dir, encoding: 'utf8' },
  );
  if (res.status !== 0) throw new Error(`packaging the probe failed:\n${res.stdout}${res.stderr}`);
  return out;
}

describe('vscode API checks inside code-server', { timeout: 10 * 60_000 }, () => {
  let wb: Workbench | undefined;
  let report: ProbeReport | undefined;
  let launchError: unknown;

  before(async () => {
    try {
      const probe = await buildProbe();
      const resultFile = path.join(e2eTmp(), 'probe-result.json');
      fs.rmSync(resultFile, { force: true });
      wb = await Workbench.launch({
        name: 'api',
        // No .sql file is opened at startup, so pg-background is not active yet and the probe
        // can time its activation.
        files: { 'probe.sql': 'SELECT 1;\n' },
        workspaceSettings: { 'pgBackground.connections': [testProfile('e2e')], 'pgBackground.activeConnection': 'e2e' },
        userSettings: { 'pgbgProbe.resultFile': resultFile },
        extraVsix: [probe],
      });
      process.stdout.write('# waiting for the probe to report\n');
      report = await until('the probe report', async () => (fs.existsSync(resultFile) ? (JSON.parse(fs.readFileSync(resultFile, 'utf8')) as ProbeReport) : undefined), 5 * 60_000, 500);
      fs.rmSync(resultFile, { force: true });
      for (const [k, v] of Object.entries(report.measures)) process.stdout.write(`# ${k}: ${v} ms\n`);
      process.stdout.write(`# extension host: VS Code ${report.vscodeVersion}\n`);
    } catch (err) {
      launchError = err;
    }
  });

  after(async () => {
    if (wb) await wb.close();
  });

  it('the probe ran in the extension host and reported', () => {
    if (launchError) throw launchError;
    assert.ok(report && report.results.length > 0);
  });

  it('every vscode-API check passes', async (t) => {
    if (!report) throw new Error('no probe report');
    for (const r of report.results) {
      await t.test(r.name, () => {
        if (!r.ok) assert.fail(r.error ?? 'failed');
      });
    }
  });
});
