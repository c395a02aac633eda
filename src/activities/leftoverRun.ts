import fs from 'node:fs';
import path from 'node:path';
import type { LineSink } from './terraformProcess.js';

/**
 * Terraform runs in its own process group, so a worker killed with SIGKILL
 * leaves it running, holding the state lock and writing state. The group id
 * is kept in the workspace; the next attempt stops that group (one SIGINT,
 * SIGKILL after the grace period) before it runs Terraform itself.
 */

const PID_FILE = '.terraform-run.pid';

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

export function recordRun(workspaceDir: string, pgid: number): void {
  fs.writeFileSync(path.join(workspaceDir, PID_FILE), String(pgid), { mode: 0o600 });
}

export function clearRun(workspaceDir: string, pgid: number): void {
  const file = path.join(workspaceDir, PID_FILE);
  try {
    if (fs.readFileSync(file, 'utf8').trim() === String(pgid)) fs.rmSync(file);
  } catch {
    /* already gone */
  }
}

export async function stopLeftoverRun(workspaceDir: string, graceMs: number, sink: LineSink): Promise<boolean> {
  const file = path.join(workspaceDir, PID_FILE);
  let pgid: number;
  try {
    pgid = Number(fs.readFileSync(file, 'utf8').trim());
  } catch {
    return false;
  }
  if (!Number.isInteger(pgid) || pgid <= 1 || !groupAlive(pgid)) {
    fs.rmSync(file, { force: true });
    return false;
  }
  sink.write('system', `a terraform run of an earlier attempt is still going (process group ${pgid}); stopping it first`);
  process.kill(-pgid, 'SIGINT');
  const deadline = Date.now() + graceMs;
  while (groupAlive(pgid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (groupAlive(pgid)) {
    sink.write('system', `earlier run did not stop within ${Math.round(graceMs / 1000)} s; killing it`);
    process.kill(-pgid, 'SIGKILL');
    while (groupAlive(pgid)) await new Promise((r) => setTimeout(r, 50));
  }
  fs.rmSync(file, { force: true });
  return true;
}
