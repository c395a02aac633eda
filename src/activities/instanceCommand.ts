import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { CancelCommandCommand, GetCommandInvocationCommand, SendCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { awsErrorCode, mapAwsError, TypedAwsError } from './awsErrors.js';
import { ConsoleTail } from './instanceConsole.js';

/**
 * Revisions change a live environment's containers and users without
 * replacing its instance, so their script runs on the running instance:
 * through SSM Run Command on EC2, or as a local process for the sandbox
 * module, whose "instance" is a directory its boot script works in.
 */

export interface CommandRunResult {
  exitCode: number;
  status: string;
  seconds: number;
}

export interface CommandRunOptions {
  script: string;
  /** New complete output lines, in order. */
  onLines: (lines: string[]) => void | Promise<void>;
  timeoutMs: number;
  pollMs?: number;
  /** Temporal's cancellation: stops the command on the instance too. */
  signal?: AbortSignal;
  heartbeat?: () => void;
}

export interface CommandRunner {
  /** For messages: where the script runs, e.g. "SSM Run Command on i-123". */
  describe: string;
  run(opts: CommandRunOptions): Promise<CommandRunResult>;
}

export class InstanceCommandError extends TypedAwsError {
  readonly type = 'InstanceCommandFailed' as const;
  /** SSM's invocation status (`Failed`, `TimedOut`, …), or `Undeliverable` when it never ran. */
  readonly status: string;
  readonly exitCode: number | null;
  readonly lastLines: string[];

  constructor(message: string, details: { status: string; exitCode?: number | null; lastLines?: string[]; awsCode?: string }) {
    super(message, { awsCode: details.awsCode });
    this.status = details.status;
    this.exitCode = details.exitCode ?? null;
    this.lastLines = details.lastLines ?? [];
  }
}

const DEFAULT_POLL_MS = 3_000;
const LAST_LINES_QUOTED = 12;
const UNDERWAY = new Set(['Pending', 'InProgress', 'Delayed']);

export function ssmCommandRunner(ssm: SSMClient, instanceId: string, opts: { comment?: string } = {}): CommandRunner {
  const describe = `SSM Run Command on ${instanceId}`;
  const comment = opts.comment ?? 'provisioning: revision of a running environment';
  return {
    describe,
    async run(o) {
      o.signal?.throwIfAborted();
      const started = Date.now();
      const ids = { CommandId: await sendCommand(ssm, instanceId, o, comment), InstanceId: instanceId };
      const tail = new ConsoleTail();
      const recent: string[] = [];
      try {
        for (;;) {
          o.heartbeat?.();
          const inv = await readInvocation(ssm, ids, o.signal);
          const status = inv?.Status ?? 'Pending';
          const done = inv !== undefined && !UNDERWAY.has(status);
          // Real SSM shows output only once the command finished (and only its first 24,000 characters, stderr's
          // first 8,000), but take it as it comes if it does. At the end a last line without its newline is complete.
          const text = inv?.StandardOutputContent ?? '';
          await deliver(tail.next(done && text && !text.endsWith('\n') ? `${text}\n` : text), recent, o.onLines);
          if (status === 'Success') return { exitCode: inv?.ResponseCode ?? 0, status, seconds: secondsSince(started) };
          if (done) {
            const stderr = (inv.StandardErrorContent ?? '').split('\n').filter((l) => l.trim());
            const lines = [...recent, ...stderr.slice(-5).map((l) => `stderr: ${l}`)];
            const why = inv.StatusDetails && inv.StatusDetails !== status ? ` (${inv.StatusDetails})` : '';
            const head = `${describe} ended ${status}${why} with exit code ${inv.ResponseCode ?? -1}`;
            throw new InstanceCommandError(withOutput(head, lines), { status, exitCode: inv.ResponseCode, lastLines: lines });
          }
          if (Date.now() >= started + o.timeoutMs) {
            await cancelCommand(ssm, ids);
            throw timedOut(describe, o.timeoutMs, recent);
          }
          await delay(untilNextPoll(o, started + o.timeoutMs), undefined, { signal: o.signal });
        }
      } catch (err) {
        if (!o.signal?.aborted) throw err;
        await cancelCommand(ssm, ids);
        // The signal's reason (Temporal's CancelledFailure), so the caller sees the cancellation itself.
        o.signal.throwIfAborted();
        throw err;
      }
    },
  };
}

/**
 * SendCommand's parameters are small, so the script travels gzipped and
 * base64 encoded, is unpacked into a file only root can read, and runs with
 * bash; the command's exit code is the script's.
 */
function deliveryCommands(script: string): string[] {
  const packed = gzipSync(script, { level: 9 }).toString('base64');
  return [
    'umask 077',
    'f=$(mktemp) || exit 125',
    `trap 'rm -f "$f"' EXIT`,
    `printf '%s' '${packed}' | base64 -d | gunzip > "$f" || { echo 'could not unpack the script' >&2; exit 125; }`,
    'bash "$f"',
    'exit $?',
  ];
}

async function sendCommand(ssm: SSMClient, instanceId: string, o: CommandRunOptions, comment: string): Promise<string> {
  const seconds = Math.ceil(o.timeoutMs / 1000);
  const input = {
    DocumentName: 'AWS-RunShellScript',
    InstanceIds: [instanceId],
    Comment: comment.slice(0, 100),
    // SSM's bounds: delivery at least 30 s, execution at most 48 h.
    TimeoutSeconds: Math.max(30, seconds),
    Parameters: { commands: deliveryCommands(o.script), executionTimeout: [String(Math.min(172_800, Math.max(1, seconds)))] },
  };
  try {
    // Not abortable: a command sent without our learning its id could not be cancelled.
    const sent = await ssm.send(new SendCommandCommand(input));
    if (!sent.Command?.CommandId) throw new Error('SendCommand returned no command id');
    return sent.Command.CommandId;
  } catch (err) {
    const code = awsErrorCode(err);
    if (code !== 'InvalidInstanceId') throw mapAwsError(err, { operation: 'ssm:SendCommand', subject: `to ${instanceId}` });
    const why = 'it is not running, or its SSM agent is not running or registered (its role needs AmazonSSMManagedInstanceCore)';
    throw new InstanceCommandError(`SSM cannot run commands on ${instanceId}: ${why}.`, {
      status: 'Undeliverable',
      awsCode: code,
    });
  }
}

/** The invocation, or undefined when this poll tells nothing. */
async function readInvocation(ssm: SSMClient, ids: { CommandId: string; InstanceId: string }, signal?: AbortSignal) {
  try {
    return await ssm.send(new GetCommandInvocationCommand(ids), { abortSignal: signal });
  } catch (err) {
    signal?.throwIfAborted();
    // SSM registers the invocation a moment after SendCommand returns, and throttling passes; the deadline bounds both.
    if (awsErrorCode(err) === 'InvocationDoesNotExist') return undefined;
    const mapped = mapAwsError(err, { operation: 'ssm:GetCommandInvocation', subject: `for ${ids.InstanceId}` });
    if (mapped.type === 'AwsTransient') return undefined;
    throw mapped;
  }
}

/** Best effort: the executionTimeout stops the command anyway, and a failed cancel must not hide why we stopped. */
async function cancelCommand(ssm: SSMClient, ids: { CommandId: string; InstanceId: string }): Promise<void> {
  const cancel = new CancelCommandCommand({ CommandId: ids.CommandId, InstanceIds: [ids.InstanceId] });
  await ssm.send(cancel, { abortSignal: AbortSignal.timeout(10_000) }).catch(() => undefined);
}

export function sandboxCommandRunner(opts: {
  instanceRoot: string;
  standinsDir: string;
  env?: Record<string, string>;
}): CommandRunner {
  const root = opts.instanceRoot;
  const describe = `the sandbox instance at ${root}`;
  return {
    describe,
    async run(o) {
      o.signal?.throwIfAborted();
      if (!(await fs.stat(root).catch(() => null))?.isDirectory()) {
        throw new InstanceCommandError(`The sandbox instance at ${root} never booted.`, { status: 'Undeliverable' });
      }
      // A file rather than stdin, so a script that reads stdin cannot eat its own text (SSM gives it none either).
      const file = path.join(root, `command-${randomUUID()}.sh`);
      await fs.writeFile(file, o.script, { mode: 0o600, flag: 'wx' });
      // As the sandbox module boots its instance (tests/fixtures/sandbox-module/main.tf).
      const env = {
        ...process.env,
        PATH: `${opts.standinsDir}:${process.env.PATH ?? ''}`,
        PROVISIONING_ROOT: root,
        PROVISIONING_CONSOLE: `${root}/console.log`,
        PROVISIONING_RETRY_DELAY: '0',
        PROVISIONING_HEALTH_WAIT_SECONDS: '20',
        ...opts.env,
      };
      try {
        return await runLocally(file, describe, o, env);
      } finally {
        await fs.rm(file, { force: true });
      }
    },
  };
}

type Exit = { code: number | null; signal: NodeJS.Signals | null; error?: Error };

async function runLocally(file: string, where: string, o: CommandRunOptions, env: NodeJS.ProcessEnv): Promise<CommandRunResult> {
  const started = Date.now();
  // One stream keeps stdout and stderr lines in order; a process group of its own lets a stop reach every child.
  const child = spawn('bash', ['-c', 'exec bash "$0" 2>&1', file], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
  const pending: string[] = [];
  const flushes = [child.stdout, child.stderr].map((stream) => {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      pending.push(...parts.map((l) => l.replace(/\r$/, '')));
    });
    return () => partial && pending.push(partial);
  });
  let exit: Exit | undefined;
  const exited = new Promise<Exit>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    // A background child that keeps the output open must not hold the result: a grace after the exit suffices.
    child.once('exit', (code, signal) => setTimeout(() => resolve({ code, signal }), 2_000).unref());
    child.once('close', (code, signal) => resolve({ code, signal }));
  }).then((e) => (exit = e));
  const recent: string[] = [];
  for (;;) {
    o.heartbeat?.();
    if (exit) for (const flush of flushes) flush();
    await deliver(pending.splice(0), recent, o.onLines);
    if (exit) break;
    if (o.signal?.aborted || Date.now() >= started + o.timeoutMs) {
      await stopGroup(child.pid, exited);
      o.signal?.throwIfAborted();
      throw timedOut(where, o.timeoutMs, recent);
    }
    const wait = delay(untilNextPoll(o, started + o.timeoutMs), undefined, { signal: o.signal });
    await Promise.race([exited, wait]).catch(() => undefined); // an abort: handled above
  }
  if (exit.code === 0) return { exitCode: 0, status: 'Success', seconds: secondsSince(started) };
  const how = exit.error
    ? `could not start: ${exit.error.message}`
    : exit.code === null
      ? `was killed by ${exit.signal}`
      : `exited with code ${exit.code}`;
  const lines = [...recent];
  throw new InstanceCommandError(withOutput(`The script on ${where} ${how}`, lines), {
    status: 'Failed',
    exitCode: exit.code,
    lastLines: lines,
  });
}

