// One launcher session per connection: a single pg.Client that launches and owns that
// connection's workers (pg_background handles belong to the session that created them).
// Calls are serialized through one queue; callers keep each call short (fetch with a small
// wait_ms, waits in slices) so commands from the UI interleave with draining.
// If the connection drops, `onDidDrop` fires with the generation that died; the next call
// reconnects (a new generation), because the old handles are gone with the old backend.

import pg from 'pg';
import type { ClientConfig, QueryResult, QueryResultRow } from 'pg';
import { Emitter } from './events.js';
import type { Event, ServerMessage } from './model.js';
import type { Capabilities, EngineLog } from './engineTypes.js';
import { ConnectionError, toConnectionError, toServerError } from './errors.js';
import { describeStatement, type DescribedColumn } from './describeStatement.js';
import { queryRawPrepared, queryRawText } from './rawQuery.js';
import { toServerMessage } from './fetchMessages.js';

export interface SessionDrop {
  generation: number;
  reason: string;
}

/** The calls a job may make on the session while it holds it. */
export interface SessionCalls {
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
  /** Simple protocol, rows as raw text fields: the cheapest path, for the drain loop. */
  queryRawText(text: string): Promise<(string | null)[][]>;
  /** Rows per fetch_v2 tuple this backend was asked for (1 until setRowsPerTuple). */
  rowsPerTuple(): number;
  /** Sets pg_background.fetch_rows_per_tuple for this backend (only when Capabilities.rowBatches). */
  setRowsPerTuple(n: number): Promise<void>;
  /** rowMode 'array' with every value as its text output (no type parsing at all). */
  queryText(text: string, values?: unknown[]): Promise<(string | null)[][]>;
  /**
   * queryRawText as a named prepared statement of this backend (parsed once per connection),
   * parameters as text: for the drain loop's fetch_v2, called hundreds of times per second.
   */
  queryPrepared(text: string, values: (string | null)[]): Promise<(string | null)[][]>;
  describe(sql: string): Promise<DescribedColumn[]>;
  /**
   * Runs `fn` while passing every notice the server sends this session to `onNotice`: the
   * original pg_background relays a worker's notices to the session reading its result.
   */
  withNotices<T>(onNotice: (notice: ServerMessage) => void, fn: () => Promise<T>): Promise<T>;
  /** Schema-qualified name of a pg_background function. */
  fn(name: string): string;
  readonly generation: number;
}

const textTypes = {
  getTypeParser: (() => (v: string) => v) as unknown as typeof pg.types.getTypeParser,
};

export class LauncherSession {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private caps: Capabilities | undefined;
  private gen = 0;
  private tail: Promise<unknown> = Promise.resolve();
  /** Rows per fetch_v2 tuple set in this generation's backend (a new backend starts at 1). */
  private rowsPerTupleSet = 1;
  private closed = false;
  private readonly dropped = new Emitter<SessionDrop>();

  /** The session's connection ended unexpectedly (or was closed). */
  readonly onDidDrop: Event<SessionDrop> = this.dropped.event;

  constructor(
    readonly name: string,
    private config: ClientConfig,
    private readonly log: EngineLog,
  ) {}

  get generation(): number {
    return this.gen;
  }

  get connected(): boolean {
    return this.client !== undefined;
  }

  /** close() was called: the session will not connect again. */
  get isClosed(): boolean {
    return this.closed;
  }

  get capabilities(): Capabilities | undefined {
    return this.caps;
  }

  /** Replaces the config (the profile changed); takes effect on the next connect. */
  setConfig(config: ClientConfig): void {
    this.config = config;
  }

  describeTarget(): string {
    const c = this.config;
    if (c.connectionString) return c.connectionString.replace(/:[^:@/]*@/, ':***@');
    return `${c.user ?? ''}@${c.host ?? 'localhost'}:${c.port ?? 5432}/${c.database ?? ''}`;
  }

