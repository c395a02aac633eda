import fs from 'node:fs';
import path from 'node:path';
import { clearRun, recordRun, stopLeftoverRun } from './leftoverRun.js';
import { withFileLock } from './fileLock.js';
import { backendInitArgs } from './stateBackend.js';
import { PlanChangedError, TerraformExitError, TerraformOutputError } from './terraformErrors.js';
import { runTerraform, type RunTerraformOptions } from './terraformProcess.js';

/** What every command of a job's workspace runs with: the process settings of runTerraform, in the workspace. */
export interface TerraformContext
  extends Pick<RunTerraformOptions, 'binary' | 'env' | 'sink' | 'signal' | 'graceMs' | 'onHeartbeat' | 'heartbeatMs'> {
  workspaceDir: string;
  /** How long a command waits for another run's state lock, e.g. a previous attempt still stopping. */
  lockTimeout?: string;
}

export interface PlanSummary {
  add: number;
  change: number;
  destroy: number;
  resources: { address: string; actions: string[] }[];
}

export const PLAN_FILE = 'tfplan';

async function run(ctx: TerraformContext, args: string[], extra: Partial<RunTerraformOptions> = {}) {
  await stopLeftoverRun(ctx.workspaceDir, ctx.graceMs, ctx.sink);
  let pgid: number | undefined;
  try {
    return await runTerraform({
      binary: ctx.binary,
      cwd: ctx.workspaceDir,
      args,
      env: ctx.env,
      sink: ctx.sink,
      signal: ctx.signal,
      graceMs: ctx.graceMs,
      onHeartbeat: ctx.onHeartbeat,
      heartbeatMs: ctx.heartbeatMs,
      onSpawn: (pid) => {
        pgid = pid;
        recordRun(ctx.workspaceDir, pid);
      },
      ...extra,
    });
  } finally {
    if (pgid !== undefined) clearRun(ctx.workspaceDir, pgid);
  }
}

const lockTimeout = (ctx: TerraformContext) => `-lock-timeout=${ctx.lockTimeout ?? '60s'}`;

function pluginCacheDir(ctx: TerraformContext): string | undefined {
  return ctx.env.TF_PLUGIN_CACHE_DIR || process.env.TF_PLUGIN_CACHE_DIR || undefined;
}

/** The lock file that makes inits sharing a provider cache take turns. */
export const PLUGIN_CACHE_LOCK = '.provisioning-init.lock';

/**
 * `terraform init`, with `-backend-config` when the workspace has a remote
 * backend. Terraform's plugin cache is not safe for concurrent init: inits
 * sharing one cache take turns through a lock file in the cache directory,
 * across workers, containers and hosts that share it; a waiting init keeps
 * heartbeating and stops waiting on cancel.
 */
export async function terraformInit(ctx: TerraformContext): Promise<void> {
  const init = () => run(ctx, ['init', '-input=false', '-no-color', lockTimeout(ctx), ...backendInitArgs(ctx.workspaceDir)]);
  const cacheDir = pluginCacheDir(ctx);
  if (!cacheDir) {
    await init();
    return;
  }
  fs.mkdirSync(cacheDir, { recursive: true });
  let told = false;
  await withFileLock(path.join(cacheDir, PLUGIN_CACHE_LOCK), init, {
    signal: ctx.signal,
    onWait: (holder) => {
      ctx.onHeartbeat?.();
      if (told) return;
      told = true;
      ctx.sink.write(
        'system',
        `waiting for the provider cache: another init holds it${holder ? ` (pid ${holder.pid} on ${holder.host})` : ''}`,
      );
    },
  });
}

/** Plans into `tfplan` and returns the plan's summary (the plan JSON itself never reaches the log). */
export async function terraformPlan(ctx: TerraformContext): Promise<PlanSummary> {
  await run(ctx, ['plan', `-out=${PLAN_FILE}`, lockTimeout(ctx), '-input=false', '-no-color']);
  return readPlanSummary(ctx);
}

export async function readPlanSummary(ctx: TerraformContext): Promise<PlanSummary> {
  const { stdout = '' } = await run(ctx, ['show', '-json', '-no-color', PLAN_FILE], { captureStdout: true });
  return parsePlanSummary(stdout);
}

