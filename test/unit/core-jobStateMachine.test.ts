import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFinal, nextState, outcomeFromServerState, type JobEvent } from '../../src/core/jobStateMachine.js';
import type { JobState } from '../../src/core/model.js';

const run = (events: JobEvent[], from: JobState = 'launching'): JobState => events.reduce(nextState, from);

describe('jobStateMachine', () => {
  it('launch then complete', () => {
    assert.equal(run([{ type: 'launched' }]), 'running');
    assert.equal(run([{ type: 'launched' }, { type: 'done', outcome: 'completed' }]), 'completed');
  });
  it('launch failure is an error', () => {
    assert.equal(run([{ type: 'launchFailed' }]), 'error');
    assert.equal(run([{ type: 'launchFailed' }], 'running'), 'running');
  });
  it('every server outcome is final', () => {
    for (const outcome of ['completed', 'error', 'canceled', 'lost'] as const) {
      const s = run([{ type: 'launched' }, { type: 'done', outcome }]);
      assert.equal(s, outcome);
      assert.ok(isFinal(s));
    }
  });
  it('detach only from running, and it is final', () => {
    assert.equal(run([{ type: 'detached' }]), 'launching');
    assert.equal(run([{ type: 'launched' }, { type: 'detached' }]), 'detached');
    assert.equal(run([{ type: 'launched' }, { type: 'detached' }, { type: 'done', outcome: 'completed' }]), 'detached');
  });
  it('a dropped session loses launching and running jobs, not finished ones', () => {
    assert.equal(run([{ type: 'sessionLost' }]), 'lost');
    assert.equal(run([{ type: 'launched' }, { type: 'sessionLost' }]), 'lost');
    assert.equal(run([{ type: 'launched' }, { type: 'done', outcome: 'canceled' }, { type: 'sessionLost' }]), 'canceled');
  });
  it('final states are sticky', () => {
    for (const s of ['completed', 'error', 'canceled', 'detached', 'lost'] as const) {
      for (const e of [{ type: 'launched' }, { type: 'sessionLost' }, { type: 'done', outcome: 'completed' }, { type: 'detached' }] as JobEvent[]) {
        assert.equal(nextState(s, e), s);
      }
    }
  });
  it('maps server states', () => {
    assert.equal(outcomeFromServerState('stopped'), 'completed');
    assert.equal(outcomeFromServerState('completed'), 'completed');
    assert.equal(outcomeFromServerState('canceled'), 'canceled');
    assert.equal(outcomeFromServerState('error'), 'error');
    assert.equal(outcomeFromServerState('lost'), 'lost');
    assert.equal(outcomeFromServerState('running'), undefined);
  });
});
