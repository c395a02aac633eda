import { type ActivityInterfaceFor, type ActivityOptions, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import { isTerraformActivity, terraformTaskQueue } from '../domain/terraformCapacity.js';

/**
 * Runs that schedule their Terraform activities on the Terraform task queue,
 * where each worker takes only TERRAFORM_MAX_CONCURRENT at a time. Runs that
 * scheduled them on the workflow's own queue before replay as they ran (the
 * worker still serves the Terraform activities there too); their next
 * Terraform step, run live, takes the new queue.
 */
export const TERRAFORM_QUEUE_PATCH = 'terraform-task-queue';

type AnyActivity = ((...args: unknown[]) => Promise<unknown>) & {
  executeWithOptions(options: ActivityOptions, args: unknown[]): Promise<unknown>;
};

/**
 * proxyActivities, except that the Terraform activities (TERRAFORM_ACTIVITIES)
 * go to the Terraform task queue. The queue is chosen when the activity is
 * called, not when the proxy is made: patched() belongs to the point in the
 * history where the command is, and a proxy may be made at module load.
 * Options given at the call (executeWithOptions) still apply.
 */
export function proxyWithTerraformQueue<A>(options: ActivityOptions): ActivityInterfaceFor<A> {
  const base = proxyActivities<Record<string, AnyActivity>>(options);
  return new Proxy({} as ActivityInterfaceFor<A>, {
    get(_, name) {
      if (typeof name !== 'string') return undefined;
      const activity = base[name];
      if (!isTerraformActivity(name)) return activity;
      const routed = (...args: unknown[]) => activity.executeWithOptions(terraformQueueOptions(), args);
      routed.executeWithOptions = (callOptions: ActivityOptions, args: unknown[]) =>
        activity.executeWithOptions({ ...terraformQueueOptions(), ...callOptions }, args);
      return routed;
    },
  });
}

function terraformQueueOptions(): ActivityOptions {
  return patched(TERRAFORM_QUEUE_PATCH) ? { taskQueue: terraformTaskQueue(workflowInfo().taskQueue) } : {};
}
