// Data for the browser tests: a ResultStore over generated rows (so a 1,000,000-row result costs
// nothing to hold: row i is computed when asked) and a PanelHost that records what the panel
// asked of the extension. The webview talks to the real PanelController in front of these;
// the store backed by a real job is exercised in controller-pg.test.ts.

import type { ColumnInfo, Disposable, Event, JobInfo, Listener, ResultStore, Row, ServerMessage, StatementInfo } from '../../src/core/model';
import type { PanelHost } from '../../src/panel/controller';

export class TestEmitter<T> {
  private listeners = new Set<Listener<T>>();
  readonly event: Event<T> = (listener: Listener<T>): Disposable => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };
  fire(v: T): void {
    for (const l of [...this.listeners]) l(v);
  }
}

export interface GenStatement {
  columns?: ColumnInfo[];
  rowCount: number;
  commandTag?: string;
  /** Row i of the statement. */
  row?: (i: number) => Row;
}

export const col = (name: string, type: string, typeOid: number): ColumnInfo => ({ name, type, typeOid, typmod: -1 });

export class GeneratedStore implements ResultStore {
  private readonly changed = new TestEmitter<void>();
  readonly onDidChange = this.changed.event;
  complete = false;
  /** Every getRows call, for assertions about what the panel asked for. */
  readonly reads: { stmt: number; start: number; count: number }[] = [];

  constructor(
    readonly jobId: string,
    readonly stmts: GenStatement[],
    readonly msgs: ServerMessage[] = [],
  ) {}

  statements(): StatementInfo[] {
    return this.stmts.map((s, i) => {
      const info: StatementInfo = { stmt: i + 1, rowCount: s.rowCount };
      if (s.columns) info.columns = s.columns;
      if (s.commandTag) info.commandTag = s.commandTag;
      return info;
    });
  }

  messages(): ServerMessage[] {
    return [...this.msgs];
  }

  async getRows(stmt: number, start: number, count: number): Promise<Row[]> {
    this.reads.push({ stmt, start, count });
    const s = this.stmts[stmt - 1];
    if (!s?.row) return [];
    const end = Math.min(s.rowCount, start + count);
    const out: Row[] = [];
    for (let i = start; i < end; i++) out.push(s.row(i));
    return out;
  }

  async *iterateRows(stmt: number, from = 0): AsyncIterable<Row> {
    const s = this.stmts[stmt - 1];
    if (!s?.row) return;
    for (let i = from; i < s.rowCount; i++) yield s.row(i);
  }

  /** Simulates rows/statements/messages arriving from a running job. */
  grow(mutate: () => void): void {
    mutate();
    this.changed.fire();
  }

  dispose(): void {}
}

export class TestHost implements PanelHost {
  readonly jobs = new Map<string, JobInfo>();
  readonly stores = new Map<string, ResultStore>();
  readonly canceled: string[] = [];
  readonly gotoErrors: { jobId: string; position: number }[] = [];
  readonly logs: string[] = [];
  private readonly changed = new TestEmitter<JobInfo>();
  readonly onDidChangeJob = this.changed.event;
  readonly log = (msg: string): void => {
    this.logs.push(msg);
  };

  add(job: JobInfo, store?: ResultStore): void {
    this.jobs.set(job.id, job);
    if (store) this.stores.set(job.id, store);
  }

  update(id: string, patch: Partial<JobInfo>): void {
    const job = { ...this.jobs.get(id)!, ...patch };
    this.jobs.set(id, job);
    this.changed.fire(job);
  }

  job(id: string): JobInfo | undefined {
    return this.jobs.get(id);
  }
  store(id: string): ResultStore | undefined {
    return this.stores.get(id);
  }
  async cancel(id: string): Promise<void> {
    this.canceled.push(id);
  }
  async goToError(jobId: string, position: number): Promise<void> {
    this.gotoErrors.push({ jobId, position });
  }
}

export function makeJob(id: string, sql: string, patch: Partial<JobInfo> = {}): JobInfo {
  return {
    id,
    connectionName: 'local',
    sql,
    mode: 'launch',
    state: 'completed',
    launchedAt: Date.now() - 4200,
    endedAt: Date.now(),
    rowsReceived: 0,
    hasResult: true,
    source: { uri: 'file:///work/demo.sql', offset: 0 },
    ...patch,
  };
}

/** The classic benchmark shape: `SELECT g, md5(g::text), … FROM generate_series(1, n) g`. */
export function bigStatement(n: number): GenStatement {
  return {
    columns: [col('g', 'integer', 23), col('md5', 'text', 25), col('even', 'boolean', 16), col('note', 'text', 25), col('price', 'numeric(10,2)', 1700)],
    rowCount: n,
    commandTag: `SELECT ${n}`,
    row: (i) => {
      const g = i + 1;
      return [String(g), fakeMd5(g), g % 2 === 0 ? 't' : 'f', g % 7 === 0 ? null : g % 5 === 0 ? '' : `item ${g}`, (g * 1.25).toFixed(2)];
    },
  };
}

/** A cheap deterministic 32-hex-digit string per row (not a real md5; only needs to be unique). */
export function fakeMd5(g: number): string {
  let h1 = 0x811c9dc5 ^ g;
  let out = '';
  for (let k = 0; k < 4; k++) {
    h1 = Math.imul(h1 ^ (h1 >>> 15), 0x2c1b3c6d) ^ (g + k * 0x9e3779b9);
    h1 = Math.imul(h1 ^ (h1 >>> 12), 0x297a2d39);
    out += (h1 >>> 0).toString(16).padStart(8, '0');
  }
  return out;
}
