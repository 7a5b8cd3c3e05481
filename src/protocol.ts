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
// by the host too; the grid then reads rows of a *view*, named by its version.
//
// One file on purpose, though long: every message shape and its validator sit side by side, so
// a shape cannot change without its check.

import { JOB_STATES, type ColumnInfo, type JobState, type Row, type ServerMessage } from './core/model';

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
// Sort, filter, find, statistics, chart (computed by the host over the whole stored result)

export interface SortSpec {
  col: number;
  desc?: boolean;
}

export const CONDITION_OPS = ['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'between', 'contains', 'isnull', 'notnull'] as const;
export type ConditionOpName = (typeof CONDITION_OPS)[number];

export interface ConditionSpec {
  col: number;
  op: ConditionOpName;
  value?: string;
  value2?: string;
}

/** What a statement's grid shows: no fields = every row in arrival order. */
export interface ViewSpec {
  sort?: SortSpec[];
  /** Quick filter: case-insensitive text in any column, or in `quickCol`. */
  quick?: string;
  quickCol?: number;
  conditions?: ConditionSpec[];
}

export type OpName = 'view' | 'find' | 'stats' | 'chart';
export type ChartKindName = 'line' | 'bar' | 'scatter';

export interface StatsSnapshot {
  col: number;
  kind: 'number' | 'time' | 'bool' | 'text';
  count: number;
  nulls: number;
  distinct: number;
  distinctExact: boolean;
  min?: string;
  max?: string;
  mean?: number;
  histogram?: { from: number; to: number; count: number }[];
  top?: { value: string; count: number }[];
  topApprox?: boolean;
  unparsed?: number;
}

export interface ChartSnapshot {
  kind: ChartKindName;
  xKind: 'number' | 'time' | 'category';
  xName: string;
  x: number[];
  labels?: string[];
  series: { name: string; values: (number | null)[] }[];
  rows: number;
  points: number;
  reduced?: 'buckets' | 'sample';
}

export const MAX_SORT_KEYS = 8;
/** Largest chart image accepted for saving (base64 characters). */
export const MAX_IMAGE_CHARS = 32 * 1024 * 1024;
export const MAX_CONDITIONS = 32;
export const MAX_FILTER_TEXT = 1000;

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
  /**
   * A statement's view: `version` names it in getRows; `rows` of `baseRows` pass its filter (a
   * filter still scanning reports its matches so far with `busy`, and they only grow).
   */
  | { type: 'view'; stmt: number; version: number; spec: ViewSpec; rows: number; baseRows: number; busy?: { done: number; total: number }; error?: string }
  /** Find: matches in the view `version`, and the match stepped to. */
  | { type: 'found'; stmt: number; version: number; text: string; total: number; hit?: { row: number; col: number; ordinal: number } }
  | { type: 'stats'; stmt: number; stats: StatsSnapshot }
  | { type: 'chart'; stmt: number; chart: ChartSnapshot }
  /** Progress of a long operation (done of total work units), and its failure. */
  | { type: 'opProgress'; stmt: number; op: OpName; done: number; total: number }
  | { type: 'opError'; stmt: number; op: OpName; message: string };

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
  /** Sort and filter a statement's grid (the host computes the view and answers `view`). */
  | { type: 'setView'; stmt: number; spec: ViewSpec }
  | { type: 'cancelOp'; stmt: number; op: OpName }
  /** Find `text` in the view and step from (row, col) (-1, -1: from the start). */
  | { type: 'find'; stmt: number; text: string; row: number; col: number; forward: boolean }
  | { type: 'getStats'; stmt: number; col: number }
  | { type: 'getChart'; stmt: number; kind: ChartKindName; x: number; y: number[] }
  /** The chart as a PNG (base64) for the host to save through a save dialog. */
  | { type: 'saveImage'; name: string; png: string }
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
// Validators. Hand-written rather than a schema library: the shapes are few and the bundle small.

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown, min = 0): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
const isStr = (v: unknown): v is string => typeof v === 'string';
const optStr = (v: unknown): boolean => v === undefined || typeof v === 'string';
const optNum = (v: unknown): boolean => v === undefined || (typeof v === 'number' && Number.isFinite(v));

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

const isShortStr = (v: unknown): v is string => isStr(v) && v.length <= MAX_FILTER_TEXT;
const optShortStr = (v: unknown): boolean => v === undefined || isShortStr(v);

function isCondition(v: unknown): v is ConditionSpec {
  return isObj(v) && isInt(v.col) && (CONDITION_OPS as readonly unknown[]).includes(v.op) && optShortStr(v.value) && optShortStr(v.value2);
}

