// Errors the engine throws, carrying what the UI must show: for server errors the SQLSTATE,
// message, detail and hint; for connection failures a readable reason and its kind, so the UI
// can offer "edit the profile" for the right field.

import type { ServerMessage } from './model.js';

/** An error reported by PostgreSQL (raised by a call, or reported by a worker). */
export class PgServerError extends Error {
  constructor(readonly server: ServerMessage) {
    super(formatServerMessage(server));
    this.name = 'PgServerError';
  }
  get sqlstate(): string {
    return this.server.sqlstate;
  }
}

export type ConnectionFailureKind = 'refused' | 'auth' | 'ssl' | 'timeout' | 'host' | 'database' | 'lost' | 'other';

export class ConnectionError extends Error {
  constructor(
    message: string,
    readonly kind: ConnectionFailureKind,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'ConnectionError';
  }
}

/** "ERROR 42P01: relation "x" does not exist — DETAIL: … — HINT: …" */
export function formatServerMessage(m: ServerMessage): string {
  let text = `${m.severity || 'ERROR'}${m.sqlstate ? ` ${m.sqlstate}` : ''}: ${m.message}`;
  if (m.detail) text += `\nDETAIL: ${m.detail}`;
  if (m.hint) text += `\nHINT: ${m.hint}`;
  return text;
}

/** Shape of the fields node-postgres puts on a DatabaseError. */
interface PgDatabaseErrorLike {
  message: string;
  code?: string;
  severity?: string;
  detail?: string;
  hint?: string;
  position?: string;
  where?: string;
}

function isDatabaseError(err: unknown): err is PgDatabaseErrorLike & Error {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'string' && 'severity' in err;
}

/** Converts whatever `pg` threw into a PgServerError when it came from the server. */
export function toServerError(err: unknown, stmt = 0): PgServerError | undefined {
  if (err instanceof PgServerError) return err;
  if (!isDatabaseError(err)) return undefined;
  return new PgServerError({
    kind: 'error',
    stmt,
    severity: err.severity ?? 'ERROR',
    sqlstate: err.code ?? '',
    message: err.message,
    detail: err.detail || undefined,
    hint: err.hint || undefined,
    position: err.position ? Number(err.position) : undefined,
    context: err.where || undefined,
  });
}

/** Maps a failure to connect into a readable ConnectionError. */
export function toConnectionError(err: unknown, target: string): ConnectionError {
  if (err instanceof ConnectionError) return err;
  const e = err as { code?: string; message?: string } | undefined;
  const code = e?.code ?? '';
  const msg = e?.message ?? String(err);
  const at = ` (${target})`;
  if (code === 'ECONNREFUSED') return new ConnectionError(`Connection refused${at}: is the server running and accepting TCP connections on that port?`, 'refused', err);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new ConnectionError(`Unknown host${at}: ${msg}`, 'host', err);
  if (code === 'ETIMEDOUT' || /timeout/i.test(msg)) return new ConnectionError(`Connection timed out${at}: check host, port and firewall.`, 'timeout', err);
  if (code === '28P01' || code === '28000' || /password/i.test(msg)) return new ConnectionError(`Authentication failed${at}: ${msg}`, 'auth', err);
  if (code === '3D000') return new ConnectionError(`Database does not exist${at}: ${msg}`, 'database', err);
  if (/ssl|tls|certificate/i.test(msg) || code.startsWith('ERR_TLS') || code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || code === 'SELF_SIGNED_CERT_IN_CHAIN') {
    return new ConnectionError(`SSL negotiation failed${at}: ${msg}. Check the profile's SSL mode.`, 'ssl', err);
  }
  return new ConnectionError(`Could not connect${at}: ${msg}`, 'other', err);
}

/** pg_background is not installed in the connection's database: the UI offers to install it. */
export class ExtensionMissingError extends Error {
  constructor(
    readonly connectionName: string,
    readonly canCreate: boolean,
  ) {
    super(
      `pg_background is not installed in the database of connection "${connectionName}". ` +
        (canCreate ? 'Run CREATE EXTENSION pg_background (the extension can offer to do it).' : 'Ask an administrator to run CREATE EXTENSION pg_background.'),
    );
    this.name = 'ExtensionMissingError';
  }
}
