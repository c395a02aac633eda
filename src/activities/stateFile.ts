import fs from 'node:fs';
import path from 'node:path';
import { usesRemoteState } from './stateBackend.js';

/**
 * What a job's Terraform state says was created, read without running
 * Terraform, so the failure and clean-up path cannot fail on it.
 *
 * A killed apply often leaves no state file, or an empty one (the local
 * backend creates the file when it takes its lock, before it writes
 * anything): both mean nothing was recorded. A file cut short by a crash in
 * the middle of a write cannot be read; then the backup Terraform keeps
 * beside it decides, and if that says nothing either, resources may remain.
 */

export type StateVerdict =
  | { has: false; reason: 'no state file' | 'empty state' | 'no resources in the state' }
  | { has: true; reason: string };

const STATE = 'terraform.tfstate';
const BACKUP = 'terraform.tfstate.backup';

type Read = { kind: 'missing' } | { kind: 'empty' } | { kind: 'unreadable'; why: string } | { kind: 'ok'; resources: number };

function readState(file: string): Read {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    return { kind: 'unreadable', why: (err as Error).message };
  }
  if (text.trim() === '') return { kind: 'empty' };
  try {
    const state = JSON.parse(text) as { resources?: { instances?: unknown[] }[] };
    const resources = (state.resources ?? []).filter((r) => (r.instances ?? []).length > 0).length;
    return { kind: 'ok', resources };
  } catch (err) {
    return { kind: 'unreadable', why: `not valid JSON (${(err as Error).message})` };
  }
}

export function readStateVerdict(workspaceDir: string): StateVerdict {
  // Remote state is not readable without the job's credentials: once the backend is
  // initialised, assume resources may exist (a destroy of nothing is a quick no-op).
  if (usesRemoteState(workspaceDir)) {
    return fs.existsSync(path.join(workspaceDir, '.terraform', 'terraform.tfstate'))
      ? { has: true, reason: 'the state is remote: resources may exist' }
      : { has: false, reason: 'no state file' };
  }
  const state = readState(path.join(workspaceDir, STATE));
  if (state.kind === 'ok') {
    return state.resources > 0
      ? { has: true, reason: `${state.resources} resources in the state` }
      : { has: false, reason: 'no resources in the state' };
  }
  if (state.kind === 'missing' || state.kind === 'empty') {
    // An empty file next to a backup with resources: a write was cut short after the backup.
    const backup = readState(path.join(workspaceDir, BACKUP));
    if (backup.kind === 'ok' && backup.resources > 0) {
      return { has: true, reason: `the state file is ${state.kind}, but its backup lists ${backup.resources} resources` };
    }
    return { has: false, reason: state.kind === 'missing' ? 'no state file' : 'empty state' };
  }
  return { has: true, reason: `the state file cannot be read (${state.why}): resources may exist` };
}

/** Whether the workspace's state holds any resource: false when there is no state, or an empty one. */
export function stateHasResources(workspaceDir: string): boolean {
  return readStateVerdict(workspaceDir).has;
}
