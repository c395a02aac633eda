import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { DescribeImagesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import {
  GetCommandInvocationCommand,
  InvocationDoesNotExist,
  ListCommandsCommand,
  SSMClient,
  type Command,
  type GetCommandInvocationCommandOutput,
} from '@aws-sdk/client-ssm';
import { InstanceCommandError, sandboxCommandRunner, ssmCommandRunner } from '../../src/activities/instanceCommand.js';
import { motoEnv, setEnv, startMoto, type Moto } from '../support/moto.js';

/**
 * Running a revision script on a live instance: the sandbox runner with real
 * bash processes (and the sandbox module's stand-ins on PATH), the SSM runner
 * against a real moto server (which records SendCommand but runs nothing, and
 * reports every invocation as Success with empty output), and the SSM
 * runner's polling against a scripted fake client for what moto cannot
 * play: a command still running, failing, or cancelled.
 */

const REGION = 'us-east-1';
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const STANDINS = path.resolve(import.meta.dirname, '..', 'fixtures', 'sandbox-module', 'standins');

async function failure(p: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected a failure');
}

/** Alive and not a zombie: a killed child re-parented to a PID 1 that does not reap stays listed as Z. */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

describe('sandboxCommandRunner', () => {
  const roots: string[] = [];
  const instanceRoot = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'instance-command-'));
    roots.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of roots.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('streams stdout and stderr lines in order, runs in the instance root from a private file, and resolves on exit 0', async () => {
    const root = instanceRoot();
    const runner = sandboxCommandRunner({ instanceRoot: root, standinsDir: STANDINS, env: { EXTRA: 'given' } });
    const batches: string[][] = [];
    const heartbeat = vi.fn();
    const res = await runner.run({
      script: [
        'echo one',
        'echo two >&2',
        'echo "mode $(stat -c %a "$0")"',
        'echo "root $PROVISIONING_ROOT extra $EXTRA delay $PROVISIONING_RETRY_DELAY"',
        'printf "last without newline"',
      ].join('\n'),
      onLines: (lines) => void batches.push(lines),
      timeoutMs: 10_000,
      pollMs: 20,
      heartbeat,
    });
    expect(res).toMatchObject({ exitCode: 0, status: 'Success' });
    expect(batches.flat()).toEqual(['one', 'two', 'mode 600', `root ${root} extra given delay 0`, 'last without newline']);
    expect(heartbeat).toHaveBeenCalled();
    expect(fs.readdirSync(root)).toEqual([]);
    expect(runner.describe).toContain(root);
  });

  it('rejects a script that exits 3 with InstanceCommandError naming the code and quoting the last line', async () => {
    const runner = sandboxCommandRunner({ instanceRoot: instanceRoot(), standinsDir: STANDINS });
    const err = await failure(
      runner.run({ script: 'echo working\necho "it broke here"\nexit 3', onLines: () => {}, timeoutMs: 10_000, pollMs: 20 }),
    );
    expect(err).toBeInstanceOf(InstanceCommandError);
    expect(err).toMatchObject({ type: 'InstanceCommandFailed', exitCode: 3, status: 'Failed' });
    expect(err.message).toContain('exited with code 3');
    expect(err.message).toContain('it broke here');
  });

  it('on abort kills the whole process group promptly and rejects with the abort', async () => {
    const runner = sandboxCommandRunner({ instanceRoot: instanceRoot(), standinsDir: STANDINS });
    const controller = new AbortController();
    const pids: number[] = [];
    const started = Date.now();
    const err = await failure(
      runner.run({
        script: 'echo "pid $$"\nsleep 30 &\necho "sleep $!"\nwait',
        onLines: (lines) => {
          for (const l of lines) pids.push(Number(l.split(' ')[1]));
          if (pids.length === 2) controller.abort();
        },
        timeoutMs: 60_000,
        pollMs: 20,
        signal: controller.signal,
      }),
    );
    expect(err.name).toBe('AbortError');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false);
  });

  it('stops a script that outlives its time and says it timed out', async () => {
    const runner = sandboxCommandRunner({ instanceRoot: instanceRoot(), standinsDir: STANDINS });
    const err = await failure(runner.run({ script: 'echo waiting\nsleep 30', onLines: () => {}, timeoutMs: 300, pollMs: 20 }));
    expect(err).toMatchObject({ type: 'InstanceCommandFailed', status: 'TimedOut' });
    expect(err.message).toContain('timed out');
    expect(err.message).toContain('waiting');
  });

  it("has the sandbox module's stand-ins on PATH", async () => {
    const runner = sandboxCommandRunner({ instanceRoot: instanceRoot(), standinsDir: STANDINS });
    const lines: string[] = [];
    await runner.run({ script: 'docker compose version --short', onLines: (l) => void lines.push(...l), timeoutMs: 10_000 });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('sandbox');
  });

  it('refuses an instance that never booted', async () => {
    const root = path.join(instanceRoot(), 'missing');
    const runner = sandboxCommandRunner({ instanceRoot: root, standinsDir: STANDINS });
    const err = await failure(runner.run({ script: 'echo hi', onLines: () => {}, timeoutMs: 1_000 }));
    expect(err).toMatchObject({ type: 'InstanceCommandFailed', status: 'Undeliverable' });
    expect(err.message).toContain(`${root} never booted`);
  });
});

