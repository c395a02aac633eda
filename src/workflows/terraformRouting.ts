import { type ActivityInterfaceFor, type ActivityOptions, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import { isTerraformActivity, terraformTaskQueue } from '../domain/terraformCapacity.js';
import { proxyWithCallOptions } from './callOptions.js';
import { rescheduledWhileQueued } from './queueWait.js';

/**
 * Runs that schedule their Terraform activities on the Terraform task queue,
 * where each worker takes only TERRAFORM_MAX_CONCURRENT at a time. Runs that
 * scheduled them on the workflow's own queue before replay as they ran (the
 * worker still serves the Terraform activities there too); their next
 * Terraform step, run live, takes the new queue.
 */
export const TERRAFORM_QUEUE_PATCH = 'terraform-task-queue';

/**
 * proxyActivities, except that the Terraform activities (TERRAFORM_ACTIVITIES)
 * go to the Terraform task queue, chosen when the activity is called. With
 * `queueCheckMs` (steps with a time budget), a Terraform activity that waited
 * that long in the queue is scheduled again rather than failed (queueWait.ts).
 */
export function proxyWithTerraformQueue<A>(options: ActivityOptions, queueCheckMs?: number): ActivityInterfaceFor<A> {
  const routed = proxyWithCallOptions(proxyActivities<A>(options), (name) =>
    isTerraformActivity(name) ? terraformQueueOptions : undefined,
  );
  if (queueCheckMs === undefined) return routed;
  return new Proxy(routed, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof name !== 'string' || typeof value !== 'function' || !isTerraformActivity(name)) return value;
      return rescheduledWhileQueued(value, queueCheckMs);
    },
  });
}

function terraformQueueOptions(): ActivityOptions {
  return patched(TERRAFORM_QUEUE_PATCH) ? { taskQueue: terraformTaskQueue(workflowInfo().taskQueue) } : {};
}
