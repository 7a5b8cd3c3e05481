// Connection profiles as the user edits them (host/port/database/user/sslmode, or a
// postgresql:// URI), validated into readable messages and resolved into a `pg` ClientConfig the
// way psql would connect: an explicit profile field beats the URI, which beats PG* environment
// variables, which beat libpq's defaults. The password comes from the caller (the UI keeps it in
// SecretStorage); without one, PGPASSWORD and then .pgpass are used, as psql does.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ClientConfig } from 'pg';
import type { ConnectionOptions } from 'node:tls';
import { readPgEnv, type PgEnv } from './pgEnv.js';
import { defaultPgpassPath, lookupPgpass, readPgpassFile } from './pgpass.js';

export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

export interface ConnectionProfile {
  name: string;
  host?: string;
  port?: number;
  database?: string;
  user?: string;
  sslmode?: SslMode;
  /** postgresql://user@host:port/db?sslmode=… ; fields set beside it take precedence. */
  uri?: string;
}

/** What a URI contributes. */
export interface UriParts {
  host?: string;
  port?: number;
  database?: string;
  user?: string;
  password?: string;
  sslmode?: SslMode;
  applicationName?: string;
  connectTimeoutSec?: number;
}

const isSslMode = (v: string): v is SslMode => (SSL_MODES as readonly string[]).includes(v);

