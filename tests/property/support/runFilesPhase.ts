import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { RenderedUserData } from '../../../src/domain/userDataScript.js';

/**
 * Runs the parts of a rendered first-boot script that hold what users typed
 * (its variable block and its files phase) with real bash in a scratch root,
 * leaving out Docker and the rest: a quoting mistake shows up as a syntax
 * error, a wrong value in a file, or a variable bash reads differently.
 */

export function plainScript(rendered: RenderedUserData): string {
  return rendered.encoding === 'plain' ? rendered.script : gunzipSync(Buffer.from(rendered.script, 'base64')).toString('utf8');
}

function between(script: string, start: string, end: string): string {
  const from = script.indexOf(start);
  const to = script.indexOf(end, from + 1);
  if (from < 0 || to < 0) throw new Error(`the script has no "${start.trim()}" … "${end.trim()}" part`);
  return script.slice(from, to);
}

export interface FilesPhaseRun {
  status: number | null;
  /** What the run printed (the script sends stderr to its log and stdout). */
  output: string;
  /** A file the script wrote under /opt/app, or null. */
  file(name: string): string | null;
  /** The value of each named bash variable after the run: arrays as lists, scalars as one-item lists. */
  vars: Record<string, string[]>;
}

/** Bash's reading of the script: `-n` over the whole of it (syntax errors and what it printed). */
export function bashSyntax(script: string): { status: number | null; stderr: string } {
  const r = spawnSync('bash', ['-n'], { input: script, timeout: 10_000 });
  return { status: r.status, stderr: r.stderr.toString() };
}

/** The script up to its first install, then its files phase up to `stopAt`, then a dump of `names`. */
export function runFilesPhase(script: string, names: string[], stopAt = '\nPHASE=pull\n'): FilesPhaseRun {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'prop-userdata-'));
  try {
    const head = script.slice(0, script.indexOf('\nPHASE=docker\n'));
    const dump = names.map((n) => `printf '%s\\0' "\${${n}[@]}" > "$ROOT/vars.${n}"`).join('\n');
    const harness = `${head}\n${between(script, '\nPHASE=files\n', stopAt)}\n${dump}\n`;
    const file = path.join(root, 'harness.sh');
    fs.writeFileSync(file, harness);
    const r = spawnSync('bash', [file], {
      env: { PATH: '/usr/bin:/bin', PROVISIONING_ROOT: root, PROVISIONING_CONSOLE: path.join(root, 'console') },
      timeout: 10_000,
    });
    const read = (p: string) => (fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : null);
    const vars: Record<string, string[]> = {};
    for (const n of names) vars[n] = (read(path.join(root, `vars.${n}`)) ?? '').split('\0').slice(0, -1);
    const files: Record<string, string | null> = {};
    for (const f of ['docker-compose.yml', 'users.csv', '.env']) files[f] = read(path.join(root, 'opt', 'app', f));
    return { status: r.status, output: `${r.stdout}${r.stderr}`, file: (name) => files[name] ?? null, vars };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}
