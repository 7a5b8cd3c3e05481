#!/usr/bin/env node
// `npm run test:vscode`: the vscode-API checks (checks.ts) in a desktop VS Code downloaded by
// @vscode/test-electron, with this repository as the extension under development. Needs
// network access to update.code.visualstudio.com (not available on our CI machines, where
// the same checks run inside code-server: test/e2e/vscode-api.test.ts) and a display (or
// xvfb-run). Uses the cluster named by PG* variables, or starts a throwaway one.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { nodeBundle } from '../../../scripts/bundles.mjs';
import { repoRoot, startThrowawayCluster } from '../../harness/cluster.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

let testElectron;
try {
  testElectron = await import('@vscode/test-electron');
} catch {
  process.stderr.write('npm run test:vscode needs @vscode/test-electron: npm i -D @vscode/test-electron\n');
  process.exit(1);
}

const out = path.join(repoRoot, '.tmp', 'vscode-tests');
fs.mkdirSync(out, { recursive: true });
await esbuild.build(nodeBundle(path.join(here, 'electron-entry.ts'), path.join(out, 'index.js')));
const { spawnSync } = await import('node:child_process');
if (spawnSync('node', ['esbuild.mjs'], { cwd: repoRoot, stdio: 'inherit' }).status !== 0) process.exit(1);

let ownCluster;
let env = {};
if (!process.env.PGPORT) {
  ownCluster = await startThrowawayCluster();
  env = ownCluster.env;
}
const pgenv = { ...process.env, ...env };
const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'pgbg-vscode-'));
fs.mkdirSync(path.join(workspace, '.vscode'));
fs.writeFileSync(
  path.join(workspace, '.vscode', 'settings.json'),
  JSON.stringify({
    'pgBackground.connections': [
      { name: 'test', host: pgenv.PGHOST ?? '127.0.0.1', port: Number(pgenv.PGPORT), database: pgenv.PGDATABASE ?? 'postgres', user: pgenv.PGUSER ?? 'postgres', sslmode: 'disable' },
    ],
    'pgBackground.activeConnection': 'test',
  }),
);

let code = 0;
try {
  await testElectron.runTests({
    extensionDevelopmentPath: repoRoot,
    extensionTestsPath: path.join(out, 'index.js'),
    launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust'],
    extensionTestsEnv: env,
  });
} catch (err) {
  process.stderr.write(`test:vscode failed: ${err.message}\n`);
  code = 1;
} finally {
  fs.rmSync(workspace, { recursive: true, force: true });
  ownCluster?.remove();
}
process.exit(code);