export function isViewSpec(v: unknown): v is ViewSpec {
  return (
    isObj(v) &&
    (v.sort === undefined ||
      (Array.isArray(v.sort) && v.sort.length <= MAX_SORT_KEYS && v.sort.every((k) => isObj(k) && isInt(k.col) && (k.desc === undefined || typeof k.desc === 'boolean')))) &&
    optShortStr(v.quick) &&
    (v.quickCol === undefined || isInt(v.quickCol)) &&
    (v.conditions === undefined || (Array.isArray(v.conditions) && v.conditions.length <= MAX_CONDITIONS && v.conditions.every(isCondition)))
  );
}

const isOpName = (v: unknown): v is OpName => v === 'view' || v === 'find' || v === 'stats' || v === 'chart';
const isChartKind = (v: unknown): v is ChartKindName => v === 'line' || v === 'bar' || v === 'scatter';
const isNum = (v: unknown): v is number => typeof v === 'number' && !Number.isNaN(v);
const optNumOrNull = (v: unknown): boolean => v === null || isNum(v);

function isStats(v: unknown): v is StatsSnapshot {
  return (
    isObj(v) &&
    isInt(v.col) &&
    (v.kind === 'number' || v.kind === 'time' || v.kind === 'bool' || v.kind === 'text') &&
    isInt(v.count) &&
    isInt(v.nulls) &&
    isInt(v.distinct) &&
    typeof v.distinctExact === 'boolean' &&
    optStr(v.min) &&
    optStr(v.max) &&
    optNum(v.mean) &&
    (v.histogram === undefined || (Array.isArray(v.histogram) && v.histogram.every((b) => isObj(b) && isNum(b.from) && isNum(b.to) && isInt(b.count)))) &&
    (v.top === undefined || (Array.isArray(v.top) && v.top.every((t) => isObj(t) && isStr(t.value) && isInt(t.count)))) &&
    (v.topApprox === undefined || typeof v.topApprox === 'boolean') &&
    (v.unparsed === undefined || isInt(v.unparsed))
  );
}

function isChart(v: unknown): v is ChartSnapshot {
  return (
    isObj(v) &&
    isChartKind(v.kind) &&
    (v.xKind === 'number' || v.xKind === 'time' || v.xKind === 'category') &&
    isStr(v.xName) &&
    Array.isArray(v.x) &&
    v.x.every(isNum) &&
    (v.labels === undefined || (Array.isArray(v.labels) && v.labels.every(isStr))) &&
    Array.isArray(v.series) &&
    v.series.every((s) => isObj(s) && isStr(s.name) && Array.isArray(s.values) && s.values.length === (v.x as unknown[]).length && s.values.every(optNumOrNull)) &&
    isInt(v.rows) &&
    isInt(v.points) &&
    (v.reduced === undefined || v.reduced === 'buckets' || v.reduced === 'sample')
  );
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
    case 'view':
      return (
        isInt(v.stmt, 1) &&
        isInt(v.version) &&
        isViewSpec(v.spec) &&
        isInt(v.rows) &&
        isInt(v.baseRows) &&
        (v.busy === undefined || (isObj(v.busy) && isNum(v.busy.done) && isNum(v.busy.total))) &&
        optStr(v.error)
      );
    case 'found':
      return (
        isInt(v.stmt, 1) &&
        isInt(v.version) &&
        isStr(v.text) &&
        isInt(v.total) &&
        (v.hit === undefined || (isObj(v.hit) && isInt(v.hit.row) && isInt(v.hit.col) && isInt(v.hit.ordinal, 1)))
      );
    case 'stats':
      return isInt(v.stmt, 1) && isStats(v.stats);
    case 'chart':
      return isInt(v.stmt, 1) && isChart(v.chart);
    case 'opProgress':
      return isInt(v.stmt, 1) && isOpName(v.op) && isNum(v.done) && isNum(v.total);
    case 'opError':
      return isInt(v.stmt, 1) && isOpName(v.op) && isStr(v.message);
    default:
      return false;
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
    case 'setView':
      return isInt(v.stmt, 1) && isViewSpec(v.spec);
    case 'cancelOp':
      return isInt(v.stmt, 1) && isOpName(v.op);
    case 'find':
      return isInt(v.stmt, 1) && isShortStr(v.text) && isInt(v.row, -1) && isInt(v.col, -1) && typeof v.forward === 'boolean';
    case 'getStats':
      return isInt(v.stmt, 1) && isInt(v.col);
    case 'saveImage':
      return isStr(v.name) && /^[\w .-]{1,100}$/.test(v.name) && isStr(v.png) && v.png.length <= MAX_IMAGE_CHARS && /^[A-Za-z0-9+/=]*$/.test(v.png.slice(0, 64));
    case 'getChart':
      return isInt(v.stmt, 1) && isChartKind(v.kind) && isInt(v.x) && Array.isArray(v.y) && v.y.length >= 1 && v.y.length <= 8 && v.y.every((n) => isInt(n));
    case 'copyText':
      return isStr(v.text) && v.text.length <= MAX_COPY_CHARS;
    case 'state':
      return isPersistedState(v.state);
    case 'info':
      return isStr(v.message) && v.message.length < 2000;
    default:
      return false;
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
