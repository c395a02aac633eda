import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { createJob, signalJob, startJob, type CommandDeps } from '../../src/api/jobCommands.js';
import { createApp } from '../../src/api/app.js';
import { parseConfig } from '../../src/config.js';
import { listSteps } from '../../src/db/jobs.js';
import { listLogLines } from '../../src/db/logs.js';
import { createNotifier } from '../../src/notifications/notifier.js';
import { createOutboxProvider } from '../../src/notifications/providers.js';
import { createTempDbOf, tempDir, type TempDb } from '../support/tempDb.js';
import { startMoto } from '../support/moto.js';
import { startTestWorker, testClient, TEST_SECRET_KEY, type TestWorker } from '../support/worker.js';
import { SANDBOX_MODULE, sampleSpec, sandboxSettings, waitForStatus, waitForStep } from '../support/jobs.js';
import { ROOT } from '../support/processes.js';

/**
 * A whole sandbox job with Postgres as the service's database (DATABASE_URL=
 * postgres://…): the worker's activities, the log sink and the web app's
 * API run the same queries they run on SQLite. Runs when TEST_POSTGRES_URL is set.
 */

const enabled = Boolean(process.env.TEST_POSTGRES_URL);
let t: TempDb;
let moto: Awaited<ReturnType<typeof startMoto>>;
let worker: TestWorker;
let client: Client;
let closeClient: () => Promise<void>;
let jobsWorkdir: string;

describe.skipIf(!enabled)('a job on Postgres', () => {
  beforeAll(async () => {
    moto = await startMoto();
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_REGION: 'us-east-1',
    });
    t = await createTempDbOf('postgres');
    jobsWorkdir = tempDir('prov-pg-jobs-');
    worker = await startTestWorker({
      db: t.db,
      notifier: createNotifier({
        db: t.db,
        provider: createOutboxProvider(),
        from: 'Provisioning <prov@example.com>',
        publicBaseUrl: 'http://localhost:8000',
      }),
      settings: sandboxSettings(jobsWorkdir),
    });
    ({ client, close: closeClient } = await testClient());
  }, 120_000);

  afterAll(async () => {
    await worker?.stop();
    await closeClient?.();
    await t?.cleanup();
    await moto?.stop();
    if (jobsWorkdir) fs.rmSync(jobsWorkdir, { recursive: true, force: true });
  });

  it('provisions, logs, serves the API and destroys', async () => {
    const commands: CommandDeps = { db: t.db, temporal: client, taskQueue: worker.taskQueue, approvalTimeoutMs: 60_000 };
    const spec = sampleSpec();
    const job = await createJob(commands, spec, { user: 'tester' });
    await startJob(commands, job.id, spec, { user: 'tester' });
    const done = await waitForStatus(t.db, job.id, ['succeeded', 'failed']);
    expect(done.status, done.error ?? '').toBe('succeeded');
    await waitForStep(t.db, job.id, 'notify', 'succeeded');
    const steps = await listSteps(t.db, job.id);
    expect(steps.every((s) => s.state === 'succeeded')).toBe(true);
    const logs = await listLogLines(t.db, job.id, { limit: 10_000 });
    expect(logs.map((l) => l.seq)).toEqual(logs.map((_, i) => i + 1));
    expect(logs.some((l) => /Apply complete/.test(l.line))).toBe(true);

    const config = parseConfig(
      {
        DATABASE_URL: t.target,
        APP_ADMIN_PASS: 'secret-pass',
        SECRET_KEY: TEST_SECRET_KEY,
        TEMPORAL_TASK_QUEUE: worker.taskQueue,
        TERRAFORM_MODULE_DIR: SANDBOX_MODULE,
        PUBLIC_BASE_URL: 'http://prov.test',
      },
      ROOT,
    );
    const app = createApp({ db: t.db, temporal: client, config });
    const auth = { authorization: `Basic ${Buffer.from('admin:secret-pass').toString('base64')}` };
    const res = await app.request(`/api/jobs/${job.id}`, { headers: auth });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: job.id, status: 'succeeded' });
    expect((await app.request('/health', {})).status).toBe(200);

    await signalJob(commands, job.id, 'destroy', { user: 'tester' });
    expect((await waitForStatus(t.db, job.id, ['destroyed', 'failed'], 60_000)).status).toBe('destroyed');
  }, 180_000);
});
