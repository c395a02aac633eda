import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { DescribeImagesCommand, EC2Client, RunInstancesCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NotReadyError, waitForReady, type ReadinessInput } from '../../src/activities/readiness.js';
import { ConsoleTail, ec2ConsoleSource, fileConsoleSource } from '../../src/activities/instanceConsole.js';
import { freePort, motoEnv, setEnv, startMoto, type Moto } from '../support/moto.js';

/**
 * Readiness against real sockets on 127.0.0.1 and a real moto server for the
 * EC2 status checks: moto reports a freshly run instance as running with
 * instance and system status `ok`, and a stopped one as `stopped` /
 * `not-applicable`, so both the passing and the "will never be ready" paths
 * use real DescribeInstanceStatus answers.
 */

const REGION = 'us-east-1';
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
let moto: Moto;
let restoreEnv: () => void;
const servers: net.Server[] = [];

beforeAll(async () => {
  moto = await startMoto();
  restoreEnv = setEnv(motoEnv(moto.endpoint, REGION));
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

afterAll(async () => {
  restoreEnv?.();
  await moto?.stop();
});

function listen(port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer((socket) => socket.destroy());
    servers.push(srv);
    srv.on('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve((srv.address() as net.AddressInfo).port));
  });
}

let imageId: string | undefined;

async function runInstance(): Promise<string> {
  const ec2 = new EC2Client({ region: REGION, credentials });
  imageId ??= (
    await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'name', Values: ['al2023-ami-2023*'] }] }))
  ).Images![0].ImageId!;
  const run = await ec2.send(new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }));
  return run.Instances![0].InstanceId!;
}

function input(over: Partial<ReadinessInput>): ReadinessInput {
  return {
    region: REGION,
    credentials,
    instanceId: 'i-0123456789abcdef0',
    publicIp: '127.0.0.1',
    privateIp: '10.0.0.5',
    ports: [],
    probe: 'tcp',
    timeoutMs: 5_000,
    pollMs: 50,
    connectTimeoutMs: 500,
    skipStatusChecks: true,
    ...over,
  };
}

async function failure(p: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected a failure');
}

