// Jobs across window reloads: what is saved (every job, without its results) and how a saved
// record comes back.
//   - A durable job (server with attach_v2) saves how to re-attach it: its last committed seq,
//     its store's files, whether the final acknowledgement is still owed. If it was running, it
//     comes back `running` with `reconnecting: true` and its store reopened; the engine's
//     reattachAll() then attaches it again and it goes on where it stopped. If it had ended, its
//     store reopens read-only, so its grid works after a reload.
//   - Any other job that was still running comes back `lost`: its results are gone with the old
//     extension host, though its worker may still run.

import type { JobInfo } from './model.js';
import type { HistoryRecord, ReattachState } from './engineTypes.js';
import { isFinal } from './jobStateMachine.js';
import { LauncherSession } from './launcherSession.js';
import { endedRecord, type Connection, type JobRecord } from './jobRecord.js';
import type { SpooledResultStore } from './resultStore.js';

/** Serializable records of the jobs, for workspace state. */
export function toHistory(records: Iterable<JobRecord>): HistoryRecord[] {
  return [...records].map((j) => {
    const info: JobInfo = { ...j.info, hasResult: false };
    delete info.reconnecting;
    const r: HistoryRecord = info;
    if (j.durable && j.handle) {
      const reattach: ReattachState = { lastSeq: j.store?.lastSeq ?? j.finalAckSeq ?? 0 };
      if (j.store?.journaled) reattach.storeId = j.store.storeId;
      if (j.finalAckPending) reattach.finalAckPending = true;
      r.reattach = reattach;
    }
    return r;
  });
}

/** True when a stored value can be restored at all (workspace state is not trusted). */
export function isRestorable(r: unknown): r is HistoryRecord {
  return typeof r === 'object' && r !== null && typeof (r as { id?: unknown }).id === 'string';
}

/** The reattach part of a record, when it is usable (workspace state is not trusted). */
function reattachOf(r: HistoryRecord): ReattachState | undefined {
  const a = r.reattach;
  if (!r.durable || typeof a !== 'object' || a === null) return undefined;
  if (!Number.isSafeInteger(r.pid) || typeof r.cookie !== 'string' || !/^-?\d+$/.test(r.cookie)) return undefined;
  if (!Number.isSafeInteger(a.lastSeq) || a.lastSeq < 0) return undefined;
  return { lastSeq: a.lastSeq, storeId: typeof a.storeId === 'string' ? a.storeId : undefined, finalAckPending: a.finalAckPending === true };
}

/** A connection placeholder for a record whose connection is not registered (yet). */
function placeholder(name: string): Connection {
  return { name, session: new LauncherSession(name, {}, () => undefined), jobs: new Set(), pumping: false, sliceMs: 0 };
}

const NOT_DURABLE = /^Not durable: .*$/;

/**
 * The record of a saved job. `conn` is its connection when registered; otherwise the record gets
 * a placeholder, so the job list stays grouped by connection (reattachAll and rerun bind it to
 * the connection once registered). `openStore` reopens a durable job's store (undefined when
 * its files are gone or do not agree).
 */
export function restoredRecord(
  r: HistoryRecord,
  conn: Connection | undefined,
  openStore: (jobId: string, storeId: string) => SpooledResultStore | undefined,
): JobRecord {
  const info: JobInfo = { ...r, hasResult: false };
  delete (info as HistoryRecord).reattach;
  delete info.reconnecting;
  const owner = conn ?? placeholder(info.connectionName);
  const reattach = reattachOf(r);
  if (reattach && info.mode === 'launch') {
    const store = reattach.storeId ? openStore(info.id, reattach.storeId) : undefined;
    if (isFinal(info.state)) {
      const job = endedRecord(info, owner);
      job.durable = true;
      job.handle = { pid: info.pid!, cookie: info.cookie! };
      if (store) {
        store.markComplete();
        job.store = store;
        info.hasResult = true;
      }
      if (reattach.finalAckPending) {
        job.finalAckPending = true;
        job.finalAckSeq = store?.lastSeq ?? reattach.lastSeq;
      }
      return job;
    }
    let resolveEnded!: () => void;
    const ended = new Promise<void>((resolve) => (resolveEnded = resolve));
    info.state = 'running';
    info.reconnecting = true;
    info.hasResult = true;
    const job: JobRecord = { info, conn: owner, ended, resolveEnded, idleSlices: 0, nextPollAt: 0, failures: 0, durable: true };
    job.handle = { pid: info.pid!, cookie: info.cookie! };
    if (store) {
      job.store = store;
      info.rowsReceived = store.rowCount;
    } else {
      // The files are gone: start again from what the server still holds, and say so.
      job.attachFromAcked = true;
      info.rowsReceived = 0;
      info.note = 'Its stored results were not found after the reload; it re-attaches from the first message the server still holds.';
    }
    return job;
  }
  if (!isFinal(info.state)) {
    const why = info.note && NOT_DURABLE.test(info.note) ? ` ${info.note}` : '';
    info.state = 'lost';
    info.note = `The window closed while this job was ${r.state}; its worker may still be running server-side (see other sessions' workers).${why}`;
    info.endedAt ??= Date.now();
  }
  return endedRecord(info, owner);
}
