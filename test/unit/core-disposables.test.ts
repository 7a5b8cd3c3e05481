import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DisposableStore } from '../../src/core/disposables.js';

test('DisposableStore disposes everything once, in the order added, and late additions at once', () => {
  const order: string[] = [];
  const d = (name: string) => ({ dispose: () => order.push(name) });
  const store = new DisposableStore();
  store.add(d('a'), d('b'));
  store.add(d('c'));
  store.dispose();
  store.dispose();
  assert.deepEqual(order, ['a', 'b', 'c']);
  store.add(d('late'));
  assert.deepEqual(order, ['a', 'b', 'c', 'late']);
});
