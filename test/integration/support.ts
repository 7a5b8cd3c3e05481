// Shared setup for the integration tests: a JobManager on the cluster given by the PG*
// environment (run-all.mjs creates it), a second plain `pg` client playing "another session",
// and helpers that wait for conditions through events rather than timers.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { ClientConfig } from 'pg';
import { JobManager } from '../../src/core/jobManager.js';
import type { JobInfo } from '../../src/core/model.js';

export const CONN = 'itest';

export function clusterConfig(): ClientConfig {
  return {
    host: process.env.PGHOST ?? '127.0.0.1',
    port: Number(process.env.PGPORT ?? 5432),
    user: process.env.PGUSER ?? 'postgres',
    database: process.env.PGDATABASE ?? 'postgres',
    password: process.env.PGPASSWORD,
  };
}

export interface Harness {
  jm: JobManager;
  other: pg.Client;
  storageDir: string;
  logs: string[];
  close(): Promise<void>;
}

export async function openHarness(settings: Partial<import('../../src/core/jobManager.js').EngineSettings> = {}): Promise<Harness> {
  const storageDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgbg-itest-'));
  const logs: string[] = [];
  const jm = new JobManager({
    storageDir,
    settings: () => ({ queueSize: 0, fetchBatchSize: 5000, pollIntervalMs: 100, memoryRowBudget: 20000, defaultGraceMs: 1000, ...settings }),
    log: (level, msg) => logs.push(`${level} ${msg}`),
  });
  await jm.openConnection(CONN, clusterConfig());
  const other = new pg.Client(clusterConfig());
  await other.connect();
  return {
    jm,
    other,
    storageDir,
    logs,
    async close() {
      await jm.dispose();
      await other.end();
      fs.rmSync(storageDir, { recursive: true, force: true });
    },
  };
}

/** Resolves with the job once `predicate` holds (checked now and on every change of that job). */
export function until(jm: JobManager, id: string, predicate: (j: JobInfo) => boolean): Promise<JobInfo> {
  return new Promise((resolve) => {
    const now = jm.job(id);
    if (now && predicate(now)) return resolve(now);
    const sub = jm.onDidChangeJob((j) => {
      if (j.id === id && predicate(j)) {
        sub.dispose();
        resolve(j);
      }
    });
  });
}

/** Polls a query on the other session until it returns a row matching `ok` (server-side state has no events). */
export async function untilQuery<R extends pg.QueryResultRow>(client: pg.Client, text: string, values: unknown[], ok: (rows: R[]) => boolean): Promise<R[]> {
  for (;;) {
    const res = await client.query<R>(text, values);
    if (ok(res.rows)) return res.rows;
    await new Promise((r) => setTimeout(r, 50));
  }
}
