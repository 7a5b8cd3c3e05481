// Applies one batch of pg_background_fetch_v2 output (kind, stmt, data) to a result store.
// Rows arrive as JSON text (the session leaves json unparsed). A row is a flat array of strings
// and nulls, and most values contain no escapes, so a hand-written scanner that slices the
// strings out is several times cheaper than JSON.parse (the client's biggest cost for large
// results); anything unusual falls back to JSON.parse.

import type { ColumnInfo, Row, ServerMessage } from './model.js';
import type { SpooledResultStore } from './resultStore.js';

export interface BatchOutcome {
  rows: number;
  /** The `done` state when the batch ended the job. */
  done?: string;
  /** The last error message in the batch, if any. */
  error?: ServerMessage;
}

interface RawColumn {
  name: string;
  type: string;
  type_oid: number;
  typmod: number;
}

interface RawMessage {
  severity?: string;
  sqlstate?: string;
  message?: string;
  detail?: string | null;
  hint?: string | null;
  position?: number | string | null;
  context?: string | null;
}

/** Parses a fetch_v2 row (["a",null,"b"]); exact for any input (falls back to JSON.parse). */
export function parseRowJson(text: string): Row {
  const n = text.length;
  // Escapes (quotes, backslashes, control characters in values) are rare: leave them to JSON.parse.
  if (n < 2 || text.charCodeAt(0) !== 91 /* [ */ || text.charCodeAt(n - 1) !== 93 /* ] */ || text.includes('\\')) {
    return JSON.parse(text) as Row;
  }
  const out: Row = [];
  let i = 1;
  if (n === 2) return out;
  for (;;) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      const close = text.indexOf('"', i + 1);
      if (close < 0) return JSON.parse(text) as Row;
      out.push(text.slice(i + 1, close));
      i = close + 1;
    } else if (c === 110 /* n */ && text.startsWith('null', i)) {
      out.push(null);
      i += 4;
    } else {
      return JSON.parse(text) as Row;
    }
    const sep = text.charCodeAt(i);
    if (sep === 44 /* , */) i++;
    else if (sep === 93 && i === n - 1) return out;
    else return JSON.parse(text) as Row;
  }
}

function parseJson<T>(data: unknown): T {
  return (typeof data === 'string' ? JSON.parse(data) : data) as T;
}

export function toServerMessage(kind: 'notice' | 'error', stmt: number, m: RawMessage): ServerMessage {
  const msg: ServerMessage = {
    kind,
    stmt,
    severity: m.severity ?? (kind === 'error' ? 'ERROR' : 'NOTICE'),
    sqlstate: m.sqlstate ?? '',
    message: m.message ?? '',
  };
  if (m.detail) msg.detail = m.detail;
  if (m.hint) msg.hint = m.hint;
  if (m.position !== null && m.position !== undefined && Number(m.position) > 0) msg.position = Number(m.position);
  if (m.context) msg.context = m.context;
  return msg;
}

export function applyFetchBatch(store: SpooledResultStore, batch: unknown[][]): BatchOutcome {
  const out: BatchOutcome = { rows: 0 };
  let runStmt = -1;
  let run: Row[] = [];
  const flush = (): void => {
    if (run.length === 0) return;
    store.addRows(runStmt, run);
    out.rows += run.length;
    run = [];
  };
  for (const [kindValue, stmtValue, data] of batch) {
    const kind = String(kindValue);
    const stmt = Number(stmtValue ?? 0);
    if (kind === 'row') {
      if (stmt !== runStmt) flush();
      runStmt = stmt;
      run.push(typeof data === 'string' ? parseRowJson(data) : (data as Row));
      continue;
    }
    if (kind === 'rows') {
      // Forward-compatible batched form (see REQUESTS.md): data = [[...], [...], ...].
      flush();
      const rows = parseJson<Row[]>(data);
      store.addRows(stmt, rows);
      out.rows += rows.length;
      continue;
    }
    flush();
    switch (kind) {
      case 'columns': {
        const cols = parseJson<RawColumn[]>(data).map(
          (c): ColumnInfo => ({ name: c.name, type: c.type, typeOid: Number(c.type_oid), typmod: Number(c.typmod) }),
        );
        store.setColumns(stmt, cols);
        break;
      }
      case 'command': {
        const c = parseJson<{ tag: string; rows?: number | string | null }>(data);
        store.setCommand(stmt, c.tag, c.rows === null || c.rows === undefined ? undefined : Number(c.rows));
        break;
      }
      case 'notice':
      case 'error': {
        const m = toServerMessage(kind, stmt, parseJson<RawMessage>(data));
        store.addMessage(m);
        if (kind === 'error') out.error = m;
        break;
      }
      case 'done':
        out.done = parseJson<{ state: string }>(data).state;
        break;
      default:
        // A newer server may add kinds; ignoring them keeps old clients working.
        break;
    }
  }
  flush();
  return out;
}
