import { ApplicationFailure } from '@temporalio/common';
import type { NON_RETRYABLE_TYPES } from '../domain/failures.js';
import { createJobSpecSchema, zodIssuesToFields, type JobSpec, type JobSpecPolicy } from '../domain/jobSpec.js';

/**
 * The worker does not take the workflow's word for a job's spec: every
 * activity that acts on one parses it again with the schema the API and the
 * form use (built from the same settings), so a spec that did not come
 * through the service (a workflow started on the Temporal port, a history
 * edited by hand) makes no AWS call and renders no Terraform.
 */

/** The activities whose input carries the job's spec, as `{ spec }`. */
export const SPEC_ACTIVITIES = [
  'verifyCredentials',
  'preflight',
  'renderWorkspace',
  'terraformInit',
  'terraformPlan',
  'terraformApply',
  'terraformOutput',
  'waitReady',
  'applyOnInstance',
  'terraformDestroy',
] as const;

/**
 * Tearing down what a job made must work under today's policy even when the
 * job was made under yesterday's (a region or instance type since removed
 * from the lists): its destroy checks everything but those lists.
 */
const TEARDOWN: ReadonlySet<string> = new Set(['terraformDestroy']);

/** Never retried: the same input fails the same way. */
export const INVALID_INPUT_TYPE: (typeof NON_RETRYABLE_TYPES)[number] = 'InvalidInput';

export function specChecker(policy: JobSpecPolicy) {
  const schema = createJobSpecSchema(policy);
  return (activity: string, spec: unknown): void => {
    const s = spec as Partial<JobSpec> | undefined;
    const parsed = TEARDOWN.has(activity)
      ? createJobSpecSchema({
          ...policy,
          allowedRegions: [String(s?.region ?? '')],
          allowedInstanceTypes: [String(s?.instance?.type ?? '')],
          allowedAccountIds: [],
          allowAccessKeys: true,
        }).safeParse(spec)
      : schema.safeParse(spec);
    if (parsed.success) return;
    const fields = zodIssuesToFields(parsed.error)
      .slice(0, 5)
      .map((f) => f.message)
      .join('; ');
    throw ApplicationFailure.nonRetryable(
      `the job's spec failed the service's checks at ${activity}: ${fields}`,
      INVALID_INPUT_TYPE,
    );
  };
}

/** The activities, each spec-taking one checking its input before it runs. */
export function withCheckedSpecs<T extends object>(activities: T, policy: JobSpecPolicy): T {
  const check = specChecker(policy);
  const out = { ...activities } as Record<string, unknown>;
  for (const name of SPEC_ACTIVITIES) {
    const real = out[name];
    if (typeof real !== 'function') continue;
    out[name] = async (input: { spec?: unknown }, ...rest: unknown[]) => {
      check(name, input?.spec);
      return (real as (...args: unknown[]) => unknown)(input, ...rest);
    };
  }
  return out as T;
}
