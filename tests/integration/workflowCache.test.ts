import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { createJob, signalJob, startJob, type CommandDeps } from '../../src/api/jobCommands.js';
import { DEFAULT_MAX_CACHED_WORKFLOWS, parseConfig } from '../../src/config.js';
import { startSandboxStack, type SandboxStack } from '../support/stack.js';
import { sampleSpec, waitForStatus, testActor } from '../support/jobs.js';

/**
 * Jobs stay open after success until destroyed, so the worker's workflow
 * cache is bounded (WORKER_MAX_CACHED_WORKFLOWS): past the bound the least
 * recently used workflow is evicted, and it replays its history when a signal
 * (destroy), a timer (TTL) or a query next touches it.
 */

const actor = testActor('tester', { ip: '127.0.0.1' });
let stack: SandboxStack;
let temp: SandboxStack['temp'];
let worker: SandboxStack['worker'];
let client: Client;
let commands: CommandDeps;

beforeAll(async () => {
  stack = await startSandboxStack({ workdirPrefix: 'prov-cache-jobs-', worker: { maxCachedWorkflows: 2 } });
  ({ temp, worker, client, commands } = stack);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

describe('workflow cache', () => {
  it('is bounded by default and configurable', () => {
    expect(parseConfig({}).WORKER_MAX_CACHED_WORKFLOWS).toBe(DEFAULT_MAX_CACHED_WORKFLOWS);
    // Room for a few hundred jobs queued for Terraform slots at once (all of them open workflows), so
    // they are not evicted and replayed at each step while they wait.
    expect(DEFAULT_MAX_CACHED_WORKFLOWS).toBeGreaterThanOrEqual(300);
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
