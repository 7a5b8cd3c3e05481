// An append-only file under the caller's storage directory. Appends are synchronous (a batch of
// rows is one write of a few hundred kB) so that a read issued after an append always sees it;
// reads are asynchronous positional reads so paging never blocks the extension host.

import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

export class SpoolFile {
  private fd: number | undefined;
  private size = 0;
  private closed = false;
  readonly path: string;

  constructor(dir: string, prefix: string) {
    // Random suffix: two windows (or a rerun) never share a file.
    this.path = path.join(dir, `${prefix.replace(/[^A-Za-z0-9_-]/g, '_')}-${randomBytes(4).toString('hex')}.spool`);
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

  /** Closes and deletes the file. */
  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.fd !== undefined) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // already closed
      }
      fs.rmSync(this.path, { force: true });
    }
  }
}
