import crypto from 'node:crypto';
import { inject } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createProvisioningWorker } from '../../src/worker/createWorker.js';
import { createDataConverter } from '../../src/temporal/dataConverter.js';
import { createActivities, type Activities, type ActivityDeps } from '../../src/activities/index.js';

export const TEST_SECRET_KEY = 'test-secret-key-0123456789abcdef';

let runtimeQuiet = false;
/** The SDK's default logger is chatty at INFO; tests want warnings only. */
export function quietRuntime() {
  if (runtimeQuiet) return;
  runtimeQuiet = true;
  try {
    Runtime.install({
      logger: {
        log() {},
        trace() {},
        debug() {},
        info() {},
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

/**
 * Test workers refuse clear payloads, as production's do: the whole suite then
 * shows the service never sends one. Clients stay lenient, as the web's is.
 */
export function testDataConverter(opts: { refuseUnencrypted?: boolean } = {}) {
  return createDataConverter({ secretKey: TEST_SECRET_KEY, refuseUnencrypted: opts.refuseUnencrypted });
}

export async function testClient(): Promise<{ client: Client; close: () => Promise<void> }> {
  const connection = await Connection.connect({ address: inject('temporalAddress') });
  const client = new Client({ connection, dataConverter: testDataConverter() });
  return { client, close: () => connection.close() };
}

export interface TestWorker {
  worker: Worker;
  taskQueue: string;
  /** Shuts the worker down and closes its connection; a second call waits for the first. */
  stop: () => Promise<void>;
}

export interface TestWorkerOptions {
  /** Default: a fresh unique queue. Workers given the same queue share its tasks. */
  taskQueue?: string;
  maxCachedWorkflows?: number;
  /** Default: the run's one workflow bundle (globalSetup). */
  workflowBundlePath?: string;
  /**
   * Wraps the real activities, for a test that must act before an activity
   * runs (swallow a task, say). The production worker takes its activities
   * from createActivities only, so such a worker is a plain SDK worker with
   * the SDK's defaults for everything the production worker sets.
   */
  wrapActivities?: (real: Activities) => Activities;
}

/** A real worker on the shared dev server, with the real activities on `activityDeps`. */
export async function startTestWorker(activityDeps: ActivityDeps, options: TestWorkerOptions = {}): Promise<TestWorker> {
  quietRuntime();
  const taskQueue = options.taskQueue ?? uniqueQueue();
  const connection = await NativeConnection.connect({ address: inject('temporalAddress') });
  const common = {
    connection,
    namespace: 'default',
    taskQueue,
    dataConverter: testDataConverter({ refuseUnencrypted: true }),
    workflowBundle: { codePath: options.workflowBundlePath ?? inject('workflowBundlePath') },
    shutdownGraceTime: '2s',
  };
  let worker: Worker;
  try {
    worker = options.wrapActivities
      ? await Worker.create({ ...common, activities: options.wrapActivities(createActivities(activityDeps)) })
      : await createProvisioningWorker({
          ...common,
          activityDeps,
          ...(options.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: options.maxCachedWorkflows } : {}),
        });
  } catch (err) {
    await connection.close();
    throw err;
  }
  const done = worker.run();
  let stopped: Promise<void> | undefined;
  return {
    worker,
    taskQueue,
    stop: () =>
      (stopped ??= (async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await done.catch(() => undefined);
        await connection.close();
      })()),
  };
}
