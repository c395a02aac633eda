import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { S3StateBackend } from '../../src/activities/stateBackend.js';
import { createJob, signalJob, startJob } from '../../src/api/jobCommands.js';
import { listLogLines } from '../../src/db/logs.js';
import { tempDir } from '../support/tempDb.js';
import { MOTO_ACCESS_KEY_ID, type Moto } from '../support/moto.js';
import { startSandboxStack, type WorkerlessStack } from '../support/stack.js';
import { uniqueQueue } from '../support/worker.js';
import { sampleSpec, waitForStatus, waitForStep, testActor } from '../support/jobs.js';

/**
 * With TF_STATE_BUCKET, a job provisioned by a worker on one host is destroyed
 * by a worker on another (its own JOBS_WORKDIR, no workspace of the job): the
 * destroy step rebuilds the workspace from the job and reaches the state in S3.
 */

const bucket = 'prov-remote-state';
let stack: WorkerlessStack;
let temp: WorkerlessStack['temp'];
let moto: Moto;
const dirs: string[] = [];

beforeAll(async () => {
  stack = await startSandboxStack({ worker: false });
  temp = stack.temp;
  moto = stack.moto!;
  const auth = `AWS4-HMAC-SHA256 Credential=${MOTO_ACCESS_KEY_ID}/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0`;
  expect((await fetch(`${moto.endpoint}/${bucket}`, { method: 'PUT', headers: { authorization: auth } })).status).toBe(200);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('job state in S3', () => {
  it('lets a worker on another host destroy a job it never saw', async () => {
    const stateBackend: S3StateBackend = { bucket, region: 'us-east-1', keyPrefix: 'jobs', endpoint: moto.endpoint };
    const hostA = tempDir('prov-remote-a-');
    const hostB = tempDir('prov-remote-b-');
    dirs.push(hostA, hostB);
    const taskQueue = uniqueQueue('remote');

    const a = await stack.startWorker({ taskQueue, jobsWorkdir: hostA, settings: { stateBackend } });
    const commands = stack.commandsFor(taskQueue);
    const spec = sampleSpec();
    const job = await createJob(commands, spec, testActor('tester'));
    await startJob(commands, job.id, spec, testActor('tester'));
    const done = await waitForStatus(temp.db, job.id, ['succeeded', 'failed']);
    expect(done.status, done.error ?? '').toBe('succeeded');
    await waitForStep(temp.db, job.id, 'notify', 'succeeded');
    const wsA = path.join(hostA, job.id);
    expect(fs.readdirSync(wsA)).toEqual(expect.arrayContaining(['backend.tf', 'backend.s3.tfbackend']));
    expect(fs.existsSync(path.join(wsA, 'terraform.tfstate'))).toBe(false);

    // Host A goes away; host B has never seen the job.
    await a.stop();
    await stack.startWorker({ taskQueue, jobsWorkdir: hostB, settings: { stateBackend } });
    await signalJob(commands, job.id, 'destroy', testActor('tester'));
    const destroyed = await waitForStatus(temp.db, job.id, ['destroyed', 'failed'], 90_000);
    expect(destroyed.status, destroyed.error ?? '').toBe('destroyed');

    const logs = await listLogLines(temp.db, job.id, { limit: 10_000 });
    const destroyLines = logs.filter((l) => l.step === 'destroy').map((l) => l.line);
    expect(destroyLines.some((l) => /workspace not on this host/.test(l))).toBe(true);
    expect(destroyLines.some((l) => /Destroy complete! Resources: [1-9]/.test(l))).toBe(true);
    const wsB = path.join(hostB, job.id);
    const remaining = execFileSync('terraform', ['state', 'list'], {
      cwd: wsB,
      env: { ...process.env, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' },
      encoding: 'utf8',
    });
    expect(remaining.trim()).toBe('');
  }, 180_000);
});
