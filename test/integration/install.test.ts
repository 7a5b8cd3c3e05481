// A database without pg_background: the engine says so (launch refuses with ExtensionMissingError)
// and installExtension() creates it and re-detects the capabilities.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ExtensionMissingError } from '../../src/core/errors.js';
import type { JobManager } from '../../src/core/jobManager.js';
import { clusterConfig, openScratchDatabase, type ScratchDatabase } from './support.js';

const DB = 'pgbg_itest_install';
let scratch: ScratchDatabase;
let jm: JobManager;

before(async () => {
  scratch = await openScratchDatabase(DB);
  jm = scratch.jm;
});

after(async () => {
  await scratch?.close();
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
