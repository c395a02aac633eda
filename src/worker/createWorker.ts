import { type NativeConnection, type State, Worker, type WorkflowBundlePath } from '@temporalio/worker';
import type { DataConverter } from '@temporalio/common';
import { type Activities, createActivities, type ActivityDeps } from '../activities/index.js';
import { DEFAULT_MAX_CACHED_WORKFLOWS } from '../config.js';
import { TERRAFORM_ACTIVITIES, terraformTaskQueue } from '../domain/terraformCapacity.js';
import { ensureSearchAttributes } from '../temporal/searchAttributeRegistration.js';
import { getLogger } from '../observability/logger.js';

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
  /** Activities the main worker runs at once: the quick steps (and old runs' Terraform steps). */
  maxConcurrentActivityTaskExecutions?: number;
  /** Terraform runs at once (TERRAFORM_MAX_CONCURRENT), on the Terraform task queue; default 2. */
  terraformMaxConcurrent?: number;
  /** Workflows kept in memory between tasks (0: none); evicted ones replay their history when touched. */
  maxCachedWorkflows?: number;
  identity?: string;
}

/**
 * One worker process's two SDK workers: what it asks of Temporal and how it stops, as one.
 */
export interface ProvisioningWorkers {
  /** The workflows and every activity, on the task queue. */
  main: Worker;
  /** The Terraform activities alone, on the Terraform task queue, a bounded number at a time. */
  terraform: Worker;
  /** Runs both until both have stopped; should one fail, the other is shut down and the failure thrown. */
  run(): Promise<void>;
  /** Starts the shutdown of both (each gives its running activities the grace time). */
  shutdown(): void;
  /** RUNNING while both run; otherwise the state of the one that does not. */
  getState(): State;
}

/** Runs two workers as one process's worker: neither outlives the other. */
export function workerPair(main: Worker, terraform: Worker): ProvisioningWorkers {
  const both = [main, terraform];
  const shutdown = () => {
    for (const w of both) if (w.getState() === 'RUNNING') w.shutdown();
  };
  return {
    main,
    terraform,
    async run() {
      // A process that polls only half its queues would look alive while its jobs wait forever.
      const runs = both.map((w) =>
        w.run().catch((err: unknown) => {
          shutdown();
          throw err;
        }),
      );
      const results = await Promise.allSettled(runs);
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
    shutdown,
    getState: () => both.map((w) => w.getState()).find((s) => s !== 'RUNNING') ?? 'RUNNING',
  };
}

/** The activities the Terraform worker registers: those that start a Terraform process. */
export function terraformActivitiesOf(activities: Activities): Pick<Activities, (typeof TERRAFORM_ACTIVITIES)[number]> {
  return Object.fromEntries(TERRAFORM_ACTIVITIES.map((name) => [name, activities[name]])) as Pick<
    Activities,
    (typeof TERRAFORM_ACTIVITIES)[number]
  >;
}

/**
 * The worker process's workers. The main one runs the workflows and every
 * activity (the Terraform ones too, for runs that scheduled them on this queue
 * before the Terraform queue existed); the second runs only the Terraform
 * activities, on their own queue, `terraformMaxConcurrent` at a time, so a
 * long apply never holds a short AWS call or an email back, and a worker
 * takes no more Terraform runs than its memory holds. Jobs past the slots
 * wait in Temporal's queue, where any worker with a free slot picks them up.
 * Both share one set of activities: the job credentials cached by the verify
 * step serve the Terraform steps.
 */
export async function createProvisioningWorkers(opts: WorkerOptions): Promise<ProvisioningWorkers> {
  // Before polling: a workflow task that upserts an unregistered search attribute fails, again and again.
  await ensureSearchAttributes(opts.connection, opts.namespace, { log: getLogger('search-attributes') });
  const activities = createActivities(opts.activityDeps);
  const main = await createMainWorker(opts, activities);
  const terraform = await Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: terraformTaskQueue(opts.taskQueue),
    dataConverter: opts.dataConverter,
    activities: terraformActivitiesOf(activities),
    shutdownGraceTime: opts.shutdownGraceTime ?? '30s',
    // The SDK polls only while a slot is free: a job past the slots stays scheduled in
    // Temporal (the job page says it waits for a worker) instead of waiting inside this one.
    maxConcurrentActivityTaskExecutions: opts.terraformMaxConcurrent ?? 2,
    // As the main worker's (below): Terraform's 10 s heartbeat timeout must survive a stalled loop.
    maxHeartbeatThrottleInterval: '2s',
    ...(opts.identity ? { identity: opts.identity } : {}),
  });
  return workerPair(main, terraform);
}

async function createMainWorker(opts: WorkerOptions, activities: Activities): Promise<Worker> {
  const maxCachedWorkflows = opts.maxCachedWorkflows ?? DEFAULT_MAX_CACHED_WORKFLOWS;
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    dataConverter: opts.dataConverter,
    activities,
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
