import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { createJob, signalJob, startJob, type CommandDeps } from '../../src/api/jobCommands.js';
import { createNotifier } from '../../src/notifications/notifier.js';
import { createOutboxProvider } from '../../src/notifications/providers.js';
import { parseConfig } from '../../src/config.js';
import { createTempDb, tempDir } from '../support/tempDb.js';
import { startMoto } from '../support/moto.js';
import { startTestWorker, testClient, type TestWorker } from '../support/worker.js';
import { sampleSpec, sandboxSettings, waitForStatus } from '../support/jobs.js';

/**
 * Jobs stay open after success until destroyed, so the worker's workflow
 * cache is bounded (WORKER_MAX_CACHED_WORKFLOWS): past the bound the least
 * recently used workflow is evicted, and it replays its history when a signal
 * (destroy), a timer (TTL) or a query next touches it.
 */

const actor = { user: 'tester', ip: '127.0.0.1' };
let moto: Awaited<ReturnType<typeof startMoto>>;
let temp: Awaited<ReturnType<typeof createTempDb>>;
let jobsWorkdir: string;
let worker: TestWorker;
let client: Client;
let closeClient: () => Promise<void>;
let commands: CommandDeps;

beforeAll(async () => {
  moto = await startMoto();
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: 'us-east-1',
  });
  temp = await createTempDb();
  jobsWorkdir = tempDir('prov-cache-jobs-');
  worker = await startTestWorker(
    {
      db: temp.db,
      notifier: createNotifier({ db: temp.db, provider: createOutboxProvider(), from: 'p@example.com', publicBaseUrl: 'http://localhost' }),
      settings: sandboxSettings(jobsWorkdir),
    },
    undefined,
    { maxCachedWorkflows: 2 },
  );
  ({ client, close: closeClient } = await testClient());
  commands = { db: temp.db, temporal: client, taskQueue: worker.taskQueue, approvalTimeoutMs: 60_000 };
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  await closeClient?.();
  await temp?.cleanup();
  await moto?.stop();
  if (jobsWorkdir) fs.rmSync(jobsWorkdir, { recursive: true, force: true });
});

describe('workflow cache', () => {
  it('is bounded by default and configurable', () => {
    expect(parseConfig({}).WORKER_MAX_CACHED_WORKFLOWS).toBe(100);
    expect(parseConfig({ WORKER_MAX_CACHED_WORKFLOWS: '0' }).WORKER_MAX_CACHED_WORKFLOWS).toBe(0);
    expect(() => parseConfig({ WORKER_MAX_CACHED_WORKFLOWS: '1' })).toThrow(/WORKER_MAX_CACHED_WORKFLOWS/);
    expect(worker.worker.options.maxCachedWorkflows).toBe(2);
  });

  it('keeps more open jobs than it caches: evicted ones replay and still destroy on request', async () => {
    // Four open workflows in a cache of two: at least two of them are evicted while they wait.
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const spec = sampleSpec();
      const job = await createJob(commands, spec, actor);
      await startJob(commands, job.id, spec, actor);
      ids.push(job.id);
    }
    for (const id of ids) expect((await waitForStatus(temp.db, id, ['succeeded', 'failed'])).status).toBe('succeeded');

    for (const id of ids) await signalJob(commands, id, 'destroy', actor);
    for (const id of ids) {
      expect((await waitForStatus(temp.db, id, ['destroyed', 'failed'])).status).toBe('destroyed');
      expect(await client.workflow.getHandle(`job-${id}`).result()).toEqual({ status: 'destroyed' });
    }
  }, 180_000);
});
