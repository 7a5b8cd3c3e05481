// Turns the errors `pg` and Node throw while connecting into one readable sentence, so the user
// learns what to fix (host, password, SSL, database) instead of seeing "ECONNREFUSED". Pure: the
// error is read through its `code` and `message` only, and unit-tested without a server.

export interface ConnectionErrorLike {
  code?: unknown;
  message?: unknown;
}

export type ConnectionProblem = 'refused' | 'host' | 'timeout' | 'auth' | 'password-missing' | 'ssl' | 'database' | 'other';

export interface DescribedConnectionError {
  kind: ConnectionProblem;
  /** A sentence for the notification, naming the target when known. */
  message: string;
}

export function describeConnectionError(err: unknown, target: string): DescribedConnectionError {
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as ConnectionErrorLike;
  const code = typeof e.code === 'string' ? e.code : '';
  const raw = typeof e.message === 'string' ? e.message : String(err);
  const msg = raw.toLowerCase();

  if (code === 'ECONNREFUSED' || msg.includes('econnrefused')) {
    return { kind: 'refused', message: `Could not connect to ${target}: the connection was refused. Is PostgreSQL running and listening on that host and port?` };
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || msg.includes('getaddrinfo')) {
    return { kind: 'host', message: `Could not connect to ${target}: the host name could not be resolved.` };
  }
  if (code === 'ETIMEDOUT' || msg.includes('timeout') || msg.includes('timed out')) {
    return { kind: 'timeout', message: `Could not connect to ${target}: the connection timed out. Check the host, the port and any firewall in between.` };
  }
  if (msg.includes('client password must be a string') || msg.includes('no password supplied') || code === 'password-missing') {
    return { kind: 'password-missing', message: `The server ${target} asks for a password and none is stored for this connection (nor in .pgpass or PGPASSWORD).` };
  }
  // 28P01 invalid_password, 28000 invalid_authorization_specification (pg_hba rejects, bad user).
  if (code === '28P01' || code === '28000' || msg.includes('password authentication failed') || msg.includes('pg_hba.conf')) {
    return { kind: 'auth', message: `Authentication failed for ${target}: ${raw}` };
  }
  if (msg.includes('ssl') || msg.includes('certificate') || msg.includes('self-signed') || msg.includes('self signed')) {
    return { kind: 'ssl', message: `SSL problem connecting to ${target}: ${raw}. Check the connection's SSL mode.` };
  }
  if (code === '3D000') {
    return { kind: 'database', message: `The database does not exist on ${target}: ${raw}` };
  }
  return { kind: 'other', message: `Could not connect to ${target}: ${raw}` };
}
