#!/usr/bin/env node
// `npm test`: everything a fresh clone needs, then every suite against one throwaway cluster.
//
//   node test/run-all.mjs                 all suites
//   node test/run-all.mjs --only ts,c-regress
//   node test/run-all.mjs --list
//
// Steps: npm dependencies (npm ci when node_modules is missing), Debian prerequisites, build
// and install extension-c, build the bundles, create a PostgreSQL 15 cluster in a temporary
// directory on a free loopback port, run the suites with PG* variables pointing at it, destroy
// the cluster. The last line is "N passed, N failed" over all tests of all suites; a suite that
// has no test, or whose runner exits non-zero, counts as failed.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { bindir, buildExtension, ensurePrereqs, installExtension, pgConfig, repoRoot, startThrowawayCluster } from './harness/cluster.mjs';

const tsFiles = (dir) =>
  fs.existsSync(path.join(repoRoot, dir))
    ? fs
        .readdirSync(path.join(repoRoot, dir))
        .filter((f) => f.endsWith('.test.ts'))
        .sort()
        .map((f) => path.join(dir, f))
    : [];

const nodeTest = (files) => ['node', ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=1', ...files]];

/** Each suite: how to run it and how to read its counts. */
const suites = [
  {
    name: 'c-regress',
    // Static analysis counts as one test of this suite: the build is -Werror clean, and so must cppcheck be.
    pre: () => ['make', ['-s', '-C', 'extension-c', `PG_CONFIG=${pgConfig}`, 'cppcheck']],
    command: () => ['make', ['-s', '-C', 'extension-c', `PG_CONFIG=${pgConfig}`, 'installcheck']],
    parse: parsePgRegress,
    onFailure: () => {
      const diffs = path.join(repoRoot, 'extension-c', 'regression.diffs');
      if (fs.existsSync(diffs)) process.stdout.write(fs.readFileSync(diffs, 'utf8').slice(0, 20000));
    },
  },
  {
    name: 'c-tap',
    command: () => ['env', [`PGBG_PGBIN=${bindir}`, 'bash', 'extension-c/t/run.sh']],
    exists: () => fs.existsSync(path.join(repoRoot, 'extension-c/t/run.sh')),
    parse: parseProve,
  },
  {
    name: 'ts',
    pre: () => ['npx', ['tsc', '-p', '.', '--noEmit']],
    command: () => nodeTest([...tsFiles('test/unit'), ...tsFiles('test/integration')]),
    exists: () => tsFiles('test/unit').length + tsFiles('test/integration').length > 0,
    parse: parseNodeTest,
  },
  {
    name: 'webview',
    browser: true,
    command: () => nodeTest(tsFiles('test/webview')),
    exists: () => tsFiles('test/webview').length > 0,
    parse: parseNodeTest,
  },
  {
    name: 'e2e',
    browser: true,
    codeServer: true,
    command: () => nodeTest(tsFiles('test/e2e')),
    exists: () => tsFiles('test/e2e').length > 0,
    parse: parseNodeTest,
  },
];

function parsePgRegress(out) {
  let m = /All (\d+) tests passed/.exec(out);
  if (m) return { passed: Number(m[1]), failed: 0 };
  m = /(\d+) of (\d+) tests failed/.exec(out);
  if (m) return { passed: Number(m[2]) - Number(m[1]), failed: Number(m[1]) };
  return { passed: 0, failed: 0 };
}

function parseProve(out) {
  const m = /Files=\d+, Tests=(\d+)/.exec(out);
  const total = m ? Number(m[1]) : 0;
  let failed = 0;
  for (const f of out.matchAll(/Failed (\d+)\/\d+ subtests/g)) failed += Number(f[1]);
  if (/Result: FAIL/.test(out) && failed === 0) failed = 1;
  return { passed: Math.max(0, total - failed), failed };
}

function parseNodeTest(out) {
  const num = (label) => {
    const m = new RegExp(`^[#ℹ] ${label} (\\d+)`, 'm').exec(out);
    return m ? Number(m[1]) : 0;
  };
  return { passed: num('pass'), failed: num('fail') + num('cancelled') };
}

function runStreaming(cmd, args, env) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const take = (stream, sink) =>
      stream.on('data', (chunk) => {
        out += chunk;
        sink.write(chunk);
      });
    take(child.stdout, process.stdout);
    take(child.stderr, process.stderr);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), out }));
  });
}

