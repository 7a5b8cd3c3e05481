import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeProfile, splitUriPassword, toClientConfig, validateStoredProfile } from '../../src/vscode/profileConfig.js';
import { connectionNameFromArg, foreignWorkerFromArg, jobIdFromArg } from '../../src/vscode/treeNodes.js';

test('validateStoredProfile explains bad profiles (through the core profile module)', () => {
  assert.equal(validateStoredProfile({ name: 'a', host: 'localhost', port: 5432 }), undefined);
  assert.equal(validateStoredProfile({ name: 'b', uri: 'postgresql://u@h:5433/db?sslmode=require' }), undefined);
  assert.equal(typeof validateStoredProfile({ name: 'c', uri: 'mysql://x' }), 'string');
  assert.equal(typeof validateStoredProfile({ name: 'e', port: 70000 }), 'string');
  assert.equal(typeof validateStoredProfile({ name: ' ' }), 'string');
});

test('describeProfile never shows a password', () => {
  assert.equal(describeProfile({ name: 'x', uri: 'postgresql://bob:secret@db:5432/app' }).includes('secret'), false);
  assert.equal(describeProfile({ name: 'y', host: 'h', port: 1, user: 'u', database: 'd' }), 'u@h:1/d');
});

test('splitUriPassword moves the password out of the stored URI', () => {
  assert.deepEqual(splitUriPassword('postgresql://bob:s3cr%40t@db:5432/app'), { uri: 'postgresql://bob@db:5432/app', password: 's3cr@t' });
  assert.deepEqual(splitUriPassword('postgres://db/app?sslmode=require'), { uri: 'postgres://db/app?sslmode=require' });
});

test('toClientConfig uses the stored password first', async () => {
  const c = await toClientConfig({ name: 'x', host: 'h', port: 5, database: 'd', user: 'u', sslmode: 'disable' }, 'pw', () => undefined);
  assert.equal(c.host, 'h');
  assert.equal(c.port, 5);
  assert.equal(c.password, 'pw');
  assert.equal(c.ssl, false);
});

test('tree node arguments resolve from nodes, job-like objects and strings', () => {
  assert.equal(jobIdFromArg({ kind: 'job', id: 'j1' }), 'j1');
  assert.equal(jobIdFromArg('j2'), 'j2');
  assert.equal(jobIdFromArg({ id: 'j3', sql: 'x' }), 'j3');
  assert.equal(jobIdFromArg({ kind: 'connection', name: 'c' }), undefined);
  assert.equal(connectionNameFromArg({ kind: 'connection', name: 'c' }), 'c');
  assert.equal(connectionNameFromArg({ kind: 'others', connectionName: 'd' }), 'd');
  assert.equal(connectionNameFromArg(undefined), undefined);
  const worker = { connectionName: 'c', pid: 1, usename: 'u', query: 'q', state: 'active', applicationName: 'pg_background:2' };
  assert.equal(foreignWorkerFromArg({ kind: 'foreign', connectionName: 'c', worker })?.worker.pid, 1);
  assert.equal(foreignWorkerFromArg({ kind: 'job', id: 'x' }), undefined);
});
