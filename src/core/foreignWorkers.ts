// pg_background workers of the same user that this window did not launch: another window,
// psql, or a session that ended while its worker went on. Read from pg_stat_activity, where
// each worker is backend_type 'pg_background' with application_name 'pg_background:<launcher pid>'.
// A worker in state 'idle' runs no job: it waits to be reused by its own session
// (pg_background.worker_idle_timeout), so it is nothing a user could cancel or wait for.

import type { ForeignWorker } from './engineTypes.js';
import type { SessionCalls } from './launcherSession.js';

interface ActivityRow {
  pid: number;
  usename: string;
  query: string | null;
  state: string | null;
  application_name: string | null;
  backend_start: Date | null;
  query_start: Date | null;
}

export async function listForeignWorkers(
  calls: SessionCalls,
  connectionName: string,
  launcherPid: number,
  ownWorkerPids: ReadonlySet<number>,
): Promise<ForeignWorker[]> {
  const res = await calls.query<ActivityRow>(
    `SELECT pid, usename::text AS usename, query, state, application_name, backend_start, query_start
       FROM pg_stat_activity
      WHERE backend_type = 'pg_background' AND usename = current_user AND state IS DISTINCT FROM 'idle'
      ORDER BY backend_start`,
  );
  const out: ForeignWorker[] = [];
  for (const r of res.rows) {
    const app = r.application_name ?? '';
    const m = /^pg_background:(\d+)$/.exec(app);
    const launcher = m ? Number(m[1]) : undefined;
    if (launcher === launcherPid || ownWorkerPids.has(r.pid)) continue;
    const w: ForeignWorker = {
      connectionName,
      pid: r.pid,
      usename: r.usename,
      query: r.query ?? '',
      state: r.state,
      applicationName: app,
    };
    if (launcher !== undefined) w.launcherPid = launcher;
    if (r.backend_start) w.backendStart = r.backend_start.getTime();
    if (r.query_start) w.queryStart = r.query_start.getTime();
    out.push(w);
  }
  return out;
}

/** pg_cancel_backend / pg_terminate_backend; false when the process was already gone. */
export async function signalWorker(calls: SessionCalls, pid: number, how: 'cancel' | 'terminate'): Promise<boolean> {
  // Only ever signal a pg_background backend: a recycled pid must not hit an unrelated session.
  const fn = how === 'cancel' ? 'pg_cancel_backend' : 'pg_terminate_backend';
  const res = await calls.query<{ ok: boolean | null }>(
    `SELECT ${fn}(pid) AS ok FROM pg_stat_activity WHERE pid = $1 AND backend_type = 'pg_background'`,
    [pid],
  );
  return res.rows[0]?.ok === true;
}
