// Reduced mode: the server has pg_background without our fetch_v2 (e.g. the original 1.x).
// Jobs still launch, cancel, wait and detach; results are read once the worker is done with
// pg_background_result_v2, whose column definition list we build by describing the statement
// on the extended protocol before launching it.

import pg from 'pg';
import type { ColumnInfo, Row } from './model.js';
import type { SessionCalls } from './launcherSession.js';

export interface ReducedPlan {
  /** Columns of the (last) statement as the user will see them. */
  columns: ColumnInfo[];
  /** "AS (c1 integer, c2 text)" — positional names: real names may repeat or be "?column?". */
  definitionList: string;
  /** The statement returns no rows: result_v2 reports its command tag as one text column. */
  commandOnly: boolean;
}

/** void, unknown, record, cstring */
const PSEUDO_AS_TEXT = new Set([2278, 705, 2249, 2275]);

/** Describes the SQL; undefined when it cannot be described (several statements, utility...). */
export async function planReducedRead(calls: SessionCalls, sql: string): Promise<ReducedPlan | undefined> {
  let described;
  try {
    described = await calls.describe(sql);
  } catch {
    return undefined;
  }
  if (described.length === 0) {
    return { columns: [{ name: 'result', type: 'text', typeOid: 25, typmod: -1 }], definitionList: 'AS (result text)', commandOnly: true };
  }
  const res = await calls.query<{ t: string }>(
    'SELECT format_type(o, t) AS t FROM unnest($1::oid[], $2::int4[]) WITH ORDINALITY AS u(o, t, n) ORDER BY n',
    [described.map((c) => c.typeOid), described.map((c) => c.typmod)],
  );
  const columns = described.map((c, i): ColumnInfo => ({ name: c.name, type: res.rows[i].t, typeOid: c.typeOid, typmod: c.typmod }));
  // Pseudo-types (void from pg_sleep(), unknown, record) cannot appear in a column definition
  // list; their text output is what we want anyway.
  const listType = (c: ColumnInfo): string => (PSEUDO_AS_TEXT.has(c.typeOid) ? 'text' : c.type);
  const definitionList = `AS (${columns.map((c, i) => `${pg.escapeIdentifier(`c${i + 1}`)} ${listType(c)}`).join(', ')})`;
  return { columns, definitionList, commandOnly: false };
}

/** Reads the whole result with result_v2 (blocks until the worker has produced all of it). */
export async function readResultV2(calls: SessionCalls, pid: number, cookie: string, plan: ReducedPlan): Promise<Row[]> {
  const text = `SELECT * FROM ${calls.fn('pg_background_result_v2')}($1, $2::int8) ${plan.definitionList}`;
  return calls.queryText(text, [pid, cookie]);
}
