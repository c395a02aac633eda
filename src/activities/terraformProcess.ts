import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { LogSink } from './logSink.js';
import { observeTerraformExit } from '../observability/metrics.js';
import {
  failureMessage,
  isConfigErrorLine,
  TerraformCancelled,
  TerraformConfigError,
  TerraformExitError,
  TerraformSpawnError,
} from './terraformErrors.js';

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
  /** Exit codes besides 0 that are answers, not failures (`plan -detailed-exitcode`: 2, changes). */
  okExitCodes?: number[];
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
export function terraformProcessEnv(
  extra: Record<string, string>,
  base: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
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
    let child: ChildProcessByStdio<null, Readable, Readable>;
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
      sink.write(
        'system',
        `cancel requested: SIGINT sent to terraform, SIGKILL in ${Math.round(opts.graceMs / 1000)}s if still running`,
      );
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
      if (exitCode !== 0 && !opts.okExitCodes?.includes(exitCode)) {
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
