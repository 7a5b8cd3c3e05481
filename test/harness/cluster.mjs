#!/usr/bin/env node
// Throwaway (or, for the demo, persistent) PostgreSQL 15 clusters for tests and the demo.
// Never touches the system cluster: every cluster lives in its own directory, listens on
// loopback and its own port, and keeps its socket inside its data directory.
//
// As root, initdb and postgres refuse to run, so they run as the `postgres` OS user via
// runuser; as an ordinary user they run directly.
//
// Library use:   import { ensurePrereqs, buildExtension, installExtension, createCluster } from './cluster.mjs'
// Command line:  node test/harness/cluster.mjs start --dir DIR --port PORT [--no-install]
//                node test/harness/cluster.mjs stop --dir DIR [--destroy]
//                node test/harness/cluster.mjs status --dir DIR

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const extensionDir = path.join(repoRoot, 'extension-c');
export const pgVersion = 15;
// PGBG_PG_BINDIR: another PostgreSQL 15 bin directory (a private relocatable copy), so that a
// developer can build and test the server extension without replacing the shared install.
export const bindir = process.env.PGBG_PG_BINDIR || `/usr/lib/postgresql/${pgVersion}/bin`;
export const pgConfig = path.join(bindir, 'pg_config');

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function log(msg) {
  process.stderr.write(`[cluster] ${msg}\n`);
}

