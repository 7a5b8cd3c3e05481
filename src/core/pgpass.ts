// .pgpass support, following libpq: the file is PGPASSFILE or ~/.pgpass
// (%APPDATA%\postgresql\pgpass.conf on Windows); on POSIX it is ignored, with a warning, when
// group or others can read it (permissions must be 0600 or less). Each line is
// hostname:port:database:username:password, `*` matches anything, `\:` and `\\` escape, `#`
// starts a comment line; the first matching line wins. A Unix-socket host matches "localhost".

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface PgpassEntry {
  host: string;
  port: string;
  database: string;
  user: string;
  password: string;
}

export interface PgpassTarget {
  host: string;
  port: number;
  database: string;
  user: string;
}

/** Splits one line into its five fields, honouring backslash escapes; undefined if malformed. */
function splitLine(line: string): string[] | undefined {
  const fields: string[] = [];
  let cur = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
    } else if (c === ':' && fields.length < 4) {
      fields.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  fields.push(cur);
  return fields.length === 5 ? fields : undefined;
}

export function parsePgpass(text: string): PgpassEntry[] {
  const out: PgpassEntry[] = [];
  for (const raw of text.split(/\r?\n/)) {
    if (raw.trim() === '' || raw.startsWith('#')) continue;
    const f = splitLine(raw);
    if (!f) continue;
    out.push({ host: f[0], port: f[1], database: f[2], user: f[3], password: f[4] });
  }
  return out;
}

const isSocketHost = (host: string): boolean => host === '' || host.startsWith('/') || /^[A-Za-z]:[\\/]/.test(host) || host.startsWith('@');

export function lookupPgpass(entries: PgpassEntry[], target: PgpassTarget): string | undefined {
  const host = isSocketHost(target.host) ? 'localhost' : target.host;
  const match = (pattern: string, value: string): boolean => pattern === '*' || pattern === value;
  for (const e of entries) {
    if (match(e.host, host) && match(e.port, String(target.port)) && match(e.database, target.database) && match(e.user, target.user)) {
      return e.password;
    }
  }
  return undefined;
}

/** Where libpq looks for the password file. */
export function defaultPgpassPath(passfile?: string, platform: NodeJS.Platform = process.platform): string {
  if (passfile) return passfile;
  if (platform === 'win32') return path.join(process.env.APPDATA ?? os.homedir(), 'postgresql', 'pgpass.conf');
  return path.join(os.homedir(), '.pgpass');
}

export interface PgpassFile {
  entries: PgpassEntry[];
  /** Why the file was not used (bad permissions, not a regular file), like psql's warning. */
  warning?: string;
}

export function readPgpassFile(file: string, platform: NodeJS.Platform = process.platform): PgpassFile {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return { entries: [] };
  }
  if (!st.isFile()) return { entries: [], warning: `password file "${file}" is not a plain file` };
  if (platform !== 'win32' && (st.mode & 0o077) !== 0) {
    return { entries: [], warning: `password file "${file}" has group or world access; permissions should be u=rw (0600) or less` };
  }
  try {
    return { entries: parsePgpass(fs.readFileSync(file, 'utf8')) };
  } catch (err) {
    return { entries: [], warning: `cannot read password file "${file}": ${(err as Error).message}` };
  }
}
