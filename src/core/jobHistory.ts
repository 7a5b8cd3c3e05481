// Jobs across window reloads: what is saved (every job, without its results) and how a saved
// record comes back. A job that was still running when the window closed comes back `lost`:
// its results are gone with the old extension host, though its worker may still run.

import type { JobInfo } from './model.js';
import type { HistoryRecord } from './engineTypes.js';
import { isFinal } from './jobStateMachine.js';
import { LauncherSession } from './launcherSession.js';
import { endedRecord, type Connection, type JobRecord } from './jobRecord.js';

/** Serializable records of the jobs, for workspace state. */
export function toHistory(records: Iterable<JobRecord>): HistoryRecord[] {
  return [...records].map((j) => ({ ...j.info, hasResult: false }));
}

/** True when a stored value can be restored at all (workspace state is not trusted). */
export function isRestorable(r: unknown): r is HistoryRecord {
  return typeof r === 'object' && r !== null && typeof (r as { id?: unknown }).id === 'string';
}

/**
 * The record of a saved job. `conn` is its connection when registered; otherwise the record gets
 * a placeholder, so the job list stays grouped by connection (rerun needs the connection to be
 * registered again). The placeholder's session is never connected: restored jobs are final.
 */
export function restoredRecord(r: HistoryRecord, conn: Connection | undefined): JobRecord {
  const info: JobInfo = { ...r, hasResult: false };
  if (!isFinal(info.state)) {
    info.state = 'lost';
    info.note = `The window closed while this job was ${r.state}; its worker may still be running server-side (see other sessions' workers).`;
    info.endedAt ??= Date.now();
  }
  const owner = conn ?? { name: info.connectionName, session: new LauncherSession(info.connectionName, {}, () => undefined), jobs: new Set(), pumping: false, sliceMs: 0 };
  return endedRecord(info, owner);
}
