// CSV and JSON encoding of a statement's rows, streamed from ResultStore.iterateRows into a
// sink with back-pressure, and the TSV of a copied range read the same way. No `vscode` here:
// the VS Code side supplies the file sink, the save dialog, the progress notification and the
// clipboard; tests use a string sink.

import type { ColumnInfo, ResultStore, Row } from '../core/model';
import type { ResultView } from '../core/resultOps/view';
import { MAX_COPY_CHARS, MAX_COPY_ROWS, type CopyFormat, type ExportFormat } from '../protocol';

export interface TextSink {
  /** Resolves when the sink can take more (a file stream's drain). */
  write(chunk: string): Promise<void> | void;
}

export interface ExportOptions {
  onProgress?: (rows: number) => void;
  signal?: AbortSignal;
  /** Characters buffered before a write; large enough to amortise, small enough to stay flat. */
  chunkChars?: number;
  /** Export the rows as shown (filtered, sorted) instead of every row in arrival order. */
  view?: ResultView;
}

/** Every row of `stmt`, or of `view`, in order, in chunks. */
async function forEachRow(store: ResultStore, stmt: number, view: ResultView | undefined, from: number, fn: (row: Row) => boolean | void): Promise<void> {
  if (view) {
    let stop = false;
    await view.forEachChunk(from, view.length, (rows) => {
      for (const r of rows) if (!stop && fn(r) === false) stop = true;
      if (stop) throw STOP;
    }).catch((e: unknown) => {
      if (e !== STOP) throw e;
    });
    return;
  }
  for await (const row of store.iterateRows(stmt, from)) if (fn(row) === false) return;
}
const STOP = new Error('stop');

/** RFC 4180 field: quoted when it holds a delimiter, quote, line break or edge space. NULL is an
 *  empty unquoted field and '' a quoted empty field, so the two stay distinguishable. */