function checkPort(value: string | number, where: string): number {
  const n = typeof value === 'number' ? value : /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${where}: port must be a number from 1 to 65535 (got "${value}").`);
  return n;
}

/** Parses postgresql:// and postgres:// URIs (libpq syntax); throws a readable Error. */
export function parseConnectionUri(uri: string): UriParts {
  const text = uri.trim();
  const m = /^postgres(?:ql)?:\/\/(?:([^@/?#]*)@)?([^/?#]*)(?:\/([^?#]*))?(?:\?([^#]*))?$/i.exec(text);
  if (!m) {
    if (!/^postgres(ql)?:\/\//i.test(text)) throw new Error('The URI must start with postgresql:// or postgres://');
    throw new Error(`Not a valid connection URI: ${uri}`);
  }
  const [, userinfo, hostport, db, query] = m;
  const decode = (v: string): string => {
    try {
      return decodeURIComponent(v);
    } catch {
      throw new Error(`URI: bad percent-encoding in "${v}".`);
    }
  };
  const out: UriParts = {};
  if (userinfo) {
    const colon = userinfo.indexOf(':');
    const user = colon < 0 ? userinfo : userinfo.slice(0, colon);
    if (user) out.user = decode(user);
    if (colon >= 0) out.password = decode(userinfo.slice(colon + 1));
  }
  if (hostport.includes(',')) throw new Error('URIs with several hosts are not supported; pick one host.');
  const hp = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(hostport);
  if (hp) {
    const host = hp[1].replace(/^\[(.*)\]$/, '$1');
    if (host) out.host = decode(host);
    if (hp[2] !== undefined && hp[2] !== '') out.port = checkPort(hp[2], 'URI');
  }
  if (db) out.database = decode(db);
  const params = new URLSearchParams(query ?? '');
  for (const [key, value] of params) {
    switch (key) {
      case 'host':
        out.host = value;
        break;
      case 'port':
        out.port = checkPort(value, 'URI');
        break;
      case 'dbname':
        out.database = value;
        break;
      case 'user':
        out.user = value;
        break;
      case 'password':
        out.password = value;
        break;
      case 'sslmode':
        if (!isSslMode(value)) throw new Error(`URI: unknown sslmode "${value}" (use one of ${SSL_MODES.join(', ')}).`);
        out.sslmode = value;
        break;
      case 'application_name':
        out.applicationName = value;
        break;
      case 'connect_timeout':
        if (/^\d+$/.test(value)) out.connectTimeoutSec = Number(value);
        break;
      default:
        // Other libpq parameters (options, target_session_attrs...) are not supported by `pg`.
        throw new Error(`URI: parameter "${key}" is not supported here.`);
    }
  }
  return out;
}

/** A readable problem with the profile, or undefined when it is usable. */
export function validateProfile(p: ConnectionProfile): string | undefined {
  if (!p.name || !p.name.trim()) return 'The connection needs a name.';
  if (p.uri) {
    try {
      parseConnectionUri(p.uri);
    } catch (err) {
      return (err as Error).message;
    }
  }
  if (p.port !== undefined) {
    try {
      checkPort(p.port, 'Port');
    } catch (err) {
      return (err as Error).message;
    }
  }
  if (p.host !== undefined && /\s/.test(p.host.trim())) return `Host "${p.host}" contains spaces.`;
  if (p.sslmode !== undefined && !isSslMode(p.sslmode)) return `Unknown SSL mode "${String(p.sslmode)}" (use one of ${SSL_MODES.join(', ')}).`;
  return undefined;
}

export interface ResolveOptions {
  /** From SecretStorage; a function is called at connect time (pg supports that). */
  password?: string | (() => Promise<string | undefined>);
  /** Defaults to process.env. */
  env?: Record<string, string | undefined>;
  /** Where .pgpass warnings go (e.g. the log). */
  warn?: (message: string) => void;
}

/** The effective host/port/database/user/sslmode after applying precedence. */
export interface EffectiveTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  sslmode: SslMode;
}

function osUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return 'postgres';
  }
}

export function effectiveTarget(p: ConnectionProfile, env: PgEnv = readPgEnv()): EffectiveTarget & { uri: UriParts } {
  const uri = p.uri ? parseConnectionUri(p.uri) : {};
  const pick = <T>(...values: (T | undefined)[]): T | undefined => values.find((v) => v !== undefined && v !== '');
  const user = pick(p.user, uri.user, env.user) ?? osUser();
  const sslmode = pick<string>(p.sslmode, uri.sslmode, env.sslmode) ?? 'prefer';
  return {
    host: pick(p.host, uri.host, env.host) ?? 'localhost',
    port: pick(p.port, uri.port, env.port) ?? 5432,
    database: pick(p.database, uri.database, env.database) ?? user,
    user,
    sslmode: isSslMode(sslmode) ? sslmode : 'prefer',
    uri,
  };
}

/** "user@host:port/database" for messages and logs. */
export function describeTarget(p: ConnectionProfile, env: PgEnv = readPgEnv()): string {
  try {
    const t = effectiveTarget(p, env);
    return `${t.user}@${t.host}:${t.port}/${t.database}`;
  } catch {
    return p.uri ?? p.name;
  }
}

function readIfExists(file: string | undefined): Buffer | undefined {
  if (!file) return undefined;
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined;
  }
}

/**
 * TLS options for pg from a libpq sslmode. `pg` cannot fall back from TLS to plain text, so
 * `allow` and `prefer` connect without TLS (use `require` or stricter for servers that demand it).
 */
export function sslConfig(mode: SslMode, env: PgEnv, host: string): boolean | ConnectionOptions {
  if (mode === 'disable' || mode === 'allow' || mode === 'prefer') return false;
  const pgDir = path.join(os.homedir(), '.postgresql');
  const tls: ConnectionOptions = {};
  const cert = readIfExists(env.sslcert ?? path.join(pgDir, 'postgresql.crt'));
  const key = readIfExists(env.sslkey ?? path.join(pgDir, 'postgresql.key'));
  if (cert && key) {
    tls.cert = cert;
    tls.key = key;
  }
  if (mode === 'require') {
    // libpq: require without a root certificate does not verify; with one present it acts as verify-ca.
    const ca = readIfExists(env.sslrootcert ?? path.join(pgDir, 'root.crt'));
    if (!ca) return { ...tls, rejectUnauthorized: false };
    return { ...tls, ca, rejectUnauthorized: true, checkServerIdentity: () => undefined };
  }
  const ca = readIfExists(env.sslrootcert ?? path.join(pgDir, 'root.crt'));
  if (ca) tls.ca = ca;
  tls.rejectUnauthorized = true;
  if (mode === 'verify-ca') tls.checkServerIdentity = () => undefined;
  else tls.servername = host;
  return tls;
}

/** The pg ClientConfig psql would effectively use for this profile. */
export async function resolveClientConfig(p: ConnectionProfile, options: ResolveOptions = {}): Promise<ClientConfig> {
  const problem = validateProfile(p);
  if (problem) throw new Error(problem);
  const env = readPgEnv(options.env ?? process.env);
  const t = effectiveTarget(p, env);
  const config: ClientConfig = {
    host: t.host,
    port: t.port,
    database: t.database,
    user: t.user,
    ssl: sslConfig(t.sslmode, env, t.host),
    application_name: t.uri.applicationName ?? env.applicationName ?? 'pg-background (VS Code)',
    connectionTimeoutMillis: (t.uri.connectTimeoutSec ?? env.connectTimeoutSec ?? 15) * 1000,
  };
  // Password precedence as in libpq: given explicitly (SecretStorage or URI) > PGPASSWORD > .pgpass.
  const fromPgpass = (): string | undefined => {
    const file = readPgpassFile(defaultPgpassPath(env.passfile));
    if (file.warning) options.warn?.(`WARNING: ${file.warning}`);
    return lookupPgpass(file.entries, t);
  };
  const given = options.password;
  if (typeof given === 'function') {
    config.password = async () => (await given()) || t.uri.password || env.password || fromPgpass() || '';
  } else {
    const pw = given || t.uri.password || env.password || fromPgpass();
    if (pw !== undefined) config.password = pw;
  }
  return config;
}
