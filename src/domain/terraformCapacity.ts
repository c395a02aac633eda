/**
 * Terraform capacity: the one place that says which activities run Terraform,
 * where they queue, and how many run at once on a worker. The workflows route
 * those activities to their own task queue, the worker runs a second SDK
 * worker on it with TERRAFORM_MAX_CONCURRENT slots, and the web names a step
 * that waits there. A Terraform run costs hundreds of MB and minutes; a short
 * AWS call or an email costs neither, so they never share a limit.
 */

/** The activities that start a Terraform process (render only writes files: it stays with the quick steps). */
export const TERRAFORM_ACTIVITIES = [
  'terraformInit',
  'terraformPlan',
  'terraformApply',
  'terraformOutput',
  'terraformDestroy',
  'checkDrift',
] as const;
export type TerraformActivity = (typeof TERRAFORM_ACTIVITIES)[number];

export function isTerraformActivity(name: string): name is TerraformActivity {
  return (TERRAFORM_ACTIVITIES as readonly string[]).includes(name);
}

/** The task queue of the Terraform activities, derived from the workflows' own (TEMPORAL_TASK_QUEUE). */
export function terraformTaskQueue(taskQueue: string): string {
  return `${taskQueue}-terraform`;
}

/** What one Terraform run with the AWS provider takes: terraform itself plus the provider plugin, with room to spare. */
export const TERRAFORM_RUN_MEMORY_BYTES = 512 * 2 ** 20;
/** What the worker keeps for itself (node, the Temporal core, cached workflows) and the rest of the machine. */
export const WORKER_RESERVED_MEMORY_BYTES = 2 ** 30;
/** Bounds of the default: one run always; past 32 the machine's CPUs and the AWS API limits bind first. */
export const TERRAFORM_SLOTS_MIN = 1;
export const TERRAFORM_SLOTS_MAX = 32;

/**
 * The default TERRAFORM_MAX_CONCURRENT for a machine (or container) with
 * `memoryBytes`: what is left after the worker's own share, in runs of
 * TERRAFORM_RUN_MEMORY_BYTES, between 1 and 32. So 2 GiB → 2, 4 GiB → 6,
 * 8 GiB → 14, 16 GiB → 30.
 */
export function terraformSlotsFor(memoryBytes: number): number {
  const runs = Math.floor((memoryBytes - WORKER_RESERVED_MEMORY_BYTES) / TERRAFORM_RUN_MEMORY_BYTES);
  if (!Number.isFinite(runs)) return TERRAFORM_SLOTS_MIN;
  return Math.min(TERRAFORM_SLOTS_MAX, Math.max(TERRAFORM_SLOTS_MIN, runs));
}
