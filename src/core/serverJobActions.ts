// The server-wide jobs of the caller's role (design §8.4): listing them, and Attach, Cancel, Wait
// and Discard on jobs launched elsewhere (psql, another window or machine). A job this engine
// already reads is handled as the local job it is. The SQL is in serverJobs.ts and reattach.ts.

import type { AttachOptions, ServerJob } from './engineTypes.js';
import type { EngineInternals } from './engineInternals.js';
import type { DurableJobs } from './durableJobs.js';
import { toServerError } from './errors.js';
import { isFinal } from './jobStateMachine.js';
import { describeError, type JobRecord } from './jobRecord.js';
import type { JobInfo } from './model.js';
import { attach } from './reattach.js';
import { cancelServerJob, listServerJobs, OBSERVER_WAIT_SLICE_MS, waitSlice } from './serverJobs.js';
import { startPump } from './drain.js';

export class ServerJobActions {
  constructor(
    private readonly e: EngineInternals,
    private readonly durable: DurableJobs,
  ) {}

  /** The server's jobs of this role (pg_background_jobs_v2); [] when the server has no registry. */
  async list(connectionName: string): Promise<ServerJob[]> {
    const conn = this.e.registry.require(connectionName);
    const caps = await this.e.registry.capabilities(connectionName);
    if (!caps.attach) return [];
    const jobs = await conn.session.run((c) => listServerJobs(c, connectionName));
    for (const j of jobs) {
      const local = this.findLocal(connectionName, j.pid, j.cookie);
      if (local) j.localJobId = local.info.id;
    }
    return jobs;
  }

  /**
   * Makes this engine the reader of a job launched elsewhere (psql, another window): a local
   * record and store, streaming from the first message the server still holds. A job attached to
   * another live session is refused with a PgServerError whose `sqlstate` is '55006' unless
   * `takeover` is set. A job this engine already reads is returned as it is.
   */
  async attach(connectionName: string, pid: number, cookie: string, options: AttachOptions = {}): Promise<JobInfo> {
    if (!Number.isSafeInteger(pid) || typeof cookie !== 'string' || !/^-?\d+$/.test(cookie)) throw new Error(`Not a job handle: ${pid}/${cookie}`);
    const conn = this.e.registry.require(connectionName);
    const caps = await this.e.registry.capabilities(connectionName);
    if (!caps.attach) throw new Error(`pg_background ${caps.version ?? ''} on "${connectionName}" cannot attach jobs (that needs 1.10).`);
    const local = this.findLocal(connectionName, pid, cookie);
    if (local && !isFinal(local.info.state)) {
      if (local.info.reconnecting) {
        await this.durable.reattachJob(local);
        startPump(this.e.drainContext, local.conn);
      }
      return { ...local.info };
    }
    let resolveEnded!: () => void;
    const ended = new Promise<void>((r) => (resolveEnded = r));
    const info: JobInfo = {
      id: this.e.newJobId(),
      connectionName,
      sql: '',
      mode: 'launch',
      state: 'running',
      pid,
      cookie,
      launchedAt: Date.now(),
      rowsReceived: 0,
      hasResult: true,
      durable: true,
    };
    const job: JobRecord = { info, conn, ended, resolveEnded, idleSlices: 0, nextPollAt: 0, failures: 0, durable: true, handle: { pid, cookie } };
    job.drain = this.e.fetchDrain;
    const store = this.e.newStore(info.id, true);
    let attached;
    try {
      attached = await conn.session.run(async (c) => ({ generation: c.generation, a: await attach(c, pid, cookie, undefined, options.takeover === true) }));
    } catch (err) {
      store.dispose();
      throw toServerError(err) ?? err;
    }
    const a = attached.a;
    info.sql = a.sqlPreview ?? `(pg_background job ${pid})`;
    if (a.launchedAt !== undefined) info.launchedAt = a.launchedAt;
    // What was acknowledged before is gone from the server: the store starts after it.
    store.commit(a.ackedSeq);
    if (a.ackedSeq > 0) info.note = `Attached after message ${a.ackedSeq}: the output before it had already been read by the session that launched the job (or another one).`;
    this.e.attachStore(job, store);
    job.generation = attached.generation;
    this.e.addRecord(job);
    this.e.drainContext.log('info', `[${connectionName}] attached job ${info.id}: worker ${pid}, from message ${a.ackedSeq + 1} (${a.state}, ${a.output})`);
    this.e.emitChange(job);
    startPump(this.e.drainContext, conn);
    return { ...info };
  }

