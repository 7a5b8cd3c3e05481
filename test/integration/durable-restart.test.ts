// A durable job across a server restart (issue 11): an immediate shutdown kills the worker and
// every session; the engine reconnects with backoff (retrying while the server is down), attaches
// again once it is back, and the server reports the job as interrupted, which the engine shows
// as lost with that reason (not as "server unreachable", not as a silent success).
// Its own file: it restarts the cluster, which ends every other client of this process.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, it } from 'node:test';
import { JobManager, type ConnectionStateEvent } from '../../src/core/jobManager.js';
import { CONN, clusterConfig } from './support.js';

/** pg_ctl restart -m immediate of the test cluster (run-all.mjs passes its directory and binaries). */
function restartImmediately(): void {
  const dir = process.env.PGBG_CLUSTER_DIR;
  const bindir = process.env.PGBG_BINDIR ?? '/usr/lib/postgresql/15/bin';
  assert.ok(dir, 'PGBG_CLUSTER_DIR names the test cluster');
  const pgCtl = path.join(bindir, 'pg_ctl');
  const args = ['-D', dir, '-m', 'immediate', '-w', '-t', '120', '-l', path.join(dir, 'server.log'), 'restart'];
  const asRoot = process.getuid?.() === 0;
  const res = spawnSync(asRoot ? 'runuser' : pgCtl, asRoot ? ['-u', 'postgres', '--', pgCtl, ...args] : args, { encoding: 'utf8' });
  assert.equal(res.status, 0, `pg_ctl restart: ${res.stdout}${res.stderr}`);
}

describe('durable jobs across a server restart', { timeout: 600_000 }, () => {
  it('reconnects with backoff after an immediate restart, re-attaches, and the job is lost as interrupted', async () => {
    const storageDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgbg-restart-'));
    const logs: string[] = [];
    const jm = new JobManager({
      storageDir,
      settings: () => ({ queueSize: 0, fetchBatchSize: 5000, pollIntervalMs: 100, memoryRowBudget: 20000, defaultGraceMs: 1000, reconnectGiveUpSeconds: 300 }),
      log: (level, msg) => logs.push(`${level} ${msg}`),
    });
    const events: ConnectionStateEvent[] = [];
    jm.onDidChangeConnection((e) => events.push(e));
    try {
      const caps = await jm.openConnection(CONN, clusterConfig());
      assert.equal(caps.attach, true);
      const job = await jm.launch(CONN, 'SELECT pg_sleep(120) AS slept');
      assert.equal(job.durable, true);
      // The worker is running when the server dies.
      const probe = new pg.Client(clusterConfig());
      await probe.connect();
      for (;;) {
        const r = await probe.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1 AND wait_event = 'PgSleep'`, [job.pid]);
        if (r.rows[0].n === 1) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await probe.end();

      restartImmediately();
      assert.equal(await jm.wait(job.id), 'done');
      const j = jm.job(job.id)!;
      assert.equal(j.state, 'lost');
      assert.match(j.note ?? '', /interrupted by a server restart/);
      assert.ok(events.some((e) => e.state === 'reconnecting'), 'the connection said it was reconnecting');
      assert.ok(logs.some((l) => l.includes(`job ${job.id} re-attached`)), logs.join('\n'));
    } finally {
      await jm.dispose();
      fs.rmSync(storageDir, { recursive: true, force: true });
    }
  });
});
