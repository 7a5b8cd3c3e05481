// A database without pg_background: the engine says so (launch refuses with ExtensionMissingError)
// and installExtension() creates it and re-detects the capabilities.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { after, before, describe, it } from 'node:test';
import { JobManager } from '../../src/core/jobManager.js';
import { ExtensionMissingError } from '../../src/core/errors.js';
import { clusterConfig } from './support.js';

const DB = 'pgbg_itest_install';
let admin: pg.Client;
let jm: JobManager;
let storageDir: string;

before(async () => {
  admin = new pg.Client(clusterConfig());
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${DB}`);
  storageDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgbg-install-'));
  jm = new JobManager({ storageDir });
});

after(async () => {
  await jm?.dispose();
  await admin?.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  await admin?.end();
  if (storageDir) fs.rmSync(storageDir, { recursive: true, force: true });
});

describe('pg_background missing', { timeout: 600_000 }, () => {
  it('is reported, refused with a clear error, and can be installed (in a chosen schema)', async () => {
    const caps = await jm.openConnection('fresh', { ...clusterConfig(), database: DB });
    assert.equal(caps.installed, false);
    assert.equal(caps.canCreateExtension, true);
    await assert.rejects(jm.launch('fresh', 'SELECT 1'), (err: Error) => err instanceof ExtensionMissingError && /CREATE EXTENSION/.test(err.message));
    const after = await jm.installExtension('fresh', 'Bg Schema');
    assert.equal(after.installed, true);
    assert.equal(after.schema, 'Bg Schema');
    assert.equal(after.hasFetchV2, true);
    // Function names are schema-qualified, so a relocated extension works without search_path.
    const job = await jm.launch('fresh', 'SELECT 41 + 1 AS answer');
    await jm.wait(job.id);
    assert.equal(jm.job(job.id)!.state, 'completed', JSON.stringify(jm.job(job.id)!.error));
    assert.deepEqual(await jm.store(job.id)!.getRows(1, 0, 1), [['42']]);
  });
});
