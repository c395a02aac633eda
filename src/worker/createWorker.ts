import { type NativeConnection, Worker, type WorkflowBundlePath } from '@temporalio/worker';
import type { DataConverter } from '@temporalio/common';
import { createActivities, type ActivityDeps } from '../activities/index.js';
import { DEFAULT_MAX_CACHED_WORKFLOWS } from '../config.js';

/** The SDK's own limit on workflow tasks in flight; it may not exceed the cache size. */
const SDK_MAX_CONCURRENT_WORKFLOW_TASKS = 40;

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
  /** Workflows kept in memory between tasks (0: none); evicted ones replay their history when touched. */
  maxCachedWorkflows?: number;
  identity?: string;
}

export async function createProvisioningWorker(opts: WorkerOptions): Promise<Worker> {
  const maxCachedWorkflows = opts.maxCachedWorkflows ?? DEFAULT_MAX_CACHED_WORKFLOWS;
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    dataConverter: opts.dataConverter,
    activities: createActivities(opts.activityDeps),
    workflowBundle: opts.workflowBundle,
    shutdownGraceTime: opts.shutdownGraceTime ?? '30s',
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivityTaskExecutions ?? 100,
    // Heartbeats otherwise go out at 0.8 × the heartbeat timeout: 8 of terraform's 10 s, so a
    // 2 s event-loop stall under load times a healthy step out, and a cancel waits up to 8 s
    // to reach terraform (it arrives with a heartbeat's answer).
    maxHeartbeatThrottleInterval: '2s',
    // The SDK's default follows the heap limit (2,310 workflows with Node 20's 4 GB default
    // heap): in practice no bound for jobs that stay open until destroyed.
    maxCachedWorkflows,
    ...(maxCachedWorkflows > 0
      ? { maxConcurrentWorkflowTaskExecutions: Math.min(SDK_MAX_CONCURRENT_WORKFLOW_TASKS, maxCachedWorkflows) }
      : {}),
    // Both are the SDK's defaults, stated because memory depends on them: one V8 context
    // shared by all cached workflows (about a third of the memory of a context each),
    // in one workflow thread (more threads only pay off without context reuse).
    reuseV8Context: true,
    workflowThreadPoolSize: 1,
    ...(opts.identity ? { identity: opts.identity } : {}),
  });
}
