/**
 * Failure types and retry budgets: the one list that the workflow (its retry
 * policies) and the activities (how they map and count errors) share.
 *
 * Two kinds of failure are told apart:
 * - errors in the job itself (Terraform, AWS, bad input) get a small budget of
 *   attempts per step; the types below never get a second attempt;
 * - infrastructure faults (a worker lost mid-step, a worker shutting down, the
 *   database unreachable) are retried without a count, for as long as the
 *   step's time budget (STEP_INFRA_RETRY_HOURS) lasts.
 */

/** Errors a retry cannot fix: the step fails at once. */
export const NON_RETRYABLE_TYPES = [
  'InvalidInput',
  'AccessDenied',
  'InvalidCredentials',
  'PreflightFailed',
  'TerraformConfigError',
  'UserDataTooLarge',
  'NotReady',
  'InstanceCommandFailed',
  'PlanChangedSinceApproval',
] as const;

/** Infrastructure faults an activity can see itself (a lost worker it cannot: Temporal times that attempt out). */
export const INFRA_FAULT_TYPES = ['WorkerShutdown', 'DatabaseUnavailable', 'LogSinkError'] as const;
export type InfraFaultType = (typeof INFRA_FAULT_TYPES)[number];

export function isInfraFaultType(type: string | undefined | null): type is InfraFaultType {
  return (INFRA_FAULT_TYPES as readonly string[]).includes(type ?? '');
}

/** The workflow's failure when a job ends `failed` with nothing left to destroy (already recorded). */
export const JOB_FAILED_TYPE = 'JobFailed';

/** Which retry policy an activity runs under. */
export type StepKind = 'aws' | 'terraform' | 'readiness';

/**
 * Attempts a step may spend on errors in the job itself (Terraform or AWS
 * errors that might be transient: throttling, a network blip, a lock).
 * Attempts lost to infrastructure faults are not counted.
 */
export const JOB_ERROR_ATTEMPTS: Record<StepKind, number> = {
  aws: 6,
  terraform: 4,
  readiness: 2,
};

/** Emails are side notes, not steps: a plain count; the last attempt records a failure instead of throwing. */
export const NOTIFY_MAX_ATTEMPTS = 8;

/** How long a step keeps retrying infrastructure faults when the job does not say (STEP_INFRA_RETRY_HOURS). */
export const DEFAULT_INFRA_RETRY_HOURS = 6;
