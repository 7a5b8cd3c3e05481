// A short name for a piece of SQL, for the Jobs tree and messages about a job: its first SQL
// words, with comments and line breaks gone, so a script that opens with a comment is not
// called "-- A million rows. They…". A first line `-- name: Nightly totals` names the job.
// Comments are recognised the way the server does (nested block comments; nothing inside
// quotes, identifiers or dollar-quoted bodies is taken for a comment).

const NAME_LINE = /^\s*--\s*name\s*:\s*(.*?)\s*$/i;

/** The SQL without comments, whitespace runs collapsed to one space, trimmed. */
export function stripSqlComments(sql: string): string {
  let out = '';
  let i = 0;
  const n = sql.length;
  const space = (): void => {
    if (out !== '' && !out.endsWith(' ')) out += ' ';
  };
  while (i < n) {
    const ch = sql[i];
    const next = sql[i + 1];
    if (ch === '-' && next === '-') {
      while (i < n && sql[i] !== '\n' && sql[i] !== '\r') i++;
      space();
      continue;
    }
    if (ch === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          depth--;
          i += 2;
        } else i++;
      }
      space();
      continue;
    }
    if (/\s/.test(ch)) {
      space();
      i++;
      continue;
    }
    const end = quotedEnd(sql, i);
    out += sql.slice(i, end);
    i = end;
  }
  return out.trim();
}

/** End (exclusive) of the token at `i`: a whole quoted literal, identifier or dollar-quoted body, else one character. */
function quotedEnd(sql: string, i: number): number {
  const ch = sql[i];
  if (ch === "'" || ch === '"') {
    // E'…' strings take backslash escapes; the E is the previous character, already copied.
    const escapes = ch === "'" && /[eE]/.test(sql[i - 1] ?? '') && !/[\w$]/.test(sql[i - 2] ?? '');
    let j = i + 1;
    while (j < sql.length) {
      if (escapes && sql[j] === '\\') j += 2;
      else if (sql[j] === ch && sql[j + 1] === ch) j += 2;
      else if (sql[j] === ch) return j + 1;
      else j++;
    }
    return sql.length;
  }
  if (ch === '$' && !/[\w$]/.test(sql[i - 1] ?? '')) {
    const tag = /^\$(?:[A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*)?\$/.exec(sql.slice(i));
    if (tag) {
      const close = sql.indexOf(tag[0], i + tag[0].length);
      return close < 0 ? sql.length : close + tag[0].length;
    }
  }
  return i + 1;
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
