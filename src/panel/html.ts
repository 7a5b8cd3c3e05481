// The result panel's HTML. Pure (no `vscode` import) so the browser test harness serves exactly
// the same page and CSP that VS Code gets, with its own origin in place of cspSource.

export interface PanelHtmlOptions {
  /** webview.cspSource in VS Code; the harness's http origin in tests. */
  cspSource: string;
  nonce: string;
  scriptUri: string;
  styleUri: string;
  title: string;
}

/** A fresh nonce per page load: 128 random bits, base64url. */
export function makeNonce(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return Buffer.from(bytes).toString('base64url');
}

const escapeAttr = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

export function panelHtml(o: PanelHtmlOptions): string {
  // No inline styles or scripts: styles come from media/webview.css (cspSource), the one script
  // carries the nonce. The toolkit's components style themselves through constructable
  // stylesheets, which style-src does not govern; the one <style> element FAST creates (a
  // :focus-visible feature probe) carries the nonce it reads from the csp-nonce meta tag.
  const csp = [
    "default-src 'none'",
    `script-src 'nonce-${o.nonce}'`,
    `style-src ${o.cspSource} 'nonce-${o.nonce}'`,
    `font-src ${o.cspSource}`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttr(csp)}">
<meta property="csp-nonce" content="${escapeAttr(o.nonce)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${escapeAttr(o.styleUri)}">
<title>${escapeAttr(o.title)}</title>
</head>
<body>
<div id="app"></div>
<script nonce="${escapeAttr(o.nonce)}" src="${escapeAttr(o.scriptUri)}"></script>
</body>
</html>
`;
}
