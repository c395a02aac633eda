import { type ActivityInterfaceFor, type ActivityOptions, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import { isTerraformActivity, terraformTaskQueue } from '../domain/terraformCapacity.js';
import { proxyWithCallOptions } from './callOptions.js';

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
 * go to the Terraform task queue, chosen when the activity is called.
 */
export function proxyWithTerraformQueue<A>(options: ActivityOptions): ActivityInterfaceFor<A> {
  return proxyWithCallOptions(proxyActivities<A>(options), (name) =>
    isTerraformActivity(name) ? terraformQueueOptions : undefined,
  );
}

function terraformQueueOptions(): ActivityOptions {
  return patched(TERRAFORM_QUEUE_PATCH) ? { taskQueue: terraformTaskQueue(workflowInfo().taskQueue) } : {};
}
