import fs from 'node:fs';
import path from 'node:path';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ArtifactsStore } from '../../src/activities/artifacts.js';
import type { CommandDeps } from '../../src/api/jobCommands.js';
import { createJob, signalJob, startJob } from '../../src/api/jobCommands.js';
import { listLogLines } from '../../src/db/logs.js';
import { createJobSpecSchema, type JobSpec, type JobSpecInput, userDataSizeProblem } from '../../src/domain/jobSpec.js';
import { renderComposeYaml } from '../../src/domain/composeFile.js';
import { usersToCsv } from '../../src/domain/usersCsv.js';
import { testPolicy, waitForStatus, testActor } from '../support/jobs.js';
import { MOTO_ACCESS_KEY_ID, MOTO_SECRET_ACCESS_KEY } from '../support/moto.js';
import { startSandboxStack, type WorkerlessStack } from '../support/stack.js';
import { uniqueQueue } from '../support/worker.js';

/**
 * ARTIFACTS_BUCKET on moto's S3: the render step uploads the job's compose
 * file and users CSV (SSE-S3) with the worker's credentials, the sandbox
 * instance runs the real first-boot script, whose stand-in `aws s3 cp` fetches
 * them from moto, and the destroy step deletes them. The users list is one
 * that user data could not carry.
 */

const actor = testActor('tester');
const bucket = 'prov-artifacts';
const schema = createJobSpecSchema({ ...testPolicy, artifactsInS3: true });

let stack: WorkerlessStack;
let s3: S3Client;
let store: ArtifactsStore;
let endpoint: string;

beforeAll(async () => {
  stack = await startSandboxStack({ worker: false });
  endpoint = stack.moto!.endpoint;
  s3 = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: MOTO_ACCESS_KEY_ID, secretAccessKey: MOTO_SECRET_ACCESS_KEY },
  });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  store = { bucket, region: 'us-east-1', prefix: 'provisioning/artifacts', endpoint };
}, 120_000);

afterAll(async () => {
  s3?.destroy();
  await stack?.stop();
});

/** Users with incompressible names: a list no 16 KB of user data can hold, even gzipped. */
function manyUsers(count: number): string {
  let seed = 7;
  const next = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed.toString(36);
  };
  return usersToCsv(
    Array.from({ length: count }, (_, i) => ({
      username: `u${i}${next()}`,
      email: `${next()}@${next()}.example.com`,
      role: i === 0 ? 'admin' : 'user',
      displayName: `User ${next()} ${next()}`,
    })),
  );
}

let counter = 0;
function spec(overrides: Partial<JobSpecInput> = {}): JobSpec {
  counter += 1;
  const parsed = schema.parse({
    name: `artifacts-${process.pid}-${counter}`,
    requesterEmail: 'alice@example.com',
    region: 'us-east-1',
    auth: { method: 'assume_role', roleArn: 'arn:aws:iam::123456789012:role/Provisioner' },
    instance: { type: 't3.micro' },
    containers: [
      { name: 'web', image: 'nginx:1.27', ports: ['8080:80'], environment: { GREETING: 'hi' } },
      { name: 'api', image: 'example/api:2', healthcheck: { test: ['CMD', 'true'] } },
    ],
    ...overrides,
  } satisfies JobSpecInput);
  // The sandbox instance's stand-in aws reaches moto's S3 through this knob.
  stack.knobs.set(parsed.name, { sandbox_s3_endpoint: endpoint });
  return parsed;
}

async function launch(commands: CommandDeps, jobSpec: JobSpec): Promise<string> {
  const job = await createJob(commands, jobSpec, actor);
  await startJob(commands, job.id, jobSpec, actor);
  return job.id;
}

async function keysOf(jobId: string): Promise<string[]> {
  const list = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `provisioning/artifacts/${jobId}/` }));
  return (list.Contents ?? []).map((o) => o.Key!).sort();
}

async function stepLines(jobId: string, step: string): Promise<string[]> {
  return (await listLogLines(stack.temp.db, jobId, { limit: 10_000 })).filter((l) => l.step === step).map((l) => l.line);
}

