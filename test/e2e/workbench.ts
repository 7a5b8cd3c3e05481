// Drives PG Background the way a user meets it: the packaged .vsix installed into code-server
// (VS Code 1.139 in the browser, real Node extension host), a workspace of .sql files with a
// connection profile for the test cluster, and headless Chromium clicking and typing.
//
// Nothing here sleeps to assert: every wait polls a condition on screen with a generous
// timeout, so a slow machine is slower, not red.
//
// Longer than ~450 lines on purpose: this is the one place that knows code-server's DOM (quick
// input, tree rows, context menus, notifications, webview frames); the tests speak only its
// methods, so a workbench update is fixed here and nowhere else.

import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type Browser, type Frame, type Locator, type Page } from 'playwright-core';

// The harness modules are plain ESM JavaScript shared with `npm run demo` (typed by .d.mts);
// these test files are CommonJS, so they reach them through import().
const codeServer = () => import('../harness/codeserver.mjs');
const packager = () => import('../../scripts/package.mjs');
const browsers = () => import('../harness/chromium.mjs');

export const repoRoot = path.resolve(__dirname, '..', '..');
export const artifactsDir = path.join(repoRoot, 'test-artifacts', 'e2e');

interface Manifest {
  contributes: {
    commands: { command: string; title: string; category?: string }[];
    keybindings?: { command: string; key: string; mac?: string; when?: string }[];
  };
}

export const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as Manifest;

/** "PG Background: Run Selection in Background", as the command palette shows it. */
export function paletteTitle(command: string): string {
  const c = manifest.contributes.commands.find((x) => x.command === command);
  if (!c) throw new Error(`package.json contributes no command ${command}`);
  return c.category ? `${c.category}: ${c.title}` : c.title;
}

/** The bare title (as context menus show it). */
export function menuTitle(command: string): string {
  const c = manifest.contributes.commands.find((x) => x.command === command);
  if (!c) throw new Error(`package.json contributes no command ${command}`);
  return c.title;
}

/** The command's default keybinding, in Playwright's notation ("Control+Shift+Alt+E"). */
export function keybindingFor(command: string): string {
  const k = manifest.contributes.keybindings?.find((x) => x.command === command);
  if (!k) throw new Error(`package.json contributes no keybinding for ${command}`);
  const names: Record<string, string> = { ctrl: 'Control', shift: 'Shift', alt: 'Alt', cmd: 'Meta', meta: 'Meta', enter: 'Enter' };
  // Only the first chord: our keybinding is a single chord.
  return k.key
    .split(' ')[0]
    .split('+')
    .map((part) => names[part.toLowerCase()] ?? (part.length === 1 ? part.toUpperCase() : part))
    .join('+');
}

