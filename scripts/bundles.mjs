// The esbuild options of every bundle made in this repository, in one place: the extension host
// code, its sort worker and the webview script the product ships (esbuild.mjs), and the Node bundles the tests
// load into an extension host (the e2e probe, the test-electron entry). Paths are absolute, so
// the result does not depend on the caller's working directory.

import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const abs = (p) => path.resolve(repoRoot, p);

/** A CommonJS bundle for VS Code's extension host (Node 20), `vscode` left to the host. */
export function nodeBundle(entry, outfile, overrides = {}) {
  return {
    entryPoints: [abs(entry)],
    outfile: abs(outfile),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
    logLevel: 'warning',
    legalComments: 'none',
    ...overrides,
  };
}

/** The extension host entry; `pg-native` is an optional peer of `pg` that is never installed. */
export function extensionBundle(overrides = {}) {
  return nodeBundle('src/extension.ts', 'dist/extension.js', { external: ['vscode', 'pg-native'], sourcemap: 'linked', ...overrides });
}

/**
 * The result operations' sort worker (src/core/resultOps/sortWorker.ts), its own entry because
 * a worker thread starts from a file: it must sit beside dist/extension.js, where offThread.ts
 * looks for it.
 */
export function sortWorkerBundle(overrides = {}) {
  return nodeBundle('src/core/resultOps/sortWorker.ts', 'dist/sortWorker.js', { sourcemap: 'linked', ...overrides });
}

/** The result panel's page script: a browser IIFE for the Chromium inside VS Code. */
export function webviewBundle(overrides = {}) {
  return {
    entryPoints: [abs('webview/main.ts')],
    outfile: abs('dist/webview.js'),
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'chrome120',
    sourcemap: 'linked',
    logLevel: 'warning',
    legalComments: 'none',
    ...overrides,
  };
}
