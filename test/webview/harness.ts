// Browser harness for the result webview: serves the real page (same HTML builder and CSP shape as
// the extension, with the http origin standing in for webview.cspSource) from 127.0.0.1, loads the
// built dist/webview.js in headless Chromium, and provides `acquireVsCodeApi` through an init
// script whose postMessage goes to a real PanelController running in this Node process.
// Messages both ways are recorded for assertions.

import * as esbuild from 'esbuild';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { webviewBundle } from '../../scripts/bundles.mjs';
import { launchChromium } from '../harness/chromium.mjs';
import { PanelController, type PanelHost } from '../../src/panel/controller';
import { makeNonce, panelHtml } from '../../src/panel/html';
import type { ExportFormat, HostMessage, WebviewMessage } from '../../src/protocol';
import { DARK, type Theme } from './themes';

export const repoRoot = path.resolve(__dirname, '..', '..');
export const artifactsDir = path.join(repoRoot, 'test-artifacts', 'webview');

/** Builds dist/webview.js as `npm run build` does (so a test run never sees a stale bundle). */
export async function buildWebview(): Promise<void> {
  await esbuild.build(webviewBundle());
}

const MIME: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json', '.png': 'image/png' };

export class Harness {
  private constructor(
    readonly browser: Browser,
    readonly server: http.Server,
    readonly origin: string,
  ) {}

