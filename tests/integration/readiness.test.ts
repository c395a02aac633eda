import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { DescribeImagesCommand, EC2Client, RunInstancesCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { waitForReady, type ReadinessInput } from '../../src/activities/readiness.js';
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
  it('returns at once with the probe off, checking nothing', async () => {
    const onHeartbeat = vi.fn();
    const closed = await freePort();
    const res = await waitForReady(
      input({ probe: 'off', ports: [closed], skipStatusChecks: false, instanceId: 'i-doesnotexist', onHeartbeat }),
    );
    expect(res).toEqual({ seconds: 0, address: '127.0.0.1', checked: [] });
    expect(onHeartbeat).not.toHaveBeenCalled();
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
    expect(err.message).toMatch(/did not pass its EC2 status checks/);
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
