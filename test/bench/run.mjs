#!/usr/bin/env node
// `npm run bench`: one throwaway PostgreSQL 15 cluster, then every benchmark against it
// (test/bench/server.mjs, and test/bench/client.mjs, test/bench/durable.mjs, test/bench/webview.mjs and
// test/bench/resultOps.mjs when they exist), their output printed as it comes, then the
// cluster is removed.
//
//   node test/bench/run.mjs [--no-install] [any option for server.mjs, e.g. --runs 3]
//
// A benchmark, not a test: numbers that miss their targets are reported, never turned
// into a failing exit code.  It exits non-zero only when it could not run at all.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { buildExtension, ensurePrereqs, installExtension, repoRoot, startThrowawayCluster } from '../harness/cluster.mjs';

const args = process.argv.slice(2);
const passThrough = args.filter((a) => a !== '--no-install');

function runNode(script, env) {
  return new Promise((resolve) => {
    // tsx lets the benches of the TypeScript engineers import src/**/*.ts directly
    const tsx = fs.existsSync(path.join(repoRoot, 'node_modules', 'tsx')) ? ['--import', 'tsx'] : [];
    const child = spawn(process.execPath, [...tsx, script, ...passThrough], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function main() {
  const started = Date.now();
  ensurePrereqs();
  if (!args.includes('--no-install')) {
    process.stdout.write('== build and install extension-c\n');
    buildExtension();
    installExtension();
  }
  // A cluster configured like an ordinary small server, not tuned for the benchmark.
  const { env, remove } = await startThrowawayCluster({ prefix: 'pgbg-bench-', extensions: ['pg_background', 'dblink'] });
  const summary = [];
  try {
    for (const name of ['server.mjs', 'client.mjs', 'durable.mjs', 'webview.mjs', 'resultOps.mjs']) {
      const script = path.join(repoRoot, 'test', 'bench', name);
      if (!fs.existsSync(script)) {
        process.stdout.write(`\n== ${name}: not present yet, skipped\n`);
        summary.push(`${name}: skipped (not present)`);
        continue;
      }
      process.stdout.write(`\n== bench ${name}\n`);
      const t0 = Date.now();
      const code = await runNode(script, env);
      summary.push(`${name}: ${code === 0 ? 'ran' : `exited with ${code}`} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  } finally {
    remove();
  }
  process.stdout.write(`\n== bench summary (${((Date.now() - started) / 1000).toFixed(0)} s)\n${summary.join('\n')}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
