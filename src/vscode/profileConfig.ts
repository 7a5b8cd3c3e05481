// Profile -> node-postgres ClientConfig. Fields left empty fall through to node-postgres, which
// reads the PG* environment variables like libpq, and looks up .pgpass when no password is set.

import type { ClientConfig } from 'pg';
import type { StoredProfile } from './connectionStore.js';

/** A readable problem with the profile, or undefined when it can be used. */
export function validateStoredProfile(p: StoredProfile): string | undefined {
  if (!p.name.trim()) return 'The connection needs a name.';
  if (p.uri) {
    try {
      const url = new URL(p.uri);
      if (url.protocol !== 'postgresql:' && url.protocol !== 'postgres:') return 'The URI must start with postgresql:// or postgres://.';
    } catch {
      return 'That is not a valid postgresql:// URI.';
    }
  }
  if (p.port !== undefined && (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535)) return 'The port must be a number between 1 and 65535.';
  return undefined;
}

/** "user@host:port/db" for messages; empty parts show as the libpq defaults would apply. */
export function describeProfile(p: StoredProfile): string {
  if (p.uri) {
    try {
      const url = new URL(p.uri);
      url.password = '';
      return url.toString();
    } catch {
      return p.uri;
    }
  }
  const env = process.env;
  const user = p.user || env.PGUSER || env.USER || '';
  const host = p.host || env.PGHOST || 'localhost';
  const port = p.port ?? (env.PGPORT ? Number(env.PGPORT) : 5432);
  const db = p.database || env.PGDATABASE || user;
  return `${user ? `${user}@` : ''}${host}:${port}/${db}`;
}

function sslFor(mode: StoredProfile['sslmode']): ClientConfig['ssl'] {
  switch (mode) {
    case 'require':
      // libpq's require does not verify the certificate; node's TLS must be told not to either.
      return { rejectUnauthorized: false };
    case 'prefer':
    case 'allow':
      // node-postgres cannot fall back between SSL and plain like libpq; plain always works
      // where these modes are chosen (local servers), so use it.
      return false;
    case 'verify-ca':
    case 'verify-full':
      return { rejectUnauthorized: true };
    case 'disable':
      return false;
    default:
      return undefined;
  }
}

/**
 * The stored password, when there is one, is passed as is. Without one the password is left
 * unset so node-postgres falls back like libpq: PGPASSWORD, then ~/.pgpass (PGPASSFILE).
 */
export function toClientConfig(p: StoredProfile, password: string | undefined): ClientConfig {
  const config: ClientConfig = p.uri ? { connectionString: p.uri } : { host: p.host || undefined, port: p.port, database: p.database || undefined, user: p.user || undefined };
  const ssl = sslFor(p.sslmode);
  if (ssl !== undefined && !p.uri) config.ssl = ssl;
  config.connectionTimeoutMillis = 10_000;
  config.application_name = 'pg-background (VS Code)';
  if (password !== undefined && password !== '') config.password = password;
  return config;
}
