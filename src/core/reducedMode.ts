// Reduced mode: the server has pg_background without our fetch_v2 (e.g. the original 1.x).
// Jobs still launch, cancel, wait and detach; results are read once the worker is done with
// pg_background_result_v2, whose column definition list we build by describing the statement
// on the extended protocol before launching it.
//
// What the original's result_v2 allows shapes everything here: a declared column must have the
// column's actual type when that type has a binary receive function, and `text` otherwise; a
// result can be read once, and any error while reading (the worker's, relayed, or its own
// check) ends the read. Its list_v2 says `stopped` for every finished job, so a read is the only
// way to learn an outcome, and when no read can succeed the outcome is simply not known.

import pg from 'pg';
import type { ColumnInfo, Row, ServerMessage } from './model.js';
import type { SessionCalls } from './launcherSession.js';
import { toServerError } from './errors.js';

export interface ReducedPlan {
  /** Columns of the (last) statement as the user will see them. */
  columns: ColumnInfo[];
  /** "AS (c1 integer, c2 text)" — positional names: real names may repeat or be "?column?". */
  definitionList: string;
  /** The statement returns no rows: result_v2 reports its command tag as one text column. */
  commandOnly: boolean;
  /**
   * Set when no column definition list can match the result on the original server: the reason,
   * for the job's note (e.g. a `void` column, which no list may declare).
   */
  unreadable?: string;
}

/** The list result_v2 takes for SQL we cannot describe: right for jobs that return no rows. */
export const COMMAND_TAG_LIST = 'AS (result text)';

interface TypeRow {
  t: string;
  pseudo: boolean;
  recv: boolean;
}

/** Describes the SQL; undefined when it cannot be described (several statements, utility...). */
export async function planReducedRead(calls: SessionCalls, sql: string): Promise<ReducedPlan | undefined> {
  let described;
  try {
    described = await calls.describe(sql);
  } catch {
    return undefined;
  }
  if (described.length === 0) {
    return { columns: [{ name: 'result', type: 'text', typeOid: 25, typmod: -1 }], definitionList: COMMAND_TAG_LIST, commandOnly: true };
  }
  const res = await calls.query<TypeRow>(
    `SELECT format_type(u.o, u.t) AS t, coalesce(ty.typtype = 'p', false) AS pseudo, coalesce(ty.typreceive <> 0, false) AS recv
       FROM unnest($1::oid[], $2::int4[]) WITH ORDINALITY AS u(o, t, n)
       LEFT JOIN pg_catalog.pg_type ty ON ty.oid = u.o
      ORDER BY u.n`,
    [described.map((c) => c.typeOid), described.map((c) => c.typmod)],
  );
  const columns = described.map((c, i): ColumnInfo => ({ name: c.name, type: res.rows[i].t, typeOid: c.typeOid, typmod: c.typmod }));
  // Pseudo-types (void from pg_sleep(), record from ROW(...), cstring) have receive functions, so
  // the original demands the type itself, and a definition list may not declare them (record
  // it may, but an anonymous record value cannot be received): the original cannot return such
  // a result. We still try with `text`, which a more lenient result_v2 accepts, so the read
  // learns at least the errors and notices that come before the rows.
  const pseudo = res.rows.map((r, i) => ({ r, c: columns[i] })).filter(({ r }) => r.pseudo);
  const unreadable =
    pseudo.length > 0
      ? `its result has a column of type ${[...new Set(pseudo.map(({ c }) => c.type))].join(', ')}, which pg_background_result_v2 on this server cannot return`
      : undefined;
  const listType = (c: ColumnInfo, i: number): string => (res.rows[i].recv && !res.rows[i].pseudo ? c.type : 'text');
  const definitionList = `AS (${columns.map((c, i) => `${pg.escapeIdentifier(`c${i + 1}`)} ${listType(c, i)}`).join(', ')})`;
  return { columns, definitionList, commandOnly: false, ...(unreadable ? { unreadable } : {}) };
}

export interface ReducedRead {
  rows: Row[];
  /** The worker's notices, relayed by result_v2 to this session as notices. */
  notices: ServerMessage[];
}

/** Reads the whole result with result_v2 (blocks until the worker has produced all of it). */
export async function readResultV2(calls: SessionCalls, pid: number, cookie: string, plan: ReducedPlan): Promise<Row[]> {
  return (await readWithNotices(calls, pid, cookie, plan.definitionList)).rows;
}

/**
 * readResultV2 with any definition list, keeping the notices the worker raised. Rejects with a
 * ReducedReadError that holds what result_v2 raised and the notices relayed before it.
 */
export async function readWithNotices(calls: SessionCalls, pid: number, cookie: string, definitionList: string): Promise<ReducedRead> {
  const text = `SELECT * FROM ${calls.fn('pg_background_result_v2')}($1, $2::int8) ${definitionList}`;
  const notices: ServerMessage[] = [];
  try {
    const rows = await calls.withNotices((n) => notices.push(n), () => calls.queryText(text, [pid, cookie]));
    return { rows, notices };
  } catch (err) {
    throw new ReducedReadError(err, notices);
  }
}

/** A failed result_v2 read, with the notices that arrived before it failed. */
export class ReducedReadError extends Error {
  constructor(
    override readonly cause: unknown,
    readonly notices: ServerMessage[],
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = 'ReducedReadError';
  }
}

/**
 * What a failed read says about the job:
 * - `worker`: the worker's own error, relayed (the job failed with it);
 * - `unreadable`: result_v2 refused the result itself (definition list mismatch, a second
 *   result set, an anonymous record): the job's outcome is not known;
 * - `lost`: the worker ended without finishing its report.
 * The original relays a worker's errors with the context "background worker, pid N"; its own
 * refusals carry no such context and use these SQLSTATEs. A worker raising one of them itself
 * is taken as unknown, which is never a false claim.
 */
export function classifyReadError(err: unknown): { kind: 'worker' | 'unreadable' | 'lost'; message: ServerMessage } | undefined {
  const server = toServerError(err);
  if (!server) return undefined;
  const m = server.server;
  if (/background worker/i.test(m.context ?? '')) return { kind: 'worker', message: m };
  if (m.sqlstate === '42804' || m.sqlstate === 'XX000' || m.sqlstate === '0A000') return { kind: 'unreadable', message: m };
  if (m.sqlstate === '08006' && /lost connection to worker/i.test(m.message)) return { kind: 'lost', message: m };
  return { kind: 'worker', message: m };
}
