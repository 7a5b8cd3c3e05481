// An append-only file under the caller's storage directory. Appends are synchronous (a batch of
// rows is one write of a few hundred kB) so that a read issued after an append always sees it,
// and so that what a durable job's meta journal says was stored is on its way to disk before the
// journal line is (see storeJournal.ts). Reads are asynchronous positional reads so paging never
// blocks the extension host.

import fs from 'node:fs';
import path from 'node:path';

export class SpoolFile {
  private fd: number | undefined;
  private size = 0;
  private closed = false;

  constructor(readonly path: string) {}

  /**
   * Reopens a spool a previous engine wrote, cut to `length`: bytes past it belong to a batch
   * whose journal line was never written, and the server sends that batch again.
   */
  static reopen(filePath: string, length: number): SpoolFile {
    const spool = new SpoolFile(filePath);
    if (length === 0 && !fs.existsSync(filePath)) return spool;
    const fd = fs.openSync(filePath, 'r+');
    try {
      const actual = fs.fstatSync(fd).size;
      if (actual < length) throw new Error(`spool ${path.basename(filePath)} holds ${actual} bytes, its journal says ${length}`);
      if (actual > length) fs.ftruncateSync(fd, length);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    spool.fd = fd;
    spool.size = length;
    return spool;
  }

  get bytes(): number {
    return this.size;
  }

  /** Appends and returns the offset the bytes were written at. */
  append(data: Buffer): number {
    if (this.closed) throw new Error('spool file is closed');
    if (this.fd === undefined) {
      fs.mkdirSync(path.dirname(this.path), { recursive: true });
      this.fd = fs.openSync(this.path, 'w+', 0o600);
    }
    const at = this.size;
    let written = 0;
    while (written < data.length) written += fs.writeSync(this.fd, data, written, data.length - written, at + written);
    this.size += data.length;
    return at;
  }

  /** Reads [offset, offset+length); returns fewer bytes only if the file was closed meanwhile. */
  read(offset: number, length: number): Promise<Buffer> {
    const fd = this.fd;
    if (fd === undefined || this.closed || length <= 0) return Promise.resolve(Buffer.alloc(0));
    const buf = Buffer.allocUnsafe(length);
    return new Promise((resolve, reject) => {
      let got = 0;
      const step = (): void => {
        fs.read(fd, buf, got, length - got, offset + got, (err, n) => {
          if (err) {
            if (this.closed) resolve(buf.subarray(0, got));
            else reject(err);
            return;
          }
          got += n;
          if (n === 0 || got >= length) resolve(buf.subarray(0, got));
          else step();
        });
      };
      step();
    });
  }

  /** Synchronous read for the one scan that rebuilds a reopened store's index. */
  readSync(offset: number, length: number): Buffer {
    if (this.fd === undefined || length <= 0) return Buffer.alloc(0);
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = fs.readSync(this.fd, buf, got, length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  }

  /** Closes the file and keeps it (a durable job's store outlives the window). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.fd !== undefined) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // already closed
      }
    }
  }

  /** Closes and deletes the file. */
  dispose(): void {
    const opened = this.fd !== undefined;
    this.close();
    if (opened || fs.existsSync(this.path)) fs.rmSync(this.path, { force: true });
  }
}
