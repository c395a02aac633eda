import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { createJob, startJob, type CommandDeps } from '../../src/api/jobCommands.js';
import { setJobTtl } from '../../src/api/jobTtl.js';
import { listJobNotifications } from '../../src/db/notifications.js';
import { createProvisioningWorkers, type ProvisioningWorkers } from '../../src/worker/createWorker.js';
import { sampleSpec, sandboxSettings, testActor, waitForStatus } from '../support/jobs.js';
import { waitFor } from '../support/processes.js';
import { startSandboxStack, type WorkerlessStack } from '../support/stack.js';
import { quietRuntime, testDataConverter, uniqueQueue } from '../support/worker.js';

/**
 * The job workflow's timers on Temporal's time-skipping test server (the
 * Java test server from Maven Central, on loopback: scripts/temporal-test-server.mjs):
 * TTL warnings a day and an hour ahead, rescheduled by a TTL change, the
 * destroy at the TTL, and an approval that expires; days pass in seconds.
 * The activities are the real ones on the sandbox module and moto.
 */

/** Where scripts/temporal-test-server.mjs puts the server (TEST_SERVER_PATH there). */
const TEST_SERVER = path.join(
  process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'),
  'provisioning-service',
  'temporal-test-server',
  '1.38.0',
  'temporal-test-server',
);
const HOUR = 3_600_000;

let env: TestWorkflowEnvironment;
let stack: WorkerlessStack;
let worker: ProvisioningWorkers;
let running: Promise<void>;
let commands: CommandDeps;
const actor = testActor('timer-tester');

beforeAll(async () => {
  if (!fs.existsSync(TEST_SERVER)) throw new Error(`no Temporal test server at ${TEST_SERVER}: run npm run setup -- --test`);
  quietRuntime();
  stack = await startSandboxStack({ worker: false, workdirPrefix: 'prov-timers-' });
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: TEST_SERVER } },
    client: { dataConverter: testDataConverter() },
  });
  const taskQueue = uniqueQueue('timers');
  worker = await createProvisioningWorkers({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    dataConverter: testDataConverter(),
    activityDeps: { db: stack.temp.db, notifier: stack.notifier, settings: sandboxSettings(stack.jobsWorkdir) },
    workflowBundle: { codePath: inject('workflowBundlePath') },
    shutdownGraceTime: '2s',
  });
  running = worker.run();
  commands = { db: stack.temp.db, temporal: env.client, taskQueue, approvalTimeoutMs: 72 * HOUR };
}, 180_000);

afterAll(async () => {
  worker?.shutdown();
  await running?.catch(() => undefined);
  await env?.teardown();
  await stack?.stop();
});

async function sent(jobId: string, event: string) {
  await waitFor(
    `the ${event} mail of ${jobId}`,
    async () => (await listJobNotifications(stack.temp.db, jobId)).some((n) => n.event === event),
    20_000,
  );
}

async function events(jobId: string) {
  return (await listJobNotifications(stack.temp.db, jobId)).map((n) => n.event);
}

describe('the job timers, with time skipped', () => {
  it('warns a day and an hour before the TTL, reschedules on a change, and destroys at the new time', {
    timeout: 150_000,
  }, async () => {
    const spec = sampleSpec({ name: 'timer-ttl', options: { requireApproval: false, ttlHours: 48 } });
    const job = await createJob(commands, spec, actor);
    await startJob(commands, job.id, spec, actor);
    await waitForStatus(stack.temp.db, job.id, ['succeeded']);
    // The status is written before the mail goes: wait for it, so no step runs while time jumps.
    await sent(job.id, 'succeeded');
    expect(await events(job.id)).toEqual(['succeeded']);
    // The test server refuses unknown search attributes too: the worker registered the service's
    // through its operator service before polling (it adds them, though it cannot list them).
    const { searchAttributes } = await env.client.workflow.getHandle(`job-${job.id}`).describe();
    expect(searchAttributes).toMatchObject({ JobId: [job.id], JobStatus: ['succeeded'], JobStep: ['notify'] });

    await env.sleep(25 * HOUR);
    await sent(job.id, 'ttl_warning_24h');
    expect(await events(job.id)).not.toContain('ttl_warning_1h');

    // Ten hours from now: the one-hour warning comes at nine, the destroy at ten.
    await setJobTtl(commands, job.id, 10, actor);
    await env.sleep(8.5 * HOUR);
    expect(await events(job.id)).not.toContain('ttl_warning_1h');
    await env.sleep(HOUR);
    await sent(job.id, 'ttl_warning_1h');
    expect((await waitForStatus(stack.temp.db, job.id, ['succeeded'])).status).toBe('succeeded');
    await env.sleep(HOUR);
    expect((await waitForStatus(stack.temp.db, job.id, ['destroyed', 'failed'], 60_000)).status).toBe('destroyed');
  });

  it('ends a plan nobody decided on as rejected when its approval expires', { timeout: 120_000 }, async () => {
    const spec = sampleSpec({ name: 'timer-approval', options: { requireApproval: true } });
    const job = await createJob(commands, spec, actor);
    await startJob(commands, job.id, spec, actor);
    await waitForStatus(stack.temp.db, job.id, ['awaiting_approval']);
    await sent(job.id, 'approval_needed');
    await env.sleep(71 * HOUR);
    expect((await waitForStatus(stack.temp.db, job.id, ['awaiting_approval'])).status).toBe('awaiting_approval');
    await env.sleep(2 * HOUR);
    const done = await waitForStatus(stack.temp.db, job.id, ['rejected', 'failed'], 30_000);
    expect(done.status).toBe('rejected');
    expect(done.error).toContain('no decision before the approval deadline');
  });
});
