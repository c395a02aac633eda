import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTempDb } from '../support/tempDb.js';
import { startTestWorker, testClient, uniqueQueue, type TestWorker } from '../support/worker.js';
import { createNotifier } from '../../src/notifications/notifier.js';
import { createOutboxProvider } from '../../src/notifications/providers.js';
import { sandboxSettings } from '../support/jobs.js';

let temp: Awaited<ReturnType<typeof createTempDb>>;
let worker: TestWorker;

beforeAll(async () => {
  temp = await createTempDb();
  worker = await startTestWorker(
    {
      db: temp.db,
      notifier: createNotifier({ db: temp.db, provider: createOutboxProvider(), from: 'x@example.com', publicBaseUrl: 'http://localhost' }),
      settings: sandboxSettings(temp.dir),
    },
    uniqueQueue('echo'),
  );
});

afterAll(async () => {
  await worker?.stop();
  await temp?.cleanup();
});

describe('worker setup', () => {
  it('runs a workflow on the real dev server and returns its result', async () => {
    const { client, close } = await testClient();
    try {
      const result = await client.workflow.execute('echoWorkflow', {
        taskQueue: worker.taskQueue,
        workflowId: `echo-${Date.now()}-${Math.random()}`,
        args: ['hello'],
      });
      expect(result).toBe('echo: hello');
    } finally {
      await close();
    }
  });
});
