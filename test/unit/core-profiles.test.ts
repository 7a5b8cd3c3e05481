import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { describeTarget, effectiveTarget, parseConnectionUri, resolveClientConfig, validateProfile } from '../../src/core/connectionProfile.js';
import { lookupPgpass, parsePgpass, readPgpassFile } from '../../src/core/pgpass.js';
import { readPgEnv } from '../../src/core/pgEnv.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgbg-prof-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const noEnv = { PGPASSFILE: path.join(dir, 'none') };

describe('parseConnectionUri', () => {
  it('reads user, password, host, port, database and parameters', () => {
    assert.deepEqual(parseConnectionUri('postgresql://al%40ice:p%3Ass@db.example.com:6543/sales%20db?sslmode=require&application_name=x'), {
      user: 'al@ice',
      password: 'p:ss',
      host: 'db.example.com',
      port: 6543,
      database: 'sales db',
      sslmode: 'require',
      applicationName: 'x',
    });
    assert.deepEqual(parseConnectionUri('postgres://[::1]:5433/d'), { host: '::1', port: 5433, database: 'd' });
    assert.deepEqual(parseConnectionUri('postgresql:///mydb?host=/var/run/postgresql'), { database: 'mydb', host: '/var/run/postgresql' });
    assert.deepEqual(parseConnectionUri('postgresql://%2Fvar%2Frun%2Fpostgresql/db'), { host: '/var/run/postgresql', database: 'db' });
    assert.deepEqual(parseConnectionUri('postgresql://'), {});
  });
  it('rejects bad URIs with readable messages', () => {
    assert.throws(() => parseConnectionUri('mysql://x'), /postgresql:\/\//);
    assert.throws(() => parseConnectionUri('postgresql://h:99999/d'), /port/);
    assert.throws(() => parseConnectionUri('postgresql://h:abc/d'), /port/);
    assert.throws(() => parseConnectionUri('postgresql://h/d?sslmode=sometimes'), /sslmode/);
    assert.throws(() => parseConnectionUri('postgresql://a,b/d'), /several hosts/);
  });
});

describe('validateProfile', () => {
  it('accepts good profiles and explains bad ones', () => {
    assert.equal(validateProfile({ name: 'a', host: 'h', port: 5432 }), undefined);
    assert.equal(validateProfile({ name: 'u', uri: 'postgresql://h/d' }), undefined);
    assert.match(validateProfile({ name: '' }) ?? '', /name/);
    assert.match(validateProfile({ name: 'p', port: 0 }) ?? '', /port/);
    assert.match(validateProfile({ name: 'p', uri: 'http://x' }) ?? '', /postgresql/);
    assert.match(validateProfile({ name: 'p', host: 'a b' }) ?? '', /spaces/);
  });
});

describe('precedence like psql', () => {
  const env = readPgEnv({ PGHOST: 'envhost', PGPORT: '6000', PGUSER: 'envuser', PGDATABASE: 'envdb', PGSSLMODE: 'disable' });
  it('profile field > URI > environment > defaults', () => {
    const t = effectiveTarget({ name: 'x', uri: 'postgresql://uriuser@urihost/uridb', port: 7000 }, env);
    assert.deepEqual([t.host, t.port, t.database, t.user, t.sslmode], ['urihost', 7000, 'uridb', 'uriuser', 'disable']);
    const e = effectiveTarget({ name: 'x' }, env);
    assert.deepEqual([e.host, e.port, e.database, e.user], ['envhost', 6000, 'envdb', 'envuser']);
    const d = effectiveTarget({ name: 'x', user: 'bob' }, readPgEnv({}));
    assert.deepEqual([d.host, d.port, d.database, d.user, d.sslmode], ['localhost', 5432, 'bob', 'bob', 'prefer']);
    assert.equal(describeTarget({ name: 'x', host: 'h', user: 'u', database: 'd' }, readPgEnv({})), 'u@h:5432/d');
  });
});

describe('pgpass', () => {
  const text = [
    '# comment',
    'db.example.com:5432:sales:alice:s3cret',
    'localhost:*:*:bob:local\\:pw\\\\x',
    '*:*:*:*:fallback',
    'malformed:line',
  ].join('\n');
  const entries = parsePgpass(text);
  it('parses lines, escapes and wildcards; first match wins', () => {
    assert.equal(entries.length, 3);
    assert.equal(lookupPgpass(entries, { host: 'db.example.com', port: 5432, database: 'sales', user: 'alice' }), 's3cret');
    assert.equal(lookupPgpass(entries, { host: 'db.example.com', port: 5433, database: 'sales', user: 'alice' }), 'fallback');
    assert.equal(lookupPgpass(entries, { host: 'localhost', port: 1, database: 'x', user: 'bob' }), 'local:pw\\x');
    // A Unix-socket host matches "localhost", as in libpq.
    assert.equal(lookupPgpass(entries, { host: '/var/run/postgresql', port: 5432, database: 'x', user: 'bob' }), 'local:pw\\x');
    assert.equal(lookupPgpass(parsePgpass('h:1:d:u:p'), { host: 'h', port: 2, database: 'd', user: 'u' }), undefined);
  });
  it('ignores a file readable by group or others (POSIX)', () => {
    const file = path.join(dir, 'pgpass-open');
    fs.writeFileSync(file, '*:*:*:*:pw\n');
    fs.chmodSync(file, 0o644);
    const open = readPgpassFile(file, 'linux');
    assert.equal(open.entries.length, 0);
    assert.match(open.warning ?? '', /0600/);
    fs.chmodSync(file, 0o600);
    assert.equal(readPgpassFile(file, 'linux').entries.length, 1);
    assert.deepEqual(readPgpassFile(path.join(dir, 'missing'), 'linux'), { entries: [] });
  });
});

describe('resolveClientConfig', () => {
  const pgpass = path.join(dir, 'pgpass');
  fs.writeFileSync(pgpass, 'h1:5432:d1:u1:from-pgpass\n', { mode: 0o600 });
  fs.chmodSync(pgpass, 0o600);
  it('password: given > URI > PGPASSWORD > .pgpass', async () => {
    const base = { name: 'x', host: 'h1', database: 'd1', user: 'u1', sslmode: 'disable' as const };
    assert.equal((await resolveClientConfig(base, { env: { PGPASSFILE: pgpass } })).password, 'from-pgpass');
    assert.equal((await resolveClientConfig(base, { env: { PGPASSFILE: pgpass, PGPASSWORD: 'from-env' } })).password, 'from-env');
    assert.equal((await resolveClientConfig({ ...base, uri: 'postgresql://:from-uri@h1/d1' }, { env: { PGPASSFILE: pgpass, PGPASSWORD: 'e' } })).password, 'from-uri');
    assert.equal((await resolveClientConfig(base, { env: { PGPASSFILE: pgpass }, password: 'given' })).password, 'given');
    const lazy = await resolveClientConfig(base, { env: { PGPASSFILE: pgpass }, password: async () => undefined });
    assert.equal(typeof lazy.password, 'function');
    assert.equal(await (lazy.password as () => Promise<string>)(), 'from-pgpass');
    assert.equal((await resolveClientConfig({ ...base, host: 'other' }, { env: noEnv })).password, undefined);
  });
  it('maps sslmode to pg TLS options', async () => {
    const cfg = (sslmode: 'disable' | 'prefer' | 'require' | 'verify-full') => resolveClientConfig({ name: 'x', host: 'h', sslmode }, { env: { ...noEnv, PGSSLROOTCERT: path.join(dir, 'none.crt') } });
    assert.equal((await cfg('disable')).ssl, false);
    assert.equal((await cfg('prefer')).ssl, false);
    assert.deepEqual((await cfg('require')).ssl, { rejectUnauthorized: false });
    const full = (await cfg('verify-full')).ssl as { rejectUnauthorized: boolean; servername: string };
    assert.equal(full.rejectUnauthorized, true);
    assert.equal(full.servername, 'h');
  });
  it('refuses an invalid profile with its message', async () => {
    await assert.rejects(resolveClientConfig({ name: 'x', port: 70000 }), /port/);
  });
});
