// A short name for a piece of SQL, for the Jobs tree and messages about a job: its first SQL
// words, with comments and line breaks gone, so a script that opens with a comment is not
// called "-- A million rows. They…". A first line `-- name: Nightly totals` names the job.
// Comments are recognised the way the server does (nested block comments; nothing inside
// quotes, identifiers or dollar-quoted bodies is taken for a comment), with the statement
// finder's scanner pieces.

import { commentEnd, literalEnd } from './statementFinder';

const NAME_LINE = /^\s*--\s*name\s*:\s*(.*?)\s*$/i;

/** The SQL without comments, whitespace runs collapsed to one space, trimmed. */
export function stripSqlComments(sql: string): string {
  let out = '';
  let i = 0;
  const space = (): void => {
    if (out !== '' && !out.endsWith(' ')) out += ' ';
  };
  while (i < sql.length) {
    const comment = commentEnd(sql, i);
    if (comment !== undefined || /\s/.test(sql[i])) {
      space();
      i = comment ?? i + 1;
      continue;
    }
    // A whole literal, identifier or dollar-quoted body at once, so nothing inside is a comment.
    const end = literalEnd(sql, i, true) ?? i + 1;
    out += sql.slice(i, end);
    i = end;
  }
  return out.trim();
}

/**
 * The label: the `-- name:` of a first line that has one, else the first SQL words; at most
 * `max` characters, "…" marking a cut. "(empty)" when there is no SQL at all.
 */
export function sqlLabel(sql: string, max = 80): string {
  const firstLine = sql.split(/\r?\n/).find((line) => line.trim() !== '');
  const named = firstLine === undefined ? null : NAME_LINE.exec(firstLine);
  // Line breaks inside a quoted literal are flattened too: this is a label, not the SQL.
  let text = (named && named[1] !== '' ? named[1] : stripSqlComments(sql)).replace(/\s+/g, ' ');
  if (text === '') text = sql.trim() === '' ? '(empty)' : '(comments only)';
  return text.length > max ? `${text.slice(0, Math.max(1, max - 1)).trimEnd()}…` : text;
}
