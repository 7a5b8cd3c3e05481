// Types for package.mjs, so the TypeScript e2e tests can import it under strict checking.
export declare function buildVsix(opts?: { out?: string; quiet?: boolean }): { out: string; size: number; files: string[] };
