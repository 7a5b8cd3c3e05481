// Applies one batch of pg_background_fetch_v2 output (kind, stmt, data) to a result store.
// Rows arrive as JSON text (the session leaves json unparsed), one per `row` message or many per
// `rows` message, and are handed to the store as spans of that text: it spools them as they are
// and parses only the rows it keeps in memory.

import type { ColumnInfo, Row, ServerMessage } from './model.js';
import type { SpooledResultStore } from './resultStore.js';
import { scanRowsJson, type RowBlock } from './rowCodec.js';

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

/** How a sequenced batch (fetch_v2 with `seq`, 1.10) went. */
export interface SequenceOutcome {
  /** Output rows already stored (seq ≤ the store's lastSeq): skipped. The server should never send them. */
  duplicates: number;
  /** Set when the batch was not applied: its messages did not follow the store's last seq. */
  gap?: string;
}

export interface BatchOutcome {
  rows: number;
  /** The `done` state when the batch ended the job. */
  done?: string;
  /** The `done` message's seq (sequenced batches): the final acknowledgement's after_seq. */
  doneSeq?: number;
  /** The last error message in the batch, if any. */
  error?: ServerMessage;
  /** Sequenced batches only. */
  sequence?: SequenceOutcome;
}

/** One output row of fetch_v2, with a `row` or `rows` message's rows found in its text. */
interface Entry {
  kind: string;
  stmt: number;
  data: unknown;
  /** `row` and `rows` kinds in the server's form: the rows as spans of the message's text. */
  block?: RowBlock;
  /** `rows` kind in an unusual form: the parsed rows. */
  parsed?: Row[];
}

function toEntry(kindValue: unknown, stmtValue: unknown, data: unknown): Entry {
  const kind = String(kindValue);
  const entry: Entry = { kind, stmt: Number(stmtValue ?? 0), data };
  if (kind === 'row') {
    const text = typeof data === 'string' ? data : JSON.stringify(data);
    entry.block = { text, bounds: [0, text.length], from: 0, to: 1 };
  } else if (kind === 'rows') {
    // Several rows of one statement in one message (the server's opt-in batched form, see
    // launcherSession.ts): found in the text and spooled like `row` messages.
    const text = typeof data === 'string' ? data : JSON.stringify(data);
    const block = scanRowsJson(text);
    if (block) {
      entry.block = block;
    } else {
      const rows = JSON.parse(text) as unknown;
      if (!Array.isArray(rows)) throw new Error(`fetch_v2 sent a 'rows' message that is not an array of rows`);
      entry.parsed = rows.map(toRow);
    }
  }
  return entry;
}

/** Rows an entry stands for (1 for any other kind: one message). */
function entryRows(entry: Entry): number {
  if (entry.block) return entry.block.to - entry.block.from;
  if (entry.parsed) return entry.parsed.length;
  return 1;
}

/** A `columns` message's column list; a replayed one (attach without after_seq) may wrap it. */
function columnsOf(data: unknown): { columns: ColumnInfo[]; replayed: boolean } {
  const parsed = parseJson<RawColumn[] | { replayed?: boolean; columns?: RawColumn[] }>(data);
  const raw = Array.isArray(parsed) ? parsed : (parsed.columns ?? []);
  const columns = raw.map((c): ColumnInfo => ({ name: c.name, type: c.type, typeOid: Number(c.type_oid), typmod: Number(c.typmod) }));
  return { columns, replayed: !Array.isArray(parsed) && parsed.replayed === true };
}

/** Applies a batch of fetch_v2 (kind, stmt, data) rows, as servers before 1.10 send them. */
export function applyFetchBatch(store: SpooledResultStore, batch: unknown[][]): BatchOutcome {
  return applyEntries(store, batch.map(([kind, stmt, data]) => toEntry(kind, stmt, data)));
}

/**
 * Applies a batch of fetch_v2 (kind, stmt, data, seq) rows exactly once (design §8.3): rows the
 * store already holds (seq ≤ its lastSeq) are skipped, the rest must number on from lastSeq
 * without a gap (a `rows` row stands for as many messages as it holds rows). A gap leaves the
 * store untouched: the caller asks again from lastSeq. Otherwise the batch is committed to the
 * store's journal, which is what advances lastSeq, the next call's after_seq.
 */
export function applySequencedBatch(store: SpooledResultStore, batch: unknown[][]): BatchOutcome {
  let prev = store.lastSeq;
  const keep: Entry[] = [];
  let duplicates = 0;
  for (const [kind, stmt, data, seqValue] of batch) {
    const seq = Number(seqValue);
    // Exact integers only: past 2^53 a JS number would silently merge two messages.
    if (!Number.isSafeInteger(seq) || seq < 1) throw new Error(`fetch_v2 sent an invalid seq ${String(seqValue)}`);
    const entry = toEntry(kind, stmt, data);
    const count = entryRows(entry);
    const first = seq - count + 1;
    if (seq <= prev) {
      // A `columns` row sent again by an attach that starts inside a result set is not a
      // duplicate if the store lacks it (Attach to a job that another session had read).
      if (entry.kind === 'columns' && !store.statements().some((s) => s.stmt === entry.stmt && s.columns)) keep.push(entry);
      else if (!(entry.kind === 'columns' && columnsOf(entry.data).replayed)) duplicates++;
      continue;
    }
    if (first <= prev) {
      // The server cuts groups at after_seq, so this is defensive: keep only the rows past prev.
      const skip = prev - first + 1;
      if (entry.block) entry.block.from += skip;
      else entry.parsed = entry.parsed!.slice(skip);
      duplicates++;
    } else if (first !== prev + 1) {
      return { rows: 0, sequence: { duplicates, gap: `expected message ${prev + 1}, fetch_v2 sent ${first}..${seq} (${entry.kind})` } };
    }
    prev = seq;
    keep.push(entry);
  }
  const out = applyEntries(store, keep);
  if (out.done !== undefined) out.doneSeq = prev;
  if (prev > store.lastSeq) store.commit(prev);
  out.sequence = { duplicates };
  return out;
}

function applyEntries(store: SpooledResultStore, entries: Entry[]): BatchOutcome {
  const out: BatchOutcome = { rows: 0 };
  let runStmt = -1;
  let run: RowBlock[] = [];
  let runRows = 0;
  // Consecutive rows of a statement go to the store together: one spool write per batch.
  const flush = (): void => {
    if (run.length === 0) return;
    store.addRowBlocks(runStmt, run);
    out.rows += runRows;
    run = [];
    runRows = 0;
  };
  for (const { kind, stmt, data, block, parsed } of entries) {
    if (block) {
      if (stmt !== runStmt) flush();
      runStmt = stmt;
      run.push(block);
      runRows += block.to - block.from;
      continue;
    }
    if (parsed) {
      flush();
      store.addRows(stmt, parsed);
      out.rows += parsed.length;
      continue;
    }
    flush();
    switch (kind) {
      case 'columns':
        store.setColumns(stmt, columnsOf(data).columns);
        break;
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