  /** Cancels a job of the server (an observer call unless this engine reads it); graceMs as in cancel(). */
  async cancel(connectionName: string, pid: number, cookie: string, graceMs?: number): Promise<void> {
    const local = this.findLocal(connectionName, pid, cookie);
    if (local && !isFinal(local.info.state)) return this.e.cancel(local.info.id, graceMs);
    const conn = this.e.registry.require(connectionName);
    this.e.drainContext.log('info', `[${connectionName}] cancel server job ${pid}${graceMs !== undefined ? ` (grace ${graceMs} ms)` : ''}`);
    await conn.session.run((c) => cancelServerJob(c, pid, cookie, false));
    if (graceMs === undefined) return;
    // The grace period is waited here, not in the server call, so the session stays free.
    const timer = setTimeout(() => {
      if (this.e.drainContext.stopped()) return;
      void conn.session.run((c) => cancelServerJob(c, pid, cookie, true)).catch((err: unknown) => this.e.drainContext.log('info', `[${connectionName}] terminate after grace: ${describeError(err)}`));
    }, Math.max(0, graceMs));
    timer.unref();
  }

  /** Waits (in short slices on the session) until a server job ends; false when timeoutMs passed first. */
  async wait(connectionName: string, pid: number, cookie: string, timeoutMs?: number): Promise<boolean> {
    const local = this.findLocal(connectionName, pid, cookie);
    if (local && !isFinal(local.info.state)) return (await this.e.wait(local.info.id, { timeoutMs })) === 'done';
    const conn = this.e.registry.require(connectionName);
    const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + Math.max(0, timeoutMs);
    for (;;) {
      const slice = Math.min(OBSERVER_WAIT_SLICE_MS, Math.max(0, deadline - Date.now()));
      const started = Date.now();
      if (await conn.session.run((c) => waitSlice(c, pid, cookie, slice))) return true;
      if (Date.now() >= deadline || this.e.drainContext.stopped()) return false;
      // A job blocked on its unread output answers at once; do not spin on it.
      const spent = Date.now() - started;
      if (spent < slice) await new Promise((r) => setTimeout(r, slice - spent));
    }
  }

  /** Throws away a server job's output (attach, then detach_v2); it runs on if it still runs. */
  async discard(connectionName: string, pid: number, cookie: string): Promise<void> {
    const local = this.findLocal(connectionName, pid, cookie);
    if (local && !isFinal(local.info.state) && !local.info.reconnecting) return this.e.detach(local.info.id);
    const conn = this.e.registry.require(connectionName);
    try {
      await conn.session.run(async (c) => {
        await attach(c, pid, cookie, undefined, true);
        await c.query(`SELECT ${c.fn('pg_background_detach_v2')}($1, $2::int8)`, [pid, cookie]);
      });
    } catch (err) {
      throw toServerError(err) ?? err;
    }
    this.e.drainContext.log('info', `[${connectionName}] discarded server job ${pid}`);
    if (local && !isFinal(local.info.state)) {
      delete local.info.reconnecting;
      local.info.note = 'Discarded: its output on the server was thrown away.';
      this.e.drainContext.transition(local, { type: 'detached' });
    }
  }

  /** The local record of a server job: the running one if any, else the latest. */
  findLocal(connectionName: string, pid: number, cookie: string): JobRecord | undefined {
    let found: JobRecord | undefined;
    for (const job of this.e.records()) {
      if (job.info.connectionName !== connectionName || job.info.pid !== pid || job.info.cookie !== cookie) continue;
      if (!isFinal(job.info.state)) return job;
      found = job;
    }
    return found;
  }

}
