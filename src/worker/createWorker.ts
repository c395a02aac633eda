import { NativeConnection, Worker, type WorkflowBundlePath } from '@temporalio/worker';
import type { DataConverter } from '@temporalio/common';
import { createActivities, type ActivityDeps } from '../activities/index.js';

export interface WorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  dataConverter: DataConverter;
  activityDeps: ActivityDeps;
  /**
   * A prebuilt bundle of the workflow code (see workflowBundle.ts: the worker
   * never bundles, so webpack stays out of its memory).
   */
  workflowBundle: WorkflowBundlePath;
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
    workflowBundle: opts.workflowBundle,
    shutdownGraceTime: opts.shutdownGraceTime ?? '30s',
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivityTaskExecutions ?? 100,
    ...(opts.identity ? { identity: opts.identity } : {}),
  });
}
