// Durable jobs after a reload or restart (issue 11, design §8.2): right after activation (which
// stays offline), the connections of restored jobs are opened quietly, with their passwords from
// secret storage, the engine re-attaches those jobs, and then one "While you were away" message
// sums up what ended meanwhile. Nothing here pops up an error: a connection that cannot be
// opened shows on its tree node, and its jobs stay as the engine leaves them.

import type { JobManager, ServerJob } from '../core/jobManager.js';
import type { ConnectionSessions } from './connectionSessions.js';
import type { ConnectionStore } from './connectionStore.js';
import type { JobEvents } from './jobEvents.js';
import type { JobsTree } from './jobsTree.js';
import { errorText, type Log } from './log.js';

export interface ReattachDeps {
  engine: JobManager;
  sessions: ConnectionSessions;
  store: ConnectionStore;
  events: JobEvents;
  tree: JobsTree;
  log: Log;
}

export async function reattachAfterActivation({ engine, sessions, store, events, tree, log }: ReattachDeps): Promise<void> {
  try {
    const pending = events.reattachConnections();
    // The away summary also counts the active connection's jobs of other clients, when a previous
    // window was open here (that is what "away" is measured from).
    const active = store.activeName();
    const names = new Set(pending);
    if (active && events.hadPreviousWindow() && store.profile(active)) names.add(active);
    if (names.size === 0) return;
    await Promise.all([...names].map((name) => sessions.ensure(name, { interactive: false })));
    if (pending.length > 0) {
      log.info(`Re-attaching the jobs of the previous window on ${pending.map((n) => `"${n}"`).join(', ')}`);
      await engine.reattachAll();
    }
    const listings: ServerJob[] = [];
    for (const name of names) {
      if (!sessions.isConnected(name) || !sessions.state(name).capabilities?.attach) continue;
      try {
        listings.push(...(await engine.listServerJobs(name)));
      } catch (err) {
        log.debug(`Listing the server's jobs on "${name}" failed: ${errorText(err)}`);
      }
    }
    tree.scheduleRefresh();
    await events.reportAway(listings, () => tree.reveal());
  } catch (err) {
    log.error('Re-attaching the previous window\'s jobs failed', err);
  } finally {
    // Whatever happened, the summary's turn is over: later ends notify as usual.
    await events.reportAway([], () => tree.reveal()).catch(() => undefined);
  }
}
