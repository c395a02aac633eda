import fs from 'node:fs';
import path from 'node:path';
import { runTimed } from './processes.js';

/**
 * Terraform run by hand the way the service runs it: a workspace directory
 * with a copy of the module's files and a terraform.tfvars.json (the layout of
 * src/activities/workspace.ts), the same flags and the same automation
 * environment as the runner (src/activities/terraformProcess.ts).
 */

export function terraformEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'TMPDIR']) if (process.env[k]) env[k] = process.env[k]!;
  return {
    ...env,
    TF_IN_AUTOMATION: '1',
    TF_INPUT: '0',
    NO_COLOR: '1',
    CHECKPOINT_DISABLE: '1',
    TF_CLI_CONFIG_FILE: '/dev/null',
  };
}

export function makeWorkspace(dir: string, moduleDir: string, tfvars: object): string {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const name of fs.readdirSync(moduleDir)) {
    if (name.endsWith('.tf')) fs.copyFileSync(path.join(moduleDir, name), path.join(dir, name));
  }
  fs.writeFileSync(path.join(dir, 'terraform.tfvars.json'), `${JSON.stringify(tfvars, null, 2)}\n`, { mode: 0o600 });
  return dir;
}

/** The commands of one job, as the runner passes them (plan's `show -json` is timed apart). */
export const JOB_COMMANDS: Record<'init' | 'plan' | 'apply' | 'output', string[]> = {
  init: ['init', '-input=false', '-no-color', '-lock-timeout=60s'],
  plan: ['plan', '-out=tfplan', '-lock-timeout=60s', '-input=false', '-no-color'],
  apply: ['apply', '-lock-timeout=60s', '-input=false', '-no-color', 'tfplan'],
  output: ['output', '-json', '-no-color'],
};
export const SHOW_COMMAND = ['show', '-json', '-no-color', 'tfplan'];

export interface BareRun {
  /** init + plan + apply + output, back to back. */
  totalMs: number;
  byCommand: Record<string, number>;
  /** `terraform show -json tfplan`, which the service's plan step also runs. */
  showMs: number;
}

async function tf(cwd: string, args: string[], logFd: number): Promise<number> {
  fs.writeSync(logFd, `$ terraform ${args.join(' ')}\n`);
  const { ms, code } = await runTimed('terraform', args, { cwd, env: terraformEnv(), logFd });
  if (code !== 0) throw new Error(`terraform ${args[0]} in ${cwd} exited ${code} (see ${cwd}/bare.log)`);
  return ms;
}

export async function runBareJob(dir: string): Promise<BareRun> {
  const logFd = fs.openSync(path.join(dir, 'bare.log'), 'a');
  try {
    const t0 = performance.now();
    const byCommand: Record<string, number> = {};
    for (const [name, args] of Object.entries(JOB_COMMANDS)) byCommand[name] = await tf(dir, args, logFd);
    const totalMs = performance.now() - t0;
    const showMs = await tf(dir, SHOW_COMMAND, logFd);
    return { totalMs, byCommand, showMs };
  } finally {
    fs.closeSync(logFd);
  }
}