export function csvField(v: string | null): string {
  if (v === null) return '';
  if (v === '') return '""';
  if (/[",\r\n]/.test(v) || v[0] === ' ' || v[v.length - 1] === ' ') return `"${v.replace(/"/g, '""')}"`;
  return v;
}

export function csvLine(values: readonly (string | null)[]): string {
  return `${values.map(csvField).join(',')}\r\n`;
}

/** JSON object keys: duplicate column names (`SELECT 1, 1`) get _2, _3… so no value is lost. */
export function jsonKeys(columns: readonly ColumnInfo[]): string[] {
  const used = new Set<string>();
  return columns.map((c) => {
    let key = c.name;
    for (let i = 2; used.has(key); i++) key = `${c.name}_${i}`;
    used.add(key);
    return key;
  });
}

const INT_OIDS = new Set([20, 21, 23, 26]);
const FLOAT_OIDS = new Set([700, 701, 1700]);
const JSON_OIDS = new Set([114, 3802]);

/** A value as JSON: numbers stay numbers where JSON can carry them exactly, json/jsonb is
 *  embedded as-is (PostgreSQL only outputs valid JSON for them), booleans become true/false. */
export function jsonValue(v: string | null, typeOid: number): string {
  if (v === null) return 'null';
  if (typeOid === 16) return v === 't' ? 'true' : v === 'f' ? 'false' : JSON.stringify(v);
  if (JSON_OIDS.has(typeOid)) return v;
  if (INT_OIDS.has(typeOid) && /^-?\d+$/.test(v) && Number.isSafeInteger(Number(v))) return v;
  if (FLOAT_OIDS.has(typeOid) && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(v)) {
    // Only when the text survives a round trip through a double; otherwise keep the exact text.
    const n = Number(v);
    if (Number.isFinite(n) && String(n) === v) return v;
  }
  return JSON.stringify(v);
}

export function jsonRow(row: Row, keys: readonly string[], columns: readonly ColumnInfo[]): string {
  const parts: string[] = [];
  for (let i = 0; i < keys.length; i++) parts.push(`${JSON.stringify(keys[i])}:${jsonValue(row[i] ?? null, columns[i].typeOid)}`);
  return `{${parts.join(',')}}`;
}

/** Writes statement `stmt` of `store` to `sink`; returns the number of rows written. */
export async function exportStatement(store: ResultStore, stmt: number, format: ExportFormat, sink: TextSink, opts: ExportOptions = {}): Promise<number> {
  const info = store.statements().find((s) => s.stmt === stmt);
  if (!info?.columns) throw new Error(`Statement ${stmt} returned no rows to export.`);
  const columns = info.columns;
  const keys = jsonKeys(columns);
  const chunkChars = opts.chunkChars ?? 1 << 20;
  let buf = format === 'csv' ? csvLine(columns.map((c) => c.name)) : '[';
  let rows = 0;
  const write = async (row: Row): Promise<void> => {
    if (opts.signal?.aborted) throw new Error('Export canceled.');
    buf += format === 'csv' ? csvLine(row) : `${rows === 0 ? '\n' : ',\n'}${jsonRow(row, keys, columns)}`;
    rows++;
    if (buf.length >= chunkChars) {
      await sink.write(buf);
      buf = '';
      opts.onProgress?.(rows);
    }
  };
  if (opts.view) {
    await opts.view.forEachChunk(0, opts.view.length, async (chunk) => {
      for (const row of chunk) await write(row);
    });
  } else {
    for await (const row of store.iterateRows(stmt)) await write(row);
  }
  if (format === 'json') buf += rows === 0 ? ']\n' : '\n]\n';
  await sink.write(buf);
  opts.onProgress?.(rows);
  return rows;
}

/** TSV field: tabs/newlines would break the table a spreadsheet pastes, so they are escaped
 *  the way PostgreSQL's COPY text format does; NULL becomes the empty field. */
export function tsvField(value: string | null): string {
  if (value === null) return '';
  if (!/[\t\n\r\\]/.test(value)) return value;
  return value.replace(/[\t\n\r\\]/g, (c) => (c === '\t' ? '\\t' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\\\'));
}

export interface CopiedRange {
  text: string;
  rows: number;
  cols: number;
  /** Rows selected; more than `rows` when the copy was capped at MAX_COPY_ROWS. */
  wanted: number;
}

/**
 * Rows r0..r1, columns c0..c1 (inclusive) of statement `stmt` as TSV, one line per row, read
 * from the store (whole values, not the display copies the grid holds). At most MAX_COPY_ROWS
 * rows, and only those that have arrived; text beyond MAX_COPY_CHARS is refused, not cut.
 */
export async function copyRange(
  store: ResultStore,
  stmt: number,
  r0: number,
  r1: number,
  c0: number,
  c1: number,
  opts: { view?: ResultView; format?: CopyFormat } = {},
): Promise<CopiedRange> {
  const wanted = r1 - r0 + 1;
  const count = Math.min(wanted, MAX_COPY_ROWS);
  const lines: string[] = [];
  const markdown = opts.format === 'markdown';
  if (markdown) {
    const columns = store.statements().find((s) => s.stmt === stmt)?.columns ?? [];
    const names: string[] = [];
    for (let c = c0; c <= c1; c++) names.push(markdownCell(columns[c]?.name ?? ''));
    lines.push(`| ${names.join(' | ')} |`, `|${names.map((_, i) => (isRightAligned(columns[c0 + i]) ? ' ---: ' : ' --- ')).join('|')}|`);
  }
  const head = lines.length;
  let chars = 0;
  let failure: Error | undefined;
  await forEachRow(store, stmt, opts.view, r0, (row) => {
    if (lines.length - head >= count) return false;
    const fields: string[] = [];
    for (let c = c0; c <= c1; c++) fields.push(markdown ? markdownValue(row[c] ?? null) : tsvField(row[c] ?? null));
    const line = markdown ? `| ${fields.join(' | ')} |` : fields.join('\t');
    chars += line.length + 1;
    if (chars > MAX_COPY_CHARS) {
      failure = new Error(`The selection is more than ${MAX_COPY_CHARS / (1024 * 1024)} MB of text; use Export for it.`);
      return false;
    }
    lines.push(line);
    return undefined;
  });
  if (failure) throw failure;
  return { text: lines.join('\n'), rows: lines.length - head, cols: c1 - c0 + 1, wanted };
}

const RIGHT_ALIGNED = new Set([20, 21, 23, 26, 700, 701, 790, 1700]);
const isRightAligned = (c: ColumnInfo | undefined): boolean => c !== undefined && RIGHT_ALIGNED.has(c.typeOid);

/** A Markdown table cell: pipes and backslashes escaped, line breaks as <br>, so every row stays one line. */
export function markdownCell(v: string): string {
  return v.replace(/[\\|]/g, (c) => `\\${c}`).replace(/\r\n|\r|\n/g, '<br>');
}

/** NULL is shown as an italic NULL, distinct from an empty string. */
export function markdownValue(v: string | null): string {
  return v === null ? '*NULL*' : markdownCell(v);
}
