import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adminSql, buildCommand, pgConfigCandidates, shellQuote } from '../../src/vscode/installPaths.js';

test('pgConfigCandidates puts the server major version first', () => {
  const linux = pgConfigCandidates(15, 'linux');
  assert.equal(linux[0], '/usr/lib/postgresql/15/bin/pg_config');
  assert.ok(linux.includes('/usr/pgsql-15/bin/pg_config'));
  assert.ok(pgConfigCandidates(16, 'darwin')[0].includes('postgresql@16'));
  assert.ok(!pgConfigCandidates(undefined, 'linux').some((p) => p.includes('undefined')));
});

test('shellQuote leaves plain paths alone and quotes the rest safely', () => {
  assert.equal(shellQuote('/usr/lib/postgresql/15/bin/pg_config'), '/usr/lib/postgresql/15/bin/pg_config');
  assert.equal(shellQuote('/home/a b/x'), "'/home/a b/x'");
  assert.equal(shellQuote("it's"), "'it'\\''s'");
});

test('buildCommand builds then installs, with sudo only for the install step', () => {
  assert.equal(buildCommand('/tmp/src', '/usr/bin/pg_config', false), 'make -C /tmp/src PG_CONFIG=/usr/bin/pg_config && make -C /tmp/src PG_CONFIG=/usr/bin/pg_config install');
  assert.match(buildCommand('/tmp/src', '/usr/bin/pg_config', true), /&& sudo make -C/);
});

test('adminSql contains the CREATE EXTENSION statement and the install step', () => {
  const sql = adminSql({ connectionName: 'prod', target: 'app@db:5432/app', database: 'app', serverVersion: '15.8', extensionSourceDir: '/ext/extension-c' });
  assert.match(sql, /^CREATE EXTENSION IF NOT EXISTS pg_background;$/m);
  assert.match(sql, /make -C \/ext\/extension-c PG_CONFIG=\/usr\/lib\/postgresql\/15\/bin\/pg_config install/);
  // Every non-statement line is a comment, so the document can be run as is.
  for (const line of sql.split('\n')) assert.ok(line === '' || line.startsWith('--') || line.startsWith('CREATE EXTENSION'), line);
});
