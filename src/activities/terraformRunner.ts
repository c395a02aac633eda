import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { LogSink } from './logSink.js';
import { clearRun, recordRun, stopLeftoverRun } from './leftoverRun.js';
import { observeTerraformExit } from '../observability/metrics.js';
import { withFileLock } from './fileLock.js';
import { backendInitArgs } from './stateBackend.js';

// ---------------------------------------------------------------------------
// Failures. Each carries an explicit `type` so the activity layer can map it to
// an ApplicationFailure without instanceof checks across module copies.
// ---------------------------------------------------------------------------

export abstract class TerraformError extends Error {
  abstract readonly type: string;
  /** Whether a retry of the same step could succeed. */
  abstract readonly retryable: boolean;
}

/** Terraform ran and exited non-zero for a reason a retry may fix (network, throttling, a lock). */
export class TerraformExitError extends TerraformError {
  readonly type: string = 'TerraformExitError';
  readonly retryable: boolean = true;
  constructor(
    message: string,
    readonly command: string,
    readonly exitCode: number,
    /** The last stderr lines, already redacted. */
    readonly stderrTail: string[],
  ) {
    super(message);
    this.name = 'TerraformExitError';
  }
}

/** The module or its inputs are wrong (bad argument, failed precondition): retrying gives the same answer. */
export class TerraformConfigError extends TerraformExitError {
  override readonly type = 'TerraformConfigError';
  override readonly retryable = false;
  constructor(message: string, command: string, exitCode: number, stderrTail: string[]) {
    super(message, command, exitCode, stderrTail);
    this.name = 'TerraformConfigError';
  }
}

/** The run was stopped through its AbortSignal (activity cancellation). */
export class TerraformCancelled extends TerraformError {
  readonly type = 'TerraformCancelled';
  readonly retryable = false;
  constructor(
    message: string,
    readonly command: string,
    /** True when the grace period ran out and the process group was killed. */
    readonly killed: boolean,
  ) {
    super(message);
    this.name = 'TerraformCancelled';
  }
}

/** The binary could not be started at all (missing, not executable). */
export class TerraformSpawnError extends TerraformError {
  readonly type = 'TerraformSpawnError';
  readonly retryable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TerraformSpawnError';
  }
}

/** Terraform exited 0 but printed something other than the JSON we asked for. */
export class TerraformOutputError extends TerraformError {
  readonly type = 'TerraformOutputError';
  readonly retryable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TerraformOutputError';
  }
}

// Diagnostics that mean the configuration or its variables are wrong. "Error:
// Invalid " keeps its trailing space so provider errors such as
// "InvalidClientTokenId" (a credential problem, possibly transient) stay retryable.
const CONFIG_ERROR_PATTERNS = [
  /Error: Unsupported argument/,
  /Error: Unsupported attribute/,
  /Error: Unsupported block type/,
  /Error: Invalid /,
  /Error: Missing required argument/,
  /Error: Missing required provider/,
  /Error: No value for required variable/,
  /Error: Argument or block definition required/,
  /Error: Duplicate /,
  /Error: Resource precondition failed/,
  /Error: Module precondition failed/,
  /Reference to undeclared/,
  /Invalid value for variable/,
];

export function isConfigErrorLine(line: string): boolean {
  return CONFIG_ERROR_PATTERNS.some((re) => re.test(line));
}

// ---------------------------------------------------------------------------
// Running one terraform command
// ---------------------------------------------------------------------------

/** What the runner needs of a LogSink; lets a caller without a job step run a quiet query. */
export type LineSink = Pick<LogSink, 'write' | 'flush' | 'redact' | 'pending'>;

export interface RunTerraformOptions {
  binary: string;
  cwd: string;
  args: string[];
  /** Credentials and per-job settings: the only place they reach the child. */
  env: Record<string, string>;
  sink: LineSink;
  signal?: AbortSignal;
  /** Time Terraform gets after its one SIGINT before the whole group is killed. */
  graceMs: number;
  onHeartbeat?: () => void;
  heartbeatMs?: number;
  /** Keep stdout in memory and out of the log (JSON that may hold sensitive values). */
  captureStdout?: boolean;
  /** Called with the pid (= process group id) right after the spawn. */
  onSpawn?: (pid: number) => void;
}

export interface TerraformRunResult {
  exitCode: number;
  /** The last stdout lines, redacted; empty when stdout was captured. */
  stdoutTail: string[];
  /** The whole stdout, only with `captureStdout`. */
  stdout?: string;
}

const TAIL_LINES = 50;
// Beyond this many unstored lines the child's pipes are paused until the sink
// catches up: memory stays bounded and the child simply waits on its writes.
const PENDING_HIGH_WATER = 5_000;
// A line without a newline this long is emitted anyway rather than growing without bound.
const MAX_PARTIAL_LINE = 1 << 20;
// Streams of a process that exited normally close at once; a grandchild holding
// the pipe must not keep the step open forever.
const CLOSE_AFTER_EXIT_MS = 2_000;

