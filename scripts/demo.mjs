#!/usr/bin/env node
// `npm run demo`: one command from a fresh clone to the product in front of you.
// Run with --help for what it does; `npm run db:stop` (= --stop) stops the demo cluster.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  bindir,
  buildExtension,
  createCluster,
  ensurePrereqs,
  freePort,
  installExtension as installServerExtension,
  psql,
  repoRoot,
  stopCluster,
} from '../test/harness/cluster.mjs';
import { buildVsix } from './package.mjs';

const help = `npm run demo [-- options]      (node scripts/demo.mjs)

Brings up everything PG Background needs and opens it:
  1. npm dependencies (npm ci) and Debian prerequisites when missing (PostgreSQL 15 server
     headers, compiler; for code-server also its build dependencies),
  2. builds the pg_background server extension (extension-c/) and installs it into the
     PostgreSQL 15 tree,
  3. starts a local cluster kept in .pgdata/ (port 54329 by default, loopback only, trust
     auth) with a database "demo", pg_background created and demo tables,
  4. builds pg-background.vsix,
  5. opens the product with a demo workspace (a long report, a VACUUM, a multi-statement
     script, a job reporting progress, one that fails, one returning a million rows) and a
     ready connection profile "demo (local)":
       - a desktop VS Code ("code" on PATH) gets the extension in a development host;
       - otherwise code-server (VS Code in the browser) is installed once into
         ~/.cache/pg-background, started with the extension installed, and its URL printed.

Ctrl-C stops code-server. The cluster keeps running (and keeps its data) until
"npm run db:stop".

Options:
  --port N            PostgreSQL port (default 54329)
  --ui-port N         code-server port (default 8329, or a free one if taken)
  --code-server       use code-server even if a desktop "code" is on PATH
  --no-open           prepare cluster, package and workspace, then exit without opening
  --stop              stop the demo cluster (what "npm run db:stop" runs)
  --help              this text

Files: cluster in .pgdata/, workspace in .tmp/demo-workspace/, code-server state in
.tmp/demo-code-server/ (all git-ignored).
`;

const pgdata = path.join(repoRoot, '.pgdata');
const workspace = path.join(repoRoot, '.tmp', 'demo-workspace');
const csState = path.join(repoRoot, '.tmp', 'demo-code-server');
const profileName = 'demo (local)';
const database = 'demo';

function say(msg) {
  process.stdout.write(`${msg}\n`);
}

function step(msg) {
  process.stdout.write(`\n== ${msg}\n`);
}

function parseArgs(argv) {
  const opts = { port: 54329, uiPort: 8329, codeServer: false, open: true, stop: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v <= 0 || v > 65535) throw new Error(`${a} needs a port number`);
      return v;
    };
    if (a === '--help' || a === '-h') opts.help = true;
    else if (a === '--stop') opts.stop = true;
    else if (a === '--port') opts.port = value();
    else if (a === '--ui-port') opts.uiPort = value();
    else if (a === '--code-server') opts.codeServer = true;
    else if (a === '--no-open') opts.open = false;
    else throw new Error(`unknown option ${a} (try --help)`);
  }
  return opts;
}

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function portIsFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function ensureNodeModules() {
  const marker = path.join(repoRoot, 'node_modules', '.package-lock.json');
  const lock = path.join(repoRoot, 'package-lock.json');
  if (!fs.existsSync(marker) || fs.statSync(lock).mtimeMs > fs.statSync(marker).mtimeMs) {
    step('npm ci');
    const res = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: repoRoot, stdio: 'inherit' });
    if (res.status !== 0) throw new Error('npm ci failed');
  }
}

/** Demo data: customers and orders, created once (the cluster persists in .pgdata/). */
function seedDemoData(cluster) {
  const exists = psql(cluster, `SELECT 1 FROM pg_database WHERE datname = '${database}'`).trim();
  if (!exists) psql(cluster, `CREATE DATABASE ${database}`);
  psql(cluster, 'CREATE EXTENSION IF NOT EXISTS pg_background', { db: database });
  const seeded = psql(cluster, "SELECT to_regclass('public.demo_orders') IS NOT NULL", { db: database }).trim();
  if (seeded === 't') return false;
  psql(
    cluster,
    `BEGIN;
     CREATE TABLE demo_customers (
       id          int PRIMARY KEY,
       name        text NOT NULL,
       region      text NOT NULL,
       signup_date date NOT NULL
     );
     INSERT INTO demo_customers
     SELECT g, 'customer ' || g,
            (ARRAY['north', 'south', 'east', 'west', 'central'])[1 + g % 5],
            date '2020-01-01' + (g * 7919) % 2000
     FROM generate_series(1, 10000) g;
     CREATE TABLE demo_orders (
       id          bigint PRIMARY KEY,
       customer_id int NOT NULL REFERENCES demo_customers,
       ordered_at  timestamptz NOT NULL,
       amount      numeric(10, 2) NOT NULL
     );
     INSERT INTO demo_orders
     SELECT g, 1 + (g::bigint * 104729) % 10000,
            timestamptz '2024-01-01' + (g % 525600) * interval '1 minute',
            round((10 + (g * 7) % 990 + (g % 100) / 100.0)::numeric, 2)
     FROM generate_series(1, 200000) g;
     CREATE INDEX ON demo_orders (customer_id);
     COMMIT;
     ANALYZE;`,
    { db: database },
  );
  return true;
}

