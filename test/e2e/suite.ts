// What every e2e suite starts with: a workbench launched before its steps, with the e2e profile as
// the active connection, and closed after them; each step keeps a screenshot of the screen when it
// fails, next to the others. Call from inside a describe().

import { after, before, it } from 'node:test';
import { testProfile, Workbench } from './workbench';

export interface SuiteOptions {
  /** Names the run's directories and screenshots. */
  name: string;
  /** Workspace files by name. */
  files: Record<string, string>;
  /** Workspace settings besides the connection. */
  settings?: Record<string, unknown>;
}

/** Registers the workbench's hooks; `launched` gets it once up. Returns the step function. */
export function workbenchSuite(opts: SuiteOptions, launched: (wb: Workbench) => void): (name: string, body: () => Promise<void>) => void {
  let wb: Workbench | undefined;
  before(async () => {
    wb = await Workbench.launch({
      name: opts.name,
      files: opts.files,
      workspaceSettings: { 'pgBackground.connections': [testProfile('e2e')], 'pgBackground.activeConnection': 'e2e', ...opts.settings },
    });
    launched(wb);
  });
  after(async () => {
    if (wb) await wb.close();
  });
  return (name, body) =>
    it(name, async () => {
      if (!wb) throw new Error('the workbench did not start');
      try {
        await body();
      } catch (err) {
        await wb.screenshot('FAILED').catch(() => undefined);
        throw err;
      }
    });
}
