// The license texts of the third-party packages bundled into dist/ (`pg` and its dependencies,
// uPlot, the webview toolkit, …). esbuild drops their comments, so without this file the
// .vsix would ship their code without the notices their licenses require. The package list
// comes from the bundles' metafiles: only what was actually bundled is listed.

import fs from 'node:fs';
import path from 'node:path';

/** Package directories (node_modules/…/name) that a metafile's inputs come from. */
function bundledPackages(metafile, root) {
  const dirs = new Set();
  for (const input of Object.keys(metafile.inputs)) {
    const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input.replaceAll('\\', '/'));
    if (m) dirs.add(path.resolve(root, m[1]));
  }
  return [...dirs];
}

function licenseText(dir) {
  const file = fs.readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(f));
  return file ? fs.readFileSync(path.join(dir, file), 'utf8').trim() : undefined;
}

/** Writes `outfile` for the given esbuild results; throws if a bundled package has no license text. */
export function writeNotices(results, root, outfile) {
  const entries = new Map();
  for (const r of results) {
    for (const dir of bundledPackages(r.metafile, root)) {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
      const key = `${pkg.name}@${pkg.version}`;
      if (entries.has(key)) continue;
      const text = licenseText(dir) ?? (pkg.license ? `License: ${pkg.license} (the package ships no license file)` : undefined);
      if (!text) throw new Error(`${key} is bundled but declares no license`);
      entries.set(key, text);
    }
  }
  const body = [...entries.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, text]) => `${key}\n${'='.repeat(key.length)}\n\n${text}\n`)
    .join('\n');
  fs.writeFileSync(outfile, `Third-party software bundled into PG Background's dist/ files, with its license texts.\n\n${body}`);
  return entries.size;
}
