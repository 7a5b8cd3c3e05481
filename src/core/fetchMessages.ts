// Applies one batch of pg_background_fetch_v2 output (kind, stmt, data) to a result store.
// Rows arrive as JSON text (the session leaves json unparsed), one per `row` message or many per
// `rows` message, and are handed to the store as each row's text: it spools them as they are and
// parses only the rows it keeps in memory.

import type { ColumnInfo, Row, ServerMessage } from './model.js';
import type { SpooledResultStore } from './resultStore.js';
import { splitRowsJson } from './rowCodec.js';

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

function parseJson<T>(data: unknown): T {
  return (typeof data === 'string' ? JSON.parse(data) : data) as T;
}

/** A row of a `rows` message that was not in the server's usual form: values as text or null. */
function toRow(value: unknown): Row {
  if (!Array.isArray(value)) throw new Error(`fetch_v2 sent a row that is not an array: ${JSON.stringify(value).slice(0, 80)}`);
  return value.map((v: unknown) => (v === null || typeof v === 'string' ? v : JSON.stringify(v)));
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
  let run: string[] = [];
  const flush = (): void => {
    if (run.length === 0) return;
    store.addJsonRows(runStmt, run);
    out.rows += run.length;
    run = [];
  };
  for (const [kindValue, stmtValue, data] of batch) {
    const kind = String(kindValue);
    const stmt = Number(stmtValue ?? 0);
    if (kind === 'row') {
      if (stmt !== runStmt) flush();
      runStmt = stmt;
      run.push(typeof data === 'string' ? data : JSON.stringify(data));
      continue;
    }
    if (kind === 'rows') {
      // Several rows of one statement in one message (the server's opt-in batched form, see
      // launcherSession.ts): split into each row's JSON text and spooled like `row` messages.
      const text = typeof data === 'string' ? data : JSON.stringify(data);
      const split = splitRowsJson(text);
      if (split) {
        if (stmt !== runStmt) flush();
        runStmt = stmt;
        for (const r of split) run.push(r);
        continue;
      }
      flush();
      const rows = JSON.parse(text) as unknown;
      if (!Array.isArray(rows)) throw new Error(`fetch_v2 sent a 'rows' message that is not an array of rows`);
      const clean = rows.map(toRow);
      store.addRows(stmt, clean);
      out.rows += clean.length;
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