export function parsePlanSummary(json: string): PlanSummary {
  let plan: { resource_changes?: { address: string; mode?: string; change?: { actions?: string[] } }[] };
  try {
    plan = JSON.parse(json);
  } catch (err) {
    throw new TerraformOutputError(`terraform show -json printed something that is not JSON (${json.length} bytes)`, {
      cause: err,
    });
  }
  const summary: PlanSummary = { add: 0, change: 0, destroy: 0, resources: [] };
  for (const rc of plan.resource_changes ?? []) {
    const actions = rc.change?.actions ?? [];
    if (rc.mode === 'data' || actions.every((a) => a === 'no-op' || a === 'read')) continue;
    // A replacement is ["delete","create"] or ["create","delete"]: one add and one destroy, as Terraform counts it.
    if (actions.includes('create')) summary.add++;
    if (actions.includes('update')) summary.change++;
    if (actions.includes('delete')) summary.destroy++;
    summary.resources.push({ address: rc.address, actions });
  }
  return summary;
}

export interface ApplyResult {
  /** True when the saved plan was missing or stale and a fresh one was applied. */
  replanned: boolean;
  /** The summary of the fresh plan when one was made. */
  plan?: PlanSummary;
}

// A plan the state has moved past, or a plan file cut short by a crash of the plan step's worker.
const isStalePlan = (err: unknown) =>
  err instanceof TerraformExitError &&
  err.stderrTail.some((l) => l.includes('Saved plan is stale') || /Failed to load "?\S+"? as a plan file/.test(l));

export interface ApplyOptions {
  /**
   * Called with a fresh plan made because the saved one was stale or missing;
   * returns why it must not be applied (e.g. it goes beyond what was approved), or null.
   */
  checkReplan?: (plan: PlanSummary) => string | null;
}

/**
 * Applies the saved plan. A retried apply finds its plan stale (the first try
 * changed the state) or gone; it plans again and applies that.
 */
export async function terraformApply(ctx: TerraformContext, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const apply = () => run(ctx, ['apply', lockTimeout(ctx), '-input=false', '-no-color', PLAN_FILE]);
  const replanAndApply = async (): Promise<ApplyResult> => {
    const plan = await terraformPlan(ctx);
    const refusal = opts.checkReplan?.(plan);
    if (refusal) throw new PlanChangedError(refusal);
    await apply();
    return { replanned: true, plan };
  };
  if (!fs.existsSync(path.join(ctx.workspaceDir, PLAN_FILE))) {
    ctx.sink.write('system', `no saved plan in the workspace: planning again before apply`);
    return replanAndApply();
  }
  try {
    await apply();
    return { replanned: false };
  } catch (err) {
    if (!isStalePlan(err)) throw err;
    ctx.sink.write(
      'system',
      'the saved plan is stale or unreadable (the state changed, or a crash cut it short): planning again',
    );
    return replanAndApply();
  }
}

/** `output -json` flattened to strings; sensitive outputs come back as null, never through a payload. */
export async function terraformOutput(ctx: TerraformContext): Promise<Record<string, string | null>> {
  const { stdout = '' } = await run(ctx, ['output', '-json', '-no-color'], { captureStdout: true });
  let parsed: Record<string, { value?: unknown; sensitive?: boolean }>;
  try {
    parsed = JSON.parse(stdout || '{}');
  } catch (err) {
    throw new TerraformOutputError(`terraform output -json printed something that is not JSON (${stdout.length} bytes)`, {
      cause: err,
    });
  }
  const outputs: Record<string, string | null> = {};
  for (const [name, out] of Object.entries(parsed)) {
    // The sandbox module's knob outputs (sandbox_*) are the test module's own, never the job's.
    if (name.startsWith('sandbox_')) continue;
    const v = out?.value;
    if (out?.sensitive || v === null || v === undefined) outputs[name] = null;
    else outputs[name] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  ctx.sink.write('system', `outputs read: ${Object.keys(outputs).sort().join(', ') || '(none)'}`);
  return outputs;
}

export async function terraformDestroy(ctx: TerraformContext): Promise<void> {
  await run(ctx, ['destroy', '-auto-approve', lockTimeout(ctx), '-input=false', '-no-color']);
}
