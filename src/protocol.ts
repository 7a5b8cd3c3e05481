// The one message protocol between a result panel's controller (extension host, src/panel) and
// its webview (webview/). Both sides import this module, so a change to a message shape is a
// compile error on whichever side forgot it. Messages cross a postMessage boundary, so each
// direction also has a validator: the host treats webview input as untrusted (a compromised
// webview must not make it do arbitrary work), and the webview checks what it is given before
// rendering it.
//
// Row data never travels in bulk: the webview asks for ranges of rows as the user scrolls
// (`getRows`), the controller answers each request from the ResultStore (`rows`), and both sides
// keep only what they are currently showing (bounded caches). Copy and export name a range and
// the host reads it from the store itself. Sort, filter, find, statistics and chart are computed
// by the host too; their messages live in toolsProtocol.ts (re-exported here), each beside its
// validator like the messages here.

import { JOB_STATES, type ColumnInfo, type JobState, type Row, type ServerMessage } from './core/model';
import { isInt, isObj, isStr, optNum, optStr } from './protocolChecks';
import { checkToolHostMessage, checkToolWebviewMessage, isViewSpec, type ToolHostMessage, type ToolWebviewMessage, type ViewSpec } from './toolsProtocol';

export * from './toolsProtocol';

export const VIEW_TYPE = 'pgBackground.result';

/** A job as the panel header needs it (a trimmed JobInfo: no SQL text beyond a preview). */
export interface JobSnapshot {
  id: string;
  /** Panel/tab title: connection and first line of the SQL. */
  title: string;
  connectionName: string;
  state: JobState;
  launchedAt: number;
  endedAt?: number;
  rowsReceived: number;
  progressPct?: number;
  progressMsg?: string;
  /** True when the SQL came from a document, so "Go to error" can work. */
  hasSource: boolean;
}

/** One statement's shape; rowCount grows while the job runs. */
export interface StatementSnapshot {
  stmt: number;
  columns?: ColumnInfo[];
  rowCount: number;
  commandTag?: string;
}

/** What the webview persists through vscode.setState, and what the serializer gets back. */
export interface PersistedState {
  v: 1;
  jobId: string;
  /** 'messages' or 'stmt:<n>'. */
  activeTab?: string;
  /** Per statement: first visible row and horizontal scroll offset. */
  scroll?: Record<string, { row: number; left: number }>;
  /** Per statement: user-resized column widths in px. */
  widths?: Record<string, number[]>;
  /** Per statement: sort and filter. */
  views?: Record<string, ViewSpec>;
}

export type ExportFormat = 'csv' | 'json';
/** "shown": the rows as the grid shows them (filtered, sorted); "all": every row in arrival order. */
export type RowScope = 'shown' | 'all';
export type CopyFormat = 'tsv' | 'markdown';

// ---------------------------------------------------------------------------------------------
// Extension -> webview

export type HostMessage =
  /** Sent in answer to `ready`: everything but rows. */
  | {
      type: 'init';
      jobId: string;
      job: JobSnapshot | null;
      statements: StatementSnapshot[];
      messages: ServerMessage[];
      /** Set when the store is gone (job cleared, window reloaded): the panel explains instead. */
      unavailable?: string;
    }
  /** Job status (state, counts, progress); throttled by the controller. */
  | { type: 'job'; job: JobSnapshot }
  /** The full (small) statement list whenever a statement was added or its row count moved. */
  | { type: 'statements'; statements: StatementSnapshot[] }
  /** Messages appended since the last push; `from` is the index of the first one. */
  | { type: 'messages'; from: number; messages: ServerMessage[] }
  /**
   * Answer to getRows. `rows` may be shorter than asked (clipped to what has arrived).
   * `cut` lists [rowOffset, column, fullLength] for values shortened to maxValueLength.
   */
  | { type: 'rows'; reqId: number; stmt: number; start: number; rows: Row[]; cut?: [number, number, number][]; view?: number }
  | { type: 'rowsError'; reqId: number; message: string }
  /** The store vanished while the panel was open (job cleared). */
  | { type: 'unavailable'; reason: string }
  /** Answer to copyRange: what went to the clipboard. */
  | { type: 'copied'; rows: number; cols: number }
  | ToolHostMessage;


// ---------------------------------------------------------------------------------------------
// Webview -> extension

