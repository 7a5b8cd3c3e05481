// The external half of the sort (sort.ts): beyond `inMemoryRows`, each run of `runRows` rows has
// its keys sorted and written to a temporary file as compact records, and the run files are then
// merged with a heap while being read back in small blocks. Memory holds one run's keys, a block
// per run file and the output permutation, whatever the row count; the files are removed however
// the sort ends (done, failed or canceled).

import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { ResultStore } from '../model.js';
import { CLS_NULL, CLS_VALUE } from './typeKeys.js';
import { Slicer, throwIfCanceled } from './scan.js';
import { addKey, newBlock, type ColSpec, type KeyBlock, type KeyComparator } from './keyBlock.js';
import { DEFAULT_RUN_ROWS, MERGE_BLOCK, WITH_TEXT, collectKeys, type BlockSorter, type SortOptions } from './sort.js';

export async function externalSort(
  store: ResultStore,
  stmt: number,
  specs: ColSpec[],
  cmp: KeyComparator,
  sorter: BlockSorter,
  rowCount: number,
  subset: Uint32Array | undefined,
  opts: SortOptions,
  progress: (done: number) => void,
): Promise<Uint32Array> {
  const n = subset ? subset.length : rowCount;
  const runRows = Math.max(1024, opts.runRows ?? DEFAULT_RUN_ROWS);
  if (opts.tempDir) fs.mkdirSync(opts.tempDir, { recursive: true });
  const dir = fs.mkdtempSync(path.join(opts.tempDir ?? os.tmpdir(), `pgbg-sort-${randomBytes(3).toString('hex')}-`));
  const runs: string[] = [];
  try {
    let block = newBlock(specs, Math.min(runRows, n));
    const flush = async (): Promise<void> => {
      if (block.n === 0) return;
      const order = await sorter(block);
      const file = path.join(dir, `run-${runs.length}`);
      await writeRun(file, block, order, specs);
      runs.push(file);
      block.n = 0;
    };
    await collectKeys(
      store,
      stmt,
      rowCount,
      subset,
      (row, index) => {
        addKey(block, specs, row, index);
        return block.n === block.idx.length ? flush() : undefined;
      },
      opts,
      progress,
    );
    await flush();
    block = newBlock(specs, 0); // let the run's keys go before merging
    return await mergeRuns(runs, specs, cmp, n, opts.signal, (d) => progress(n + d));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** One record: u32 base index, then per key column u8 class, f64 number (parsed values) and
 *  u32 length + UTF-8 text where the key keeps text. */
async function writeRun(file: string, block: KeyBlock, order: Uint32Array, specs: ColSpec[]): Promise<void> {
  const fh = await fs.promises.open(file, 'w', 0o600);
  try {
    let buf = Buffer.allocUnsafe(1 << 20);
    let used = 0;
    const ensure = async (extra: number): Promise<void> => {
      if (used + extra <= buf.length) return;
      if (used > 0) {
        await fh.write(buf, 0, used);
        used = 0;
      }
      if (extra > buf.length) buf = Buffer.allocUnsafe(extra * 2);
    };
    for (let k = 0; k < block.n; k++) {
      const p = order[k];
      await ensure(4 + specs.length * 13);
      buf.writeUInt32LE(block.idx[p], used);
      used += 4;
      for (let c = 0; c < specs.length; c++) {
        const kc = block.cols[c];
        const cls = kc.cls[p];
        const text = kc.str![p];
        buf[used++] = cls | (text !== undefined ? WITH_TEXT : 0);
        if (cls === CLS_NULL) continue;
        if (cls === CLS_VALUE && specs[c].keyer.kind !== 'text') {
          buf.writeDoubleLE(kc.num[p], used);
          used += 8;
        }
        if (text !== undefined) {
          const s = kc.str![p]!;
          await ensure(4 + s.length * 3);
          const len = buf.write(s, used + 4, 'utf8');
          buf.writeUInt32LE(len, used);
          used += 4 + len;
        }
      }
    }
    if (used > 0) await fh.write(buf, 0, used);
  } finally {
    await fh.close();
  }
}

/** Reads a run file back in blocks of decoded keys. */
class RunReader {
  private fh: fs.promises.FileHandle | undefined;
  private pos = 0;
  private buf = Buffer.alloc(0);
  /** Backing store of `buf`, reused for every read. */
  private space = Buffer.allocUnsafe(1 << 18);
  private eof = false;
  block: KeyBlock;
  at = 0;

  constructor(
    private readonly file: string,
    private readonly specs: ColSpec[],
  ) {
    this.block = newBlock(specs, MERGE_BLOCK);
  }

  /** Loads the next block; false at the end of the run. */
  async next(): Promise<boolean> {
    this.fh ??= await fs.promises.open(this.file, 'r');
    const b = this.block;
    b.n = 0;
    this.at = 0;
    let off = 0;
    for (;;) {
      while (b.n < MERGE_BLOCK) {
        const end = this.decode(off);
        if (end < 0) break;
        off = end;
      }
      if (b.n === MERGE_BLOCK || this.eof) break;
      // Keep the undecoded tail and read more behind it, in the reader's one buffer (a fresh
      // buffer per read would churn hundreds of megabytes of external memory over a big merge).
      const tail = this.buf.length - off;
      if (tail * 2 > this.space.length) this.space = Buffer.allocUnsafe(tail * 2);
      this.buf.copy(this.space, 0, off);
      const more = this.space;
      const { bytesRead } = await this.fh.read(more, tail, more.length - tail, this.pos);
      this.pos += bytesRead;
      if (bytesRead === 0) this.eof = true;
      this.buf = more.subarray(0, tail + bytesRead);
      off = 0;
    }
    this.buf = this.buf.subarray(off);
    if (b.n === 0) await this.close();
    return b.n > 0;
  }

  /** Decodes one record at `off`; returns the offset after it, or -1 if incomplete. */
  private decode(off: number): number {
    const buf = this.buf;
    let p = off;
    if (p + 4 > buf.length) return -1;
    const b = this.block;
    const at = b.n;
    const index = buf.readUInt32LE(p);
    p += 4;
    for (let c = 0; c < this.specs.length; c++) {
      if (p + 1 > buf.length) return -1;
      const flags = buf[p++];
      const cls = flags & ~WITH_TEXT;
      const kc = b.cols[c];
      kc.cls[at] = cls;
      kc.str![at] = undefined;
      if (cls === CLS_NULL) continue;
      if (cls === CLS_VALUE && this.specs[c].keyer.kind !== 'text') {
        if (p + 8 > buf.length) return -1;
        kc.num[at] = buf.readDoubleLE(p);
        p += 8;
      }
      if (flags & WITH_TEXT) {
        if (p + 4 > buf.length) return -1;
        const len = buf.readUInt32LE(p);
        if (p + 4 + len > buf.length) return -1;
        kc.str![at] = buf.toString('utf8', p + 4, p + 4 + len);
        p += 4 + len;
      }
    }
    b.idx[at] = index;
    b.n++;
    return p;
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }
}

async function mergeRuns(
  files: string[],
  specs: ColSpec[],
  cmp: KeyComparator,
  n: number,
  signal: AbortSignal | undefined,
  progress: (done: number) => void,
): Promise<Uint32Array> {
  const out = new Uint32Array(n);
  const readers = files.map((f) => new RunReader(f, specs));
  const slicer = new Slicer(signal);
  try {
    const heap: RunReader[] = [];
    for (const r of readers) if (await r.next()) heap.push(r);
    const less = (x: RunReader, y: RunReader): boolean => cmp(x.block, x.at, y.block, y.at) < 0;
    const down = (i: number): void => {
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && less(heap[l], heap[m])) m = l;
        if (r < heap.length && less(heap[r], heap[m])) m = r;
        if (m === i) return;
        [heap[i], heap[m]] = [heap[m], heap[i]];
        i = m;
      }
    };
    for (let i = (heap.length >> 1) - 1; i >= 0; i--) down(i);
    let o = 0;
    while (heap.length > 0) {
      const top = heap[0];
      out[o++] = top.block.idx[top.at++];
      if (top.at >= top.block.n && !(await top.next())) {
        heap[0] = heap[heap.length - 1];
        heap.pop();
      }
      if (heap.length > 0) down(0);
      if ((o & 0xffff) === 0) {
        progress(o);
        await slicer.maybeYield();
      }
    }
    throwIfCanceled(signal);
    if (o !== n) throw new Error(`external sort lost rows: merged ${o} of ${n}`);
    return out;
  } finally {
    await Promise.all(readers.map((r) => r.close()));
  }
}

