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
const isSpace = (c: string): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';

// ---------------------------------------------------------------------------------------------
// Lexical pieces. Each takes the offset where the piece starts and returns the offset just past
// it; an unterminated piece runs to the end of the text, as in psql (the server then reports it).

/** Offset of the newline ending the line at i, or the end of the text. */
function lineEnd(sql: string, i: number): number {
  const eol = sql.indexOf('\n', i);
  return eol < 0 ? sql.length : eol;
}

/** Past a block comment opened at i; they nest. */
function blockCommentEnd(sql: string, i: number): number {
  let depth = 1;
  let j = i + 2;
  while (j < sql.length && depth > 0) {
    if (sql[j] === '/' && sql[j + 1] === '*') {
      depth++;
      j += 2;
    } else if (sql[j] === '*' && sql[j + 1] === '/') {
      depth--;
      j += 2;
    } else j++;
  }
  return j;
}

/** Past a comment starting at i, or undefined when none starts there. */
export function commentEnd(sql: string, i: number): number | undefined {
  if (sql[i] === '-' && sql[i + 1] === '-') return lineEnd(sql, i);
  if (sql[i] === '/' && sql[i + 1] === '*') return blockCommentEnd(sql, i);
  return undefined;
}

/**
 * Past a literal quoted with `q` (' or ") opened at i: a doubled quote stays inside, and with
 * `escapes` a backslash takes the next character with it.
 */
function quotedEnd(sql: string, i: number, q: string, escapes: boolean): number {
  let j = i + 1;
  while (j < sql.length) {
    const c = sql[j];
    if (escapes && c === '\\') j += 2;
    else if (c !== q) j++;
    else if (sql[j + 1] === q) j += 2;
    else return j + 1;
  }
  return sql.length;
}

/** True when the ' at i opens an E'' string: the E is a token of its own, not the end of an identifier. */
function isEscapeString(sql: string, i: number): boolean {
  const prev = sql[i - 1];
  return (prev === 'E' || prev === 'e') && !(i >= 2 && isIdentChar(sql[i - 2]));
}

/** Reads a dollar-quote delimiter ($$ or $tag$) at i, or returns undefined. */
function dollarTagAt(sql: string, i: number): string | undefined {
  if (sql[i] !== '$') return undefined;
  // A $ continuing an identifier (a$b) or a number is not a quote start.
  if (i > 0 && isIdentChar(sql[i - 1])) return undefined;
  let j = i + 1;
  if (sql[j] === '$') return '$$';
  if (j >= sql.length || !isIdentStart(sql[j])) return undefined; // $1 is a parameter
  while (j < sql.length && /[A-Za-z0-9_\u0080-\uffff]/.test(sql[j])) j++;
  return sql[j] === '$' ? sql.slice(i, j + 1) : undefined;
}

/** Past a string, quoted identifier or dollar-quoted body starting at i, or undefined when none starts there. */
export function literalEnd(sql: string, i: number, standardConformingStrings: boolean): number | undefined {
  const c = sql[i];
  if (c === "'") return quotedEnd(sql, i, "'", !standardConformingStrings || isEscapeString(sql, i));
  if (c === '"') return quotedEnd(sql, i, '"', false);
  const tag = dollarTagAt(sql, i);
  if (tag === undefined) return undefined;
  const close = sql.indexOf(tag, i + tag.length);
  return close < 0 ? sql.length : close + tag.length;
}

// ---------------------------------------------------------------------------------------------
// Statement boundaries

/** The statement being read: where it started, and what keeps a ; from ending it. */
class Segments {
  readonly out: SqlSegment[] = [];
  /** First significant char of the current statement, -1 = none yet. */
  private start = -1;
  /** The current statement has something besides comments. */
  private hasCode = false;
  private parenDepth = 0;
  private atomicDepth = 0;
  /** First few words of the statement, lower-cased (for BEGIN ATOMIC). */
  private readonly words: string[] = [];
  private prevWord = '';