export type WebviewMessage =
  /** The webview script is up; the controller replies with `init`. */
  | { type: 'ready'; state?: PersistedState }
  /** `maxValueLength` asks for long values shortened (display rows); without it values come whole. */
  | { type: 'getRows'; reqId: number; stmt: number; start: number; count: number; maxValueLength?: number; view?: number }
  | { type: 'cancel' }
  | { type: 'goToError'; position: number }
  | { type: 'export'; stmt: number; format: ExportFormat; scope?: RowScope }
  /**
   * Copy the selected rectangle (inclusive; view rows when `scope` is "shown", the default) as TSV
   * or a Markdown table; "all" copies columns c0..c1 of every row. The host answers `copied`.
   */
  | { type: 'copyRange'; stmt: number; r0: number; r1: number; c0: number; c1: number; format?: CopyFormat; scope?: RowScope }
  | ToolWebviewMessage
  /** Text the webview already holds (the detail pane's whole value) for the clipboard. */
  | { type: 'copyText'; text: string }
  /** Persisted view state changed (also kept by vscode.setState; the host uses it for the serializer). */
  | { type: 'state'; state: PersistedState }
  /** A notice for the user the webview cannot show itself (e.g. a copy that was capped). */
  | { type: 'info'; message: string };

/**
 * reqId of a `rows` message nobody asked for: the host pushes the first block of a statement as
 * soon as it has rows, so the grid paints them without waiting for a getRows round trip.
 */
export const PUSHED_ROWS_REQ_ID = 0;
/** Rows per block of the webview's row cache, and so the size of the pushed first block. */
export const VIEW_BLOCK_ROWS = 100;
/** Values longer than this are shortened by the host for display rows. */
export const VIEW_MAX_VALUE_LENGTH = 4000;

/** Most rows one getRows may ask for. */
export const MAX_ROWS_PER_REQUEST = 5000;
/** Most rows a single copy gathers; beyond this the user is pointed at Export. */
export const MAX_COPY_ROWS = 100_000;
/** Longest text a copy puts on the clipboard (chars). */
export const MAX_COPY_CHARS = 64 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Validators (their building blocks: protocolChecks.ts).

const isJobState = (v: unknown): v is JobState => (JOB_STATES as readonly unknown[]).includes(v);

export function isPersistedState(v: unknown): v is PersistedState {
  if (!isObj(v) || v.v !== 1 || !isStr(v.jobId) || !optStr(v.activeTab)) return false;
  if (v.scroll !== undefined) {
    if (!isObj(v.scroll)) return false;
    for (const s of Object.values(v.scroll)) {
      if (!isObj(s) || !isInt(s.row) || typeof s.left !== 'number' || !Number.isFinite(s.left)) return false;
    }
  }
  if (v.widths !== undefined) {
    if (!isObj(v.widths)) return false;
    for (const w of Object.values(v.widths)) {
      if (!Array.isArray(w) || !w.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0)) return false;
    }
  }
  if (v.views !== undefined) {
    if (!isObj(v.views)) return false;
    for (const spec of Object.values(v.views)) if (!isViewSpec(spec)) return false;
  }
  return true;
}

function isColumn(v: unknown): v is ColumnInfo {
  return isObj(v) && isStr(v.name) && isStr(v.type) && typeof v.typeOid === 'number' && typeof v.typmod === 'number';
}

function isStatement(v: unknown): v is StatementSnapshot {
  return (
    isObj(v) &&
    isInt(v.stmt, 1) &&
    isInt(v.rowCount) &&
    optStr(v.commandTag) &&
    (v.columns === undefined || (Array.isArray(v.columns) && v.columns.every(isColumn)))
  );
}

function isServerMessage(v: unknown): v is ServerMessage {
  return (
    isObj(v) &&
    (v.kind === 'notice' || v.kind === 'error') &&
    typeof v.stmt === 'number' &&
    isStr(v.severity) &&
    isStr(v.sqlstate) &&
    isStr(v.message) &&
    optStr(v.detail) &&
    optStr(v.hint) &&
    optStr(v.context) &&
    optNum(v.position)
  );
}

