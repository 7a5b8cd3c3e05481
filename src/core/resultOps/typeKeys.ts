// How a column's text values order and compare, from its type OID. PostgreSQL sends every value
// as its text output, so a sort by an int4 column must not put "10" before "9", a sort by a
// timestamp must follow time, and NULL must go to one end. Each value becomes a key: a class
// (0 parsed, 1 text that did not parse as the type, 2 NULL), a number for types that have one,
// and the raw text (the text key itself, or an exact tie-break where a double is not exact).

export type KeyKind = 'number' | 'bool' | 'temporal' | 'text';

export const CLS_VALUE = 0;
export const CLS_UNPARSED = 1;
export const CLS_NULL = 2;

export interface ColumnKeyer {
  kind: KeyKind;
  /** The value's number, or undefined when it does not parse (text kinds: always undefined). */
  num(v: string): number | undefined;
  /** Exact comparison of two values whose numbers are equal (doubles round int8/numeric). */
  tie?: (a: string, b: string) => number;
  /** True when the number says everything `tie` would look at, so the text need not be kept. */
  exact?: (v: string, n: number) => boolean;
  /** Text standing in for an exact value in a tie with an inexact one. */
  canon?: (n: number) => string;
}

const INT_OIDS = new Set([20, 21, 23, 26, 28, 29]); // int8 int2 int4 oid xid cid
const FLOAT_OIDS = new Set([700, 701]);
const NUMERIC_OID = 1700;
const MONEY_OID = 790;
const BOOL_OID = 16;
const DATE_OID = 1082;
const TIME_OID = 1083;
const TIMETZ_OID = 1266;
const TIMESTAMP_OID = 1114;
const TIMESTAMPTZ_OID = 1184;
const INTERVAL_OID = 1186;

/** True for types the chart and statistics treat as numbers (histogram, mean). */
export function isNumericOid(oid: number): boolean {
  return INT_OIDS.has(oid) || FLOAT_OIDS.has(oid) || oid === NUMERIC_OID || oid === MONEY_OID;
}

/** True for types whose key is a point in time (epoch seconds). */
export function isTimeOid(oid: number): boolean {
  return oid === DATE_OID || oid === TIMESTAMP_OID || oid === TIMESTAMPTZ_OID;
}

const DEC_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function parseDecimal(v: string): number | undefined {
  if (DEC_RE.test(v)) return Number(v);
  if (v === 'NaN') return NaN;
  if (v === 'Infinity' || v === 'inf') return Infinity;
  if (v === '-Infinity' || v === '-inf') return -Infinity;
  return undefined;
}

/** Exact order of two plain decimal strings ("-12.500", "3"); used only when their doubles tie. */
export function compareDecimalText(a: string, b: string): number {
  const na = a.startsWith('-');
  const nb = b.startsWith('-');
  if (na !== nb) return na ? -1 : 1;
  const abs = (s: string): [string, string] => {
    const t = s.replace(/^[+-]/, '');
    const dot = t.indexOf('.');
    const int = (dot < 0 ? t : t.slice(0, dot)).replace(/^0+/, '');
    const frac = dot < 0 ? '' : t.slice(dot + 1).replace(/0+$/, '');
    return [int, frac];
  };
  if (/[eE]/.test(a) || /[eE]/.test(b)) return 0; // exponent forms only come from floats, exact as doubles
  const [ia, fa] = abs(a);
  const [ib, fb] = abs(b);
  let r = ia.length !== ib.length ? ia.length - ib.length : ia < ib ? -1 : ia > ib ? 1 : fa < fb ? -1 : fa > fb ? 1 : 0;
  if (na) r = -r;
  return r < 0 ? -1 : r > 0 ? 1 : 0;
}

function parseMoney(v: string): number | undefined {
  // Locale-formatted ("$1,234.50", "-$3.00", "($3.00)"): the digits and the sign are what order.
  const neg = v.includes('-') || /^\(.*\)$/.test(v);
  const digits = v.replace(/[^0-9.]/g, '');
  if (digits === '' || !DEC_RE.test(digits)) return undefined;
  return neg ? -Number(digits) : Number(digits);
}

