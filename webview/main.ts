// Entry of dist/webview.js (browser IIFE). Registers the toolkit components the page uses and
// starts the app. `acquireVsCodeApi` is provided by VS Code (or the test harness's stand-in).

import {
  provideVSCodeDesignSystem,
  vsCodeBadge,
  vsCodeButton,
  vsCodePanels,
  vsCodePanelTab,
  vsCodePanelView,
  vsCodeProgressRing,
  vsCodeTag,
  vsCodeTextArea,
} from '@vscode/webview-ui-toolkit';
import { App, type VsCodeApi } from './app';

declare function acquireVsCodeApi(): VsCodeApi;

provideVSCodeDesignSystem().register(
  vsCodeBadge(),
  vsCodeButton(),
  vsCodePanels(),
  vsCodePanelTab(),
  vsCodePanelView(),
  vsCodeProgressRing(),
  vsCodeTag(),
  vsCodeTextArea(),
);

const root = document.getElementById('app');
if (root) {
  const app = new App(root, acquireVsCodeApi());
  // Read-only counters for the benchmark; carries no result data.
  Object.defineProperty(window, '__pgbgStats', { value: () => app.stats() });
}
