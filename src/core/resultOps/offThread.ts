// Sorting key blocks off the extension host's main thread. A native sort of 1,000,000 keys holds a
// thread for one to two seconds; on the host's main thread that stalls every row request of the
// grid meanwhile. The host therefore extracts keys (in slices, as before) and hands each block to
// a worker_threads worker (sortWorker.ts): the typed arrays (index, classes, numbers) are
// transferred there and back, never copied; the strings a text key needs are copied once, in
// chunks with a yield between them. Cancel terminates the worker. A worker that cannot start
// (no bundle beside the host's, a platform without worker threads) leaves the sort in-thread,
// with the same result.

import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { CanceledError, Slicer, throwIfCanceled } from './scan.js';
import { makeComparator, sortBlock, type ColSpec, type KeyBlock } from './keyBlock.js';

/** A key column's spec as it crosses (the keyer is found again from the type). */
export type WireSpec = Omit<ColSpec, 'keyer'>;

export type ToWorker =
  | { type: 'begin'; n: number; cols: number }
  | { type: 'str'; col: number; from: number; values: (string | undefined)[] }
  | { type: 'sort'; n: number; specs: WireSpec[]; idx: Uint32Array; cols: { cls: Uint8Array; num: Float64Array }[] };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'progress'; done: number }
  | { type: 'sorted'; order: Uint32Array; idx: Uint32Array; cols: { cls: Uint8Array; num: Float64Array }[] }
  | { type: 'error'; message: string };

/** Strings per message: each structured clone is then a short stretch of the host's time. */
const STR_CHUNK = 32_768;

let live = 0;
/** Sort workers currently running (a test checks that none outlives its sort). */
export function liveSortWorkers(): number {
  return live;
}

/**
 * Where the worker's code is: dist/sortWorker.js beside the bundled host code, or, when the host
 * code runs from its TypeScript sources (tests, the bench under tsx), sortWorker.ts through tsx.
 */
function defaultScript(): { file: string; evalCode?: string } {
  const js = path.join(__dirname, 'sortWorker.js');
  if (!__filename.endsWith('.ts') || fs.existsSync(js)) return { file: js };
  const ts = path.join(__dirname, 'sortWorker.ts');
  const tsx = createRequire(__filename).resolve('tsx/cjs');
  return { file: ts, evalCode: `require(${JSON.stringify(tsx)}); require(${JSON.stringify(ts)});` };
}

/** One worker for the blocks of one sort (an external sort sends it one block per run). */
export class SortWorker {
  private readonly worker: Worker | undefined;
  /** True once the worker said it is ready; false if it failed before (then sorts run in-thread). */
  private readonly ready: Promise<boolean>;
  private failure: ((err: Error) => void) | undefined;
  private onMessage: ((msg: FromWorker) => void) | undefined;
  private exited = false;

  constructor(script?: string) {
    let worker: Worker | undefined;
    try {
      const s = script !== undefined ? { file: script } : defaultScript();
      worker = s.evalCode ? new Worker(s.evalCode, { eval: true }) : new Worker(s.file);
    } catch {
      worker = undefined;
    }
    this.worker = worker;
    if (!worker) {
      this.ready = Promise.resolve(false);
      return;
    }
    live++;
    this.ready = new Promise<boolean>((resolve) => {
      worker.on('message', (msg: FromWorker) => (msg.type === 'ready' ? resolve(true) : this.onMessage?.(msg)));
      worker.on('error', (err) => {
        resolve(false);
        this.failure?.(new Error(`The sort worker failed: ${err.message}`));
      });
      worker.once('exit', () => {
        live--;
        this.exited = true;
        resolve(false);
        this.failure?.(new Error('The sort worker stopped.'));
      });
    });
  }

  /** Positions of `block` in sorted order, as sortBlock() returns them; the block keeps its keys. */
  async sort(block: KeyBlock, specs: ColSpec[], signal: AbortSignal | undefined, progress?: (done: number) => void): Promise<Uint32Array> {
    if (!(await this.ready) || this.exited) return sortBlock(block, specs, makeComparator(specs), signal, progress);
    throwIfCanceled(signal);
    const worker = this.worker!;
    const n = block.n;
    worker.postMessage({ type: 'begin', n, cols: specs.length } satisfies ToWorker);
    const slicer = new Slicer(signal);
    for (let c = 0; c < specs.length; c++) {
      const str = block.cols[c].str!;
      for (let from = 0; from < n; from += STR_CHUNK) {
        const values = str.slice(from, Math.min(n, from + STR_CHUNK));
        if (values.every((v) => v === undefined)) continue;
        worker.postMessage({ type: 'str', col: c, from, values } satisfies ToWorker);
        await slicer.maybeYield();
      }
    }
    const cols = block.cols.map((k) => ({ cls: k.cls, num: k.num }));
    const transfer = [block.idx.buffer, ...cols.flatMap((k) => [k.cls.buffer, k.num.buffer])] as ArrayBuffer[];
    const wire: WireSpec[] = specs.map(({ keyer: _keyer, ...rest }) => rest);
    return new Promise<Uint32Array>((resolve, reject) => {
      const done = (): void => {
        this.onMessage = undefined;
        this.failure = undefined;
        signal?.removeEventListener('abort', abort);
      };
      const abort = (): void => {
        done();
        this.dispose();
        reject(new CanceledError());
      };
      this.failure = (err) => {
        done();
        reject(err);
      };
      this.onMessage = (msg) => {
        if (msg.type === 'progress') progress?.(msg.done);
        else if (msg.type === 'error') this.failure?.(new Error(`The sort worker failed: ${msg.message}`));
        else if (msg.type === 'sorted') {
          done();
          // The block's buffers come back with the order: the caller still reads its keys.
          block.idx = msg.idx;
          msg.cols.forEach((k, i) => {
            block.cols[i].cls = k.cls;
            block.cols[i].num = k.num;
          });
          resolve(msg.order);
        }
      };
      if (this.exited) {
        // Died while the strings were on their way: nothing would ever answer.
        done();
        reject(new Error('The sort worker stopped.'));
        return;
      }
      signal?.addEventListener('abort', abort, { once: true });
      worker.postMessage({ type: 'sort', n, specs: wire, idx: block.idx, cols } satisfies ToWorker, transfer);
    });
  }

  dispose(): void {
    if (this.worker && !this.exited) void this.worker.terminate();
  }
}
