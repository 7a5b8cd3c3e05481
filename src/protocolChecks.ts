// The building blocks of the protocol's validators (protocol.ts, toolsProtocol.ts): messages
// cross a postMessage boundary, so each side checks shapes by hand with these. Hand-written
// rather than a schema library: the shapes are few and the webview bundle small. `fields()`
// checks an object against a table of per-field checks, for shapes with many fields.

export type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
export const isInt = (v: unknown, min = 0): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
export const isStr = (v: unknown): v is string => typeof v === 'string';
export const optStr = (v: unknown): boolean => v === undefined || typeof v === 'string';
export const optNum = (v: unknown): boolean => v === undefined || (typeof v === 'number' && Number.isFinite(v));
export const isNum = (v: unknown): v is number => typeof v === 'number' && !Number.isNaN(v);

/** True when every named field of `v` passes its check (absent fields are `undefined` to it). */
export function fields(v: Obj, checks: Record<string, (x: unknown) => boolean>): boolean {
  for (const [name, ok] of Object.entries(checks)) if (!ok(v[name])) return false;
  return true;
}
export const isCount = (v: unknown): v is number => isInt(v);
export const optOf =
  (check: (x: unknown) => boolean) =>
  (v: unknown): boolean =>
    v === undefined || check(v);
export const arrayOf =
  (check: (x: unknown) => boolean) =>
  (v: unknown): boolean =>
    Array.isArray(v) && v.every(check);
export const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
