import crypto from 'node:crypto';
import { inject } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import {
  createProvisioningWorkers,
  type ProvisioningWorkers,
  terraformActivitiesOf,
  workerPair,
} from '../../src/worker/createWorker.js';
import { terraformTaskQueue } from '../../src/domain/terraformCapacity.js';
import { EXPECTED_SDK_WARNINGS } from '../../src/observability/logger.js';
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
        warn: (m: string, meta?: unknown) => (EXPECTED_SDK_WARNINGS.has(m) ? undefined : console.warn(m, meta ?? '')),
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
  /** The main worker: the workflows and every activity. */
  worker: Worker;
  /** The Terraform activities' worker, on the Terraform task queue. */
  terraformWorker: Worker;
  taskQueue: string;
  /** Shuts the worker down and closes its connection; a second call waits for the first. */
  stop: () => Promise<void>;
}

export interface TestWorkerOptions {
  /** Default: a fresh unique queue. Workers given the same queue share its tasks. */
  taskQueue?: string;
  maxCachedWorkflows?: number;
  /** Terraform runs at once (TERRAFORM_MAX_CONCURRENT); default the production default's floor, 2. */
  terraformMaxConcurrent?: number;
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
  let workers: ProvisioningWorkers;
  try {
    workers = options.wrapActivities
      ? await plainWorkers(common, options.wrapActivities(createActivities(activityDeps)))
      : await createProvisioningWorkers({
          ...common,
          activityDeps,
          ...(options.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: options.maxCachedWorkflows } : {}),
          ...(options.terraformMaxConcurrent !== undefined ? { terraformMaxConcurrent: options.terraformMaxConcurrent } : {}),
        });
  } catch (err) {
    await connection.close();
    throw err;
  }
  const done = workers.run();
  let stopped: Promise<void> | undefined;
  return {
    worker: workers.main,
    terraformWorker: workers.terraform,
    taskQueue,
    stop: () =>
      (stopped ??= (async () => {
        workers.shutdown();
        await done.catch(() => undefined);
        await connection.close();
      })()),
  };
}

/** Plain SDK workers on the production worker's two queues, with the SDK's defaults for everything else. */
async function plainWorkers(
  common: Pick<
    WorkerOptions,
    'connection' | 'namespace' | 'taskQueue' | 'dataConverter' | 'workflowBundle' | 'shutdownGraceTime'
  >,
  activities: Activities,
): Promise<ProvisioningWorkers> {
  const main = await Worker.create({ ...common, activities });
  const terraform = await Worker.create({
    connection: common.connection,
    namespace: common.namespace,
    dataConverter: common.dataConverter,
    shutdownGraceTime: common.shutdownGraceTime,
    taskQueue: terraformTaskQueue(common.taskQueue),
    activities: terraformActivitiesOf(activities),
  });
  return workerPair(main, terraform);
}
