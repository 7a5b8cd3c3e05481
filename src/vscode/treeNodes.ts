// The element types of the Jobs tree, shared by the tree provider and the commands that receive
// them as arguments (menus pass the clicked element). Plain data, so a command can also be run
// from the palette or a test with a job id / connection name string instead.

import type { ForeignWorker } from '../core/jobManager.js';
import type { ServerJobRow } from './serverJobLabels.js';

export interface ConnectionNode {
  kind: 'connection';
  name: string;
}

export interface JobNode {
  kind: 'job';
  id: string;
}

export interface OtherSessionsNode {
  kind: 'others';
  connectionName: string;
}

export interface ForeignWorkerNode {
  kind: 'foreign';
  connectionName: string;
  worker: ForeignWorker;
}

/** A job of this role in the server's registry that no record of this window knows (issue 11). */
export interface ServerJobNode {
  kind: 'serverJob';
  connectionName: string;
  job: ServerJobRow;
}

export type TreeNode = ConnectionNode | JobNode | OtherSessionsNode | ForeignWorkerNode | ServerJobNode;

function isNode(arg: unknown): arg is TreeNode {
  return typeof arg === 'object' && arg !== null && typeof (arg as { kind?: unknown }).kind === 'string';
}

/** A job id from a tree node, a JobInfo-like object ({ id }) or a plain string. */
export function jobIdFromArg(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  if (isNode(arg)) return arg.kind === 'job' ? arg.id : undefined;
  if (typeof arg === 'object' && arg !== null && typeof (arg as { id?: unknown }).id === 'string') return (arg as { id: string }).id;
  return undefined;
}

/** A connection name from a connection / other-sessions / job-less node or a plain string. */
export function connectionNameFromArg(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  if (!isNode(arg)) return undefined;
  if (arg.kind === 'connection') return arg.name;
  if (arg.kind === 'others' || arg.kind === 'foreign' || arg.kind === 'serverJob') return arg.connectionName;
  return undefined;
}

export function foreignWorkerFromArg(arg: unknown): ForeignWorkerNode | undefined {
  return isNode(arg) && arg.kind === 'foreign' ? arg : undefined;
}

export function serverJobFromArg(arg: unknown): ServerJobNode | undefined {
  return isNode(arg) && arg.kind === 'serverJob' ? arg : undefined;
}
