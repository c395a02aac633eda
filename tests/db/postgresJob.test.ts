import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJob, signalJob, startJob } from '../../src/api/jobCommands.js';
import { createApp } from '../../src/api/app.js';
import { parseConfig } from '../../src/config.js';
import { listSteps } from '../../src/db/jobs.js';
import { listLogLines } from '../../src/db/logs.js';
import { startSandboxStack, type SandboxStack } from '../support/stack.js';
import { TEST_SECRET_KEY } from '../support/worker.js';
import { SANDBOX_MODULE, sampleSpec, waitForStatus, waitForStep, testActor } from '../support/jobs.js';
import { ROOT } from '../support/processes.js';

/**
 * A whole sandbox job with Postgres as the service's database (DATABASE_URL=
 * postgres://…): the worker's activities, the log sink and the web app's
 * API run the same queries they run on SQLite. Runs when TEST_POSTGRES_URL is set.
 */

const enabled = Boolean(process.env.TEST_POSTGRES_URL);
let stack: SandboxStack;

describe.skipIf(!enabled)('a job on Postgres', () => {
  beforeAll(async () => {
    stack = await startSandboxStack({ db: 'postgres', workdirPrefix: 'prov-pg-jobs-' });
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('provisions, logs, serves the API and destroys', async () => {
    const { temp: t, client, worker, commands } = stack;
    const spec = sampleSpec();
    const job = await createJob(commands, spec, testActor('tester'));
    await startJob(commands, job.id, spec, testActor('tester'));
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
        DATABASE_URL: t.url,
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

    await signalJob(commands, job.id, 'destroy', testActor('tester'));
    expect((await waitForStatus(t.db, job.id, ['destroyed', 'failed'], 60_000)).status).toBe('destroyed');
  }, 180_000);
});