/** Copies the demo workspace (keeping the user's edits) and writes its connection profile. */
function prepareWorkspace(port) {
  const src = path.join(repoRoot, 'scripts', 'demo-workspace');
  fs.mkdirSync(workspace, { recursive: true });
  for (const name of fs.readdirSync(src)) {
    const to = path.join(workspace, name);
    if (!fs.existsSync(to)) fs.cpSync(path.join(src, name), to, { recursive: true });
  }
  const vscodeDir = path.join(workspace, '.vscode');
  fs.mkdirSync(vscodeDir, { recursive: true });
  const settings = {
    'pgBackground.connections': [{ name: profileName, host: '127.0.0.1', port, database, user: 'postgres', sslmode: 'disable' }],
    'pgBackground.activeConnection': profileName,
  };
  fs.writeFileSync(path.join(vscodeDir, 'settings.json'), `${JSON.stringify(settings, null, 2)}\n`);
}

function printConnection(port) {
  say(`  psql:        ${path.join(bindir, 'psql')} -h 127.0.0.1 -p ${port} -U postgres ${database}`);
  say(`  stop the DB: npm run db:stop`);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.help) {
    process.stdout.write(help);
    return;
  }
  if (opts.stop) {
    if (!fs.existsSync(path.join(pgdata, 'PG_VERSION'))) {
      say('no demo cluster in .pgdata/; nothing to stop');
      return;
    }
    stopCluster(pgdata);
    say('demo cluster stopped (its data stays in .pgdata/; delete that directory to start over)');
    return;
  }

  const desktop = !opts.codeServer && have('code');
  ensureNodeModules();
  step('prerequisites');
  ensurePrereqs({ codeServer: !desktop });

  step('build and install the pg_background server extension');
  buildExtension();
  installServerExtension();

  step(`demo cluster in .pgdata/ on port ${opts.port}`);
  if (fs.existsSync(path.join(pgdata, 'PG_VERSION'))) {
    const conf = fs.readFileSync(path.join(pgdata, 'postgresql.auto.conf'), 'utf8');
    const m = /^port\s*=\s*'?(\d+)/m.exec(conf);
    if (m && Number(m[1]) !== opts.port) {
      say(`(the existing cluster in .pgdata/ uses port ${m[1]}; keeping it)`);
      opts.port = Number(m[1]);
    }
  }
  const cluster = createCluster({ dir: pgdata, port: opts.port });
  // The server library may have been rebuilt since the cluster started; new sessions pick
  // up the new .so, and ALTER EXTENSION UPDATE brings the SQL objects along.
  if (seedDemoData(cluster)) say('created database "demo" with demo_customers (10,000) and demo_orders (200,000)');
  else psql(cluster, 'ALTER EXTENSION pg_background UPDATE', { db: database, allowFail: true });

  step('package the extension');
  const { out: vsix } = buildVsix();
  prepareWorkspace(cluster.port);

  if (!opts.open) {
    say('\nready (not opening, --no-open):');
    say(`  workspace:   ${workspace}`);
    say(`  package:     ${vsix}`);
    printConnection(cluster.port);
    return;
  }

  if (desktop) {
    step('open VS Code with the extension in a development host');
    const child = spawn('code', ['--extensionDevelopmentPath', repoRoot, '--new-window', workspace], { stdio: 'inherit' });
    await new Promise((resolve) => child.on('exit', resolve));
    say('\nVS Code is open on the demo workspace ("PG Background" in the activity bar).');
    printConnection(cluster.port);
    return;
  }

  step('code-server (VS Code in the browser)');
  const cs = await import('../test/harness/codeserver.mjs');
  cs.ensureCodeServer();
  const userDataDir = path.join(csState, 'user-data');
  const extensionsDir = path.join(csState, 'extensions');
  cs.installExtension(vsix, { extensionsDir, userDataDir });
  let uiPort = opts.uiPort;
  if (!(await portIsFree(uiPort))) {
    const other = await freePort();
    say(`port ${uiPort} is taken; using ${other}`);
    uiPort = other;
  }
  const server = await cs.startCodeServer({
    port: uiPort,
    userDataDir,
    extensionsDir,
    folder: workspace,
    settings: { 'workbench.colorTheme': 'Default Dark Modern' },
    logFile: path.join(csState, 'code-server.log'),
  });
  say('\nPG Background is ready. Open this in a browser:');
  say(`\n  ${server.workspaceUrl}\n`);
  say(`  workspace:   ${workspace}`);
  printConnection(cluster.port);
  say(`  log:         ${server.logFile}`);
  say('\nCtrl-C stops code-server; the cluster keeps running until "npm run db:stop".');

  await new Promise((resolve) => {
    let stopping = false;
    const onSignal = () => {
      if (stopping) return;
      stopping = true;
      say('\nstopping code-server…');
      server.stop().then(resolve, resolve);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    server.child.on('exit', () => {
      if (!stopping) {
        say(`code-server exited; see ${server.logFile}`);
        resolve(undefined);
      }
    });
  });
  const up = psql(cluster, 'SELECT 1', { allowFail: true }).trim() === '1';
  say(
    up
      ? `code-server stopped. The cluster is still running on port ${cluster.port} ("npm run db:stop" stops it).`
      : 'code-server stopped. (The demo cluster is not running any more; "npm run demo" starts it again.)',
  );
}

main().catch((err) => {
  process.stderr.write(`demo: ${err.message}\n`);
  process.exit(1);
});
