// The checks that need the `vscode` API: the extension activates, every command of the
// manifest is registered, the Jobs view exists, settings have their documented defaults and
// the workspace's connection profile is seen, and a job launched by the command shows up in
// the extension's job list (what the Jobs tree renders). Mocha TDD shape (see mini-mocha.ts):
// they run in code-server's extension host through the probe extension (npm test, suite
// e2e), and under @vscode/test-electron on a desktop with network (npm run test:vscode).

import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { MochaLike } from './mini-mocha';

export const extensionId = 'pg-background.pg-background';

interface ManifestCommand {
  command: string;
  title: string;
}
interface ManifestSetting {
  default?: unknown;
}
interface Manifest {
  activationEvents?: string[];
  contributes: {
    commands: ManifestCommand[];
    keybindings?: { command: string; key: string }[];
    views?: Record<string, { id: string; name: string }[]>;
    viewsContainers?: { activitybar?: { id: string; title: string }[] };
    configuration?: { properties: Record<string, ManifestSetting> } | { properties: Record<string, ManifestSetting> }[];
  };
}

/** What the extension's activate() may return for tests and other extensions. */
interface JobLike {
  id: string;
  sql: string;
  state: string;
  rowsReceived?: number;
}
interface PublicApi {
  jobs?: () => readonly JobLike[];
}

export interface CheckOptions {
  /** The connection profile name the workspace settings make active, if any. */
  profileName?: string;
  /** Measured numbers are reported here (name → ms). */
  measure: (name: string, ms: number) => void;
}

async function pollUntil<T>(what: string, probe: () => T | undefined | false, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function defineChecks(m: MochaLike, opts: CheckOptions): void {
  const ext = () => {
    const e = vscode.extensions.getExtension<PublicApi>(extensionId);
    assert.ok(e, `extension ${extensionId} is installed`);
    return e;
  };
  const manifest = () => ext().packageJSON as Manifest;

  m.suite('activation', () => {
    m.test('the extension is installed and activates', async () => {
      const e = ext();
      if (e.isActive) {
        opts.measure('activation (already active when measured: not timed)', 0);
      } else {
        const t0 = performance.now();
        await e.activate();
        opts.measure('activation', Math.round(performance.now() - t0));
      }
      assert.equal(e.isActive, true);
    });
    m.test('activation is lazy (no "*" activation)', () => {
      const events = manifest().activationEvents ?? [];
      assert.ok(!events.includes('*'), 'activationEvents must not contain "*"');
    });
  });

  m.suite('commands', () => {
    m.test('every command in the manifest is registered', async () => {
      await ext().activate();
      const registered = new Set(await vscode.commands.getCommands(true));
      const missing = manifest()
        .contributes.commands.map((c) => c.command)
        .filter((id) => !registered.has(id));
      assert.deepEqual(missing, [], `commands declared but not registered: ${missing.join(', ')}`);
    });
    m.test('the commands of the shared contract exist in the manifest', () => {
      const ids = new Set(manifest().contributes.commands.map((c) => c.command));
      for (const id of [
        'pgBackground.runSelection',
        'pgBackground.runStatement',
        'pgBackground.runFile',
        'pgBackground.submitSelection',
        'pgBackground.showResult',
        'pgBackground.cancelJob',
        'pgBackground.waitJobWithTimeout',
        'pgBackground.detachJob',
        'pgBackground.goToError',
      ]) {
        assert.ok(ids.has(id), `${id} in contributes.commands`);
      }
    });
    m.test('runSelection has a default keybinding', () => {
      const kb = manifest().contributes.keybindings?.find((k) => k.command === 'pgBackground.runSelection');
      assert.ok(kb?.key, 'a keybinding for pgBackground.runSelection');
    });
  });

  m.suite('views', () => {
    m.test('the Jobs view lives in the PG Background container and can be focused', async () => {
      const c = manifest().contributes;
      assert.ok(c.viewsContainers?.activitybar?.some((v) => v.id === 'pgBackground'));
      assert.ok(c.views?.pgBackground?.some((v) => v.id === 'pgBackground.jobs'));
      await vscode.commands.executeCommand('pgBackground.jobs.focus');
    });
  });

  m.suite('settings', () => {
    m.test('every pgBackground setting has its documented default', () => {
      const conf = manifest().contributes.configuration;
      const props = Array.isArray(conf) ? Object.assign({}, ...conf.map((c) => c.properties)) : (conf?.properties ?? {});
      const names = Object.keys(props).filter((k) => k.startsWith('pgBackground.'));
      for (const key of [
        'pgBackground.connections',
        'pgBackground.activeConnection',
        'pgBackground.queueSize',
        'pgBackground.fetchBatchSize',
        'pgBackground.pollIntervalMs',
        'pgBackground.memoryRowBudget',
        'pgBackground.notifyOnCompletion',
        'pgBackground.defaultGraceMs',
      ]) {
        assert.ok(names.includes(key), `${key} is declared`);
      }
      const cfg = vscode.workspace.getConfiguration();
      for (const key of names) {
        const inspected = cfg.inspect(key);
        assert.deepEqual(inspected?.defaultValue, (props[key] as ManifestSetting).default, `${key} default`);
      }
    });
    m.test('the workspace connection profile is visible to the extension', () => {
      if (!opts.profileName) return;
      const profiles = vscode.workspace.getConfiguration('pgBackground').get<{ name: string }[]>('connections') ?? [];
      assert.ok(profiles.some((p) => p.name === opts.profileName), `profile ${opts.profileName}`);
      assert.equal(vscode.workspace.getConfiguration('pgBackground').get('activeConnection'), opts.profileName);
    });
  });

  m.suite('jobs', () => {
    m.test('a selection run by the command appears in the job list and completes', async () => {
      const api = (await ext().activate()) ?? ext().exports;
      assert.equal(typeof api?.jobs, 'function', 'activate() returns an API with jobs() (what the Jobs tree shows)');
      const doc = await vscode.workspace.openTextDocument({ language: 'sql', content: "SELECT 'probe' AS who, g FROM generate_series(1, 7) g;\n" });
      const editor = await vscode.window.showTextDocument(doc);
      editor.selection = new vscode.Selection(0, 0, 0, doc.lineAt(0).text.length);
      const t0 = performance.now();
      await vscode.commands.executeCommand('pgBackground.runSelection');
      const job = await pollUntil('the job in jobs()', () => api!.jobs!().find((j) => j.sql.includes("'probe' AS who")), 30_000);
      const done = await pollUntil('the job to complete', () => {
        const j = api!.jobs!().find((x) => x.id === job.id);
        return j && j.state !== 'launching' && j.state !== 'running' ? j : undefined;
      }, 60_000);
      opts.measure('command to job completed (API, 7 rows)', Math.round(performance.now() - t0));
      assert.equal(done.state, 'completed');
      assert.equal(done.rowsReceived, 7);
      await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    });
  });
}