/** Polls `probe` until it returns a truthy value; throws with `what` and the last error after `timeoutMs`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 60_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? `: ${last.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Scratch space of this test process (several runs may share a clone). */
export function e2eTmp(): string {
  const dir = path.join(repoRoot, '.tmp', `e2e-${process.pid}`);
  if (!fs.existsSync(dir)) {
    fs.mkdirSync(dir, { recursive: true });
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return dir;
}

let builtVsix: string | undefined;

/** Builds the .vsix once per test process, exactly as `npm run package` does. */
export async function packagedVsix(): Promise<string> {
  // PGBG_E2E_VSIX: test a given package instead of building one (e.g. a release candidate).
  if (!builtVsix && process.env.PGBG_E2E_VSIX) builtVsix = path.resolve(process.env.PGBG_E2E_VSIX);
  if (!builtVsix) {
    const { buildVsix } = await packager();
    const out = path.join(e2eTmp(), 'pg-background.vsix');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const { size } = buildVsix({ out, quiet: true });
    process.stdout.write(`# packaged ${path.relative(repoRoot, out)} (${(size / 1024).toFixed(1)} KiB)\n`);
    builtVsix = out;
  }
  return builtVsix;
}

/** The connection profile pointing at the cluster `npm test` created (PG* variables). */
export function testProfile(name = 'e2e'): Record<string, unknown> {
  return {
    name,
    host: process.env.PGHOST ?? '127.0.0.1',
    port: Number(process.env.PGPORT ?? 5432),
    database: process.env.PGDATABASE ?? 'postgres',
    user: process.env.PGUSER ?? 'postgres',
    sslmode: 'disable',
  };
}

export interface WorkbenchOptions {
  /** name → content of files written into the workspace. */
  files: Record<string, string>;
  /** workspace .vscode/settings.json */
  workspaceSettings?: Record<string, unknown>;
  /** user settings */
  userSettings?: Record<string, unknown>;
  /** further .vsix files to install alongside ours */
  extraVsix?: string[];
  /** a name for artifacts */
  name: string;
}

type ServerHandle = { url: string; workspaceUrl: string; logFile: string; stop: () => Promise<void> };

export class Workbench {
  private shots = 0;
  /** Starts code-server again with the same port, user data, extensions and folder. */
  private startAgain: (() => Promise<ServerHandle>) | undefined;
  constructor(
    readonly page: Page,
    readonly browser: Browser,
    public server: ServerHandle,
    readonly workspace: string,
    readonly tmp: string,
    readonly name: string,
  ) {}

  static async launch(opts: WorkbenchOptions): Promise<Workbench> {
    const { ensureCodeServer, installExtension, startCodeServer } = await codeServer();
    ensureCodeServer();
    const vsix = await packagedVsix();
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `pgbg-e2e-${opts.name}-`));
    const workspace = path.join(tmp, 'workspace');
    const userDataDir = path.join(tmp, 'user-data');
    const extensionsDir = path.join(tmp, 'extensions');
    fs.mkdirSync(path.join(workspace, '.vscode'), { recursive: true });
    for (const [file, content] of Object.entries(opts.files)) {
      fs.mkdirSync(path.dirname(path.join(workspace, file)), { recursive: true });
      fs.writeFileSync(path.join(workspace, file), content);
    }
    fs.writeFileSync(path.join(workspace, '.vscode', 'settings.json'), JSON.stringify(opts.workspaceSettings ?? {}, null, 2));
    for (const v of [vsix, ...(opts.extraVsix ?? [])]) installExtension(v, { extensionsDir, userDataDir });
    const port = await freePort();
    const start = () =>
      startCodeServer({
        port,
        userDataDir,
        extensionsDir,
        folder: workspace,
        settings: {
          'workbench.secondarySideBar.defaultVisibility': 'hidden',
          'workbench.colorTheme': 'Default Dark Modern',
          'editor.minimap.enabled': false,
          'window.commandCenter': false,
          'files.autoSave': 'off',
          ...opts.userSettings,
        },
      });
    const server = await start();
    let browser: Browser | undefined;
    try {
      browser = await (await browsers()).launchChromium();
      const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
      page.setDefaultTimeout(60_000);
      const wb = new Workbench(page, browser, server, workspace, tmp, opts.name);
      wb.startAgain = start;
      // The workbench keeps loading long after "load" on a busy 2-core machine; what counts is
      // that its parts appear (waitForWorkbench).
      await page.goto(server.workspaceUrl, { waitUntil: 'domcontentloaded', timeout: 180_000 });
      await wb.waitForWorkbench();
      return wb;
    } catch (err) {
      await browser?.close().catch(() => undefined);
      await server.stop();
      throw err;
    }
  }

  async waitForWorkbench(): Promise<void> {
    await this.page.locator('.monaco-workbench .part.activitybar').waitFor({ timeout: 180_000 });
    // The status bar's remote indicator and the side bar's content show once the remote
    // extension host and file system are up (the side bar may show any view after a reload).
    await this.page.locator('.part.statusbar #status\\.host').waitFor({ state: 'attached', timeout: 180_000 });
    await this.page.locator('.part.sidebar .pane-body .monaco-list-row, .part.sidebar .welcome-view-content').first().waitFor({ timeout: 180_000 });
  }

  async close(): Promise<void> {
    await this.browser.close().catch(() => undefined);
    await this.server.stop();
    if (!process.env.PGBG_E2E_KEEP) fs.rmSync(this.tmp, { recursive: true, force: true });
  }

  /** Saves a screenshot to test-artifacts/e2e/<name>-NN-<label>.png and returns its path. */
  async screenshot(label: string): Promise<string> {
    fs.mkdirSync(artifactsDir, { recursive: true });
    this.shots += 1;
    const file = path.join(artifactsDir, `${this.name}-${String(this.shots).padStart(2, '0')}-${label}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  /** Opens the quick input with `prefix` ('>' for commands), types `text` and picks the item whose label matches exactly. */
  async quickPick(prefix: string, text: string, pick?: string): Promise<void> {
    const input = this.page.locator('.quick-input-widget input.input');
    // Escape only when a quick input is open: in the editor it would drop the selection.
    if (await input.isVisible()) await this.page.keyboard.press('Escape');
    await this.page.keyboard.press(prefix === '>' ? 'F1' : 'Control+P');
    await input.waitFor({ state: 'visible', timeout: 30_000 });
    await input.fill(`${prefix === '>' ? '>' : ''}${text}`);
    const want = pick ?? text;
    const row = this.page
      .locator('.quick-input-widget .quick-input-list .monaco-list-row')
      .filter({ has: this.page.locator('.label-name, .monaco-highlighted-label', { hasText: want }) })
      .first();
    await row.waitFor({ state: 'visible', timeout: 30_000 });
    await until(`"${want}" to be the focused quick pick item`, async () => {
      const label = (await this.page.locator('.quick-input-widget .quick-input-list .monaco-list-row.focused').first().textContent()) ?? '';
      if (label.includes(want)) return true;
      await row.click();
      return false;
    }, 10_000).catch(async () => {
      await row.click();
    });
    if (await input.isVisible()) await this.page.keyboard.press('Enter');
  }

  /** Runs a command through the command palette, by its palette title. */
  async runCommand(title: string): Promise<void> {
    await this.quickPick('>', title);
  }

  /** Answers an open quick input (InputBox or QuickPick) with `text` and Enter. */
  async answerInput(text: string, expectPrompt?: RegExp): Promise<void> {
    const widget = this.page.locator('.quick-input-widget');
    await widget.waitFor({ state: 'visible', timeout: 30_000 });
    if (expectPrompt) {
      await until(`input prompt ${expectPrompt}`, async () => expectPrompt.test((await widget.innerText()) ?? ''), 30_000);
    }
    const input = widget.locator('input.input');
    await input.fill(text);
    await this.page.keyboard.press('Enter');
  }

  /** Picks an item of an open QuickPick by its visible label text. */
  async chooseQuickPickItem(label: string | RegExp): Promise<void> {
    const row = this.page.locator('.quick-input-widget .quick-input-list .monaco-list-row').filter({ hasText: label }).first();
    await row.waitFor({ state: 'visible', timeout: 30_000 });
    await row.click();
  }

  /** Opens a workspace file by clicking it in the Explorer, as a user would. */
  async openFile(file: string): Promise<void> {
    const name = path.basename(file);
    // Result panels open beside the editor; put the file back into the first group.
    await this.page.keyboard.press('Control+1');
    const row = this.page.locator('.explorer-folders-view .monaco-list-row').filter({ hasText: new RegExp(`^\\s*${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`) }).first();
    await until(`${name} in the Explorer`, async () => {
      if (await row.isVisible()) return true;
      await this.page.keyboard.press('Escape');
      await this.page.keyboard.press('Control+Shift+E');
      return false;
    }, 90_000, 500);
    // Hovers (the path tooltip of another row) can sit on top of the row: move the pointer
    // away and retry until the click lands.
    await until(`a click on ${name}`, async () => {
      try {
        await row.click({ timeout: 3_000 });
        return true;
      } catch {
        await this.page.mouse.move(700, 880);
        await this.page.keyboard.press('Escape');
        return false;
      }
    }, 90_000, 300);
    await this.page.mouse.move(700, 880);
    await this.page.locator(`.tabs-container .tab[aria-label^="${name}"]`).first().waitFor({ timeout: 90_000 });
    await this.editor().locator('.view-lines').waitFor({ state: 'visible', timeout: 90_000 });
    await this.focusEditor();
  }

  editor(): Locator {
    return this.page.locator('.editor-group-container.active .monaco-editor').first();
  }

  /** Focuses the editor of the first group (where openFile puts files) from the keyboard. */
  async focusEditor(): Promise<void> {
    await until('the editor focused', async () => {
      await this.page.keyboard.press('Control+1');
      return this.page
        .locator('.editor-group-container.active .monaco-editor.focused')
        .first()
        .waitFor({ state: 'visible', timeout: 2_000 })
        .then(
          () => true,
          () => false,
        );
    }, 60_000, 300);
  }

  /** Selects whole lines `from`..`to` (1-based, inclusive) of the active editor with the keyboard. */
  async selectLines(from: number, to: number): Promise<void> {
    // Keystrokes can get lost on a loaded machine: check the status bar ("Ln 3, Col 9 (40
    // selected)") and select again until it shows a selection ending on line `to`.
    await until(`lines ${from}-${to} selected`, async () => {
      await this.goToLine(from, 1);
      for (let i = from; i < to; i++) await this.page.keyboard.press('Shift+ArrowDown');
      await this.page.keyboard.press('Shift+End');
      const want = new RegExp(`Ln ${to}, Col \\d+ \\(\\d+ selected\\)`);
      return until('the status bar to show the selection', async () => {
        const text = (await this.page.locator('#status\\.editor\\.selection').innerText().catch(() => '')) ?? '';
        return want.test(text);
      }, 3_000).then(
        () => true,
        () => false,
      );
    }, 60_000, 500);
  }

  /** Ctrl+G: go to line[:column] in the active editor. */
  async goToLine(line: number, column?: number): Promise<void> {
    await this.focusEditor();
    await this.page.keyboard.press('Control+G');
    const input = this.page.locator('.quick-input-widget input.input');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    // Ctrl+G opens the quick input with its ':' prefix; replacing the text keeps it.
    await input.fill(column ? `:${line}:${column}` : `:${line}`);
    await this.page.keyboard.press('Enter');
    await until(`cursor on line ${line}`, async () => (await this.cursorPosition())?.line === line, 10_000);
  }

  /** The cursor position from the status bar ("Ln 3, Col 7"). */
  async cursorPosition(): Promise<{ line: number; column: number } | undefined> {
    const text = (await this.page.locator('#status\\.editor\\.selection').innerText().catch(() => '')) ?? '';
    const m = /Ln (\d+), Col (\d+)/.exec(text);
    return m ? { line: Number(m[1]), column: Number(m[2]) } : undefined;
  }

  /** Reveals the Jobs view by clicking the "PG Background" item of the activity bar. */
  async showJobsView(): Promise<Locator> {
    const view = this.jobsView();
    const item = this.page.locator('.activitybar .action-item').filter({ has: this.page.locator('.action-label[aria-label^="PG Background"]') }).first();
    await until('the Jobs view', async () => {
      if (await view.isVisible()) return true;
      // Clicking the item of the container already shown would hide the side bar again.
      const active = /\bchecked\b/.test((await item.getAttribute('class', { timeout: 5_000 })) ?? '');
      if (!active) await item.click({ timeout: 5_000 }).catch(() => undefined);
      return view.waitFor({ state: 'visible', timeout: 5_000 }).then(
        () => true,
        () => false,
      );
    }, 90_000, 500);
    return view;
  }

  /** The Jobs view: the only view of the "PG Background" side bar container. */
  jobsView(): Locator {
    return this.page
      .locator('.part.sidebar')
      .filter({ has: this.page.locator('.composite.title', { hasText: 'PG Background' }) })
      .locator('.pane-body')
      .first();
  }

  /** The tree row of a job whose label contains `sqlSnippet`. */
  jobRow(sqlSnippet: string): Locator {
    return this.jobsView().locator('.monaco-list-row').filter({ hasText: sqlSnippet }).first();
  }

  /** Text of a job's row: label, description (state · elapsed · rows) and its aria-label. */
  async jobRowText(sqlSnippet: string): Promise<string> {
    const row = this.jobRow(sqlSnippet);
    const text = (await row.innerText({ timeout: 2_000 })) ?? '';
    const aria = (await row.getAttribute('aria-label', { timeout: 2_000 })) ?? '';
    return `${text} ${aria}`;
  }

  /** Waits until the job row's description shows `state` (e.g. /completed/). */
  /**
   * Selects `from`-`to` in the active editor, runs "Run Selection in Background" and waits until
   * a job showing `sqlSnippet` is in the Jobs tree. Under load a keystroke of the selection or of
   * the command palette can be lost, and the command then sees no selection (it says so in a
   * notification) and starts nothing: what the notifications said is logged, and the selection
   * and the command are tried again, at most three times.
   */
  async runSelectionAsJob(from: number, to: number, title: string, sqlSnippet: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      await this.selectLines(from, to);
      await this.runCommand(title);
      try {
        await this.waitForJobState(sqlSnippet, /./, attempt < 3 ? 30_000 : 120_000);
        return;
      } catch (err) {
        if (attempt >= 3) throw err;
        const said = await this.page.locator('.notifications-toasts .notification-toast, .notification-list-item').allInnerTexts().catch(() => []);
        console.log(`# run of "${sqlSnippet}" started no job (attempt ${attempt}); notifications: ${JSON.stringify(said)}`);
        await this.page.keyboard.press('Escape');
      }
    }
  }

  async waitForJobState(sqlSnippet: string, state: RegExp, timeoutMs = 90_000): Promise<string> {
    await this.showJobsView();
    return until(`job "${sqlSnippet}" to show ${state}`, async () => {
      // Rows of jobs only render when their connection node is expanded.
      await this.expandConnections();
      const text = await this.jobRowText(sqlSnippet);
      return state.test(text) ? text : undefined;
    }, timeoutMs);
  }

  /** Expands collapsed connection nodes so their jobs render. */
  async expandConnections(): Promise<void> {
    const collapsed = this.jobsView().locator('.monaco-list-row[aria-expanded="false"][aria-level="1"]');
    const n = await collapsed.count();
    for (let i = 0; i < n; i++) await collapsed.nth(0).click();
  }

  /** Right-clicks a job row and chooses `item` (a command title) from its context menu. */
  async jobContextAction(sqlSnippet: string, item: string): Promise<void> {
    await this.showJobsView();
    const row = this.jobRow(sqlSnippet);
    const menuItem = this.page.locator('.monaco-menu .action-item .action-label', { hasText: item }).first();
    await until(`context menu item "${item}"`, async () => {
      await this.page.keyboard.press('Escape');
      await row.click({ button: 'right', timeout: 5_000 });
      return menuItem.waitFor({ state: 'visible', timeout: 5_000 }).then(
        () => true,
        () => false,
      );
    }, 60_000, 500);
    await menuItem.click();
    // A click that lands while the menu is still settling can be swallowed, leaving the menu
    // open and the command never run (seen in CI): click again until the menu is gone.
    for (let i = 0; i < 3; i++) {
      if (await menuItem.waitFor({ state: 'hidden', timeout: 3_000 }).then(() => true, () => false)) break;
      await menuItem.click({ timeout: 5_000 }).catch(() => undefined);
    }
    // The tree re-renders every second (elapsed times); a right-click that landed during a
    // re-render reaches the command without its node, and the command then asks which job.
    const pick = this.page.locator('.quick-input-widget .quick-input-list .monaco-list-row').filter({ hasText: sqlSnippet }).first();
    if (await pick.waitFor({ state: 'visible', timeout: 1_500 }).then(() => true, () => false)) await pick.click();
  }

  /**
   * Opens a job's result the way a user does, by clicking its row in the Jobs tree (its
   * command is Show Result), and returns the webview frame once its grid shows `firstRow`.
   */
  async openResult(sqlSnippet: string, firstRow: string[]): Promise<Frame> {
    await this.showJobsView();
    const deadline = Date.now() + 180_000;
    for (;;) {
      await this.jobRow(sqlSnippet).click({ timeout: 30_000 });
      try {
        return await this.waitForGridRow(firstRow, 30_000);
      } catch (err) {
        if (Date.now() > deadline) throw err;
      }
    }
  }

  /** A notification toast whose text matches. */
  notification(text: RegExp): Locator {
    return this.page.locator('.notifications-toasts .notification-toast, .notification-list-item').filter({ hasText: text }).first();
  }

  /** Frames of webviews (VS Code nests the content in an inner iframe of an outer one). */
  webviewFrames(): Frame[] {
    return this.page.frames().filter((f) => f.parentFrame() && f.parentFrame() !== this.page.mainFrame());
  }

  /** The webview content frame whose text matches `text`; polls until there is one. */
  async webviewWith(text: RegExp, timeoutMs = 60_000): Promise<Frame> {
    return until(`a result panel showing ${text}`, async () => {
      for (const f of this.webviewFrames()) {
        const body = await f.locator('body').innerText({ timeout: 1_000 }).catch(() => '');
        if (text.test(body)) return f;
      }
      return undefined;
    }, timeoutMs);
  }

  /**
   * The rows the visible result grid has painted (role=row / gridcell, aria-rowindex), in row
   * order: each cell's text, and which cells are SQL NULL (shown distinctly).
   */
  async gridRows(frame: Frame): Promise<{ row: number; cells: string[]; nulls: number[] }[]> {
    const rows = await frame.locator('[role="grid"] [role="row"][aria-rowindex]').evaluateAll((els) =>
      els
        .filter((e) => (e as HTMLElement).offsetParent !== null)
        .map((e) => {
          const cells = Array.from(e.querySelectorAll('[role="gridcell"]')).filter((c) => !(c as HTMLElement).hidden);
          return {
            row: Number(e.getAttribute('aria-rowindex')),
            cells: cells.map((c) => c.textContent ?? ''),
            nulls: cells.map((c, i) => (c.classList.contains('null') ? i : -1)).filter((i) => i >= 0),
            loading: cells.some((c) => c.classList.contains('loading')),
          };
        }),
    );
    return rows
      .filter((r) => !r.loading)
      .sort((a, b) => a.row - b.row)
      .map(({ row, cells, nulls }) => ({ row, cells, nulls }));
  }

  /** Polls the webview frames until one's grid shows a row equal to `cells`; returns that frame. */
  async waitForGridRow(cells: string[], timeoutMs = 90_000): Promise<Frame> {
    const want = JSON.stringify(cells);
    return until(`a result grid showing the row ${want}`, async () => {
      for (const f of this.webviewFrames()) {
        const rows = await this.gridRows(f).catch(() => []);
        if (rows.some((r) => JSON.stringify(r.cells) === want)) return f;
      }
      return undefined;
    }, timeoutMs);
  }

  /** Visible text of a webview frame. */
  async frameText(frame: Frame): Promise<string> {
    return (await frame.locator('body').innerText({ timeout: 5_000 }).catch(() => '')) ?? '';
  }

  /** Current tab labels of the editor area. */
  async editorTabs(): Promise<string[]> {
    return this.page.locator('.tabs-container .tab').evaluateAll((tabs) => tabs.map((t) => t.getAttribute('aria-label') ?? ''));
  }

  /**
   * Stops code-server entirely (its extension host is killed with it, as when a machine's
   * server restarts) and starts it again on the same port with the same user data, extensions
   * and workspace; the browser page stays, so the workbench's browser-side state (where VS Code
   * web keeps workspaceState) is the same origin's, as for a user whose server restarted.
   * `whileStopped` runs while no code-server (and no extension host) is up.
   */
  async restartServer(whileStopped?: () => Promise<void>): Promise<void> {
    if (!this.startAgain) throw new Error('this workbench cannot be restarted');
    await this.server.stop();
    await whileStopped?.();
    this.server = await this.startAgain();
    await this.page.goto(this.server.workspaceUrl, { waitUntil: 'domcontentloaded', timeout: 180_000 });
    await this.waitForWorkbench();
  }

  /** The total row count the visible result grid of `frame` announces (aria-rowcount), or -1. */
  async gridRowCount(frame: Frame): Promise<number> {
    const counts = await frame.locator('[role="grid"][aria-rowcount]').evaluateAll((els) =>
      els.filter((e) => e.getClientRects().length > 0).map((e) => Number(e.getAttribute('aria-rowcount'))),
    );
    return counts.length > 0 ? counts[0] : -1;
  }

  /** Scrolls the visible result grid of `frame` to its last row. */
  async scrollGridToEnd(frame: Frame): Promise<void> {
    await frame.locator('.grid-scroller').evaluateAll((els) => {
      for (const e of els) if (e.getClientRects().length > 0) e.scrollTop = e.scrollHeight;
    });
  }

  async reload(): Promise<void> {
    const loaded = this.page.waitForEvent('domcontentloaded', { timeout: 180_000 });
    await this.runCommand('Developer: Reload Window');
    await loaded;
    await this.waitForWorkbench();
  }
}

/**
 * Copies screenshots worth showing in the README into media/screenshots/ when asked to
 * (PGBG_PUBLISH_SCREENSHOTS=1), so an ordinary test run leaves the work tree clean.
 */
export function publishScreenshot(file: string, name: string): void {
  if (process.env.PGBG_PUBLISH_SCREENSHOTS !== '1') return;
  const dir = path.join(repoRoot, 'media', 'screenshots');
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(file, path.join(dir, name));
}