describe('ARTIFACTS_BUCKET', () => {
  it('carries a users list too big for user data through S3, to the instance, and deletes it on destroy', async () => {
    const taskQueue = uniqueQueue('artifacts');
    const worker = await stack.startWorker({ taskQueue, settings: { artifacts: store } });
    const commands = stack.commandsFor(taskQueue);
    const usersCsv = manyUsers(3_000);
    const jobSpec = spec({ usersCsv });
    // Without the bucket the spec would have been refused.
    expect(userDataSizeProblem(jobSpec.containers, jobSpec.usersCsv)?.field).toBe('usersCsv');

    const jobId = await launch(commands, jobSpec);
    const done = await waitForStatus(stack.temp.db, jobId, ['succeeded', 'failed']);
    expect(done.status, done.error ?? '').toBe('succeeded');

    // In the bucket, encrypted at rest, byte for byte.
    const prefix = `provisioning/artifacts/${jobId}`;
    expect(await keysOf(jobId)).toEqual([`${prefix}/docker-compose.yml`, `${prefix}/users.csv`]);
    for (const [key, body] of [
      [`${prefix}/docker-compose.yml`, renderComposeYaml(jobSpec.containers)],
      [`${prefix}/users.csv`, usersCsv],
    ]) {
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      expect(head.ServerSideEncryption, key).toBe('AES256');
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      expect(await got.Body!.transformToString('utf8'), key).toBe(body);
    }

    // The module was told where, and the user data carries neither file.
    const workspace = path.join(stack.jobsWorkdir, jobId);
    const tfvars = JSON.parse(fs.readFileSync(path.join(workspace, 'terraform.tfvars.json'), 'utf8'));
    expect(tfvars.artifacts_bucket).toBe(bucket);
    expect(tfvars.artifacts_prefix).toBe(`${prefix}/`);
    expect(tfvars.user_data_base64).toBe('');
    expect(tfvars.user_data).toContain(`ARTIFACTS_PREFIX='${prefix}'`);
    expect(tfvars.user_data).not.toContain(usersCsv.split('\n')[1].split(',')[0]);
    expect(Buffer.byteLength(tfvars.user_data)).toBeLessThan(16_384);

    // The sandbox instance fetched them from moto. The list is longer than one environment variable may be
    // (Linux: 128 KiB), so the containers get it as the file only, and the instance says so.
    const app = path.join(workspace, '.sandbox-instance', 'opt', 'app');
    expect(fs.readFileSync(path.join(app, 'users.csv'), 'utf8')).toBe(usersCsv);
    expect(fs.readFileSync(path.join(app, 'docker-compose.yml'), 'utf8')).toBe(renderComposeYaml(jobSpec.containers));
    expect(Buffer.from(usersCsv).toString('base64').length).toBeGreaterThan(120_000);
    expect(fs.readFileSync(path.join(app, '.env'), 'utf8')).toBe('APP_USERS_B64=\n');
    const consoleText = fs.readFileSync(path.join(workspace, '.sandbox-instance', 'console.log'), 'utf8');
    expect(consoleText).toContain(
      'the users list is too large for APP_USERS_B64 (over 120000 bytes): containers get it as /opt/app/users.csv only',
    );
    const ready = await stepLines(jobId, 'ready');
    expect(ready.some((l) => l.includes(`PROVISIONING-EVENT job=${jobId} {"phase":"artifacts","status":"ok"}`))).toBe(true);
    const render = await stepLines(jobId, 'render');
    expect(render.some((l) => l.includes(`to s3://${bucket}/${prefix}/ (SSE-S3)`))).toBe(true);

    await signalJob(commands, jobId, 'destroy', actor);
    const destroyed = await waitForStatus(stack.temp.db, jobId, ['destroyed', 'failed']);
    expect(destroyed.status, destroyed.error ?? '').toBe('destroyed');
    expect(await keysOf(jobId)).toEqual([]);
    expect(await stepLines(jobId, 'destroy')).toContain(
      `deleted the job's files in s3://${bucket}/${prefix}/ (none of them remain)`,
    );
    await worker.stop();
  }, 120_000);

  it('fails the render step when the bucket is missing, and a destroy that cannot delete the files still destroys', async () => {
    const taskQueue = uniqueQueue('artifacts-gone');
    const gone: ArtifactsStore = { ...store, bucket: 'prov-artifacts-gone' };

    // No bucket: refused at render, before anything is created.
    const broken = await stack.startWorker({ taskQueue, settings: { artifacts: gone } });
    const commands = stack.commandsFor(taskQueue);
    const refusedId = await launch(commands, spec());
    const refused = await waitForStatus(stack.temp.db, refusedId, ['failed', 'succeeded']);
    expect(refused.status).toBe('failed');
    expect(refused.step).toBe('render');
    expect(refused.error).toContain('ARTIFACTS_BUCKET "prov-artifacts-gone" does not exist (NoSuchBucket on s3:PutObject');
    await broken.stop();

    // A job provisioned with the bucket, destroyed by a worker that cannot reach it.
    const good = await stack.startWorker({ taskQueue, settings: { artifacts: store } });
    const jobId = await launch(commands, spec());
    const done = await waitForStatus(stack.temp.db, jobId, ['succeeded', 'failed']);
    expect(done.status, done.error ?? '').toBe('succeeded');
    await good.stop();
    await stack.startWorker({ taskQueue, settings: { artifacts: gone } });
    await signalJob(commands, jobId, 'destroy', actor);
    const destroyed = await waitForStatus(stack.temp.db, jobId, ['destroyed', 'failed']);
    expect(destroyed.status, destroyed.error ?? '').toBe('destroyed');
    const lines = await stepLines(jobId, 'destroy');
    expect(lines.some((l) => /Destroy complete!/.test(l))).toBe(true);
    expect(
      lines.some((l) =>
        l.startsWith(`could not delete the job's files in s3://prov-artifacts-gone/provisioning/artifacts/${jobId}/: `),
      ),
    ).toBe(true);
    // What that worker could not delete is still where the first one put it.
    expect(await keysOf(jobId)).toHaveLength(2);
  }, 150_000);

  it('deletes nothing but the files of the job it destroys', async () => {
    // Another job's files, and something of the operator's beside them.
    const other = 'provisioning/artifacts/jOtherJob000/users.csv';
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: other, Body: 'x' }));
    const taskQueue = uniqueQueue('artifacts-scope');
    await stack.startWorker({ taskQueue, settings: { artifacts: store } });
    const commands = stack.commandsFor(taskQueue);
    const jobId = await launch(commands, spec());
    expect((await waitForStatus(stack.temp.db, jobId, ['succeeded', 'failed'])).status).toBe('succeeded');
    await signalJob(commands, jobId, 'destroy', actor);
    expect((await waitForStatus(stack.temp.db, jobId, ['destroyed', 'failed'])).status).toBe('destroyed');
    expect(await keysOf(jobId)).toEqual([]);
    const left = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'provisioning/artifacts/jOtherJob000/' }));
    expect((left.Contents ?? []).map((o) => o.Key)).toEqual([other]);
  }, 120_000);
});
