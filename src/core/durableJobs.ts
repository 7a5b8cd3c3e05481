// Durable jobs kept alive by the engine (design §8.2): re-attaching them after a reload
// (reattachAll) and after a dropped session (the reconnect loop, reconnect.ts), and the final
// acknowledgement that lets the server free a job once its `done` is stored. The SQL of attach
// and of the acknowledgement is in reattach.ts; the records and their events stay with the job
// manager, reached through EngineInternals.

import { PgServerError, toServerError } from './errors.js';
import type { EngineInternals } from './engineInternals.js';
import { isFinal } from './jobStateMachine.js';
import { describeError, errorMessage, type Connection, type JobRecord } from './jobRecord.js';
import { acknowledgeFinal, attach, isConnectionTrouble, NOTE_UNREACHABLE, refusalNote, resumePoint } from './reattach.js';
import { startReconnect } from './reconnect.js';
import { startPump } from './drain.js';

export class DurableJobs {
  constructor(private readonly e: EngineInternals) {}

  /**
   * Attaches again every durable job that waits for it (restored from history, or whose session
   * dropped), connection by connection, and sends the final acknowledgements still owed. A
   * connection that cannot be reached now is retried with backoff (state 'reconnecting').
   */
  async reattachAll(): Promise<void> {
    const conns = new Set<Connection>();
    for (const job of this.e.records()) {
      if (!needsReattach(job)) continue;
      const conn = this.e.registry.get(job.info.connectionName);
      if (!conn) {
        if (!isFinal(job.info.state)) {
          delete job.info.reconnecting;
          job.info.note = `Lost: the connection "${job.info.connectionName}" is not configured any more, so this job cannot be re-attached.`;
          this.e.drainContext.transition(job, { type: 'sessionLost' });
        }
        continue;
      }
      if (job.conn !== conn) {
        // Restored before its connection was registered: bind it to the real one.
        job.conn.jobs.delete(job);
        job.conn = conn;
        conn.jobs.add(job);
      }
      conns.add(conn);
    }
    await Promise.all(
      [...conns].map(async (conn) => {
        if (conn.reconnecting) return; // its loop re-attaches when it gets through
        let ok = false;
        try {
          await this.e.registry.capabilities(conn.name);
          ok = await this.reattachConnection(conn);
        } catch (err) {
          this.e.drainContext.log('warn', `[${conn.name}] re-attaching jobs: ${describeError(err)}`);
        }
        if (!ok) this.startReconnecting(conn);
      }),
    );
  }

  /**
   * Sends the final acknowledgement on the job's session, queued before any later call (the
   * session runs its calls in order) but not awaited. Until it succeeds the job owes it, and a
   * reload sends it (reattachAll).
   */
  acknowledgeFinal(job: JobRecord, doneSeq: number): void {
    const { pid, cookie } = job.handle!;
    // An after_seq tells the server the reader holds everything up to it: never more than the
    // journal has (a store closed under a late batch did not commit it; the next window reads it again).
    if (job.store?.journaled && job.store.lastSeq < doneSeq) {
      this.e.drainContext.log('warn', `[${job.conn.name}] job ${job.info.id}: done (${doneSeq}) is not in the journal (${job.store.lastSeq}); no final acknowledgement`);
      return;
    }
    job.finalAckPending = true;
    job.finalAckSeq = doneSeq;
    void this.e.drainContext.onHandle(job, (c) => acknowledgeFinal(c, pid, cookie, doneSeq)).then(
      () => {
        job.finalAckPending = false;
      },
      (err: unknown) => this.e.drainContext.log('info', `[${job.conn.name}] job ${job.info.id}: final acknowledgement not sent yet (${describeError(err)})`),
    );
  }

  /**
   * Attaches the job again on the connection's current session (or sends the final
   * acknowledgement it owes). Connection trouble is thrown (the caller retries); a refusal ends
   * the job as lost with the server's reason.
   */
  async reattachJob(job: JobRecord): Promise<void> {
    const { pid, cookie } = job.handle!;
    const conn = job.conn;
    if (isFinal(job.info.state)) {
      // The journal wins over the remembered done seq: never acknowledge what it does not hold.
      const journaled = job.store?.journaled ? job.store.lastSeq : undefined;
      const seq = journaled !== undefined ? Math.min(job.finalAckSeq ?? journaled, journaled) : (job.finalAckSeq ?? job.store?.lastSeq ?? 0);
      await conn.session.run(async (c) => {
        try {
          await attach(c, pid, cookie, seq, true);
          await acknowledgeFinal(c, pid, cookie, seq);
        } catch (err) {
          if (isConnectionTrouble(err)) throw err;
          // Already freed (retention, or the acknowledgement did arrive): nothing is owed.
        }
      });
      job.finalAckPending = false;
      return;
    }
    const after = resumePoint(job);
    let attached;
    try {
      attached = await conn.session.run(async (c) => ({ generation: c.generation, a: await attach(c, pid, cookie, after, true) }));
    } catch (err) {
      if (isConnectionTrouble(err)) throw err;
      const server = toServerError(err) ?? new PgServerError(errorMessage(err));
      delete job.info.reconnecting;
      job.info.note = refusalNote(server);
      if (server.sqlstate !== '42704') job.info.error = server.server;
      this.e.drainContext.log('warn', `[${conn.name}] job ${job.info.id}: re-attach refused: ${describeError(server)}`);
      this.e.drainContext.transition(job, { type: 'done', outcome: 'lost' });
      return;
    }
    if (after === undefined) {
      if (!job.store) this.e.attachStore(job, this.e.newStore(job.info.id, true));
      job.store!.commit(Math.max(job.store!.lastSeq, attached.a.ackedSeq));
      job.attachFromAcked = false;
    }
    job.generation = attached.generation;
    job.failures = 0;
    job.gaps = 0;
    delete job.info.reconnecting;
    this.e.drainContext.log('info', `[${conn.name}] job ${job.info.id} re-attached (worker ${pid}, ${attached.a.state}, ${attached.a.output}), resuming after message ${job.store?.lastSeq ?? 0}`);
    this.e.emitChange(job);
    if (job.cancelAfterLaunch) {
      const { graceMs } = job.cancelAfterLaunch;
      job.cancelAfterLaunch = undefined;
      void this.e.cancel(job.info.id, graceMs).catch((err: unknown) => this.e.drainContext.log('warn', `[${conn.name}] cancel after re-attach: ${describeError(err)}`));
    }
  }

