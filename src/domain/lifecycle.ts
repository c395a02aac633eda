/** Job statuses, steps and which user action each status allows: shared by workflow, API and UI. */

export const JOB_STATUSES = [
  'draft',
  'running',
  'awaiting_approval',
  'succeeded',
  'failed',
  'cancelling',
  'cancelled',
  'rejected',
  'destroying',
  'destroyed',
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const JOB_STEPS = [
  'verify',
  'preflight',
  'render',
  'init',
  'plan',
  'approval',
  'apply',
  'output',
  'ready',
  'notify',
  'destroy',
] as const;
export type JobStep = (typeof JOB_STEPS)[number];

/** `interrupted`: the attempt was lost to an infrastructure fault (its worker died, the database was unreachable) and retried. */
export const STEP_STATES = ['running', 'succeeded', 'failed', 'cancelled', 'skipped', 'interrupted'] as const;
export type StepState = (typeof STEP_STATES)[number];

export type JobAction = 'run' | 'cancel' | 'approve' | 'reject' | 'destroy';

/** Statuses in which nothing more will happen to the job. */
export const FINAL_STATUSES: readonly JobStatus[] = ['cancelled', 'rejected', 'destroyed'];

export function isActive(status: JobStatus): boolean {
  return status === 'running' || status === 'awaiting_approval' || status === 'cancelling' || status === 'destroying';
}

/**
 * Whether `action` is valid now. `destroy` after `failed` also needs resources
 * in the job's state; the caller passes what it knows of that.
 */
export function actionAllowed(action: JobAction, status: JobStatus, opts: { hasResources?: boolean } = {}): boolean {
  switch (action) {
    case 'run':
      return status === 'draft';
    case 'cancel':
      return status === 'running' || status === 'awaiting_approval';
    case 'approve':
    case 'reject':
      return status === 'awaiting_approval';
    case 'destroy':
      return status === 'succeeded' || (status === 'failed' && opts.hasResources !== false);
  }
}

export function allowedActions(status: JobStatus, opts: { hasResources?: boolean } = {}): JobAction[] {
  return (['run', 'cancel', 'approve', 'reject', 'destroy'] as const).filter((a) => actionAllowed(a, status, opts));
}

export function workflowIdFor(jobId: string): string {
  return `job-${jobId}`;
}

/** The longest an environment may live, from its job's start: 30 days. */
export const MAX_TTL_HOURS = 720;

/** A revision's life: a change to a live environment, from its plan to its outcome. */
export const REVISION_STATES = [
  'planning',
  'awaiting_approval',
  'applying',
  'succeeded',
  'failed',
  'cancelled',
  'rejected',
] as const;
export type RevisionState = (typeof REVISION_STATES)[number];
export const REVISION_KINDS = ['change', 'reconcile'] as const;
export type RevisionKind = (typeof REVISION_KINDS)[number];

export function revisionInProgress(state: string | null | undefined): boolean {
  return state === 'planning' || state === 'awaiting_approval' || state === 'applying';
}
