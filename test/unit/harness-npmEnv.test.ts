// The code-server install runs an inner `npm install` from inside `npm test` / `npm run demo`.
// An enclosing npm exports its configuration as npm_config_* variables, and an inner npm reads
// them as its own: code-server's postinstall.sh then saw the outer Node 20's user agent and
// refused to build. This installs a real package whose install script records the user agent
// it was given, with an outer npm's variables faked into the environment.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { cleanNpmEnv, npmInstall } from '../harness/codeserver.mjs';

test('an inner npm install takes its user agent from the Node that runs it, not from an enclosing npm', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgbg-npmenv-'));
  const saved = { ...process.env };
  try {
    const probe = path.join(dir, 'probe');
    const app = path.join(dir, 'app');
    const out = path.join(dir, 'user-agent.txt');
    fs.mkdirSync(probe);
    fs.mkdirSync(app);
    fs.writeFileSync(
      path.join(probe, 'package.json'),
      JSON.stringify({
        name: 'pgbg-npm-probe',
        version: '1.0.0',
        scripts: { postinstall: `node -e "require('fs').writeFileSync(process.env.PGBG_PROBE_OUT, String(process.env.npm_config_user_agent))"` },
      }),
    );
    const pack = spawnSync('npm', ['pack', '--silent'], { cwd: probe, env: cleanNpmEnv(), encoding: 'utf8' });
    assert.equal(pack.status, 0, pack.stderr);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'probe-app', private: true, allowScripts: { 'pgbg-npm-probe': true } }));

    process.env.npm_config_user_agent = 'npm/0.0.0 node/v0.0.1-outer linux x64';
    process.env.npm_lifecycle_event = 'test';
    npmInstall(app, path.join(probe, 'pgbg-npm-probe-1.0.0.tgz'), { PGBG_PROBE_OUT: out });

    const agent = fs.readFileSync(out, 'utf8');
    assert.doesNotMatch(agent, /v0\.0\.1-outer/);
    assert.match(agent, new RegExp(`node/${process.version.replace(/\./g, '\\.')}\\b`));
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('cleanNpmEnv drops what an enclosing npm exports and keeps the rest', () => {
  const env = cleanNpmEnv({ PATH: '/bin', npm_config_user_agent: 'x', NPM_CONFIG_CACHE: '/c', npm_package_name: 'p', INIT_CWD: '/w', NODE: '/usr/bin/node', HOME: '/h' });
  assert.deepEqual(env, { PATH: '/bin', HOME: '/h' });
});