describe('ssmCommandRunner against moto', () => {
  let moto: Moto;
  let restoreEnv: () => void;
  let ssm: SSMClient;
  let instanceId: string;

  beforeAll(async () => {
    moto = await startMoto();
    restoreEnv = setEnv(motoEnv(moto.endpoint, REGION));
    ssm = new SSMClient({ region: REGION, credentials });
    const ec2 = new EC2Client({ region: REGION, credentials });
    const images = await ec2.send(
      new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'name', Values: ['al2023-ami-2023*'] }] }),
    );
    const run = await ec2.send(
      new RunInstancesCommand({ ImageId: images.Images![0].ImageId!, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }),
    );
    instanceId = run.Instances![0].InstanceId!;
  });

  afterAll(async () => {
    restoreEnv?.();
    await moto?.stop();
  });

  async function lastCommand(): Promise<Command> {
    const listed = await ssm.send(new ListCommandsCommand({ InstanceId: instanceId }));
    return listed.Commands!.at(-1)!;
  }

  function unpack(commands: string[]): string {
    const packed = commands.map((c) => /^printf '%s' '([A-Za-z0-9+/=]+)'/.exec(c)?.[1]).find(Boolean);
    expect(packed).toBeDefined();
    return gunzipSync(Buffer.from(packed!, 'base64')).toString('utf8');
  }

  it('sends the script as AWS-RunShellScript and resolves with what moto reports (Success, exit 0, no output)', async () => {
    // A revision script's size, with text a shell would mangle if it were not packed.
    const body = Array.from({ length: 400 }, (_, i) => `echo "line ${i}: it's \\$HOME, \`quoted\` & 'single' ünïcode"`);
    const script = `#!/bin/bash\nset -euo pipefail\n${body.join('\n')}\n`;
    expect(script.length).toBeGreaterThan(20_000);
    const lines: string[] = [];
    const heartbeat = vi.fn();
    const runner = ssmCommandRunner(ssm, instanceId, { comment: 'x'.repeat(150) });
    const res = await runner.run({ script, onLines: (l) => void lines.push(...l), timeoutMs: 600_000, pollMs: 20, heartbeat });
    expect(res).toMatchObject({ exitCode: 0, status: 'Success' });
    expect(lines).toEqual([]);
    expect(heartbeat).toHaveBeenCalled();
    expect(runner.describe).toBe(`SSM Run Command on ${instanceId}`);

    const cmd = await lastCommand();
    expect(cmd).toMatchObject({ DocumentName: 'AWS-RunShellScript', InstanceIds: [instanceId], Comment: 'x'.repeat(100) });
    expect(cmd.TimeoutSeconds).toBe(600);
    expect(cmd.Parameters!.executionTimeout).toEqual(['600']);
    expect(unpack(cmd.Parameters!.commands!)).toBe(script);
    // Packed, the commands are a fraction of the script.
    expect(cmd.Parameters!.commands!.join('\n').length).toBeLessThan(script.length / 2);

    const inv = await ssm.send(new GetCommandInvocationCommand({ CommandId: cmd.CommandId, InstanceId: instanceId }));
    expect(inv).toMatchObject({ Status: 'Success', ResponseCode: 0, StandardOutputContent: '' });
  });

  it('keeps the delivery timeout at SSM minimum of 30 s for short commands', async () => {
    await ssmCommandRunner(ssm, instanceId).run({ script: 'true', onLines: () => {}, timeoutMs: 5_000, pollMs: 20 });
    const cmd = await lastCommand();
    expect(cmd.TimeoutSeconds).toBe(30);
    expect(cmd.Parameters!.executionTimeout).toEqual(['5']);
  });

  it('sends commands that, run by sh as the agent does, run the script with bash, keep its exit code and remove its file', async () => {
    const script = 'echo "running $0 in bash $BASH_VERSION"\nread -r nothing || echo "no stdin"\nexit 7\n';
    await ssmCommandRunner(ssm, instanceId).run({ script, onLines: () => {}, timeoutMs: 5_000, pollMs: 20 });
    const commands = (await lastCommand()).Parameters!.commands!;
    const ran = spawnSync('sh', ['-c', commands.join('\n')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(ran.stderr).toBe('');
    expect(ran.status).toBe(7);
    const match = /^running (\S+) in bash \d/.exec(ran.stdout);
    expect(match, ran.stdout).not.toBeNull();
    expect(ran.stdout).toContain('no stdin');
    expect(fs.existsSync(match![1])).toBe(false);
  });
});

