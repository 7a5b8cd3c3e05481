// The connections the engine knows: one launcher session each, registered without touching the
// network and connected on first use, with an event for every connect, failure and disconnect.
// Jobs live elsewhere (JobManager); a connection only lists the jobs launched on it.

import pg from 'pg';
import type { ClientConfig } from 'pg';
import { Emitter } from './events.js';
import type { Event } from './model.js';
import type { Capabilities, ConnectionStateEvent, EngineLog, ForeignWorker } from './engineTypes.js';
import { listForeignWorkers, signalWorker } from './foreignWorkers.js';
import { toServerError } from './errors.js';
import { isFinal } from './jobStateMachine.js';
import { LauncherSession } from './launcherSession.js';
import { describeError, type Connection } from './jobRecord.js';

export class ConnectionRegistry {
  private readonly connections = new Map<string, Connection>();
  private readonly changed = new Emitter<ConnectionStateEvent>();
  /** A launcher session connected, failed or disconnected. */
  readonly onDidChange: Event<ConnectionStateEvent> = this.changed.event;

  /**
   * @param onDrop a session's backend went away; `generation` is the one that died
   */
  constructor(
    private readonly log: EngineLog,
    private readonly onDrop: (conn: Connection, generation: number, reason: string) => void,
  ) {}

  /**
   * Registers a connection without connecting (activation must not touch the network).
   * Re-registering replaces the config; an idle session reconnects with it on next use.
   */
  register(name: string, config: ClientConfig): void {
    const existing = this.connections.get(name);
    if (existing) {
      existing.session.setConfig(config);
      const busy = [...existing.jobs].some((j) => !isFinal(j.info.state));
      if (!busy && existing.session.connected) void existing.session.disconnect('connection profile changed');
      return;
    }
    const session = new LauncherSession(name, config, this.log);
    const conn: Connection = { name, session, jobs: new Set(), pumping: false, sliceMs: 0 };
    session.onDidDrop(({ generation, reason }) => this.onDrop(conn, generation, reason));
    this.connections.set(name, conn);
  }

  /** Ends the launcher session and forgets the connection. */
  async close(name: string): Promise<void> {
    const conn = this.connections.get(name);
    if (!conn) return;
    this.connections.delete(name);
    await conn.session.close();
    this.changed.fire({ connectionName: name, state: 'disconnected' });
  }

  get(name: string): Connection | undefined {
    return this.connections.get(name);
  }

  /** The registered connection; throws for an unknown name. */
  require(name: string): Connection {
    const conn = this.connections.get(name);
    if (!conn) throw new Error(`Unknown connection "${name}".`);
    return conn;
  }

  names(): string[] {
    return [...this.connections.keys()];
  }

  isConnected(name: string): boolean {
    return this.connections.get(name)?.session.connected ?? false;
  }

  /** Capabilities of the connection's server, connecting lazily if needed. */
  async capabilities(name: string): Promise<Capabilities> {
    const conn = this.require(name);
    if (conn.session.connected && conn.session.capabilities) return conn.session.capabilities;
    this.changed.fire({ connectionName: name, state: 'connecting' });
    try {
      const caps = await conn.session.connect();
      this.changed.fire({ connectionName: name, state: 'connected', capabilities: caps });
      return caps;
    } catch (err) {
      this.changed.fire({ connectionName: name, state: 'failed', error: describeError(err) });
      throw err;
    }
  }

  /**
   * Runs CREATE EXTENSION pg_background (in `schema`, created if needed) and re-detects
   * capabilities; a refusal (e.g. insufficient privilege, 42501) is thrown as PgServerError.
   */
  async installExtension(name: string, schema?: string): Promise<Capabilities> {
    const conn = this.require(name);
    try {
      await conn.session.run(async (c) => {
        if (schema) await c.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(schema)}`);
        const withSchema = schema ? ` WITH SCHEMA ${pg.escapeIdentifier(schema)}` : '';
        await c.query(`CREATE EXTENSION IF NOT EXISTS pg_background${withSchema}`);
      });
    } catch (err) {
      throw toServerError(err) ?? err;
    }
    const caps = await conn.session.refreshCapabilities();
    this.log('info', `[${name}] pg_background ${caps.version ?? ''} installed`);
    this.changed.fire({ connectionName: name, state: 'connected', capabilities: caps });
    return caps;
  }

  /** pg_background workers of the same user on the connection's server, but not those in `own`. */
  async foreignWorkers(name: string, own: ReadonlySet<number>): Promise<ForeignWorker[]> {
    const conn = this.require(name);
    const caps = await conn.session.connect();
    return conn.session.run((c) => listForeignWorkers(c, name, caps.launcherPid, own));
  }

  /** pg_cancel_backend / pg_terminate_backend on a worker; false when it was gone; throws (PgServerError) when refused. */
  async signalWorker(name: string, pid: number, how: 'cancel' | 'terminate'): Promise<boolean> {
    const conn = this.require(name);
    try {
      const ok = await conn.session.run((c) => signalWorker(c, pid, how));
      this.log('info', `[${name}] ${how} foreign worker ${pid}: ${ok ? 'signalled' : 'not found'}`);
      return ok;
    } catch (err) {
      throw toServerError(err) ?? err;
    }
  }

  /**
   * Connects a dropped session again for the reconnect loop: no 'connecting'/'failed' events per
   * attempt (the loop reports 'reconnecting'), 'connected' once it succeeds.
   */
  async reconnect(name: string): Promise<Capabilities> {
    const conn = this.require(name);
    const caps = await conn.session.connect();
    this.changed.fire({ connectionName: name, state: 'connected', capabilities: caps });
    return caps;
  }

  /** The reconnect loop waits before attempt `attempt`. */
  reconnecting(name: string, attempt: number, nextInMs: number): void {
    this.changed.fire({ connectionName: name, state: 'reconnecting', attempt, nextInMs });
  }

  /** The reconnect loop gave up. */
  failed(name: string, error: string): void {
    this.changed.fire({ connectionName: name, state: 'failed', error });
  }

  /** Reports a session that dropped (see onDrop). */
  disconnected(name: string, reason: string): void {
    this.changed.fire({ connectionName: name, state: 'disconnected', error: reason });
  }

  /** Closes every session. */
  async dispose(): Promise<void> {
    await Promise.all([...this.connections.values()].map((c) => c.session.close().catch(() => undefined)));
    this.changed.dispose();
  }
}
