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

/**
 * A database of its own (dropped first if a crashed run left it) and a JobManager with its
 * own storage, for tests that must not touch the shared database's extension.
 * `prepare` runs in the new database before the engine sees it.
 */
export interface ScratchDatabase {
  name: string;
  jm: JobManager;
  /** A plain client on the cluster's own database, playing "another session". */
  admin: pg.Client;
  close(): Promise<void>;
}

export async function openScratchDatabase(
  name: string,
  settings: Partial<import('../../src/core/jobManager.js').EngineSettings> = {},
  prepare?: (db: pg.Client) => Promise<void>,
): Promise<ScratchDatabase> {
  const admin = new pg.Client(clusterConfig());
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  if (prepare) {
    const db = new pg.Client({ ...clusterConfig(), database: name });
    await db.connect();
    try {
      await prepare(db);
    } finally {
      await db.end();
    }
  }
  const storageDir = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
  const jm = new JobManager({
    storageDir,
    settings: () => ({ queueSize: 0, fetchBatchSize: 5000, pollIntervalMs: 100, memoryRowBudget: 20000, defaultGraceMs: 1000, ...settings }),
  });
  return {
    name,
    jm,
    admin,
    async close() {
      await jm.dispose();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
      fs.rmSync(storageDir, { recursive: true, force: true });
    },
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