describe('ssmCommandRunner polling (scripted SSM client)', () => {
  type Step = Partial<GetCommandInvocationCommandOutput> | Error;

  /** An SSMClient whose GetCommandInvocation answers are `steps`, in order, the last one repeating. */
  function fakeSsm(steps: Step[], sendError?: Error) {
    const calls: { name: string; input: any }[] = [];
    let next = 0;
    const client = {
      async send(command: { input: unknown }) {
        const name = command.constructor.name;
        calls.push({ name, input: command.input });
        if (name === 'SendCommandCommand') {
          if (sendError) throw sendError;
          return { Command: { CommandId: 'cmd-1' } };
        }
        if (name === 'CancelCommandCommand') return {};
        if (name !== 'GetCommandInvocationCommand') throw new Error(`unexpected ${name}`);
        const step = steps[Math.min(next++, steps.length - 1)];
        if (step instanceof Error) throw step;
        return step;
      },
    };
    return { ssm: client as unknown as SSMClient, calls };
  }

  const notYet = () => new InvocationDoesNotExist({ message: 'no invocation yet', $metadata: {} });
  const running = (out = ''): Step => ({ Status: 'InProgress', ResponseCode: -1, StandardOutputContent: out });

  it('waits through InvocationDoesNotExist and throttling, and delivers growing output once, in order', async () => {
    const throttled = Object.assign(new Error('slow down'), { name: 'ThrottlingException', $fault: 'client', $metadata: {} });
    const { ssm, calls } = fakeSsm([
      notYet(),
      running(),
      throttled,
      running('a\nb\npart'),
      running('a\nb\npartial done\nc\n'),
      running('a\nb\npartial done\nc\n'),
      { Status: 'Success', ResponseCode: 0, StandardOutputContent: 'a\nb\npartial done\nc\nlast' },
    ]);
    const batches: string[][] = [];
    const heartbeat = vi.fn();
    const res = await ssmCommandRunner(ssm, 'i-1').run({
      script: 'echo hi',
      onLines: (l) => void batches.push(l),
      timeoutMs: 10_000,
      pollMs: 10,
      heartbeat,
    });
    expect(res).toMatchObject({ exitCode: 0, status: 'Success' });
    expect(batches).toEqual([['a', 'b'], ['partial done', 'c'], ['last']]);
    expect(heartbeat).toHaveBeenCalledTimes(7);
    expect(calls.filter((c) => c.name === 'GetCommandInvocationCommand')[0].input).toEqual({
      CommandId: 'cmd-1',
      InstanceId: 'i-1',
    });
  });

  it('rejects a Failed invocation with its status, exit code, last lines and stderr', async () => {
    const { ssm } = fakeSsm([
      {
        Status: 'Failed',
        StatusDetails: 'Failed',
        ResponseCode: 2,
        StandardOutputContent: 'step 1\nboom\n',
        StandardErrorContent: 'err: disk full\n',
      },
    ]);
    const err = await failure(
      ssmCommandRunner(ssm, 'i-1').run({ script: 'x', onLines: () => {}, timeoutMs: 10_000, pollMs: 10 }),
    );
    expect(err).toBeInstanceOf(InstanceCommandError);
    expect(err).toMatchObject({ type: 'InstanceCommandFailed', status: 'Failed', exitCode: 2 });
    expect(err.message).toContain('SSM Run Command on i-1 ended Failed with exit code 2');
    expect(err.message).toContain('boom');
    expect(err.message).toContain('stderr: err: disk full');
  });

  it("names SSM's status details, e.g. an execution timeout", async () => {
    const { ssm } = fakeSsm([{ Status: 'TimedOut', StatusDetails: 'ExecutionTimedOut', ResponseCode: -1 }]);
    const err = await failure(
      ssmCommandRunner(ssm, 'i-1').run({ script: 'x', onLines: () => {}, timeoutMs: 10_000, pollMs: 10 }),
    );
    expect(err).toMatchObject({ status: 'TimedOut' });
    expect(err.message).toContain('ended TimedOut (ExecutionTimedOut)');
  });

  it('on abort cancels the command and rejects with the signal reason', async () => {
    const { ssm, calls } = fakeSsm([running()]);
    const controller = new AbortController();
    const reason = new Error('cancelled by the workflow');
    let polls = 0;
    const err = await failure(
      ssmCommandRunner(ssm, 'i-1').run({
        script: 'x',
        onLines: () => {},
        timeoutMs: 60_000,
        pollMs: 10,
        signal: controller.signal,
        heartbeat: () => {
          if (++polls === 3) controller.abort(reason);
        },
      }),
    );
    expect(err).toBe(reason);
    expect(calls.at(-1)).toEqual({ name: 'CancelCommandCommand', input: { CommandId: 'cmd-1', InstanceIds: ['i-1'] } });
  });

  it('past its time cancels the command and rejects with a timeout', async () => {
    const { ssm, calls } = fakeSsm([running('still going\n')]);
    const err = await failure(ssmCommandRunner(ssm, 'i-1').run({ script: 'x', onLines: () => {}, timeoutMs: 100, pollMs: 10 }));
    expect(err).toMatchObject({ type: 'InstanceCommandFailed', status: 'TimedOut' });
    expect(err.message).toContain('timed out');
    expect(err.message).toContain('still going');
    expect(calls.at(-1)!.name).toBe('CancelCommandCommand');
  });

  it('says why when SSM cannot reach the instance', async () => {
    const invalid = Object.assign(new Error('Instances not in a valid state'), {
      name: 'InvalidInstanceId',
      $fault: 'client',
      $metadata: {},
    });
    const { ssm } = fakeSsm([], invalid);
    const err = await failure(ssmCommandRunner(ssm, 'i-1').run({ script: 'x', onLines: () => {}, timeoutMs: 1_000 }));
    expect(err).toMatchObject({ type: 'InstanceCommandFailed', status: 'Undeliverable', awsCode: 'InvalidInstanceId' });
    expect(err.message).toContain('AmazonSSMManagedInstanceCore');
  });

  it('maps other SendCommand errors like every AWS call', async () => {
    const denied = Object.assign(new Error('no'), { name: 'AccessDeniedException', $fault: 'client', $metadata: {} });
    const { ssm } = fakeSsm([], denied);
    const err = await failure(ssmCommandRunner(ssm, 'i-1').run({ script: 'x', onLines: () => {}, timeoutMs: 1_000 }));
    expect(err).toMatchObject({ type: 'AccessDenied' });
    expect(err.message).toContain('ssm:SendCommand');
  });
});
