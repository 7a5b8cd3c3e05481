import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeProfile, toClientConfig, validateStoredProfile } from '../../src/vscode/profileConfig.js';
import { connectionNameFromArg, foreignWorkerFromArg, jobIdFromArg } from '../../src/vscode/treeNodes.js';

test('validateStoredProfile accepts field and URI profiles and explains bad ones', () => {
  assert.equal(validateStoredProfile({ name: 'a', host: 'localhost', port: 5432 }), undefined);
  assert.equal(validateStoredProfile({ name: 'b', uri: 'postgresql://u@h:5433/db?sslmode=require' }), undefined);
  assert.match(validateStoredProfile({ name: 'c', uri: 'mysql://x' }) ?? '', /postgresql:\/\//);
  assert.match(validateStoredProfile({ name: 'd', uri: 'not a uri' }) ?? '', /not a valid/);
  assert.match(validateStoredProfile({ name: 'e', port: 70000 }) ?? '', /port/);
  assert.match(validateStoredProfile({ name: ' ' }) ?? '', /name/);
});

test('describeProfile never shows a password', () => {
  assert.equal(describeProfile({ name: 'x', uri: 'postgresql://bob:secret@db:5432/app' }).includes('secret'), false);
  assert.equal(describeProfile({ name: 'y', host: 'h', port: 1, user: 'u', database: 'd' }), 'u@h:1/d');
});

test('toClientConfig maps fields, SSL modes and leaves a missing password to PGPASSWORD/.pgpass', () => {
  const c = toClientConfig({ name: 'x', host: 'h', port: 5, database: 'd', user: 'u', sslmode: 'require' }, undefined);
  assert.equal(c.host, 'h');
  assert.equal(c.port, 5);
  assert.deepEqual(c.ssl, { rejectUnauthorized: false });
  assert.equal('password' in c, false);
  assert.equal(toClientConfig({ name: 'x', sslmode: 'verify-full' }, 'pw').password, 'pw');
  assert.equal(toClientConfig({ name: 'x', sslmode: 'disable' }, undefined).ssl, false);
  assert.equal(toClientConfig({ name: 'x', uri: 'postgresql://h/d' }, undefined).connectionString, 'postgresql://h/d');
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