describe('waitForReady', () => {
  it('probes no port with the probe off, and with the status checks skipped checks nothing', async () => {
    const onHeartbeat = vi.fn();
    const closed = await freePort();
    const res = await waitForReady(input({ probe: 'off', ports: [closed], skipStatusChecks: true, onHeartbeat }));
    expect(res).toMatchObject({ address: '127.0.0.1', checked: [] });
    expect(res.seconds).toBeLessThan(1);
  });

  it('succeeds when every port accepts a connection (status checks skipped, as for the sandbox module)', async () => {
    const a = await listen();
    const b = await listen();
    const onHeartbeat = vi.fn();
    const res = await waitForReady(input({ ports: [b, a, a], onHeartbeat }));
    expect(res.address).toBe('127.0.0.1');
    expect(res.checked).toEqual([a, b].sort((x, y) => x - y).map((p) => `127.0.0.1:${p}`));
    expect(res.seconds).toBeLessThan(2);
    expect(onHeartbeat).toHaveBeenCalled();
  });

  it('waits for moto to report the instance ok, then probes the private address when there is no public one', async () => {
    const instanceId = await runInstance();
    const port = await listen();
    const res = await waitForReady(
      input({ instanceId, publicIp: null, privateIp: '127.0.0.1', ports: [port], skipStatusChecks: false }),
    );
    expect(res.address).toBe('127.0.0.1');
    expect(res.checked).toEqual(['ec2-status-checks', `127.0.0.1:${port}`]);
  });

  it('keeps polling until a port that opens late answers, heartbeating every poll', async () => {
    const port = await freePort();
    const onHeartbeat = vi.fn();
    const opener = setTimeout(() => void listen(port), 400);
    try {
      const res = await waitForReady(input({ ports: [port], onHeartbeat, pollMs: 50 }));
      expect(res.seconds).toBeGreaterThanOrEqual(0.3);
      expect(onHeartbeat.mock.calls.length).toBeGreaterThanOrEqual(4);
    } finally {
      clearTimeout(opener);
    }
  });

  it('fails with NotReady naming the port that never answered, at the timeout', async () => {
    const open = await listen();
    const closed = await freePort();
    const started = Date.now();
    const err = await failure(waitForReady(input({ ports: [open, closed], timeoutMs: 700, pollMs: 100 })));
    const took = Date.now() - started;
    expect(err).toMatchObject({ type: 'NotReady', ports: [closed] });
    expect(err.message).toContain(String(closed));
    expect(err.message).toContain('127.0.0.1');
    expect(err.message).toMatch(/within \d+(\.\d)? s/);
    expect(err.message).not.toMatch(new RegExp(`Ports? [^.]*\\b${open}\\b[^.]*never`));
    expect(took).toBeGreaterThanOrEqual(650);
    expect(took).toBeLessThan(3_000);
  });

  it('fails at once when moto reports the instance stopped', async () => {
    const instanceId = await runInstance();
    await new EC2Client({ region: REGION, credentials }).send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
    const started = Date.now();
    const err = await failure(waitForReady(input({ instanceId, ports: [80], skipStatusChecks: false, timeoutMs: 10_000 })));
    expect(err).toMatchObject({ type: 'NotReady', ports: [80] });
    expect(err.message).toMatch(/stopped/);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('times out on the status checks when EC2 never lists the instance', async () => {
    const err = await failure(
      waitForReady(
        input({ instanceId: 'i-0000000000000dead', ports: [8080], skipStatusChecks: false, timeoutMs: 500, pollMs: 100 }),
      ),
    );
    expect(err).toMatchObject({ type: 'NotReady', ports: [8080] });
    expect(err.message).toMatch(
      /was not ready within [\d.]+ s: no sign of its EC2 status checks \(EC2 does not list the instance yet\)/,
    );
    expect(err.message).toContain('8080');
  });

  it('stops when the abort signal fires, with the signal’s reason', async () => {
    const closed = await freePort();
    const controller = new AbortController();
    const reason = Object.assign(new Error('cancelled by request'), { name: 'CancelledFailure' });
    setTimeout(() => controller.abort(reason), 200);
    const started = Date.now();
    const err = await failure(
      waitForReady(input({ ports: [closed], timeoutMs: 30_000, pollMs: 1_000, signal: controller.signal })),
    );
    expect(err).toBe(reason);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('an already aborted signal stops before anything runs', async () => {
    const controller = new AbortController();
    controller.abort();
    const err = await failure(waitForReady(input({ ports: [1], signal: controller.signal })));
    expect(err.name).toBe('AbortError');
  });

  it('fails at once when the instance has no address to probe', async () => {
    const err = await failure(waitForReady(input({ publicIp: null, privateIp: null, ports: [80, 443] })));
    expect(err).toMatchObject({ type: 'NotReady', ports: [80, 443] });
    expect(err.message).toMatch(/neither a public nor a private IP/);
  });
});

describe('what the instance says (its console)', () => {
  it('reads the EC2 console on moto: GetConsoleOutput with Latest, base64 decoded', async () => {
    const id = await runInstance();
    const ec2 = new EC2Client({ region: REGION, credentials });
    const sent: unknown[] = [];
    ec2.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'GetConsoleOutputCommand') sent.push(args.input);
        return next(args);
      },
      { step: 'initialize' },
    );
    const text = await ec2ConsoleSource(ec2, id).read();
    expect(sent).toEqual([{ InstanceId: id, Latest: true }]);
    // moto answers with a fixed sample console, base64 encoded on the wire.
    expect(text.length).toBeGreaterThan(20);
    expect(text).not.toMatch(/^[A-Za-z0-9+/=\s]+$/);
    expect(new ConsoleTail().next(text).length).toBeGreaterThan(0);
  });

  it('treats an instance EC2 does not know yet as a console with nothing on it', async () => {
    const ec2 = new EC2Client({ region: REGION, credentials });
    await expect(ec2ConsoleSource(ec2, 'i-0123456789abcdef0').read()).resolves.toBe('');
  });

  /** A console the test writes to, line by line, as an instance would. */
  function consoleFile() {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'console-')), 'console.log');
    return { file, say: (line: string) => fs.appendFileSync(file, `${line}\n`) };
  }

  it('succeeds once the instance reports success and moto reports the instance ok, handing over every line once', async () => {
    const id = await runInstance();
    const c = consoleFile();
    const lines: string[] = [];
    c.say('kernel: booting');
    c.say('PROVISIONING-EVENT job=j1 {"phase":"docker","status":"ok"}');
    setTimeout(() => {
      c.say('PROVISIONING-EVENT job=j1 {"phase":"docker","status":"ok"}');
      c.say('PROVISIONING-EVENT job=j1 {"phase":"container","container":"web","image":"nginx","state":"running"}');
      c.say('PROVISIONING-SUCCESS job=j1 {"containers":"1"}');
    }, 400);
    const res = await waitForReady(
      input({
        instanceId: id,
        probe: 'off',
        skipStatusChecks: false,
        pollMs: 100,
        timeoutMs: 10_000,
        console: { source: fileConsoleSource(c.file), jobId: 'j1', onLines: (l) => void lines.push(...l) },
      }),
    );
    expect(res.checked).toEqual(['ec2-status-checks', 'instance reported 1 container running']);
    expect(lines).toEqual([
      'kernel: booting',
      'PROVISIONING-EVENT job=j1 {"phase":"docker","status":"ok"}',
      'PROVISIONING-EVENT job=j1 {"phase":"container","container":"web","image":"nginx","state":"running"}',
      'PROVISIONING-SUCCESS job=j1 {"containers":"1"}',
    ]);
  });

  it('fails as soon as the instance reports a failure, naming the phase, the container and its output', async () => {
    const c = consoleFile();
    c.say(
      'PROVISIONING-FAILED job=j2 {"phase":"pull","container":"api","image":"x:1","reason":"the image could not be pulled","output":"manifest unknown"}',
    );
    const started = Date.now();
    const err = await waitForReady(
      input({
        skipStatusChecks: true,
        probe: 'off',
        pollMs: 100,
        timeoutMs: 10_000,
        console: { source: fileConsoleSource(c.file), jobId: 'j2' },
      }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotReadyError);
    expect((err as Error).message).toBe(
      'the instance reported a failure at phase pull (container api, image x:1): the image could not be pulled; last output: manifest unknown',
    );
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('at the timeout names the last phase the instance reported', async () => {
    const c = consoleFile();
    c.say('PROVISIONING-EVENT job=j3 {"phase":"pull","container":"web","image":"nginx","status":"ok"}');
    const err = await waitForReady(
      input({
        skipStatusChecks: true,
        probe: 'off',
        pollMs: 100,
        timeoutMs: 500,
        console: { source: fileConsoleSource(c.file), jobId: 'j3' },
      }),
    ).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(
      /^Instance i-0123456789abcdef0 was not ready within [\d.]+ s: no sign of the instance's report that its containers run \(last phase reported: pull\)/,
    );
  });
});