  static async start(): Promise<Harness> {
    await buildWebview();
    fs.mkdirSync(artifactsDir, { recursive: true });
    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (url.pathname === '/' || url.pathname === '/index.html') {
        const origin = `http://${req.headers.host}`;
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(panelHtml({ cspSource: origin, nonce: makeNonce(), scriptUri: `${origin}/dist/webview.js`, styleUri: `${origin}/media/webview.css`, title: 'Result' }));
        return;
      }
      // Only dist/ and media/ are reachable, like the panel's localResourceRoots.
      const rel = path.normalize(decodeURIComponent(url.pathname)).replace(/^[/\\]+/, '');
      if (!/^(dist|media)[/\\]/.test(rel)) {
        res.writeHead(404).end();
        return;
      }
      const file = path.join(repoRoot, rel);
      fs.readFile(file, (err, data) => {
        if (err) {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { 'content-type': MIME[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
        res.end(data);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const browser = await launchChromium();
    return new Harness(browser, server, `http://127.0.0.1:${port}`);
  }

  async close(): Promise<void> {
    await this.browser.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  async open(host: PanelHost, jobId: string, opts: { theme?: Theme; width?: number; height?: number } = {}): Promise<PanelPage> {
    const context = await this.browser.newContext({ viewport: { width: opts.width ?? 1100, height: opts.height ?? 640 } });
    // Generous: the suite shares a small machine with cluster builds and other browsers.
    context.setDefaultTimeout(60_000);
    const page = await context.newPage();
    const p = new PanelPage(context, page, host, jobId);
    await p.setup(opts.theme ?? DARK);
    await page.goto(`${this.origin}/`);
    return p;
  }
}

/** One panel in one page: the controller, the recorded traffic and helpers. */
export class PanelPage {
  controller!: PanelController;
  readonly toHost: WebviewMessage[] = [];
  readonly toWebview: HostMessage[] = [];
  readonly exports: { stmt: number; format: ExportFormat; shownRows?: number }[] = [];
  readonly images: { name: string; png: Uint8Array }[] = [];
  readonly copies: string[] = [];
  readonly infos: string[] = [];
  readonly pageErrors: string[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private readonly outbox: HostMessage[] = [];
  /** Deliver the messages of one task in one evaluate (test/bench/webview.mjs); tests keep one per message. */
  coalesceMessages = false;

  constructor(
    readonly context: BrowserContext,
    readonly page: Page,
    readonly host: PanelHost,
    readonly jobId: string,
  ) {}

  async setup(theme: Theme): Promise<void> {
    this.page.on('pageerror', (err) => this.pageErrors.push(err.message));
    this.page.on('dialog', (d) => {
      // An alert() would mean injected script ran; record it as such and dismiss.
      this.pageErrors.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    this.newController();
    await this.page.exposeBinding('__pgbgToHost', (_src, msg: unknown) => {
      this.toHost.push(msg as WebviewMessage);
      void this.controller.receive(msg);
    });
    // tsx compiles the functions passed to page.evaluate with esbuild's keepNames, which wraps
    // them in a `__name` helper that exists only in Node; give the page a no-op one.
    await this.page.addInitScript({ content: 'globalThis.__name = (f) => f;' });
    await this.page.addInitScript(
      ({ kind, vars }) => {
        const w = window as unknown as Record<string, unknown>;
        w.__cspViolations = [];
        document.addEventListener('securitypolicyviolation', (e) => {
          (w.__cspViolations as string[]).push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber} ${e.sample}`);
        });
        const key = 'vscodeState';
        let state: unknown = JSON.parse(sessionStorage.getItem(key) ?? 'null');
        // Like VS Code, state outlives the page; written when the page goes away (a synchronous
        // storage write per setState would add its cost to the frames being measured).
        window.addEventListener('pagehide', () => sessionStorage.setItem(key, JSON.stringify(state)));
        (w as Record<string, unknown>).__vscodeState = () => state;
        let acquired = false;
        w.acquireVsCodeApi = () => {
          if (acquired) throw new Error('acquireVsCodeApi may only be called once');
          acquired = true;
          return Object.freeze({
            postMessage: (m: unknown) => (w.__pgbgToHost as (m: unknown) => void)(m),
            getState: () => state,
            setState: (s: unknown) => {
              state = s;
              return s;
            },
          });
        };
        // VS Code sets the theme's variables and kind on <body> before the page's scripts run.
        document.addEventListener('readystatechange', () => {
          if (document.readyState !== 'interactive' || !document.body) return;
          document.body.classList.add(kind);
          document.body.setAttribute('data-vscode-theme-kind', kind);
          for (const [k, v] of Object.entries(vars)) document.body.style.setProperty(k, v);
        });
      },
      { kind: theme.kind, vars: theme.vars },
    );
  }

  /** A fresh controller (as after a webview reload the panel keeps, or a new panel gets). */
  newController(): void {
    this.controller?.dispose();
    this.controller = new PanelController(this.jobId, this.host, {
      post: (msg) => {
        this.toWebview.push(msg);
        if (!this.coalesceMessages) {
          // Serialised so messages arrive in the order they were posted, as with postMessage.
          this.queue = this.queue.then(() =>
            this.page.evaluate((m) => window.dispatchEvent(new MessageEvent('message', { data: m })), msg).catch(() => undefined),
          );
          return this.queue;
        }
        // In order too, but the messages of one task, and those posted while an evaluate is under
        // way, go together in the next one: an evaluate per message makes a backlog on a busy
        // machine that postMessage does not have (the benchmark measures timing through this).
        this.outbox.push(msg);
        if (this.outbox.length === 1) {
          this.queue = this.queue.then(async () => {
            await new Promise((resolve) => setImmediate(resolve));
            const batch = this.outbox.splice(0);
            return this.page
              .evaluate((ms) => {
                for (const m of ms) window.dispatchEvent(new MessageEvent('message', { data: m }));
              }, batch)
              .catch(() => undefined);
          });
        }
        return this.queue;
      },
      exportResult: async (stmt, format, view) => {
        this.exports.push(view ? { stmt, format, shownRows: view.length } : { stmt, format });
      },
      copyText: async (text) => {
        this.copies.push(text);
      },
      saveImage: async (name, png) => {
        this.images.push({ name, png });
      },
      info: (message) => {
        this.infos.push(message);
      },
    });
  }

  async theme(theme: Theme): Promise<void> {
    await this.page.evaluate(({ kind, vars }) => {
      const b = document.body;
      // VS Code replaces the whole set of theme variables; a variable the new theme does not
      // define must not keep the previous theme's value.
      for (const k of Array.from(b.style)) if (k.startsWith('--vscode-')) b.style.removeProperty(k);
      for (const [k, v] of Object.entries(vars)) b.style.setProperty(k, v);
      b.setAttribute('data-vscode-theme-kind', kind);
      b.classList.remove('vscode-dark', 'vscode-light', 'vscode-high-contrast');
      b.classList.add(kind);
    }, theme);
  }

  /** Waits until the grid shows loaded data in its first visible row. */
  async waitForRows(): Promise<void> {
    await this.page.waitForSelector('vscode-panel-view:not([hidden]) .grid-row:not([hidden]) .grid-cell:not(.loading)', { timeout: 45000 });
  }

  /** Text of the visible cells of the row with this 1-based number in the active grid. */
  async rowText(rowNumber: number): Promise<string[] | undefined> {
    return this.page.evaluate((n) => {
      const rows = document.querySelectorAll<HTMLElement>('vscode-panel-view:not([hidden]) .grid-row:not([hidden])');
      for (const r of rows) {
        if (r.getAttribute('aria-rowindex') === String(n) && !r.querySelector('.grid-cell.loading')) {
          return [...r.querySelectorAll<HTMLElement>('.grid-cell:not([hidden])')]
            .sort((a, b) => Number(a.dataset.col) - Number(b.dataset.col))
            .map((c) => c.textContent ?? '');
        }
      }
      return undefined;
    }, rowNumber);
  }

  async waitForRow(rowNumber: number): Promise<string[]> {
    await this.page.waitForFunction(
      (n) =>
        [...document.querySelectorAll('vscode-panel-view:not([hidden]) .grid-row:not([hidden])')].some(
          (r) => r.getAttribute('aria-rowindex') === String(n) && !r.querySelector('.grid-cell.loading'),
        ),
      rowNumber,
      { timeout: 45000 },
    );
    const t = await this.rowText(rowNumber);
    if (!t) throw new Error(`row ${rowNumber} vanished`);
    return t;
  }

  async screenshot(name: string): Promise<string> {
    const file = path.join(artifactsDir, `${name}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  async cspViolations(): Promise<string[]> {
    return this.page.evaluate(() => (window as unknown as { __cspViolations: string[] }).__cspViolations);
  }

  async close(): Promise<void> {
    this.controller.dispose();
    await this.context.close();
  }
}

/** Polls a Node-side condition (e.g. a recorded message) without a fixed sleep. */
export async function until<T>(fn: () => T | undefined | false, what: string, timeoutMs = 30000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