const DATE_RE = /^(\d{4,})-(\d\d)-(\d\d)( BC)?$/;
const TS_RE = /^(\d{4,})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(\.\d+)?(?:([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?)?( BC)?$/;
const TIME_RE = /^(\d\d):(\d\d):(\d\d)(\.\d+)?(?:([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?)?$/;

function epochDay(y: number, m: number, d: number, bc: boolean): number {
  // 1 BC is year 0 in the proleptic calendar Date.UTC uses.
  const year = bc ? 1 - y : y;
  const dt = new Date(0);
  dt.setUTCFullYear(year, m - 1, d);
  dt.setUTCHours(0, 0, 0, 0);
  return Math.round(dt.getTime() / 86_400_000);
}

/** Days since 1970-01-01 of an ISO date ("2026-11-27", "0044-03-15 BC", "infinity"). */
export function parseDate(v: string): number | undefined {
  if (v === 'infinity') return Infinity;
  if (v === '-infinity') return -Infinity;
  const m = DATE_RE.exec(v);
  if (!m) return undefined;
  return epochDay(Number(m[1]), Number(m[2]), Number(m[3]), m[4] !== undefined);
}

/** Whole seconds since the epoch (UTC) of an ISO timestamp; the fraction is left to `fractionTie`. */
export function parseTimestamp(v: string): number | undefined {
  if (v === 'infinity') return Infinity;
  if (v === '-infinity') return -Infinity;
  const m = TS_RE.exec(v);
  if (!m) return undefined;
  const day = epochDay(Number(m[1]), Number(m[2]), Number(m[3]), m[12] !== undefined);
  let secs = day * 86400 + Number(m[4]) * 3600 + Number(m[5]) * 60 + Number(m[6]);
  if (m[8]) {
    const off = Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0);
    secs -= m[8] === '-' ? -off : off;
  }
  return secs;
}

function parseTime(v: string): number | undefined {
  const m = TIME_RE.exec(v);
  if (!m) return undefined;
  let secs = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
  if (m[5]) {
    const off = Number(m[6]) * 3600 + Number(m[7] ?? 0) * 60 + Number(m[8] ?? 0);
    secs -= m[5] === '-' ? -off : off;
  }
  return secs;
}

/** Orders values that share whole seconds by their fractional digits. */
function fractionTie(a: string, b: string): number {
  const frac = (s: string): string => {
    const m = /:\d\d(\.\d+)/.exec(s);
    return (m ? m[1].slice(1) : '').padEnd(9, '0');
  };
  const fa = frac(a);
  const fb = frac(b);
  return fa < fb ? -1 : fa > fb ? 1 : 0;
}

const UNIT_SECONDS: Record<string, number> = {
  year: 12 * 30 * 86400,
  mon: 30 * 86400,
  month: 30 * 86400,
  week: 7 * 86400,
  day: 86400,
  hour: 3600,
  min: 60,
  minute: 60,
  sec: 1,
  second: 1,
};

/**
 * An interval's length in seconds the way PostgreSQL orders intervals (a month is 30 days, a day
 * 24 hours): the default output style ("1 year 2 mons -3 days +04:05:06.5"), the verbose one
 * ("@ 1 day ago") and ISO 8601 ("P1Y2M3DT4H5M6S").
 */
export function parseInterval(v: string): number | undefined {
  const s = v.trim();
  if (s === '') return undefined;
  if (s.startsWith('P')) {
    const m = /^P(?:(-?[\d.]+)Y)?(?:(-?[\d.]+)M)?(?:(-?[\d.]+)W)?(?:(-?[\d.]+)D)?(?:T(?:(-?[\d.]+)H)?(?:(-?[\d.]+)M)?(?:(-?[\d.]+)S)?)?$/.exec(s);
    if (!m) return undefined;
    const f = [UNIT_SECONDS.year, UNIT_SECONDS.mon, UNIT_SECONDS.week, 86400, 3600, 60, 1];
    let total = 0;
    for (let i = 0; i < 7; i++) if (m[i + 1]) total += Number(m[i + 1]) * f[i];
    return Number.isFinite(total) ? total : undefined;
  }
  let rest = s.replace(/^@\s*/, '');
  let sign = 1;
  if (/\sago$/.test(rest)) {
    sign = -1;
    rest = rest.replace(/\s+ago$/, '');
  }
  let total = 0;
  let matched = false;
  const re = /([+-]?\d+(?:\.\d+)?)\s*(years?|mons?|months?|weeks?|days?|hours?|mins?|minutes?|secs?|seconds?)|([+-])?(\d+):(\d\d)(?::(\d\d(?:\.\d+)?))?/gy;
  let pos = 0;
  while (pos < rest.length) {
    while (rest[pos] === ' ') pos++;
    if (pos >= rest.length) break;
    re.lastIndex = pos;
    const m = re.exec(rest);
    if (!m) return undefined;
    matched = true;
    if (m[1] !== undefined) {
      total += Number(m[1]) * UNIT_SECONDS[m[2].replace(/s$/, '')];
    } else {
      const t = Number(m[4]) * 3600 + Number(m[5]) * 60 + Number(m[6] ?? 0);
      total += m[3] === '-' ? -t : t;
    }
    pos = re.lastIndex;
  }
  return matched ? sign * total : undefined;
}

const KEYERS = new Map<string, ColumnKeyer>();

/** The keyer for a column type. */
export function keyerFor(typeOid: number): ColumnKeyer {
  if (INT_OIDS.has(typeOid))
    return cached('int', () => ({ kind: 'number', num: parseDecimal, tie: compareDecimalText, exact: (_v, n) => Number.isSafeInteger(n), canon: String }));
  if (typeOid === NUMERIC_OID)
    return cached('numeric', () => ({
      kind: 'number',
      num: parseDecimal,
      tie: compareDecimalText,
      // Up to 15 significant digits survive a double exactly.
      exact: (v, n) => !Number.isFinite(n) || v.length <= 15,
      canon: String,
    }));
  if (FLOAT_OIDS.has(typeOid)) return cached('float', () => ({ kind: 'number', num: parseDecimal }));
  if (typeOid === MONEY_OID) return cached('money', () => ({ kind: 'number', num: parseMoney }));
  if (typeOid === BOOL_OID)
    return cached('bool', () => ({ kind: 'bool', num: (v) => (v === 't' || v === 'true' ? 1 : v === 'f' || v === 'false' ? 0 : undefined) }));
  if (typeOid === DATE_OID) return cached('date', () => ({ kind: 'temporal', num: parseDate }));
  const noFraction = (v: string): boolean => !v.includes('.');
  if (typeOid === TIMESTAMP_OID || typeOid === TIMESTAMPTZ_OID)
    return cached('ts', () => ({ kind: 'temporal', num: parseTimestamp, tie: fractionTie, exact: noFraction, canon: () => '' }));
  if (typeOid === TIME_OID || typeOid === TIMETZ_OID)
    return cached('time', () => ({ kind: 'temporal', num: parseTime, tie: fractionTie, exact: noFraction, canon: () => '' }));
  if (typeOid === INTERVAL_OID) return cached('interval', () => ({ kind: 'temporal', num: parseInterval }));
  return cached('text', () => ({ kind: 'text', num: () => undefined }));
}

function cached(name: string, make: () => ColumnKeyer): ColumnKeyer {
  let k = KEYERS.get(name);
  if (!k) {
    k = make();
    KEYERS.set(name, k);
  }
  return k;
}

/** Code-unit order: what the grid sorts text by (deterministic and fast; like COLLATE "C" for ASCII). */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Numbers with NaN above everything, as PostgreSQL orders float and numeric NaN. */
export function compareNum(a: number, b: number): number {
  if (a < b) return -1;
  if (a > b) return 1;
  if (a === b) return 0;
  const na = Number.isNaN(a);
  const nb = Number.isNaN(b);
  return na === nb ? 0 : na ? 1 : -1;
}

/** Full comparison of two values of a column (NULLs not included): class, number, tie, text. */
export function compareValues(keyer: ColumnKeyer, a: string, b: string): number {
  if (keyer.kind === 'text') return compareText(a, b);
  const x = keyer.num(a);
  const y = keyer.num(b);
  if (x === undefined || y === undefined) {
    if (x !== undefined) return -1;
    if (y !== undefined) return 1;
    return compareText(a, b);
  }
  const r = compareNum(x, y);
  if (r !== 0 || !keyer.tie) return r;
  return keyer.tie(a, b);
}
