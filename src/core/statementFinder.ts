// Splits SQL text into statements the way psql does, so "Run Statement at Cursor" sends exactly
// what psql would have sent, and finds psql meta-commands (\gset, \i, ...) which pg_background
// cannot run so the UI can refuse them with a clear message instead of launching a failing job.
//
// Lexical rules followed (PostgreSQL scan.l / psqlscan.l): '' strings ('' doubles a quote; with
// standard_conforming_strings off a backslash escapes too), E'' strings (backslash escapes),
// "" identifiers, $$ / $tag$ dollar quotes (not $1 parameters, not a $ inside an identifier),
// -- line comments, nested /* */ block comments, parentheses (a ; inside them does not end the
// statement) and SQL-standard function bodies (BEGIN ATOMIC ... END).
//
// All offsets are UTF-16 code unit offsets into the input, as editors use.

export interface SqlStatement {
  kind: 'sql';
  /** Offset of the statement's first significant character (comments before it included). */
  start: number;
  /** Offset just past the statement (past its `;` when it has one). */
  end: number;
  /** The statement text without surrounding whitespace, `;` kept when present. */
  text: string;
  /** A psql meta-command that ends this statement instead of `;` (e.g. "\gset"), if any. */
  terminator?: string;
}

export interface MetaCommand {
  kind: 'meta';
  start: number;
  /** Offset of the end of the meta-command's line (its newline excluded). */
  end: number;
  /** The command word, e.g. "\gset". */
  command: string;
  /** The whole meta-command text up to the end of the line. */
  text: string;
}

export type SqlSegment = SqlStatement | MetaCommand;

export interface SplitOptions {
  /** The server's standard_conforming_strings (on since 9.1); off makes \ escape in '' strings. */
  standardConformingStrings?: boolean;
}

const isIdentStart = (c: string): boolean => /[A-Za-z_\u0080-\uffff]/.test(c);
const isIdentChar = (c: string): boolean => /[A-Za-z0-9_$\u0080-\uffff]/.test(c);

/** Reads a dollar-quote delimiter ($$ or $tag$) at i, or returns undefined. */
function dollarTagAt(sql: string, i: number): string | undefined {
  if (sql[i] !== '$') return undefined;
  // A $ continuing an identifier (a$b) or a number is not a quote start.
  if (i > 0 && isIdentChar(sql[i - 1]) ) return undefined;
  let j = i + 1;
  if (sql[j] === '$') return '$$';
  if (j >= sql.length || !isIdentStart(sql[j])) return undefined; // $1 is a parameter
  while (j < sql.length && /[A-Za-z0-9_\u0080-\uffff]/.test(sql[j])) j++;
  return sql[j] === '$' ? sql.slice(i, j + 1) : undefined;
}

