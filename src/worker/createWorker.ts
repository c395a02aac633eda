import { createRequire } from 'node:module';
import { NativeConnection, Worker, bundleWorkflowCode, type WorkflowBundleOption } from '@temporalio/worker';
import type { DataConverter } from '@temporalio/common';
import { createActivities, type ActivityDeps } from '../activities/index.js';

const require = createRequire(import.meta.url);

export const WORKFLOWS_PATH = require.resolve('../workflows/index.ts');

/** Bundles the workflow code once; tests reuse one bundle across workers. */
export async function bundleWorkflows(failureConverterPath: string): Promise<{ code: string }> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, failureConverterPath, logger: quietBundlerLogger });
}

const quietBundlerLogger = {
  log() {},
  trace() {},
  debug() {},
  info() {},
  warn(message: string, meta?: unknown) {
    console.warn(message, meta ?? '');
  },
  error(message: string, meta?: unknown) {
    console.error(message, meta ?? '');
  },
};

export interface WorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  dataConverter: DataConverter;
  activityDeps: ActivityDeps;
  /** A prebuilt bundle (tests); otherwise the workflows are bundled at start. */
  workflowBundle?: WorkflowBundleOption;
  /** How long running activities may finish after shutdown starts, before they are cancelled. */
  shutdownGraceTime?: string | number;
  maxConcurrentActivityTaskExecutions?: number;
  identity?: string;
}

export async function createProvisioningWorker(opts: WorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    dataConverter: opts.dataConverter,
    activities: createActivities(opts.activityDeps),
    workflowBundle: opts.workflowBundle ?? (await bundleWorkflows(opts.dataConverter.failureConverterPath!)),
    shutdownGraceTime: opts.shutdownGraceTime ?? '30s',
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivityTaskExecutions ?? 100,
    ...(opts.identity ? { identity: opts.identity } : {}),
  });
}
