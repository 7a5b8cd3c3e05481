// The building blocks of the protocol's validators (protocol.ts, toolsProtocol.ts): messages
// cross a postMessage boundary, so each side checks shapes by hand with these. Hand-written
// rather than a schema library: the shapes are few and the webview bundle small.

export type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
export const isInt = (v: unknown, min = 0): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
export const isStr = (v: unknown): v is string => typeof v === 'string';
export const optStr = (v: unknown): boolean => v === undefined || typeof v === 'string';
export const optNum = (v: unknown): boolean => v === undefined || (typeof v === 'number' && Number.isFinite(v));
export const isNum = (v: unknown): v is number => typeof v === 'number' && !Number.isNaN(v);
