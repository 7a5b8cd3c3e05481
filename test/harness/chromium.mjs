// Headless Chromium for the browser suites (webview tests, e2e, benchmarks): the system browser
// with the flags this machine needs (see ../shared/ENVIRONMENT.md). playwright-core's own
// browser download does not work here, so every suite launches through this module.
import { chromium } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = Object.freeze([
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]);

/** Launches headless Chromium; `extraArgs` are appended to the common flags. */
export function launchChromium(extraArgs = []) {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS, ...extraArgs], headless: true });
}
