#!/usr/bin/env node
// `npm run package`: production bundles, then pg-background.vsix with @vscode/vsce, then a
// check that the package holds exactly what .vscodeignore allows (a stray test, source map or
// node_modules would be a packaging bug), and its size.
//
//   node scripts/package.mjs [--out FILE] [--quiet]

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function run(cmd, args, { capture = false } = {}) {
  const res = spawnSync(cmd, args, {
    cwd: repoRoot,
    encoding: 'utf8',
    stdio: capture ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (res.error) throw res.error;
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${res.status}\n${res.stdout ?? ''}${res.stderr ?? ''}`);
  return res.stdout ?? '';
}

/** What may be inside the .vsix (paths relative to extension/), besides vsce's own files. */
const allowed = [
  /^package\.json$/,
  /^readme\.md$/i,
  /^changelog\.md$/i,
  /^LICENSE(\.txt)?$/,
  /^dist\/extension\.js$/,
  /^dist\/sortWorker\.js$/,
  /^dist\/webview\.js$/,
  /^dist\/webview\.css$/,
  /^dist\/THIRD-PARTY-NOTICES\.txt$/,
  /^media\//,
  /^extension-c\/Makefile$/,
  /^extension-c\/[^/]+\.(c|h|control|sql)$/,
  /^extension-c\/(sql|expected)\/[^/]+$/,
  /^extension-c\/README[^/]*$/,
];

export function buildVsix({ out = path.join(repoRoot, 'pg-background.vsix'), quiet = false } = {}) {
  const say = (msg) => {
    if (!quiet) process.stdout.write(`${msg}\n`);
  };
  run('node', ['esbuild.mjs', '--production'], { capture: quiet });
  fs.rmSync(out, { force: true });
  // No public repository URL yet: without --allow-missing-repository vsce stops and asks, and
  // without --no-rewrite-relative-links it refuses the README's relative screenshot links.
  run(
    path.join(repoRoot, 'node_modules', '.bin', 'vsce'),
    ['package', '--no-dependencies', '--allow-missing-repository', '--no-rewrite-relative-links', '--out', out],
    { capture: quiet },
  );
  const listing = run('unzip', ['-Z1', out], { capture: true })
    .split('\n')
    .filter((l) => l && !l.endsWith('/'));
  const payload = listing.filter((f) => f.startsWith('extension/')).map((f) => f.slice('extension/'.length));
  const unexpected = payload.filter((f) => !allowed.some((re) => re.test(f)));
  if (unexpected.length > 0) {
    throw new Error(`the .vsix holds files it must not ship:\n  ${unexpected.join('\n  ')}\nfix .vscodeignore`);
  }
  // vsce stores LICENSE as LICENSE.txt and lower-cases changelog.md / readme.md.
  const must = [/^package\.json$/, /^dist\/extension\.js$/, /^dist\/sortWorker\.js$/, /^dist\/webview\.js$/, /^dist\/THIRD-PARTY-NOTICES\.txt$/, /^LICENSE(\.txt)?$/, /^changelog\.md$/i];
  if (fs.existsSync(path.join(repoRoot, 'README.md'))) must.push(/^readme\.md$/i);
  for (const re of must) {
    if (!payload.some((f) => re.test(f))) throw new Error(`the .vsix lacks ${re.source.replace(/\\/g, '')}`);
  }
  const size = fs.statSync(out).size;
  const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
  const extJs = fs.statSync(path.join(repoRoot, 'dist', 'extension.js')).size;
  const webJs = fs.statSync(path.join(repoRoot, 'dist', 'webview.js')).size;
  say(`${path.relative(process.cwd(), out) || out}: ${kb(size)} (${payload.length} files; dist/extension.js ${kb(extJs)}, dist/webview.js ${kb(webJs)})`);
  return { out, size, files: payload };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const i = args.indexOf('--out');
  try {
    buildVsix({ out: i >= 0 ? path.resolve(args[i + 1]) : undefined, quiet: args.includes('--quiet') });
  } catch (err) {
    process.stderr.write(`package: ${err.message}\n`);
    process.exit(1);
  }
}
