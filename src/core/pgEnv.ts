// The libpq environment variables psql honours, read once into a typed object so profile
// resolution can apply psql's precedence (explicit setting > URI > environment > default).

export interface PgEnv {
  host?: string;
  port?: number;
  database?: string;
  user?: string;
  password?: string;
  sslmode?: string;
  passfile?: string;
  connectTimeoutSec?: number;
  applicationName?: string;
  sslrootcert?: string;
  sslcert?: string;
  sslkey?: string;
}

type Env = Record<string, string | undefined>;

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);

export function readPgEnv(env: Env = process.env): PgEnv {
  const out: PgEnv = {};
  const set = <K extends keyof PgEnv>(key: K, value: PgEnv[K] | undefined): void => {
    if (value !== undefined) out[key] = value;
  };
  set('host', nonEmpty(env.PGHOST) ?? nonEmpty(env.PGHOSTADDR));
  const port = nonEmpty(env.PGPORT);
  if (port !== undefined && /^\d+$/.test(port)) out.port = Number(port);
  set('database', nonEmpty(env.PGDATABASE));
  set('user', nonEmpty(env.PGUSER));
  // libpq treats an empty variable as unset; so do we.
  set('password', nonEmpty(env.PGPASSWORD));
  set('sslmode', nonEmpty(env.PGSSLMODE));
  set('passfile', nonEmpty(env.PGPASSFILE));
  const timeout = nonEmpty(env.PGCONNECT_TIMEOUT);
  if (timeout !== undefined && /^\d+$/.test(timeout)) out.connectTimeoutSec = Number(timeout);
  set('applicationName', nonEmpty(env.PGAPPNAME));
  set('sslrootcert', nonEmpty(env.PGSSLROOTCERT));
  set('sslcert', nonEmpty(env.PGSSLCERT));
  set('sslkey', nonEmpty(env.PGSSLKEY));
  return out;
}
