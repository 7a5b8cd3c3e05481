// The job lifecycle as a pure function, so every path that changes a job's state (launch, drain,
// cancel, detach, a dropped session, a restored history) obeys the same rules and is unit-tested.
//
//   launching --launched--> running --done(x)--> completed | error | canceled | lost | finished
//   launching --launchFailed--> error            running --detached--> detached
//   launching | running --sessionLost--> lost
// Final states are sticky: a late event (a `done` arriving after a detach, a session drop after
// completion) never rewrites an outcome the user has already seen.

import { FINAL_STATES, type JobState } from './model.js';

export type JobEvent =
  | { type: 'launched' }
  | { type: 'launchFailed' }
  | { type: 'done'; outcome: 'completed' | 'error' | 'canceled' | 'lost' | 'finished' }
  | { type: 'detached' }
  | { type: 'sessionLost' };

export function isFinal(state: JobState): boolean {
  return FINAL_STATES.has(state);
}

/** The state after `event`; unchanged when the event does not apply in `state`. */
export function nextState(state: JobState, event: JobEvent): JobState {
  if (isFinal(state)) return state;
  switch (event.type) {
    case 'launched':
      return state === 'launching' ? 'running' : state;
    case 'launchFailed':
      return state === 'launching' ? 'error' : state;
    case 'done':
      // A worker can finish before we even saw launch_v2 return in theory; accept from both.
      return event.outcome;
    case 'detached':
      return state === 'running' ? 'detached' : state;
    case 'sessionLost':
      return 'lost';
  }
}

/** Maps a fetch_v2 `done` state or list_v2 state to an outcome. */
export function outcomeFromServerState(state: string): 'completed' | 'error' | 'canceled' | 'lost' | undefined {
  switch (state) {
    case 'completed':
    case 'stopped':
      return 'completed';
    case 'error':
      return 'error';
    case 'canceled':
      return 'canceled';
    case 'lost':
      return 'lost';
    default:
      return undefined;
  }
}