export function isJobSnapshot(v: unknown): v is JobSnapshot {
  return (
    isObj(v) &&
    isStr(v.id) &&
    isStr(v.title) &&
    isStr(v.connectionName) &&
    isJobState(v.state) &&
    typeof v.launchedAt === 'number' &&
    optNum(v.endedAt) &&
    isInt(v.rowsReceived) &&
    optNum(v.progressPct) &&
    optStr(v.progressMsg) &&
    typeof v.hasSource === 'boolean'
  );
}

const isRow = (v: unknown): v is Row => Array.isArray(v) && v.every((x) => x === null || typeof x === 'string');

export function isHostMessage(v: unknown): v is HostMessage {
  if (!isObj(v) || !isStr(v.type)) return false;
  switch (v.type) {
    case 'init':
      return (
        isStr(v.jobId) &&
        (v.job === null || isJobSnapshot(v.job)) &&
        Array.isArray(v.statements) &&
        v.statements.every(isStatement) &&
        Array.isArray(v.messages) &&
        v.messages.every(isServerMessage) &&
        optStr(v.unavailable)
      );
    case 'job':
      return isJobSnapshot(v.job);
    case 'statements':
      return Array.isArray(v.statements) && v.statements.every(isStatement);
    case 'messages':
      return isInt(v.from) && Array.isArray(v.messages) && v.messages.every(isServerMessage);
    case 'rows':
      return (
        isInt(v.reqId) &&
        isInt(v.stmt, 1) &&
        isInt(v.start) &&
        Array.isArray(v.rows) &&
        v.rows.every(isRow) &&
        (v.cut === undefined ||
          (Array.isArray(v.cut) && v.cut.every((c) => Array.isArray(c) && c.length === 3 && c.every((n) => isInt(n))))) &&
        (v.view === undefined || isInt(v.view))
      );
    case 'rowsError':
      return isInt(v.reqId) && isStr(v.message);
    case 'unavailable':
      return isStr(v.reason);
    case 'copied':
      return isInt(v.rows) && isInt(v.cols);
    default:
      return checkToolHostMessage(v) ?? false;
  }
}

const optScope = (v: unknown): boolean => v === undefined || v === 'shown' || v === 'all';

export function isWebviewMessage(v: unknown): v is WebviewMessage {
  if (!isObj(v) || !isStr(v.type)) return false;
  switch (v.type) {
    case 'ready':
      return v.state === undefined || isPersistedState(v.state);
    case 'getRows':
      return (
        isInt(v.reqId) &&
        isInt(v.stmt, 1) &&
        isInt(v.start) &&
        isInt(v.count, 1) &&
        v.count <= MAX_ROWS_PER_REQUEST &&
        (v.maxValueLength === undefined || isInt(v.maxValueLength, 1)) &&
        (v.view === undefined || isInt(v.view))
      );
    case 'cancel':
      return true;
    case 'goToError':
      return isInt(v.position, 1);
    case 'export':
      return isInt(v.stmt, 1) && (v.format === 'csv' || v.format === 'json') && optScope(v.scope);
    case 'copyRange':
      return (
        isInt(v.stmt, 1) &&
        isInt(v.r0) &&
        isInt(v.r1) &&
        v.r1 >= v.r0 &&
        isInt(v.c0) &&
        isInt(v.c1) &&
        v.c1 >= v.c0 &&
        (v.format === undefined || v.format === 'tsv' || v.format === 'markdown') &&
        optScope(v.scope)
      );
    case 'copyText':
      return isStr(v.text) && v.text.length <= MAX_COPY_CHARS;
    case 'state':
      return isPersistedState(v.state);
    case 'info':
      return isStr(v.message) && v.message.length < 2000;
    default:
      return checkToolWebviewMessage(v) ?? false;
  }
}

/** Type oids whose text output is a number, so the grid right-aligns them. */
export const NUMERIC_TYPE_OIDS: ReadonlySet<number> = new Set([
  20, // int8
  21, // int2
  23, // int4
  26, // oid
  700, // float4
  701, // float8
  790, // money
  1700, // numeric
]);

/** Shortens a value for transfer/display; returns the value itself when short enough. */
export function cutValue(value: string, max: number): string {
  if (value.length <= max) return value;
  // Do not split a surrogate pair: a lone high surrogate renders as a replacement glyph.
  let end = max;
  const code = value.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end -= 1;
  return value.slice(0, end);
}