/** Runs a command, inheriting stdio unless `capture`; throws with its output on failure. */
export function run(cmd, args, { capture = false, env, cwd, asPostgres = false, allowFail = false } = {}) {
  let file = cmd;
  let argv = args;
  if (asPostgres && isRoot) {
    file = 'runuser';
    argv = ['-u', 'postgres', '--', cmd, ...args];
  }
  const res = spawnSync(file, argv, {
    cwd,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: capture ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (res.error) throw res.error;
  if (res.status !== 0 && !allowFail) {
    const out = capture ? `\n${res.stdout}\n${res.stderr}` : '';
    throw new Error(`${file} ${argv.join(' ')} exited with ${res.status}${out}`);
  }
  return res;
}

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function aptInstall(packages) {
  if (packages.length === 0) return;
  const sudo = isRoot ? [] : ['sudo', '-n'];
  if (!isRoot && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status !== 0) {
    throw new Error(
      `missing Debian packages: ${packages.join(' ')}.\n` +
        `Install them with: sudo apt-get install -y ${packages.join(' ')}`,
    );
  }
  log(`installing ${packages.join(' ')} (apt-get)`);
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  const exec = (args) => run(sudo[0] ?? args[0], sudo.length ? [...sudo.slice(1), ...args] : args.slice(1), { env });
  exec(['apt-get', 'update', '-qq']);
  exec(['apt-get', 'install', '-y', '-qq', ...packages]);
}

function dpkgInstalled(pkg) {
  const res = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return res.status === 0 && res.stdout.includes('install ok installed');
}

/**
 * Installs what the tests need from Debian when it is missing: the PostgreSQL server headers
 * and PGXS (to build the extension and run pg_regress), IPC::Run for TAP tests, and optionally
 * Chromium and the build dependencies of code-server.
 */
export function ensurePrereqs({ browser = false, codeServer = false } = {}) {
  // libkrb5-dev: the server headers include <gssapi/gssapi.h> (Debian builds PostgreSQL with GSSAPI)
  // but postgresql-server-dev-15 does not depend on it; code-server needs it too.
  const wanted = ['postgresql-15', `postgresql-server-dev-${pgVersion}`, 'postgresql-contrib', 'libipc-run-perl', 'libkrb5-dev', 'make', 'gcc', 'cppcheck'];
  if (browser) wanted.push('chromium');
  if (codeServer) wanted.push('libxkbfile-dev', 'libsecret-1-dev', 'libx11-dev', 'pkg-config');
  const missing = wanted.filter((p) => !dpkgInstalled(p));
  aptInstall(missing);
}

/** Builds extension-c with PGXS. */
export function buildExtension() {
  run('make', ['-s', '-C', extensionDir, `PG_CONFIG=${pgConfig}`]);
}

/** Installs the built extension into the PostgreSQL 15 tree (root, or password-less sudo). */
export function installExtension() {
  const args = ['-s', '-C', extensionDir, `PG_CONFIG=${pgConfig}`, 'install'];
  if (isRoot) run('make', args);
  else if (spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0) run('sudo', ['-n', 'make', ...args]);
  else {
    const pkglib = run(pgConfig, ['--pkglibdir'], { capture: true }).stdout.trim();
    try {
      fs.accessSync(pkglib, fs.constants.W_OK);
      run('make', args);
    } catch {
      throw new Error(
        `cannot write to ${pkglib}. Install the server extension once with:\n` +
          `  sudo make -C ${extensionDir} PG_CONFIG=${pgConfig} install`,
      );
    }
  }
}

/** A TCP port nobody is listening on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function ownForPostgres(dir) {
  if (!isRoot) return;
  run('chown', ['-R', 'postgres:postgres', dir]);
}

/** Environment variables that point libpq, psql, pg_regress and our suites at a cluster. */
export function clusterEnv(cluster) {
  return {
    PGHOST: '127.0.0.1',
    PGPORT: String(cluster.port),
    PGUSER: 'postgres',
    PGDATABASE: 'postgres',
    PGBG_CLUSTER_DIR: cluster.dir,
    PGBG_BINDIR: bindir,
  };
}

function isRunning(dir) {
  if (!fs.existsSync(path.join(dir, 'PG_VERSION'))) return false;
  const res = run(path.join(bindir, 'pg_ctl'), ['-D', dir, 'status'], { capture: true, asPostgres: true, allowFail: true });
  return res.status === 0;
}

function readPort(dir) {
  const conf = fs.readFileSync(path.join(dir, 'postgresql.auto.conf'), 'utf8');
  const m = /^port\s*=\s*'?(\d+)/m.exec(conf);
  return m ? Number(m[1]) : undefined;
}

/**
 * Creates (if needed) and starts a cluster in `dir` on `port`. An existing cluster in `dir`
 * is reused, which is what the demo wants; tests pass a fresh directory.
 */
export function createCluster({ dir, port, settings = {} }) {
  dir = path.resolve(dir);
  if (!fs.existsSync(path.join(dir, 'PG_VERSION'))) {
    fs.mkdirSync(dir, { recursive: true });
    ownForPostgres(dir);
    log(`initdb ${dir}`);
    run(path.join(bindir, 'initdb'), ['-D', dir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync'], {
      capture: true,
      asPostgres: true,
    });
    const conf = {
      port: String(port),
      listen_addresses: "'127.0.0.1'",
      unix_socket_directories: `'${dir}'`,
      max_worker_processes: '64',
      max_connections: '100',
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      shared_buffers: "'128MB'",
      log_min_messages: 'warning',
      'lc_messages': "'C'",
      ...settings,
    };
    const text = Object.entries(conf)
      .map(([k, v]) => `${k} = ${v}`)
      .join('\n');
    fs.writeFileSync(path.join(dir, 'postgresql.auto.conf'), `# written by test/harness/cluster.mjs\n${text}\n`);
    ownForPostgres(dir);
  }
  const cluster = { dir, port: readPort(dir) ?? port, bindir };
  if (!isRunning(dir)) {
    log(`starting on 127.0.0.1:${cluster.port}`);
    run(path.join(bindir, 'pg_ctl'), ['-D', dir, '-l', path.join(dir, 'server.log'), '-w', '-t', '60', 'start'], {
      capture: true,
      asPostgres: true,
    });
  }
  return cluster;
}

/** Runs SQL with psql against the cluster; returns stdout (unaligned, tuples only). */
export function psql(cluster, sql, { db = 'postgres', allowFail = false } = {}) {
  const res = run(path.join(bindir, 'psql'), ['-X', '-v', 'ON_ERROR_STOP=1', '-At', '-d', db, '-c', sql], {
    capture: true,
    env: clusterEnv(cluster),
    allowFail,
  });
  return res.stdout;
}

export function stopCluster(dir) {
  dir = path.resolve(dir);
  if (isRunning(dir)) {
    log(`stopping ${dir}`);
    run(path.join(bindir, 'pg_ctl'), ['-D', dir, '-m', 'fast', '-w', 'stop'], { capture: true, asPostgres: true, allowFail: true });
  }
}

export function destroyCluster(dir) {
  stopCluster(dir);
  fs.rmSync(path.resolve(dir), { recursive: true, force: true });
}

/** A fresh temporary directory for a throwaway cluster. */
export function tempClusterDir(prefix = 'pgbg-test-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  ownForPostgres(dir);
  return dir;
}

/**
 * A cluster in a fresh temporary directory on a free port, with the given extensions
 * created, that removes itself when `remove()` is called or the process exits, including
 * on Ctrl-C or SIGTERM (which end the process with 130).
 */
export async function startThrowawayCluster({ prefix = 'pgbg-test-', extensions = ['pg_background'] } = {}) {
  const dir = tempClusterDir(prefix);
  let removed = false;
  const remove = () => {
    if (removed) return;
    removed = true;
    try {
      destroyCluster(dir);
    } catch (err) {
      process.stderr.write(`could not remove the cluster in ${dir}: ${err.message}\n`);
    }
  };
  process.on('exit', remove);
  for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(130));
  const cluster = createCluster({ dir, port: await freePort() });
  for (const ext of extensions) psql(cluster, `CREATE EXTENSION IF NOT EXISTS ${ext}`);
  return { cluster, env: clusterEnv(cluster), remove };
}

async function main(argv) {
  const [cmd, ...rest] = argv;
  const opt = (name) => {
    const i = rest.indexOf(`--${name}`);
    return i >= 0 ? rest[i + 1] : undefined;
  };
  const flag = (name) => rest.includes(`--${name}`);
  const usage =
    'usage: cluster.mjs start --dir DIR [--port PORT] [--no-install] | stop --dir DIR [--destroy] | status --dir DIR';
  if (cmd === 'start') {
    const dir = opt('dir');
    if (!dir) throw new Error(usage);
    ensurePrereqs();
    if (!flag('no-install')) {
      buildExtension();
      installExtension();
    }
    const cluster = createCluster({ dir, port: Number(opt('port') ?? (await freePort())) });
    psql(cluster, 'CREATE EXTENSION IF NOT EXISTS pg_background');
    for (const [k, v] of Object.entries(clusterEnv(cluster))) process.stdout.write(`export ${k}=${v}\n`);
  } else if (cmd === 'stop') {
    const dir = opt('dir');
    if (!dir) throw new Error(usage);
    if (flag('destroy')) destroyCluster(dir);
    else stopCluster(dir);
  } else if (cmd === 'status') {
    const dir = opt('dir');
    if (!dir) throw new Error(usage);
    process.stdout.write(isRunning(path.resolve(dir)) ? `running on port ${readPort(path.resolve(dir))}\n` : 'stopped\n');
  } else {
    process.stdout.write(`${usage}\n`);
    process.exitCode = cmd ? 2 : 0;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  });
}