  /**
   * Re-attaches the connection's waiting jobs; false on connection trouble (retry later). One
   * pass at a time per connection: the reconnect loop and a session that came back for another
   * reason (a new launch) must not attach the same job twice.
   */
  private reattachConnection(conn: Connection): Promise<boolean> {
    if (conn.reattaching) return conn.reattaching;
    const pass = (async (): Promise<boolean> => {
      for (const job of [...conn.jobs]) {
        if (!needsReattach(job)) continue;
        try {
          await this.reattachJob(job);
        } catch (err) {
          if (isConnectionTrouble(err)) return false;
          this.e.drainContext.log('error', `[${conn.name}] job ${job.info.id}: re-attach failed: ${describeError(err)}`);
        }
      }
      startPump(this.e.drainContext, conn);
      return true;
    })().finally(() => {
      conn.reattaching = undefined;
    });
    conn.reattaching = pass;
    return pass;
  }

  /** A session connected: jobs waiting for it need not wait for the reconnect loop's next turn. */
  onConnected(name: string): void {
    const conn = this.e.registry.get(name);
    if (!conn?.reconnecting || this.e.drainContext.stopped()) return;
    const loop = conn.reconnecting;
    void this.reattachConnection(conn).then((ok) => {
      if (ok && conn.reconnecting === loop) this.stopReconnecting(conn);
    });
  }

  startReconnecting(conn: Connection): void {
    if (conn.reconnecting || this.e.drainContext.stopped()) return;
    const loop = startReconnect({
      giveUpMs: () => Math.max(0, this.e.drainContext.settings().reconnectGiveUpSeconds ?? 600) * 1000,
      waiting: (attempt, nextInMs) => {
        this.e.drainContext.log('info', `[${conn.name}] reconnecting (attempt ${attempt}) in ${nextInMs} ms`);
        this.e.registry.reconnecting(conn.name, attempt, nextInMs);
      },
      attempt: async () => {
        if (this.e.drainContext.stopped() || this.e.registry.get(conn.name) !== conn) return true;
        try {
          await this.e.registry.reconnect(conn.name);
        } catch (err) {
          this.e.drainContext.log('info', `[${conn.name}] reconnect failed: ${describeError(err)}`);
          return false;
        }
        const ok = await this.reattachConnection(conn);
        if (ok && conn.reconnecting === loop) conn.reconnecting = undefined;
        return ok;
      },
      gaveUp: () => {
        if (conn.reconnecting === loop) conn.reconnecting = undefined;
        this.giveUp(conn);
      },
    });
    conn.reconnecting = loop;
  }

  stopReconnecting(conn: Connection | undefined): void {
    conn?.reconnecting?.dispose();
    if (conn) conn.reconnecting = undefined;
  }

  /** The server stayed unreachable for the give-up time: its waiting jobs are lost. */
  private giveUp(conn: Connection): void {
    const lost: string[] = [];
    for (const job of conn.jobs) {
      if (isFinal(job.info.state) || !job.info.reconnecting) continue;
      delete job.info.reconnecting;
      job.info.note = NOTE_UNREACHABLE;
      this.e.drainContext.transition(job, { type: 'sessionLost' });
      lost.push(job.info.id);
    }
    this.e.registry.failed(conn.name, 'server unreachable');
    if (lost.length > 0) this.e.sessionLost({ connectionName: conn.name, lostJobIds: lost, reason: 'server unreachable' });
  }
}

/** A durable job that must be attached again: running but cut off, or owing its final acknowledgement. */
export function needsReattach(job: JobRecord): boolean {
  if (!job.durable || !job.handle) return false;
  return isFinal(job.info.state) ? job.finalAckPending === true : job.info.reconnecting === true;
}

