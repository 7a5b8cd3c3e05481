// Builds the bundles the product ships: the extension host code (Node, CommonJS, `vscode` left
// external), the sort worker it starts (Node, CommonJS) and the webview script (browser IIFE);
// their options live in scripts/bundles.mjs. `--watch` rebuilds on change; `--production`
// minifies and drops source maps for the .vsix.
import * as esbuild from 'esbuild';
import path from 'node:path';
import { extensionBundle, repoRoot, sortWorkerBundle, webviewBundle } from './scripts/bundles.mjs';
import { writeNotices } from './scripts/notices.mjs';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

const mode = { sourcemap: production ? false : 'linked', minify: production, logLevel: 'info' };
const builds = [extensionBundle(mode), sortWorkerBundle(mode), webviewBundle(mode)];

if (watch) {
  for (const options of builds) {
    const ctx = await esbuild.context(options);
    await ctx.watch();
  }
} else {
  const results = await Promise.all(builds.map((options) => esbuild.build({ ...options, metafile: true })));
  writeNotices(results, repoRoot, path.join(repoRoot, 'dist', 'THIRD-PARTY-NOTICES.txt'));
}
