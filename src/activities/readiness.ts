import net from 'node:net';
import {
  DescribeInstanceStatusCommand,
  EC2Client,
  type DescribeInstanceStatusCommandOutput,
  type EC2ClientConfig,
} from '@aws-sdk/client-ec2';
import { AWS_REQUEST_HANDLER, type JobCredentials } from './awsCredentials.js';
import { awsErrorCode, mapAwsError, TypedAwsError } from './awsErrors.js';
import { ConsoleTail, type ConsoleSource } from './instanceConsole.js';
import {
  applyInstanceEvent,
  containersRunning,
  describeInstanceFailure,
  emptyProgress,
  instanceLineParser,
} from '../domain/instanceEvents.js';

/**
 * Readiness: the job is done when the instance itself says its containers
 * run (the first-boot script's lines on its console: instanceEvents.ts), it
 * passes its EC2 status checks, and every published host port accepts a TCP
 * connection from the worker. Polls, hands every new console line to the
 * caller (the job log), heartbeats every poll, honours the abort signal
 * (Temporal's cancellation), fails as soon as the instance reports a failure,
 * and at the timeout says what it waited for.
 */

export class NotReadyError extends TypedAwsError {
  readonly type = 'NotReady' as const;
  /** The ports that never accepted a connection (all of them when the status checks never passed). */
  readonly ports: number[];
  readonly waitedSeconds: number;

  constructor(message: string, ports: number[], waitedSeconds: number) {
    super(message);
    this.ports = ports;
    this.waitedSeconds = waitedSeconds;
  }
}

export interface ReadinessInput {
  region: string;
  credentials: JobCredentials;
  instanceId: string;
  publicIp?: string | null;
  privateIp?: string | null;
  ports: number[];
  probe: 'tcp' | 'off';
  timeoutMs: number;
  /** Time between polls; default 5 s. */
  pollMs?: number;
  /** The sandbox module's instance ids are not real: skip DescribeInstanceStatus. */
  skipStatusChecks?: boolean;
  onHeartbeat?: () => void;
  signal?: AbortSignal;
  /** How long one TCP connect attempt may take; default 3 s. */
  connectTimeoutMs?: number;
  /** What the instance prints: the decision. Without it only status checks and ports count. */
  console?: {
    source: ConsoleSource;
    jobId: string;
    /** The console's new lines, in order, as they are read. */
    onLines?: (lines: string[]) => void | Promise<void>;
  };
}

export interface ReadinessResult {
  seconds: number;
  address: string | null;
  /** What was verified, e.g. `ec2-status-checks`, `203.0.113.7:80`. */
  checked: string[];
}

export interface ReadinessDeps {
  createEc2Client?: (config: EC2ClientConfig) => EC2Client;
}

const DEFAULT_POLL_MS = 5_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 3_000;
/** States from which an instance never becomes ready by waiting. */
const DEAD_STATES = new Set(['shutting-down', 'terminated', 'stopping', 'stopped']);

