// The sort worker's entry (a worker_threads thread of the extension host, bundled as
// dist/sortWorker.js): it sorts blocks of keys the host extracted, with the same code the host
// would run (keyBlock.ts), so the host's event loop stays free for the grid's row requests while
// a large block sorts. The wire format is in offThread.ts, the only module that talks to it.

import { parentPort } from 'node:worker_threads';
import { keyerFor } from './typeKeys.js';
import { makeComparator, packedArray, sortBlock, type ColSpec, type KeyBlock } from './keyBlock.js';
import type { FromWorker, ToWorker } from './offThread.js';

const port = parentPort;
if (!port) throw new Error('sortWorker.ts runs as a worker thread only.');

/** Strings of the block being received, per key column (they arrive before its buffers). */
let strs: (string | undefined)[][] = [];

const send = (msg: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(msg, transfer);

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'begin') {
    strs = Array.from({ length: msg.cols }, () => packedArray(msg.n));
  } else if (msg.type === 'str') {
    const into = strs[msg.col];
    for (let i = 0; i < msg.values.length; i++) into[msg.from + i] = msg.values[i];
  } else {
    void sortOne(msg).catch((err: unknown) => send({ type: 'error', message: err instanceof Error ? err.message : String(err) }));
  }
});

async function sortOne(msg: Extract<ToWorker, { type: 'sort' }>): Promise<void> {
  const specs: ColSpec[] = msg.specs.map((s) => ({ ...s, keyer: keyerFor(s.oid) }));
  const block: KeyBlock = { n: msg.n, idx: msg.idx, cols: msg.cols.map((c, i) => ({ cls: c.cls, num: c.num, str: strs[i] })) };
  strs = [];
  const order = await sortBlock(block, specs, makeComparator(specs), undefined, (done) => send({ type: 'progress', done }));
  const buffers = [order.buffer, block.idx.buffer, ...block.cols.flatMap((c) => [c.cls.buffer, c.num.buffer])] as ArrayBuffer[];
  send({ type: 'sorted', order, idx: block.idx, cols: block.cols.map((c) => ({ cls: c.cls, num: c.num })) }, buffers);
}

send({ type: 'ready' });
