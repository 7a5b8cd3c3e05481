// The meta journal of a durable job's result store: a JSON-lines file beside the spool, one line
// per committed fetch batch. A line is the commit point of "messages up to seq S are stored": it
// is written after the batch's rows are in the spool and before S is used as the next after_seq,
// so a window that dies anywhere in between loses nothing the server has forgotten. On restore
// the last complete line wins; spool bytes past its length belong to a batch that never
// committed, and the server sends that batch again (design §8.1).

import fs from 'node:fs';
import path from 'node:path';
import type { ServerMessage, StatementInfo } from './model.js';

/** One committed batch. */
export interface JournalLine {
  /** The batch's last message seq: everything up to it is stored. */
  seq: number;
  /** Spool length once the batch's rows were appended. */
  spool: number;
  /** Statements the batch changed, as they are after it. */
  stmts: StatementInfo[];
  /** Messages (notices, errors) the batch added. */
  msgs: ServerMessage[];
}

/** What a journal says after replaying its complete lines. */
export interface JournalState {
  seq: number;
  spool: number;
  /** Statements by number, latest version of each. */
  stmts: Map<number, StatementInfo>;
  msgs: ServerMessage[];
  /** Bytes of the journal that hold complete, valid lines (the rest is cut on reopen). */
  validBytes: number;
}

function isLine(v: unknown): v is JournalLine {
  if (typeof v !== 'object' || v === null) return false;
  const l = v as Partial<JournalLine>;
  return Number.isSafeInteger(l.seq) && Number.isSafeInteger(l.spool) && (l.spool ?? -1) >= 0 && Array.isArray(l.stmts) && Array.isArray(l.msgs);
}

/** Replays a journal's text; stops at the first line that is incomplete or not valid. */
export function replayJournal(text: string): JournalState {
  const state: JournalState = { seq: 0, spool: 0, stmts: new Map(), msgs: [], validBytes: 0 };
  let pos = 0;
  for (;;) {
    const nl = text.indexOf('\n', pos);
    if (nl < 0) break; // a line without its newline was cut mid-write
    let line: unknown;
    try {
      line = JSON.parse(text.slice(pos, nl));
    } catch {
      break;
    }
    if (!isLine(line) || line.seq < state.seq || line.spool < state.spool) break;
    state.seq = line.seq;
    state.spool = line.spool;
    for (const s of line.stmts) if (Number.isInteger(s?.stmt)) state.stmts.set(s.stmt, s);
    for (const m of line.msgs) state.msgs.push(m);
    state.validBytes += Buffer.byteLength(text.slice(pos, nl + 1), 'utf8');
    pos = nl + 1;
  }
  return state;
}

/** The append side; opened lazily like the spool, so a job that never commits leaves no file. */
export class MetaJournal {
  private fd: number | undefined;
  private closed = false;

  constructor(readonly path: string) {}

  /** Reads a journal a previous engine wrote and cuts a torn last line, so appends continue cleanly. */
  static reopen(filePath: string): { journal: MetaJournal; state: JournalState } {
    const journal = new MetaJournal(filePath);
    if (!fs.existsSync(filePath)) return { journal, state: replayJournal('') };
    const buf = fs.readFileSync(filePath);
    const state = replayJournal(buf.toString('utf8'));
    if (state.validBytes < buf.length) fs.truncateSync(filePath, state.validBytes);
    journal.fd = fs.openSync(filePath, 'a', 0o600);
    return { journal, state };
  }

  append(line: JournalLine): void {
    if (this.closed) throw new Error('meta journal is closed');
    if (this.fd === undefined) {
      fs.mkdirSync(path.dirname(this.path), { recursive: true });
      this.fd = fs.openSync(this.path, 'a', 0o600);
    }
    // One write per line: a crash leaves at most a torn last line, which reopen() cuts.
    const data = Buffer.from(`${JSON.stringify(line)}\n`, 'utf8');
    let written = 0;
    while (written < data.length) written += fs.writeSync(this.fd, data, written, data.length - written);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.fd !== undefined) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // already closed
      }
    }
  }

  dispose(): void {
    this.close();
    fs.rmSync(this.path, { force: true });
  }
}
