import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, parseDuration } from '../../src/vscode/durations.js';
import { describeConnectionError } from '../../src/vscode/connectionErrors.js';

test('parseDuration accepts units and bare seconds', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('5s'), 5000);
  assert.equal(parseDuration(' 1.5 s '), 1500);
  assert.equal(parseDuration('2m'), 120_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('10'), 10_000);
});

test('parseDuration rejects garbage, zero and values beyond int4', () => {
  assert.equal(typeof parseDuration('soon'), 'string');
  assert.equal(typeof parseDuration('-5s'), 'string');
  assert.equal(typeof parseDuration('0'), 'string');
  assert.equal(parseDuration('0', { allowZero: true }), 0);
  assert.equal(typeof parseDuration('25d'), 'string');
  assert.equal(typeof parseDuration('999999999s'), 'string');
});

test('formatDuration round-trips through parseDuration', () => {
  for (const ms of [500, 1500, 5000, 60_000, 120_000, 3_600_000]) {
    assert.equal(parseDuration(formatDuration(ms)), ms);
  }
});

test('describeConnectionError names the problem', () => {
  assert.equal(describeConnectionError({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:1' }, 'db').kind, 'refused');
  assert.equal(describeConnectionError({ code: '28P01', message: 'password authentication failed for user "x"' }, 'db').kind, 'auth');
  assert.equal(describeConnectionError(new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string'), 'db').kind, 'password-missing');
  assert.equal(describeConnectionError(new Error('The server does not support SSL connections'), 'db').kind, 'ssl');
  assert.equal(describeConnectionError({ code: '3D000', message: 'database "nope" does not exist' }, 'db').kind, 'database');
  assert.equal(describeConnectionError(new Error('Connection terminated due to connection timeout'), 'db').kind, 'timeout');
  assert.equal(describeConnectionError('weird', 'db').kind, 'other');
});

test('formatSeconds pre-fills a seconds prompt that parseDuration reads back', async () => {
  const { formatSeconds } = await import('../../src/vscode/durations.js');
  assert.equal(formatSeconds(5000), '5');
  assert.equal(formatSeconds(1500), '1.5');
  assert.equal(parseDuration(formatSeconds(250)), 250);
});