/**
 * The child's environment: a minimal base, never the worker's own (which
 * holds the worker's credentials and secrets), plus the automation settings
 * and `extra` (where the job's credentials go).
 */
export function terraformProcessEnv(extra: Record<string, string>, base: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'TF_PLUGIN_CACHE_DIR']) {
    const value = base[name];
    if (value) env[name] = value;
  }
  // Provider mirrors for machines without registry access are configured here;
  // a path to a missing file only makes Terraform print a warning on every run.
  const cliConfig = base.TF_CLI_CONFIG_FILE;
  if (cliConfig && fs.existsSync(cliConfig)) env.TF_CLI_CONFIG_FILE = cliConfig;
  env.HOME ??= os.homedir();
  env.TF_IN_AUTOMATION = '1';
  env.TF_INPUT = '0';
  env.NO_COLOR = '1';
  env.CHECKPOINT_DISABLE = '1';
  return { ...env, ...extra };
}

/** Splits a byte stream into lines: multi-byte characters across chunks, CRLF, and a last line without newline. */
function lineSplitter(onLine: (line: string) => void) {
  const decoder = new StringDecoder('utf8');
  let partial = '';
  const emit = (text: string) => {
    const lines = text.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) onLine(l.endsWith('\r') ? l.slice(0, -1) : l);
    if (partial.length > MAX_PARTIAL_LINE) {
      onLine(partial);
      partial = '';
    }
  };
  return {
    push(chunk: Buffer) {
      emit(partial + decoder.write(chunk));
    },
    end() {
      const rest = partial + decoder.end();
      partial = '';
      if (rest.length > 0) onLine(rest.endsWith('\r') ? rest.slice(0, -1) : rest);
    },
  };
}

function pushTail(tail: string[], line: string) {
  tail.push(line);
  if (tail.length > TAIL_LINES) tail.shift();
}

/** Signals the whole process group; a group that is already gone is fine. */
function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

function failureMessage(command: string, exitCode: number, stderrTail: string[]): string {
  const meaningful = stderrTail.map((l) => l.trimEnd()).filter((l) => l.trim() !== '' && !/^[│╷╵]\s*$/.test(l));
  const headline = meaningful.find((l) => /Error: /.test(l))?.replace(/^[│\s]*Error: /, '');
  let message = `terraform ${command} failed (exit code ${exitCode})${headline ? `: ${headline}` : ''}`;
  const detail = meaningful.slice(-20).join('\n');
  if (detail) message += `\n${detail}`;
  return message.length > 4000 ? `${message.slice(0, 4000)}…` : message;
}

/**
 * Runs one terraform command in its own process group and streams its output
 * line by line into `sink`. On abort it sends exactly one SIGINT to the group
 * (Terraform's graceful stop; a second one would mean "exit now, maybe lose
 * state"), then SIGKILLs the group if it is still there after `graceMs`.
 */
