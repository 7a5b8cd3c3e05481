// What the durable-job modules (durableJobs.ts, serverJobActions.ts) may use of the job manager:
// its registry, records and events. Kept narrow so they cannot change a job except through the
// same transition and change events as everything else.

import type { ConnectionRegistry } from './connectionRegistry.js';
import type { DrainContext, DrainStrategy } from './drain.js';
import type { SessionLostEvent, WaitOptions, WaitOutcome } from './engineTypes.js';
import type { JobRecord } from './jobRecord.js';
import type { SpooledResultStore } from './resultStore.js';

export interface EngineInternals {
  readonly registry: ConnectionRegistry;
  /** settings, log, transition, onHandle and stopped() (the engine is being disposed). */
  readonly drainContext: DrainContext;
  readonly fetchDrain: DrainStrategy;
  records(): Iterable<JobRecord>;
  /** Adds a new record (and to its connection's jobs). */
  addRecord(job: JobRecord): void;
  emitChange(job: JobRecord): void;
  newJobId(): string;
  newStore(jobId: string, journal: boolean): SpooledResultStore;
  /** Gives the job its store and forwards the store's change signal as job changes. */
  attachStore(job: JobRecord, store: SpooledResultStore): void;
  cancel(id: string, graceMs?: number): Promise<void>;
  wait(id: string, options: WaitOptions): Promise<WaitOutcome>;
  detach(id: string): Promise<void>;
  /** Reports jobs lost with their session (onDidLoseSession). */
  sessionLost(event: SessionLostEvent): void;
}
