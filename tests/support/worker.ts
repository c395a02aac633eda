import crypto from 'node:crypto';
import { inject } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { createProvisioningWorker } from '../../src/worker/createWorker.js';
import { createDataConverter } from '../../src/temporal/dataConverter.js';
import type { ActivityDeps } from '../../src/activities/index.js';

export const TEST_SECRET_KEY = 'test-secret-key-0123456789abcdef';

let runtimeQuiet = false;
/** The SDK's default logger is chatty at INFO; tests want warnings only. */
export function quietRuntime() {
  if (runtimeQuiet) return;
  runtimeQuiet = true;
  try {
    Runtime.install({
      logger: {
        log() {}, trace() {}, debug() {}, info() {},
        warn: (m: string, meta?: unknown) => console.warn(m, meta ?? ''),
        error: (m: string, meta?: unknown) => console.error(m, meta ?? ''),
      } as never,
    });
  } catch {
    /* already installed by an earlier worker in this process */
  }
}

export function uniqueQueue(prefix = 'test'): string {
  return `${prefix}-${crypto.randomBytes(6).toString('hex')}`;
}

export function testDataConverter() {
  return createDataConverter({ secretKey: TEST_SECRET_KEY });
}

export async function testClient(): Promise<{ client: Client; close: () => Promise<void> }> {
  const connection = await Connection.connect({ address: inject('temporalAddress') });
  const client = new Client({ connection, dataConverter: testDataConverter() });
  return { client, close: () => connection.close() };
}

export interface TestWorker {
  worker: Worker;
  taskQueue: string;
  stop: () => Promise<void>;
}

/** A real worker on the shared dev server, with the run's one workflow bundle. */
export async function startTestWorker(
  activityDeps: ActivityDeps,
  taskQueue = uniqueQueue(),
  options: { maxCachedWorkflows?: number; workflowBundlePath?: string } = {},
): Promise<TestWorker> {
  quietRuntime();
  const connection = await NativeConnection.connect({ address: inject('temporalAddress') });
  const worker = await createProvisioningWorker({
    connection,
    namespace: 'default',
    taskQueue,
    dataConverter: testDataConverter(),
    activityDeps,
    workflowBundle: { codePath: options.workflowBundlePath ?? inject('workflowBundlePath') },
    shutdownGraceTime: '2s',
    ...(options.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: options.maxCachedWorkflows } : {}),
  });
  const done = worker.run();
  return {
    worker,
    taskQueue,
    stop: async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done.catch(() => undefined);
      await connection.close();
    },
  };
}
