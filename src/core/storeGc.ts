// Store files nobody will open again: durable stores are kept when a window closes (the next one
// reopens them), so the files of jobs that are no longer in the history (cleared, trimmed from
// it, or of a window whose history was never saved) are deleted when a history is restored.
// In a storage directory shared by several windows (globalStorage: no workspace), another
// window's live files look unreferenced too: there only files untouched for a week go.

import fs from 'node:fs';
import path from 'node:path';
import { STORE_FILE_PATTERN } from './resultStore.js';

export const SHARED_STORAGE_MIN_AGE_MS = 7 * 24 * 3600 * 1000;

/** Deletes `<storeId>.spool|.meta` files in `dir` whose storeId is not in `keep`; returns their names. */
export function collectStoreGarbage(dir: string, keep: ReadonlySet<string>, minAgeMs = 0): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return []; // no storage directory yet: nothing to collect
  }
  const removed: string[] = [];
  const now = Date.now();
  for (const name of names) {
    const m = STORE_FILE_PATTERN.exec(name);
    if (!m || keep.has(m[1])) continue;
    const file = path.join(dir, name);
    try {
      if (minAgeMs > 0 && now - fs.statSync(file).mtimeMs < minAgeMs) continue;
      fs.rmSync(file, { force: true });
      removed.push(name);
    } catch {
      // raced with another window's cleanup, or not ours to delete: leave it
    }
  }
  return removed;
}
