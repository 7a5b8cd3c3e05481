import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findMetaCommands, segmentAt, serverPositionToOffset, splitSql, splitStatements } from '../../src/core/statementFinder.js';

const texts = (sql: string, scs = true): string[] => splitStatements(sql, { standardConformingStrings: scs }).map((s) => s.text);

describe('statementFinder: splitting', () => {
  it('splits on semicolons and keeps ranges', () => {
    const sql = 'SELECT 1;\n  SELECT 2 ;SELECT 3';
    const stmts = splitStatements(sql);
    assert.deepEqual(stmts.map((s) => s.text), ['SELECT 1;', 'SELECT 2 ;', 'SELECT 3']);
    assert.equal(sql.slice(stmts[1].start, stmts[1].end), 'SELECT 2 ;');
    assert.equal(stmts[2].end, sql.length);
  });

  it('ignores semicolons in quotes, identifiers and comments', () => {
    assert.deepEqual(texts(`SELECT 'a;b', "x;y" FROM t; SELECT 'it''s;'`), [`SELECT 'a;b', "x;y" FROM t;`, `SELECT 'it''s;'`]);
    assert.deepEqual(texts('SELECT 1 -- no; split\n+ 1; SELECT 2'), ['SELECT 1 -- no; split\n+ 1;', 'SELECT 2']);
    assert.deepEqual(texts('SELECT /* a; /* nested; */ still; */ 1; SELECT 2'), ['SELECT /* a; /* nested; */ still; */ 1;', 'SELECT 2']);
    assert.deepEqual(texts('SELECT "a""b;c"; SELECT 2'), ['SELECT "a""b;c";', 'SELECT 2']);
  });

  it('handles E strings with backslash escapes', () => {
    assert.deepEqual(texts(`SELECT E'a\\';b'; SELECT 2`), [`SELECT E'a\\';b';`, 'SELECT 2']);
    // In a standard string a backslash is literal, so the quote after it closes the string.
    assert.deepEqual(texts(`SELECT 'a\\'; SELECT 2`), [`SELECT 'a\\';`, 'SELECT 2']);
    // ...unless standard_conforming_strings is off.
    assert.deepEqual(texts(`SELECT 'a\\'; SELECT 2'; SELECT 3`, false), [`SELECT 'a\\'; SELECT 2';`, 'SELECT 3']);
    // An identifier ending in e is not an E prefix.
    assert.deepEqual(texts(`SELECT type'a\\'; SELECT 2`), [`SELECT type'a\\';`, 'SELECT 2']);
  });

  it('handles dollar quotes, tags, and not parameters', () => {
    const body = `CREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END $$ LANGUAGE plpgsql;`;
    assert.deepEqual(texts(`${body} SELECT f()`), [body, 'SELECT f()']);
    const tagged = `DO $body$ BEGIN PERFORM '$$;'; END $body$;`;
    assert.deepEqual(texts(`${tagged}SELECT 2`), [tagged, 'SELECT 2']);
    assert.deepEqual(texts('PREPARE p AS SELECT $1; EXECUTE p(1)'), ['PREPARE p AS SELECT $1;', 'EXECUTE p(1)']);
    assert.deepEqual(texts('SELECT a$b$ FROM t; SELECT 2'), ['SELECT a$b$ FROM t;', 'SELECT 2']);
  });

  it('does not split inside parentheses or BEGIN ATOMIC bodies', () => {
    assert.deepEqual(texts('CREATE RULE r AS ON INSERT TO t DO ALSO (SELECT 1; SELECT 2); SELECT 3'), [
      'CREATE RULE r AS ON INSERT TO t DO ALSO (SELECT 1; SELECT 2);',
      'SELECT 3',
    ]);
    const fn = 'CREATE OR REPLACE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; SELECT 2; END;';
    assert.deepEqual(texts(`${fn} SELECT g()`), [fn, 'SELECT g()']);
  });

  it('runs an unterminated string, identifier, comment or dollar quote to the end of the text', () => {
    assert.deepEqual(texts(`SELECT 'open; SELECT 2`), [`SELECT 'open; SELECT 2`]);
    assert.deepEqual(texts(`SELECT E'a\\`), [`SELECT E'a\\`]);
    assert.deepEqual(texts('SELECT "open; SELECT 2'), ['SELECT "open; SELECT 2']);
    assert.deepEqual(texts('SELECT 1 /* open /* nested */; SELECT 2'), ['SELECT 1 /* open /* nested */; SELECT 2']);
    assert.deepEqual(texts('DO $x$ open; SELECT 2'), ['DO $x$ open; SELECT 2']);
    assert.deepEqual(texts('SELECT 1 -- no newline;'), ['SELECT 1 -- no newline;']);
  });

  it('a stray ) does not keep a later ; from ending the statement', () => {
    assert.deepEqual(texts('SELECT 1); SELECT 2'), ['SELECT 1);', 'SELECT 2']);
  });

  it('drops blank and comment-only pieces', () => {
    assert.deepEqual(texts(' ;; -- just a comment\n /* and this */ '), []);
    assert.deepEqual(texts('-- lead\nSELECT 1;'), ['-- lead\nSELECT 1;']);
  });
});

