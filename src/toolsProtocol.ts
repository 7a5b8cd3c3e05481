// The result tools' part of the panel protocol (protocol.ts holds the rest and re-exports this):
// sort, filter, find, statistics and chart are computed by the host over the whole stored result,
// and the grid then reads rows of a *view*, named by its version. The messages' shapes and their
// validators sit side by side here, so a shape cannot change without its check.

import type { ChartData, ChartKind, ColumnStats } from './core/resultOps/shapes';
import { arrayOf, fields, isBool, isCount, isInt, isNum, isObj, isStr, optNum, optOf, optStr, type Obj } from './protocolChecks';

const isStmt = (v: unknown): boolean => isInt(v, 1);

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
/** Computed by the host (src/core/resultOps) and sent as computed: one definition of each shape. */
export type ChartKindName = ChartKind;
export type StatsSnapshot = ColumnStats;
export type ChartSnapshot = ChartData;

export const MAX_SORT_KEYS = 8;
/** Largest chart image accepted for saving (base64 characters). */
export const MAX_IMAGE_CHARS = 32 * 1024 * 1024;
export const MAX_CONDITIONS = 32;
export const MAX_FILTER_TEXT = 1000;

/** Host -> webview messages of the tools. */
export type ToolHostMessage =
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

/** Webview -> host messages of the tools. */
export type ToolWebviewMessage =
  /** Sort and filter a statement's grid (the host computes the view and answers `view`). */
  | { type: 'setView'; stmt: number; spec: ViewSpec }
  | { type: 'cancelOp'; stmt: number; op: OpName }
  /** Find `text` in the view and step from (row, col) (-1, -1: from the start). */
  | { type: 'find'; stmt: number; text: string; row: number; col: number; forward: boolean }
  | { type: 'getStats'; stmt: number; col: number }
  | { type: 'getChart'; stmt: number; kind: ChartKindName; x: number; y: number[] }
  /** The chart as a PNG (base64) for the host to save through a save dialog. */
  | { type: 'saveImage'; name: string; png: string };

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
const optNumOrNull = (v: unknown): boolean => v === null || isNum(v);

const isStatsKind = (k: unknown): boolean => k === 'number' || k === 'time' || k === 'bool' || k === 'text';
const isBin = (b: unknown): boolean => isObj(b) && isNum(b.from) && isNum(b.to) && isInt(b.count);
const isTop = (t: unknown): boolean => isObj(t) && isStr(t.value) && isInt(t.count);

function isStats(v: unknown): v is StatsSnapshot {
  return (
    isObj(v) &&
    fields(v, {
      col: isCount,
      kind: isStatsKind,
      count: isCount,
      nulls: isCount,
      distinct: isCount,
      distinctExact: isBool,
      min: optStr,
      max: optStr,
      mean: optNum,
      histogram: optOf(arrayOf(isBin)),
      top: optOf(arrayOf(isTop)),
      topApprox: optOf(isBool),
      unparsed: optOf(isCount),
    })
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

/** Whether a host message of a tool's type is well formed; undefined for other types. */
export function checkToolHostMessage(v: Obj): boolean | undefined {
  switch (v.type) {
    case 'view':
      return fields(v, {
        stmt: isStmt,
        version: isCount,
        spec: isViewSpec,
        rows: isCount,
        baseRows: isCount,
        busy: optOf((b) => isObj(b) && isNum(b.done) && isNum(b.total)),
        error: optStr,
      });
    case 'found':
      return fields(v, {
        stmt: isStmt,
        version: isCount,
        text: isStr,
        total: isCount,
        hit: optOf((h) => isObj(h) && isInt(h.row) && isInt(h.col) && isInt(h.ordinal, 1)),
      });
    case 'stats':
      return isInt(v.stmt, 1) && isStats(v.stats);
    case 'chart':
      return isInt(v.stmt, 1) && isChart(v.chart);
    case 'opProgress':
      return isInt(v.stmt, 1) && isOpName(v.op) && isNum(v.done) && isNum(v.total);
    case 'opError':
      return isInt(v.stmt, 1) && isOpName(v.op) && isStr(v.message);
    default:
      return undefined;
  }
}

/** Whether a webview message of a tool's type is well formed; undefined for other types. */
export function checkToolWebviewMessage(v: Obj): boolean | undefined {
  switch (v.type) {
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
    default:
      return undefined;
  }
}
