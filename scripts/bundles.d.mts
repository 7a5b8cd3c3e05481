// Types for bundles.mjs, so the TypeScript tests can import it under strict checking.
import type { BuildOptions } from 'esbuild';

export declare const repoRoot: string;
export declare function nodeBundle(entry: string, outfile: string, overrides?: BuildOptions): BuildOptions;
export declare function extensionBundle(overrides?: BuildOptions): BuildOptions;
export declare function sortWorkerBundle(overrides?: BuildOptions): BuildOptions;
export declare function webviewBundle(overrides?: BuildOptions): BuildOptions;
