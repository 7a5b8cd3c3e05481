// A subset of the CSS variables VS Code puts on a webview's <body> for three built-in themes
// (values as in Dark Modern, Light Modern and Dark High Contrast), so the harness page looks the
// way it would inside VS Code and the theme test can switch between them.

export type ThemeKind = 'vscode-dark' | 'vscode-light' | 'vscode-high-contrast';

export interface Theme {
  kind: ThemeKind;
  vars: Record<string, string>;
}

const common = {
  '--vscode-font-family': "system-ui, 'Ubuntu', 'Droid Sans', sans-serif",
  '--vscode-font-size': '13px',
  '--vscode-editor-font-family': "'Droid Sans Mono', 'monospace', monospace",
  '--vscode-editor-font-size': '13px',
};

export const DARK: Theme = {
  kind: 'vscode-dark',
  vars: {
    ...common,
    '--vscode-editor-background': '#1f1f1f',
    '--vscode-editor-foreground': '#cccccc',
    '--vscode-foreground': '#cccccc',
    '--vscode-descriptionForeground': '#9d9d9d',
    '--vscode-disabledForeground': 'rgba(204, 204, 204, 0.5)',
    '--vscode-errorForeground': '#f85149',
    '--vscode-focusBorder': '#0078d4',
    '--vscode-panel-border': '#2b2b2b',
    '--vscode-editorGroup-border': 'rgba(255, 255, 255, 0.09)',
    '--vscode-list-activeSelectionBackground': '#04395e',
    '--vscode-list-activeSelectionForeground': '#ffffff',
    '--vscode-list-inactiveSelectionBackground': '#37373d',
    '--vscode-list-hoverBackground': '#2a2d2e',
    '--vscode-list-focusOutline': '#0078d4',
    '--vscode-editorLineNumber-foreground': '#6e7681',
    '--vscode-editorLineNumber-activeForeground': '#cccccc',
    '--vscode-button-background': '#0078d4',
    '--vscode-button-foreground': '#ffffff',
    '--vscode-button-secondaryBackground': '#313131',
    '--vscode-button-secondaryForeground': '#cccccc',
    '--vscode-badge-background': '#616161',
    '--vscode-badge-foreground': '#f8f8f8',
    '--vscode-panelTitle-activeForeground': '#cccccc',
    '--vscode-panelTitle-inactiveForeground': '#9d9d9d',
    '--vscode-panelTitle-activeBorder': '#0078d4',
    '--vscode-progressBar-background': '#0078d4',
    '--vscode-input-background': '#313131',
    '--vscode-input-foreground': '#cccccc',
    '--vscode-editorInfo-foreground': '#3794ff',
  },
};

export const LIGHT: Theme = {
  kind: 'vscode-light',
  vars: {
    ...common,
    '--vscode-editor-background': '#ffffff',
    '--vscode-editor-foreground': '#3b3b3b',
    '--vscode-foreground': '#3b3b3b',
    '--vscode-descriptionForeground': '#717171',
    '--vscode-disabledForeground': 'rgba(97, 97, 97, 0.5)',
    '--vscode-errorForeground': '#f85149',
    '--vscode-focusBorder': '#005fb8',
    '--vscode-panel-border': '#e5e5e5',
    '--vscode-editorGroup-border': '#e5e5e5',
    '--vscode-list-activeSelectionBackground': '#e8e8e8',
    '--vscode-list-activeSelectionForeground': '#000000',
    '--vscode-list-inactiveSelectionBackground': '#e4e6f1',
    '--vscode-list-hoverBackground': '#f2f2f2',
    '--vscode-list-focusOutline': '#005fb8',
    '--vscode-editorLineNumber-foreground': '#6e7681',
    '--vscode-editorLineNumber-activeForeground': '#171184',
    '--vscode-button-background': '#005fb8',
    '--vscode-button-foreground': '#ffffff',
    '--vscode-button-secondaryBackground': '#e5e5e5',
    '--vscode-button-secondaryForeground': '#3b3b3b',
    '--vscode-badge-background': '#cccccc',
    '--vscode-badge-foreground': '#3b3b3b',
    '--vscode-panelTitle-activeForeground': '#3b3b3b',
    '--vscode-panelTitle-inactiveForeground': '#3b3b3b',
    '--vscode-panelTitle-activeBorder': '#005fb8',
    '--vscode-progressBar-background': '#005fb8',
    '--vscode-input-background': '#ffffff',
    '--vscode-input-foreground': '#3b3b3b',
    '--vscode-editorInfo-foreground': '#1a85ff',
  },
};

export const HIGH_CONTRAST: Theme = {
  kind: 'vscode-high-contrast',
  vars: {
    ...common,
    '--vscode-editor-background': '#000000',
    '--vscode-editor-foreground': '#ffffff',
    '--vscode-foreground': '#ffffff',
    '--vscode-descriptionForeground': 'rgba(255, 255, 255, 0.7)',
    '--vscode-errorForeground': '#f48771',
    '--vscode-focusBorder': '#f38518',
    '--vscode-contrastBorder': '#6fc3df',
    '--vscode-contrastActiveBorder': '#f38518',
    '--vscode-panel-border': '#6fc3df',
    '--vscode-editorGroup-border': '#6fc3df',
    '--vscode-list-focusOutline': '#f38518',
    '--vscode-editorLineNumber-foreground': '#ffffff',
    '--vscode-button-background': '#000000',
    '--vscode-button-foreground': '#ffffff',
    '--vscode-button-border': '#6fc3df',
    '--vscode-badge-background': '#000000',
    '--vscode-badge-foreground': '#ffffff',
    '--vscode-panelTitle-activeForeground': '#ffffff',
    '--vscode-panelTitle-activeBorder': '#6fc3df',
    '--vscode-input-background': '#000000',
    '--vscode-input-foreground': '#ffffff',
    '--vscode-editorInfo-foreground': '#3794ff',
  },
};
