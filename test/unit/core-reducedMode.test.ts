import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PgServerError } from '../../src/core/errors.js';
import { classifyReadError } from '../../src/core/reducedMode.js';

const err = (sqlstate: string, message: string, context?: string): PgServerError =>
  new PgServerError({ kind: 'error', stmt: 0, severity: 'ERROR', sqlstate, message, ...(context ? { context } : {}) });

test('a failed result_v2 read: the worker\'s error, relayed with its context, is the job\'s', () => {
  assert.equal(classifyReadError(err('42804', 'UNION types integer and date cannot be matched', 'background worker, pid 4242'))?.kind, 'worker');
  assert.equal(classifyReadError(err('57P01', 'terminating background worker "pg_background" due to administrator command', 'background worker, pid 4242'))?.kind, 'worker');
  assert.equal(classifyReadError(err('22012', 'division by zero'))?.kind, 'worker');
});

test('a failed result_v2 read: the reader\'s own refusals say nothing about the job', () => {
  assert.equal(classifyReadError(err('42804', 'remote query result rowtype does not match the specified FROM clause rowtype'))?.kind, 'unreadable');
  assert.equal(classifyReadError(err('XX000', 'multiple RowDescription messages'))?.kind, 'unreadable');
  assert.equal(classifyReadError(err('0A000', 'input of anonymous composite types is not implemented'))?.kind, 'unreadable');
  assert.equal(classifyReadError(err('08006', 'lost connection to worker process with PID 4242'))?.kind, 'lost');
});

test('a failed result_v2 read: a client-side failure is not classified', () => {
  assert.equal(classifyReadError(new Error('Connection terminated unexpectedly')), undefined);
});