  /** Connects if needed and returns the capabilities. */
  async connect(): Promise<Capabilities> {
    await this.ensureClient();
    return this.caps!;
  }

  /** Re-reads capabilities (e.g. after CREATE EXTENSION). */
  async refreshCapabilities(): Promise<Capabilities> {
    return this.run(async () => {
      this.caps = await detectCapabilities(this.client!);
      return this.caps;
    });
  }

  /** Runs `fn` with exclusive use of the session, connecting first if needed. */
  run<T>(fn: (calls: SessionCalls) => Promise<T>): Promise<T> {
    const task = this.tail.then(async () => {
      if (this.closed) throw new ConnectionError(`Connection ${this.name} is closed`, 'lost');
      const client = await this.ensureClient();
      const generation = this.gen;
      const schema = this.caps?.schema;
      const calls: SessionCalls = {
        generation,
        query: (text, values) => client.query(text, values),
        queryText: async (text, values) => {
          const res = await client.query({ text, values, rowMode: 'array', types: textTypes });
          return res.rows as (string | null)[][];
        },
        queryPrepared: (text, values) => queryRawPrepared(client, statementName(text), text, values),
        queryRawText: (text) => queryRawText(client, text),
        rowsPerTuple: () => (this.client === client ? this.rowsPerTupleSet : 1),
        setRowsPerTuple: async (n) => {
          const res = await client.query<{ v: string }>(`SELECT set_config('pg_background.fetch_rows_per_tuple', $1, false) AS v`, [String(n)]);
          if (this.client === client) this.rowsPerTupleSet = Number(res.rows[0].v);
        },
        describe: (sql) => describeStatement(client, sql),
        withNotices: async (onNotice, fn) => {
          // The session is ours alone while this task runs, so every notice belongs to fn's calls.
          const listener = (n: NoticeFields): void => onNotice(noticeMessage(n));
          client.on('notice', listener);
          try {
            return await fn();
          } finally {
            client.off('notice', listener);
          }
        },
        fn: (name) => (schema ? `${pg.escapeIdentifier(schema)}.${name}` : name),
      };
      return fn(calls);
    });
    // The queue continues whatever this task's outcome.
    this.tail = task.catch(() => undefined);
    return task;
  }

  /** Ends the session for good (closeConnection / dispose). */
  async close(): Promise<void> {
    this.closed = true;
    await this.disconnect('closed by the user');
  }

  /** Ends the current connection; a later run() reconnects. */
  async disconnect(reason: string): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.dropClient(client, reason);
    await client.end().catch(() => undefined);
  }

  private async ensureClient(): Promise<pg.Client> {
    if (this.client) return this.client;
    if (!this.connecting) {
      this.connecting = this.openClient().finally(() => {
        this.connecting = undefined;
      });
    }
    return this.connecting;
  }

  private async openClient(): Promise<pg.Client> {
    const target = this.describeTarget();
    // keepAlive: a launcher session idles between jobs; without TCP keepalives a silently dropped
    // network path would only be noticed by the next call hanging.
    const client = new pg.Client({ application_name: 'pg-background (VS Code)', keepAlive: true, ...this.config });
    // Without a listener an 'error' event would crash the extension host.
    client.on('error', (err) => this.dropClient(client, err.message));
    client.on('end', () => this.dropClient(client, 'connection ended'));
    try {
      await client.connect();
    } catch (err) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      throw toConnectionError(err, target);
    }
    try {
      this.caps = await detectCapabilities(client);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw toConnectionError(err, target);
    }
    this.gen++;
    this.client = client;
    this.rowsPerTupleSet = 1;
    this.log('info', `[${this.name}] connected to ${target} (server ${this.caps.serverVersion}, launcher pid ${this.caps.launcherPid}, ` +
      `pg_background ${this.caps.installed ? (this.caps.version ?? '?') + (this.caps.reducedMode ? ', reduced mode: no fetch_v2' : '') : 'not installed'})`);
    return client;
  }

  private dropClient(client: pg.Client, reason: string): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.log('warn', `[${this.name}] launcher session ended: ${reason}`);
    this.dropped.fire({ generation: this.gen, reason });
  }
}

