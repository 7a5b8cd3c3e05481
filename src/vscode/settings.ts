// Typed access to the pgBackground.* settings. Read on every use (never cached) so a change in
// the Settings editor applies to the next job without reloading the window.

import * as vscode from 'vscode';
import { DEFAULT_ENGINE_SETTINGS, type EngineSettings } from '../core/jobManager.js';

const SECTION = 'pgBackground';

function config(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(SECTION);
}

type IntSetting = Exclude<keyof EngineSettings, 'fetchRowsPerTuple' | 'durableJobs'>;

function int(key: IntSetting, min: number, fallback = DEFAULT_ENGINE_SETTINGS[key] ?? min): number {
  const value = config().get<number>(key);
  // The schema enforces bounds in the Settings UI, but settings.json can hold anything.
  return typeof value === 'number' && Number.isFinite(value) && value >= min ? Math.trunc(value) : fallback;
}

export function engineSettings(): EngineSettings {
  return {
    queueSize: int('queueSize', 0),
    fetchBatchSize: int('fetchBatchSize', 1),
    pollIntervalMs: int('pollIntervalMs', 10),
    memoryRowBudget: int('memoryRowBudget', 1),
    defaultGraceMs: int('defaultGraceMs', 0),
    // Anything but an explicit false keeps jobs durable (the default).
    durableJobs: config().get<unknown>('durableJobs', true) !== false,
    reconnectGiveUpSeconds: int('reconnectGiveUpSeconds', MIN_GIVE_UP_SECONDS, DEFAULT_GIVE_UP_SECONDS),
  };
}

/** pgBackground.reconnectGiveUpSeconds: the manifest's default and minimum. */
const DEFAULT_GIVE_UP_SECONDS = 600;
const MIN_GIVE_UP_SECONDS = 10;

/** Whether a launched job's result panel opens as the job starts. */
export function openResultOnStart(): boolean {
  // Anything but an explicit false (a hand-edited "no", say) keeps the default.
  return config().get<unknown>('openResultOnStart', true) !== false;
}

export function notifyOnCompletion(): boolean {
  return config().get<boolean>('notifyOnCompletion', true);
}

export function defaultGraceMs(): number {
  return engineSettings().defaultGraceMs;
}
