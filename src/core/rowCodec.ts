// Binary encoding of rows for the spool file. Length-prefixed so a reader can start at any
// record boundary (the sparse index stores such boundaries) and skip forward cheaply:
//   record = u32 payloadBytes, u16 valueCount, then per value: u32 (byteLength + 1), 0 = NULL, bytes (UTF-8)

import type { Row } from './model.js';

const HEADER = 6;

/** Accumulates encoded rows in one growing buffer, reused between flushes. */
export class RowEncoder {
  private buf: Buffer;
  private used = 0;

  constructor(initialBytes = 1 << 20) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  get length(): number {
    return this.used;
  }

  /** Appends one row; returns the byte offset of its record inside the pending buffer. */
  add(row: Row): number {
    let worst = HEADER + row.length * 4;
    for (const v of row) if (v !== null) worst += v.length * 3; // UTF-16 unit → at most 3 UTF-8 bytes
    this.ensure(worst);
    const start = this.used;
    let p = start + HEADER;
    for (const v of row) {
      if (v === null) {
        this.buf.writeUInt32LE(0, p);
        p += 4;
      } else {
        const n = this.buf.write(v, p + 4, 'utf8');
        this.buf.writeUInt32LE(n + 1, p);
        p += 4 + n;
      }
    }
    this.buf.writeUInt32LE(p - start - 4, start);
    this.buf.writeUInt16LE(row.length, start + 4);
    this.used = p;
    return start;
  }

  /**
   * The bytes encoded since the last take(); the encoder is empty afterwards. The result is a
   * view of the encoder's buffer, valid until the next add(): the spool writes it synchronously,
   * so no copy is needed.
   */
  take(): Buffer {
    const out = this.buf.subarray(0, this.used);
    this.used = 0;
    return out;
  }

  private ensure(extra: number): void {
    if (this.used + extra <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + extra));
    this.buf.copy(next, 0, 0, this.used);
    this.buf = next;
  }
}

/** Decodes up to `max` complete records from `buf` starting at `pos`. */
export function decodeRows(buf: Buffer, pos = 0, max = Number.MAX_SAFE_INTEGER): { rows: Row[]; next: number } {
  const rows: Row[] = [];
  while (rows.length < max && pos + HEADER <= buf.length) {
    const payload = buf.readUInt32LE(pos);
    if (pos + 4 + payload > buf.length) break;
    const count = buf.readUInt16LE(pos + 4);
    let p = pos + HEADER;
    const row: Row = new Array<string | null>(count);
    for (let i = 0; i < count; i++) {
      const len = buf.readUInt32LE(p);
      p += 4;
      if (len === 0) row[i] = null;
      else {
        row[i] = buf.toString('utf8', p, p + len - 1);
        p += len - 1;
      }
    }
    rows.push(row);
    pos += 4 + payload;
  }
  return { rows, next: pos };
}