/**
 * A prepared statement's name for its text: pg refuses one name for two texts on a connection,
 * and the text of a call changes with the extension's schema, which a session can see change.
 */
function statementName(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return `pgbg_${(h >>> 0).toString(16)}_${text.length}`;
}

/** The fields of pg's NoticeMessage that we keep. */
interface NoticeFields {
  severity?: string;
  code?: string;
  message?: string;
  detail?: string;
  hint?: string;
  position?: string;
  where?: string;
}

function noticeMessage(n: NoticeFields): ServerMessage {
  return toServerMessage('notice', 1, {
    severity: n.severity,
    sqlstate: n.code,
    message: n.message,
    detail: n.detail,
    hint: n.hint,
    position: n.position,
    context: n.where,
  });
}

interface CapabilityRow {
  sv: string;
  svn: number;
  pid: number;
  ver: string | null;
  schema: string | null;
  funcs: string[];
  can_create: boolean;
  scs: string;
}

async function detectCapabilities(client: pg.Client): Promise<Capabilities> {
  // Functions that belong to the extension (pg_depend 'e'), wherever it was installed.
  const res = await client.query<CapabilityRow>(`
    SELECT current_setting('server_version') AS sv,
           current_setting('server_version_num')::int AS svn,
           pg_backend_pid() AS pid,
           e.extversion AS ver,
           n.nspname AS schema,
           coalesce((SELECT array_agg(DISTINCT p.proname::text ORDER BY p.proname::text)
                       FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
                      WHERE d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_extension'::regclass
                        AND d.refobjid = e.oid AND d.deptype = 'e'), '{}') AS funcs,
           (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
             OR has_database_privilege(current_database(), 'CREATE') AS can_create,
           current_setting('standard_conforming_strings') AS scs
      FROM (SELECT 1) one
      LEFT JOIN pg_extension e ON e.extname = 'pg_background'
      LEFT JOIN pg_namespace n ON n.oid = e.extnamespace`);
  const r = res.rows[0];
  const installed = r.ver !== null;
  const hasFetchV2 = r.funcs.includes('pg_background_fetch_v2');
  const rowBatches = hasFetchV2 && r.schema !== null ? await detectRowBatches(client, r.schema) : false;
  return {
    installed,
    version: r.ver ?? undefined,
    schema: r.schema ?? undefined,
    hasFetchV2,
    reducedMode: installed && !hasFetchV2,
    functions: r.funcs,
    serverVersion: r.sv,
    serverVersionNum: r.svn,
    canCreateExtension: r.can_create,
    launcherPid: r.pid,
    standardConformingStrings: r.scs === 'on',
    rowBatches,
    attach: r.funcs.includes('pg_background_attach_v2'),
  };
}

/**
 * Whether this server's fetch_v2 can batch rows (pg_background.fetch_rows_per_tuple, kind
 * `rows`). The setting exists only once the library is loaded in this backend (calling one of its
 * functions loads it), and an unknown pg_background.* name is an error once it is, so it is
 * looked up rather than set blindly: 1.8 and servers without it keep sending `row`.
 */
async function detectRowBatches(client: pg.Client, schema: string): Promise<boolean> {
  const fn = `${pg.escapeIdentifier(schema)}.pg_background_list_v2`;
  try {
    await client.query(`SELECT count(*) FROM ${fn}() AS (pid int4, cookie int8, launched_at timestamptz, user_id oid, queue_size int4, state text, sql_preview text, last_error text, consumed bool)`);
  } catch (err) {
    // A role not (yet) granted pg_background still connects: its launches report the refusal.
    if (toServerError(err)) return false;
    throw err;
  }
  const res = await client.query(`SELECT 1 FROM pg_settings WHERE name = 'pg_background.fetch_rows_per_tuple'`);
  return res.rows.length > 0;
}