function ensureNodeModules() {
  const marker = path.join(repoRoot, 'node_modules', '.package-lock.json');
  const lock = path.join(repoRoot, 'package-lock.json');
  if (!fs.existsSync(marker) || fs.statSync(lock).mtimeMs > fs.statSync(marker).mtimeMs) {
    process.stdout.write('== npm ci\n');
    const res = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: repoRoot, stdio: 'inherit' });
    if (res.status !== 0) throw new Error('npm ci failed');
  }
}

async function main() {
  const args = process.argv.slice(2);
  const onlyIdx = args.indexOf('--only');
  const only = onlyIdx >= 0 ? args[onlyIdx + 1].split(',') : undefined;
  if (args.includes('--list')) {
    for (const s of suites) process.stdout.write(`${s.name}\n`);
    return 0;
  }
  const selected = suites.filter((s) => !only || only.includes(s.name));
  if (selected.length === 0) throw new Error(`no suite named ${only?.join(',')}; try --list`);

  ensureNodeModules();
  ensurePrereqs({ browser: selected.some((s) => s.browser), codeServer: selected.some((s) => s.codeServer) });
  // PGBG_SKIP_C_BUILD=1 runs against the server extension already installed (while extension-c is
  // being edited by someone else, for example).
  if (process.env.PGBG_SKIP_C_BUILD !== '1') {
    process.stdout.write('== build extension-c\n');
    buildExtension();
    installExtension();
  }
  if (fs.existsSync(path.join(repoRoot, 'src', 'extension.ts'))) {
    process.stdout.write('== build bundles\n');
    const res = spawnSync('node', ['esbuild.mjs'], { cwd: repoRoot, stdio: 'inherit' });
    if (res.status !== 0) throw new Error('esbuild failed');
  }

  const { env, remove } = await startThrowawayCluster();

  const results = [];
  for (const suite of selected) {
    process.stdout.write(`\n== suite ${suite.name}\n`);
    const started = Date.now();
    if (suite.exists && !suite.exists()) {
      process.stdout.write(`suite ${suite.name} has no tests: counted as failed\n`);
      results.push({ name: suite.name, passed: 0, failed: 1, ms: 0 });
      continue;
    }
    let preFailed = 0;
    if (suite.pre) {
      const [cmd, argv] = suite.pre();
      const r = await runStreaming(cmd, argv, env);
      if (r.code !== 0) preFailed = 1;
      process.stdout.write(`${suite.name}: ${[cmd, ...argv].join(' ')} ${r.code === 0 ? 'ok' : 'FAILED'}\n`);
    }
    const [cmd, argv] = suite.command();
    const r = await runStreaming(cmd, argv, env);
    const counts = suite.parse(r.out);
    let failed = counts.failed + preFailed;
    const passed = counts.passed + (suite.pre && !preFailed ? 1 : 0);
    if (r.code !== 0 && failed === 0) failed = 1;
    if (counts.passed + counts.failed === 0) failed = Math.max(failed, 1);
    if (failed > 0 && suite.onFailure) suite.onFailure();
    results.push({ name: suite.name, passed, failed, ms: Date.now() - started });
  }

  remove();
  process.stdout.write('\n== summary\n');
  for (const r of results) {
    process.stdout.write(`${r.name.padEnd(10)} ${String(r.passed).padStart(5)} passed ${String(r.failed).padStart(4)} failed  ${(r.ms / 1000).toFixed(1)} s\n`);
  }
  const passed = results.reduce((a, r) => a + r.passed, 0);
  const failed = results.reduce((a, r) => a + r.failed, 0);
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`run-all: ${err.stack ?? err.message}\n`);
    process.stdout.write('0 passed, 1 failed\n');
    process.exit(1);
  },
);
