import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatElapsed } from '../../src/core/elapsed.js';

test('formatElapsed: one short form for the Jobs tree, notifications and the result panel', () => {
  assert.equal(formatElapsed(0), '0.0s');
  assert.equal(formatElapsed(420), '0.4s');
  assert.equal(formatElapsed(850), '0.8s');
  assert.equal(formatElapsed(12_345), '12s');
  assert.equal(formatElapsed(65_000), '1m 05s');
  assert.equal(formatElapsed(185_000), '3m 05s');
  assert.equal(formatElapsed(3_723_000), '1h 02m');
  assert.equal(formatElapsed(7_380_000), '2h 03m');
  assert.equal(formatElapsed(-5), '0.0s');
  assert.equal(formatElapsed(Number.NaN), '0.0s');
});
