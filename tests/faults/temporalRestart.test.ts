import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServiceProcesses, type ServiceProcesses } from '../support/serviceProcesses.js';
import { createAndRun, settledSteps, stateAddresses, waitForApplyLine, waitForJobs, watchLogs } from './support.js';

/** The Temporal server SIGKILLed in the middle of applies, down for a while, then started again on its file. */

let svc: ServiceProcesses;

beforeAll(async () => {
  svc = await startServiceProcesses({ sandbox: { sandbox_sleep_seconds: { apply: 8 }, sandbox_resource_count: 1 } });
  await svc.startWeb();
  await svc.startWorker();
}, 180_000);

afterAll(async () => {
  await svc?.stop();
});

describe('a Temporal server restart during apply', () => {
  it('lets every job finish, succeeded, with its resources once', async () => {
    const ids = [
      await createAndRun(svc, 'temporal-restart-0', 'tr-0@example.com'),
      await createAndRun(svc, 'temporal-restart-1', 'tr-1@example.com'),
    ];
    const logs = watchLogs(svc, ids);
    await waitForApplyLine(svc, ids);
    // Down longer than the apply's 10 s heartbeat timeout: the server times the attempts out when it is back.
    await svc.restartTemporal(12_000);

    const jobs = await waitForJobs(svc, ids, ['succeeded', 'failed', 'cancelled'], 240_000);
    for (const job of jobs) expect(job.status, `${job.id}: ${job.error}`).toBe('succeeded');
    await logs.stop();
    await logs.check();
    for (const id of ids) {
      const addresses = stateAddresses(svc.jobsWorkdir, id);
      expect(new Set(addresses).size).toBe(addresses.length);
      expect(addresses.filter((a) => a === 'terraform_data.instance')).toHaveLength(1);
      const steps = await settledSteps(svc, id);
      expect(steps.filter((s) => s.state === 'failed')).toEqual([]);
    }
  }, 400_000);
});