describe('statementFinder: meta-commands', () => {
  it('detects psql meta-commands at line start and as terminators', () => {
    const sql = 'SELECT 1 AS x \\gset\n\\echo :x\nSELECT 2;';
    const segs = splitSql(sql);
    assert.deepEqual(segs.map((s) => s.kind), ['sql', 'meta', 'meta', 'sql']);
    assert.equal(segs[0].kind === 'sql' && segs[0].terminator, '\\gset');
    assert.deepEqual(findMetaCommands(sql).map((m) => m.command), ['\\gset', '\\echo']);
    assert.equal(findMetaCommands(sql)[1].text, '\\echo :x');
  });

  it('a meta-command line ending in CRLF keeps neither the CR nor trailing blanks', () => {
    const [m] = findMetaCommands('\\echo hi  \r\nSELECT 1;');
    assert.deepEqual([m.command, m.text, m.start, m.end], ['\\echo', '\\echo hi', 0, 8]);
  });

  it('ignores backslashes inside strings and comments', () => {
    assert.deepEqual(findMetaCommands(`SELECT '\\gset', E'\\\\' -- \\x\n/* \\i f */`), []);
  });
});

describe('statementFinder: statement at cursor', () => {
  const sql = 'SELECT 1;\n\nSELECT $$;$$;\n-- c\nSELECT 3';
  it('finds the statement containing the cursor', () => {
    assert.equal(segmentAt(sql, 3)?.kind === 'sql' && (segmentAt(sql, 3) as { text: string }).text, 'SELECT 1;');
    const i = sql.indexOf('$$;$$') + 2;
    assert.equal((segmentAt(sql, i) as { text: string }).text, 'SELECT $$;$$;');
    assert.equal((segmentAt(sql, sql.length) as { text: string }).text, '-- c\nSELECT 3');
  });
  it('a cursor just after a ; or in blank space selects the previous statement', () => {
    assert.equal((segmentAt(sql, 9) as { text: string }).text, 'SELECT 1;');
    assert.equal((segmentAt(sql, 10) as { text: string }).text, 'SELECT 1;');
  });
  it('returns the meta-command under the cursor so the UI can refuse it', () => {
    const seg = segmentAt('SELECT 1;\n\\gexec\n', 12);
    assert.equal(seg?.kind, 'meta');
  });
  it('nothing to run in an empty document', () => {
    assert.equal(segmentAt('  -- only\n', 3), undefined);
  });
});

describe('statementFinder: server positions', () => {
  it('maps 1-based character positions to UTF-16 offsets', () => {
    const sql = "SELECT '😀', foo";
    const pos = [...sql].indexOf('f') + 1; // the server counts characters
    assert.equal(sql[serverPositionToOffset(sql, pos)], 'f');
    assert.equal(serverPositionToOffset('abc', 1), 0);
  });
});