export async function waitForReady(input: ReadinessInput, deps: ReadinessDeps = {}): Promise<ReadinessResult> {
  const started = Date.now();
  const address = input.publicIp || input.privateIp || null;
  const ports = [...new Set(input.ports)].sort((a, b) => a - b);

  const { signal } = input;
  throwIfAborted(signal);
  const pollMs = Math.max(10, input.pollMs ?? DEFAULT_POLL_MS);
  const connectTimeoutMs = Math.max(10, input.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
  const deadline = started + Math.max(0, input.timeoutMs);
  const elapsed = () => Math.round((Date.now() - started) / 100) / 10;
  const heartbeat = () => input.onHeartbeat?.();

  if (input.probe === 'tcp' && ports.length > 0 && !address) {
    throw new NotReadyError(
      `Instance ${input.instanceId} has neither a public nor a private IP address, so ports ${ports.join(', ')} cannot be checked.`,
      ports,
      0,
    );
  }

  const checked: string[] = [];

  // --- what the instance says, and its EC2 status checks --------------------
  const watchStatus = !input.skipStatusChecks;
  const watchConsole = input.console !== undefined;
  if (watchStatus || watchConsole) {
    const config = { region: input.region, credentials: { ...input.credentials }, requestHandler: AWS_REQUEST_HANDLER };
    const ec2 = watchStatus ? (deps.createEc2Client ? deps.createEc2Client(config) : new EC2Client(config)) : undefined;
    const tail = new ConsoleTail();
    const parse = watchConsole ? instanceLineParser(input.console!.jobId) : undefined;
    const seenEvents = new Set<string>();
    let progress = emptyProgress();
    let statusOk = !watchStatus;
    let last = 'no status reported yet';
    for (;;) {
      heartbeat();
      if (watchConsole) {
        const fresh: string[] = [];
        for (const line of tail.next(await input.console!.source.read(signal))) {
          const event = parse!(line);
          // The script prints each report twice (its output and the console itself): keep one.
          if (event && seenEvents.has(event.key)) continue;
          fresh.push(line);
          if (!event) continue;
          seenEvents.add(event.key);
          progress = applyInstanceEvent(progress, event);
        }
        if (fresh.length) await input.console!.onLines?.(fresh);
        if (progress.failure) throw new NotReadyError(describeInstanceFailure(progress.failure), ports, elapsed());
      }
      if (!statusOk) {
        const status = await instanceStatus(ec2!, input.instanceId, signal);
        statusOk = status.kind === 'ok';
        if (status.kind !== 'ok') last = status.detail;
        if (status.kind === 'dead') {
          throw new NotReadyError(
            `Instance ${input.instanceId} is ${status.detail} and will not become ready` +
              (ports.length ? `; ports ${ports.join(', ')} were not checked.` : '.'),
            ports,
            elapsed(),
          );
        }
      }
      if (statusOk && (!watchConsole || progress.outcome === 'succeeded')) break;
      if (Date.now() >= deadline) {
        const waitingFor = [
          ...(watchConsole && progress.outcome !== 'succeeded'
            ? [`the instance's report that its containers run (last phase reported: ${progress.phase ?? 'none yet'})`]
            : []),
          ...(statusOk ? [] : [`its EC2 status checks (${last})`]),
        ];
        throw new NotReadyError(
          `Instance ${input.instanceId} was not ready within ${elapsed()} s: no sign of ${waitingFor.join(', nor of ')}` +
            (ports.length ? `; ports ${ports.join(', ')} were never checked.` : '.'),
          ports,
          elapsed(),
        );
      }
      await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())), signal);
    }
    if (watchStatus) checked.push('ec2-status-checks');
    if (watchConsole) checked.push(`instance reported ${containersRunning(progress.containers.length)}`);
  }

  // --- TCP ports: extra evidence where the worker can reach them -----------
  if (input.probe === 'tcp' && ports.length > 0 && address) {
    const open = new Set<number>();
    for (;;) {
      heartbeat();
      const pending = ports.filter((p) => !open.has(p));
      const remaining = Math.max(0, deadline - Date.now());
      const timeout = Math.max(10, Math.min(connectTimeoutMs, remaining || connectTimeoutMs));
      const results = await Promise.all(pending.map((p) => tcpConnect(address, p, timeout, signal)));
      throwIfAborted(signal);
      for (const [i, p] of pending.entries()) if (results[i]) open.add(p);
      if (open.size === ports.length) break;
      if (Date.now() >= deadline) {
        const closed = ports.filter((p) => !open.has(p));
        throw new NotReadyError(
          `${closed.length === 1 ? 'Port' : 'Ports'} ${closed.join(', ')} on ${address} never accepted a TCP connection ` +
            `within ${elapsed()} s` +
            (open.size ? ` (${[...open].join(', ')} did).` : '.') +
            ` Check that the containers started, and that the security group and network ACLs let the worker reach them.`,
          closed,
          elapsed(),
        );
      }
      await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())), signal);
    }
    for (const p of ports) checked.push(`${address}:${p}`);
  }

  heartbeat();
  return { seconds: elapsed(), address, checked };
}

type StatusResult = { kind: 'ok' } | { kind: 'waiting'; detail: string } | { kind: 'dead'; detail: string };

async function instanceStatus(ec2: EC2Client, instanceId: string, signal?: AbortSignal): Promise<StatusResult> {
  let res: DescribeInstanceStatusCommandOutput;
  try {
    res = await ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [instanceId], IncludeAllInstances: true }), {
      abortSignal: signal,
    });
  } catch (err) {
    throwIfAborted(signal);
    const code = awsErrorCode(err);
    // Right after launch EC2 may not know the id yet (eventual consistency): keep waiting.
    if (code === 'InvalidInstanceID.NotFound') return { kind: 'waiting', detail: 'EC2 does not list the instance yet' };
    const mapped = mapAwsError(err, { operation: 'ec2:DescribeInstanceStatus', subject: `for ${instanceId}` });
    // Throttling and network trouble: try again at the next poll, the deadline bounds it.
    if (mapped.type === 'AwsTransient') return { kind: 'waiting', detail: mapped.message };
    if (code === 'InvalidInstanceID.Malformed') {
      throw new NotReadyError(`"${instanceId}" is not an EC2 instance id; cannot check its status.`, [], 0);
    }
    throw mapped;
  }
  const s = res.InstanceStatuses?.find((x) => x.InstanceId === instanceId);
  if (!s) return { kind: 'waiting', detail: 'no status reported yet' };
  const state = s.InstanceState?.Name ?? 'unknown';
  if (DEAD_STATES.has(state)) return { kind: 'dead', detail: state };
  const inst = s.InstanceStatus?.Status ?? 'unknown';
  const sys = s.SystemStatus?.Status ?? 'unknown';
  if (state === 'running' && inst === 'ok' && sys === 'ok') return { kind: 'ok' };
  return { kind: 'waiting', detail: `state ${state}, instance status ${inst}, system status ${sys}` };
}

/** True when host:port accepts a TCP connection within timeoutMs. */
export function tcpConnect(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const socket = net.connect({ host, port });
    let settled = false;
    const done = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(ok);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw abortReason(signal);
}

/**
 * Cancellation rethrows the signal's reason (Temporal's CancelledFailure in
 * an activity) so the caller sees the cancellation itself, not a NotReady.
 */
function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const err = new Error(typeof reason === 'string' ? reason : 'The readiness check was aborted');
  err.name = 'AbortError';
  return err;
}