/** SIGTERM to the whole group, and SIGKILL 2 s later to whatever ignored it or outlived the leader. */
async function stopGroup(pid: number | undefined, exited: Promise<unknown>): Promise<void> {
  const kill = (sig: NodeJS.Signals) => {
    try {
      if (pid !== undefined) process.kill(-pid, sig);
    } catch {
      // the group is gone
    }
  };
  kill('SIGTERM');
  await Promise.race([exited.catch(() => undefined), delay(2_000, undefined, { ref: false })]);
  kill('SIGKILL');
}

async function deliver(lines: string[], recent: string[], onLines: CommandRunOptions['onLines']): Promise<void> {
  if (!lines.length) return;
  recent.push(...lines);
  recent.splice(0, Math.max(0, recent.length - LAST_LINES_QUOTED));
  await onLines(lines);
}

function withOutput(head: string, lines: string[]): string {
  return lines.length ? `${head}. Last output:\n${lines.join('\n')}` : `${head}, printing nothing.`;
}

function timedOut(describe: string, timeoutMs: number, recent: string[]): InstanceCommandError {
  const head = `The script on ${describe} timed out after ${timeoutMs / 1000} s and was stopped`;
  return new InstanceCommandError(withOutput(head, recent), { status: 'TimedOut', lastLines: [...recent] });
}

/** Until the next poll: the poll interval, or what is left before the deadline. */
function untilNextPoll(o: CommandRunOptions, deadline: number): number {
  return Math.max(0, Math.min(Math.max(10, o.pollMs ?? DEFAULT_POLL_MS), deadline - Date.now()));
}

function secondsSince(started: number): number {
  return Math.round((Date.now() - started) / 100) / 10;
}
