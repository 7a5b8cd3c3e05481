// The vocabulary shared by the job engine (src/core), the VS Code layer (src/vscode) and the
// result panel (src/panel, webview). Nothing here imports `vscode`, so the engine and its tests
// run in plain Node against a real PostgreSQL.

/** Lifecycle of a job as the user sees it; a value, so the webview can validate a state it is sent. */
export const JOB_STATES = [
  'launching', // launch_v2/submit_v2 in flight
  'running', // worker running, results being drained
  'completed',
  'error',
  'canceled',
  'detached', // we let go of the handle; the worker goes on without us
  'lost', // the worker or our launcher session vanished without a report
  'finished', // the worker ended, but the server (original pg_background) did not say how
] as const;
export type JobState = (typeof JOB_STATES)[number];

export const FINAL_STATES: ReadonlySet<JobState> = new Set(['completed', 'error', 'canceled', 'detached', 'lost', 'finished']);

/** One column of a statement's result, as fetch_v2's `columns` message describes it. */
export interface ColumnInfo {
  name: string;
  /** format_type() text, e.g. "character varying(20)". */
  type: string;
  typeOid: number;
  typmod: number;
}

/** A notice or error raised by the worker (fetch_v2 `notice` / `error`). */
export interface ServerMessage {
  kind: 'notice' | 'error';
  /** 1-based statement number inside the submitted SQL. */
  stmt: number;
  severity: string;
  sqlstate: string;
  message: string;
  detail?: string;
  hint?: string;
  /** 1-based character position inside the submitted SQL, when the server gave one. */
  position?: number;
  context?: string;
}

/** What is known about one statement of a job. */
export interface StatementInfo {
  /** 1-based statement number. */
  stmt: number;
  /** Present when the statement returns rows (even zero of them). */
  columns?: ColumnInfo[];
  rowCount: number;
  /** e.g. "UPDATE 42", once the statement has completed. */
  commandTag?: string;
  commandRows?: number;
}

/** A row as received: each value's text output, or null for SQL NULL. */
export type Row = (string | null)[];

export interface Disposable {
  dispose(): void;
}

/** Minimal event type so the engine needs no `vscode` import. */
export type Listener<T> = (value: T) => void;
export interface Event<T> {
  (listener: Listener<T>): Disposable;
}

/** Read side of a job's results; the panel pages through this and nothing else. */
export interface ResultStore extends Disposable {
  readonly jobId: string;
  /** Statements seen so far, in order. */
  statements(): StatementInfo[];
  /** Notices and errors in arrival order. */
  messages(): ServerMessage[];
  /**
   * Rows [start, start+count) of statement `stmt`, clipped to what has arrived. `cache: false`
   * (a scan over the whole result: sort, filter, statistics) keeps the rows it reads out of the
   * store's page cache, so a scan neither evicts what the grid shows nor keeps rows alive.
   */
  getRows(stmt: number, start: number, count: number, opts?: { cache?: boolean }): Promise<Row[]>;
  /** Streams every row of `stmt` from `from`, for export; never loads them all into memory. */
  iterateRows(stmt: number, from?: number): AsyncIterable<Row>;
  /** Fired (coalesced) whenever statements, rows or messages were added. */
  readonly onDidChange: Event<void>;
  /** True once the job has ended and no more data will arrive. */
  readonly complete: boolean;
}

/** Where the SQL came from, so "Go to error" can map a position back into the document. */
export interface SqlSource {
  uri: string;
  /** Character offset of the submitted SQL inside the document. */
  offset: number;
}

/** A snapshot of a job for the tree, notifications and history. */
export interface JobInfo {
  id: string;
  connectionName: string;
  sql: string;
  source?: SqlSource;
  mode: 'launch' | 'submit';
  state: JobState;
  pid?: number;
  cookie?: string; // int8 kept as a string: it does not fit a JS number
  launchedAt: number; // epoch ms
  endedAt?: number;
  rowsReceived: number;
  progressPct?: number;
  progressMsg?: string;
  /** The last error, if any, for the tree's tooltip and history. */
  error?: ServerMessage;
  /** Set when results are held in a ResultStore that can still be read. */
  hasResult: boolean;
  /** Human-readable remark, e.g. why a job is `lost` or that it ran in reduced mode. */
  note?: string;
  /** The server lacked fetch_v2: results came from result_v2 with a described column list. */
  reducedMode?: boolean;
  /**
   * The job can survive a window reload and a dropped connection: the server has
   * pg_background_attach_v2 (and durable jobs are on). False or absent: as before 1.10.
   */
  durable?: boolean;
  /** The engine is re-attaching this job (after a reload or a dropped session); rows resume after. */
  reconnecting?: boolean;
}