/** Splits the text into statements and meta-commands, in order; blank or comment-only pieces are dropped. */
export function splitSql(sql: string, options: SplitOptions = {}): SqlSegment[] {
  const scs = options.standardConformingStrings ?? true;
  const out: SqlSegment[] = [];
  const n = sql.length;
  let stmtStart = -1; // first significant char of the current statement, -1 = none yet
  let hasCode = false; // the current statement has something besides comments
  let parenDepth = 0;
  let atomicDepth = 0;
  const words: string[] = []; // first few words of the statement, lower-cased (for BEGIN ATOMIC)
  let prevWord = '';

  const finish = (end: number, terminator?: string): void => {
    if (stmtStart >= 0 && hasCode) {
      const text = sql.slice(stmtStart, end).trim();
      const stmt: SqlStatement = { kind: 'sql', start: stmtStart, end, text };
      if (terminator) stmt.terminator = terminator;
      out.push(stmt);
    }
    stmtStart = -1;
    hasCode = false;
    parenDepth = 0;
    atomicDepth = 0;
    words.length = 0;
    prevWord = '';
  };
  const mark = (i: number, code: boolean): void => {
    if (stmtStart < 0) stmtStart = i;
    if (code) hasCode = true;
  };

  let i = 0;
  while (i < n) {
    const c = sql[i];
    const next = sql[i + 1];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v') {
      i++;
      continue;
    }
    if (c === '-' && next === '-') {
      mark(i, false);
      while (i < n && sql[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && next === '*') {
      mark(i, false);
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
      continue;
    }
    if (c === "'") {
      // E'...' (and e'...') when the E is a token of its own, not the end of an identifier.
      const prev = sql[i - 1];
      const escapes = !scs || ((prev === 'E' || prev === 'e') && !(i >= 2 && isIdentChar(sql[i - 2])));
      mark(i, true);
      i++;
      while (i < n) {
        if (escapes && sql[i] === '\\') {
          i += 2;
          continue;
        }
        if (sql[i] === "'") {
          if (sql[i + 1] === "'") {
            i += 2;
            continue;
          }
          break;
        }
        i++;
      }
      i++;
      continue;
    }
    if (c === '"') {
      mark(i, true);
      i++;
      while (i < n) {
        if (sql[i] === '"') {
          if (sql[i + 1] === '"') {
            i += 2;
            continue;
          }
          break;
        }
        i++;
      }
      i++;
      continue;
    }
    if (c === '$') {
      const tag = dollarTagAt(sql, i);
      if (tag) {
        mark(i, true);
        const close = sql.indexOf(tag, i + tag.length);
        i = close < 0 ? n : close + tag.length;
        continue;
      }
    }
    if (c === '\\') {
      // psql meta-command: from the backslash to the end of the line; it also ends the
      // statement being typed (\g, \gset, \gx ... send the query buffer).
      let eol = sql.indexOf('\n', i);
      if (eol < 0) eol = n;
      const text = sql.slice(i, eol).replace(/\r$/, '').trimEnd();
      const command = /^\\[^\s\\]*/.exec(text)?.[0] ?? '\\';
      finish(i, command);
      out.push({ kind: 'meta', start: i, end: i + text.length, command, text });
      i = eol;
      continue;
    }
    if (c === '(') {
      mark(i, true);
      parenDepth++;
      i++;
      continue;
    }
    if (c === ')') {
      mark(i, true);
      if (parenDepth > 0) parenDepth--;
      i++;
      continue;
    }
    if (c === ';') {
      if (parenDepth === 0 && atomicDepth === 0) {
        if (stmtStart < 0) {
          i++;
          continue; // a stray ;
        }
        finish(i + 1);
        i++;
        continue;
      }
      i++;
      continue;
    }
    if (isIdentStart(c)) {
      mark(i, true);
      let j = i + 1;
      while (j < n && isIdentChar(sql[j])) j++;
      const word = sql.slice(i, j).toLowerCase();
      if (words.length < 4) words.push(word);
      // SQL-standard bodies: CREATE [OR REPLACE] FUNCTION|PROCEDURE ... BEGIN ATOMIC ... END;
      // ; inside them does not end the statement. CASE ... END nests inside such a body.
      const routine = words[0] === 'create' && (words[1] === 'function' || words[1] === 'procedure' || (words[1] === 'or' && words[2] === 'replace' && (words[3] === 'function' || words[3] === 'procedure')));
      if (routine) {
        if (word === 'atomic' && prevWord === 'begin') atomicDepth++;
        else if (atomicDepth > 0 && word === 'case') atomicDepth++;
        else if (atomicDepth > 0 && word === 'end') atomicDepth--;
      }
      prevWord = word;
      i = j;
      continue;
    }
    mark(i, true);
    i++;
  }
  finish(n);
  return out;
}

/** Statements only (meta-commands dropped). */
export function splitStatements(sql: string, options: SplitOptions = {}): SqlStatement[] {
  return splitSql(sql, options).filter((s): s is SqlStatement => s.kind === 'sql');
}

/** Meta-commands found in the text (outside strings and comments). */
export function findMetaCommands(sql: string, options: SplitOptions = {}): MetaCommand[] {
  return splitSql(sql, options).filter((s): s is MetaCommand => s.kind === 'meta');
}

/**
 * The statement (or meta-command) under the cursor. A cursor inside a segment, or right after it
 * (just past its `;`, or in the blank space before the next one), selects it; a cursor before the
 * first statement selects the first one.
 */
export function segmentAt(sql: string, offset: number, options: SplitOptions = {}): SqlSegment | undefined {
  const segments = splitSql(sql, options);
  if (segments.length === 0) return undefined;
  let candidate: SqlSegment | undefined;
  for (const s of segments) {
    if (offset >= s.start && offset <= s.end) return s;
    if (s.end <= offset) candidate = s;
  }
  return candidate ?? segments[0];
}

/** Maps a server error position (1-based, in characters) to a UTF-16 offset into `sql`. */
export function serverPositionToOffset(sql: string, position: number): number {
  let offset = 0;
  let chars = 1;
  while (offset < sql.length && chars < position) {
    const code = sql.charCodeAt(offset);
    offset += code >= 0xd800 && code <= 0xdbff ? 2 : 1;
    chars++;
  }
  return offset;
}
