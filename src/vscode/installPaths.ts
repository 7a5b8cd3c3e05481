// Pure helpers for "Build and Install Locally": where pg_config usually lives for a server
// major version, shell quoting for the task command line, and the SQL an administrator runs.
// No `vscode` import; unit-tested in test/unit/vscode-installPaths.test.ts.

/** Likely pg_config locations for a PostgreSQL major version, most specific first. */
export function pgConfigCandidates(major: number | undefined, platform: string): string[] {
  const out: string[] = [];
  if (major !== undefined && major > 0) {
    if (platform === 'linux') out.push(`/usr/lib/postgresql/${major}/bin/pg_config`, `/usr/pgsql-${major}/bin/pg_config`);
    if (platform === 'darwin') {
      out.push(
        `/opt/homebrew/opt/postgresql@${major}/bin/pg_config`,
        `/usr/local/opt/postgresql@${major}/bin/pg_config`,
        `/Applications/Postgres.app/Contents/Versions/${major}/bin/pg_config`,
      );
    }
  }
  out.push('/usr/bin/pg_config', '/usr/local/bin/pg_config', '/usr/local/pgsql/bin/pg_config');
  return [...new Set(out)];
}

/** POSIX single-quote quoting, safe for any path. */
export function shellQuote(value: string): string {
  if (/^[A-Za-z0-9_./=:@%+-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The shell command the build task runs; `sudo` only for the install step when needed. */
export function buildCommand(sourceDir: string, pgConfig: string, useSudo: boolean): string {
  const dir = shellQuote(sourceDir);
  const pg = shellQuote(`PG_CONFIG=${pgConfig}`);
  return `make -C ${dir} ${pg} && ${useSudo ? 'sudo ' : ''}make -C ${dir} ${pg} install`;
}

export interface AdminSqlInput {
  connectionName: string;
  target: string;
  database?: string;
  user?: string;
  serverVersion?: string;
  extensionSourceDir: string;
}

/** The statements (and the steps around them) an administrator needs to enable pg_background. */
export function adminSql(i: AdminSqlInput): string {
  const db = i.database ?? '<database>';
  const major = i.serverVersion ? i.serverVersion.split('.')[0] : '<major>';
  return [
    `-- PG Background: pg_background is not installed for connection "${i.connectionName}" (${i.target}).`,
    `-- An administrator of that server can enable it as follows.`,
    `--`,
    `-- 1. Install the extension's files into the server's PostgreSQL installation (PostgreSQL ${i.serverVersion ?? ''}),`,
    `--    as a user who may write there. The sources ship with PG Background:`,
    `--      make -C ${shellQuote(i.extensionSourceDir)} PG_CONFIG=/usr/lib/postgresql/${major}/bin/pg_config install`,
    `--    (or use the server's packaged pg_background; this version adds pg_background_fetch_v2).`,
    `-- 2. pg_background runs each job in a background worker: max_worker_processes in postgresql.conf`,
    `--    must leave room for them (changing it needs a server restart).`,
    `-- 3. Connected to database "${db}" as a superuser or the database owner:`,
    ``,
    `CREATE EXTENSION IF NOT EXISTS pg_background;`,
    ``,
    `-- 4. If the extension restricts its functions, grant them to the user who runs jobs${i.user ? ` (${i.user})` : ''},`,
    `--    as described in the extension's README.`,
    ``,
  ].join('\n');
}