export function runTerraform(opts: RunTerraformOptions): Promise<TerraformRunResult> {
  const command = opts.args.find((a) => !a.startsWith('-')) ?? opts.args[0] ?? '';
  if (opts.signal?.aborted) {
    return Promise.reject(new TerraformCancelled(`terraform ${command} was cancelled before it started`, command, false));
  }
  const { sink } = opts;
  sink.write(
    'system',
    `$ ${path.basename(opts.binary)} ${opts.args.join(' ')}${opts.captureStdout ? '   (output kept out of the log)' : ''}`,
  );

  return new Promise<TerraformRunResult>((resolve, reject) => {
    let child;
    try {
      child = spawn(opts.binary, opts.args, {
        cwd: opts.cwd,
        env: terraformProcessEnv(opts.env),
        // Its own process group: a Ctrl-C of the worker does not reach it as a second SIGINT.
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      reject(new TerraformSpawnError(`could not start ${opts.binary}: ${(err as Error).message}`, { cause: err }));
      return;
    }

    const stdoutTail: string[] = [];
    const stderrTail: string[] = [];
    const captured: Buffer[] = [];
    let configError = false;
    let interrupted = false;
    let killed = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let finished = false;
    let killTimer: NodeJS.Timeout | undefined;
    let closeTimer: NodeJS.Timeout | undefined;

    // Tails hold raw lines and are redacted only when used: redacting every line
    // here would put that work back on the pipe's hot path.
    const stdout = lineSplitter((line) => {
      sink.write('stdout', line);
      pushTail(stdoutTail, line);
    });
    const stderr = lineSplitter((line) => {
      sink.write('stderr', line);
      pushTail(stderrTail, line);
      if (isConfigErrorLine(line)) configError = true;
    });
    let paused = false;
    const throttle = () => {
      if (paused || sink.pending < PENDING_HIGH_WATER) return;
      paused = true;
      child.stdout.pause();
      child.stderr.pause();
      void sink
        .flush()
        .catch(() => {
          // Storage trouble surfaces on close; never leave the child blocked on a full pipe.
        })
        .finally(() => {
          paused = false;
          child.stdout.resume();
          child.stderr.resume();
        });
    };
    child.stdout.on('data', (chunk: Buffer) => {
      if (opts.captureStdout) captured.push(chunk);
      else stdout.push(chunk);
      throttle();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr.push(chunk);
      throttle();
    });

    const heartbeat = opts.onHeartbeat ? setInterval(opts.onHeartbeat, opts.heartbeatMs ?? 1_000) : undefined;

    const onAbort = () => {
      if (interrupted || exit || child.pid === undefined) return;
      interrupted = true;
      const pid = child.pid;
      sink.write('system', `cancel requested: SIGINT sent to terraform, SIGKILL in ${Math.round(opts.graceMs / 1000)}s if still running`);
      signalGroup(pid, 'SIGINT');
      killTimer = setTimeout(() => {
        if (exit) return;
        killed = true;
        sink.write('system', `terraform still running ${opts.graceMs} ms after SIGINT: killing its process group`);
        signalGroup(pid, 'SIGKILL');
      }, opts.graceMs);
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const finish = async (spawnError?: Error) => {
      if (finished) return;
      finished = true;
      if (heartbeat) clearInterval(heartbeat);
      if (killTimer) clearTimeout(killTimer);
      if (closeTimer) clearTimeout(closeTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      stdout.end();
      stderr.end();
      if (interrupted && child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
      await sink.flush().catch(() => {
        // The sink keeps what it could not store and reports it on close.
      });

      if (spawnError) {
        reject(new TerraformSpawnError(`could not start ${opts.binary}: ${spawnError.message}`, { cause: spawnError }));
        return;
      }
      const exitCode = exit?.code ?? -1;
      observeTerraformExit(command, interrupted ? 'cancelled' : exitCode);
      if (interrupted) {
        const how = killed
          ? `killed after the ${opts.graceMs} ms grace period`
          : `stopped after SIGINT (exit code ${exit?.code ?? exit?.signal})`;
        reject(new TerraformCancelled(`terraform ${command} was cancelled: ${how}`, command, killed));
        return;
      }
      if (exitCode !== 0) {
        const tail = stderrTail.map(sink.redact);
        const message = failureMessage(command, exitCode, tail);
        reject(
          configError
            ? new TerraformConfigError(message, command, exitCode, tail)
            : new TerraformExitError(message, command, exitCode, tail),
        );
        return;
      }
      resolve({
        exitCode,
        stdoutTail: opts.captureStdout ? [] : stdoutTail.map(sink.redact),
        ...(opts.captureStdout ? { stdout: Buffer.concat(captured).toString('utf8') } : {}),
      });
    };

    child.once('spawn', () => {
      if (child.pid !== undefined) opts.onSpawn?.(child.pid);
      // An abort that raced the spawn is honoured now that there is a group to signal.
      if (opts.signal?.aborted) onAbort();
    });
    child.once('error', (err) => {
      if (child.pid === undefined) void finish(err);
    });
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      // After a cancel, nothing Terraform started may outlive it (a provisioner's
      // sleep, a plugin), nor keep our pipes open.
      if (interrupted && child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
      closeTimer = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        void finish();
      }, CLOSE_AFTER_EXIT_MS);
    });
    child.once('close', (code, signal) => {
      exit ??= { code, signal };
      void finish();
    });
  });
}

// ---------------------------------------------------------------------------
// The steps the activities run
// ---------------------------------------------------------------------------

export interface TerraformContext {
  binary: string;
  workspaceDir: string;
  /** Credentials for the providers; they reach only the child's environment. */
  env: Record<string, string>;
  sink: LineSink;
  signal?: AbortSignal;
  graceMs: number;
  onHeartbeat?: () => void;
  heartbeatMs?: number;
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
  const init = () =>
    run(ctx, ['init', '-input=false', '-no-color', lockTimeout(ctx), ...backendInitArgs(ctx.workspaceDir)]);
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

/**
 * Applies the saved plan. A retried apply finds its plan stale (the first try
 * changed the state) or gone; it plans again and applies that.
 */
export class PlanChangedError extends TerraformError {
  readonly type = 'PlanChangedSinceApproval';
  readonly retryable = false;
}

export interface ApplyOptions {
  /**
   * Called with a fresh plan made because the saved one was stale or missing;
   * returns why it must not be applied (e.g. it goes beyond what was approved), or null.
   */
  checkReplan?: (plan: PlanSummary) => string | null;
}

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
    ctx.sink.write('system', 'the saved plan is stale or unreadable (the state changed, or a crash cut it short): planning again');
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