  constructor(private readonly sql: string) {}

  /** Something at i belongs to the statement; `code` is false for comments. */
  mark(i: number, code: boolean): void {
    if (this.start < 0) this.start = i;
    if (code) this.hasCode = true;
  }

  /** A ; here ends the statement (it is not inside parentheses or a BEGIN ATOMIC body). */
  get atTopLevel(): boolean {
    return this.parenDepth === 0 && this.atomicDepth === 0;
  }

  paren(c: '(' | ')'): void {
    if (c === '(') this.parenDepth++;
    else if (this.parenDepth > 0) this.parenDepth--;
  }

  word(word: string): void {
    const w = this.words;
    if (w.length < 4) w.push(word);
    // SQL-standard bodies: CREATE [OR REPLACE] FUNCTION|PROCEDURE ... BEGIN ATOMIC ... END;
    // ; inside them does not end the statement. CASE ... END nests inside such a body.
    const routine = w[0] === 'create' && (w[1] === 'function' || w[1] === 'procedure' || (w[1] === 'or' && w[2] === 'replace' && (w[3] === 'function' || w[3] === 'procedure')));
    if (routine) {
      if (word === 'atomic' && this.prevWord === 'begin') this.atomicDepth++;
      else if (this.atomicDepth > 0 && word === 'case') this.atomicDepth++;
      else if (this.atomicDepth > 0 && word === 'end') this.atomicDepth--;
    }
    this.prevWord = word;
  }

  /** Ends the current statement at `end`; blank or comment-only ones are dropped. */
  finish(end: number, terminator?: string): void {
    if (this.start >= 0 && this.hasCode) {
      const stmt: SqlStatement = { kind: 'sql', start: this.start, end, text: this.sql.slice(this.start, end).trim() };
      if (terminator) stmt.terminator = terminator;
      this.out.push(stmt);
    }
    this.start = -1;
    this.hasCode = false;
    this.parenDepth = 0;
    this.atomicDepth = 0;
    this.words.length = 0;
    this.prevWord = '';
  }

  /**
   * A psql meta-command at i: from the backslash to the end of the line. It also ends the
   * statement being typed (\g, \gset, \gx ... send the query buffer). Returns the line's end.
   */
  metaCommand(i: number): number {
    const eol = lineEnd(this.sql, i);
    const text = this.sql.slice(i, eol).replace(/\r$/, '').trimEnd();
    const command = /^\\[^\s\\]*/.exec(text)?.[0] ?? '\\';
    this.finish(i, command);
    this.out.push({ kind: 'meta', start: i, end: i + text.length, command, text });
    return eol;
  }
}

/** Splits the text into statements and meta-commands, in order; blank or comment-only pieces are dropped. */
export function splitSql(sql: string, options: SplitOptions = {}): SqlSegment[] {
  const scs = options.standardConformingStrings ?? true;
  const seg = new Segments(sql);
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const c = sql[i];
    if (isSpace(c)) {
      i++;
      continue;
    }
    const comment = commentEnd(sql, i);
    if (comment !== undefined) {
      seg.mark(i, false);
      i = comment;
      continue;
    }
    const literal = literalEnd(sql, i, scs);
    if (literal !== undefined) {
      seg.mark(i, true);
      i = literal;
      continue;
    }
    if (c === '\\') {
      i = seg.metaCommand(i);
      continue;
    }
    if (c === ';') {
      // A stray ; (no statement yet) ends nothing: finish() drops an empty statement.
      if (seg.atTopLevel) seg.finish(i + 1);
      i++;
      continue;
    }
    seg.mark(i, true);
    if (isIdentStart(c)) {
      let j = i + 1;
      while (j < n && isIdentChar(sql[j])) j++;
      seg.word(sql.slice(i, j).toLowerCase());
      i = j;
      continue;
    }
    if (c === '(' || c === ')') seg.paren(c);
    i++;
  }
  seg.finish(n);
  return seg.out;
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
