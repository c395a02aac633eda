import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandboxStack, type SandboxStack } from '../support/stack.js';
import { uniqueQueue } from '../support/worker.js';

let stack: SandboxStack;

beforeAll(async () => {
  stack = await startSandboxStack({ moto: false, worker: { taskQueue: uniqueQueue('echo') } });
});

afterAll(async () => {
  await stack?.stop();
});

describe('worker setup', () => {
  it('runs a workflow on the real dev server and returns its result', async () => {
    const result = await stack.client.workflow.execute('echoWorkflow', {
      taskQueue: stack.worker.taskQueue,
      workflowId: `echo-${Date.now()}-${Math.random()}`,
      args: ['hello'],
    });
    expect(result).toBe('echo: hello');
  });
});
