import { patched, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { JobSpec } from '../domain/jobSpec.js';
import type { JobStatus, JobStep } from '../domain/lifecycle.js';
import { AWS_ACCOUNT_ID, JOB_ID, JOB_STATUS, JOB_STEP, jobSearchAttributes } from './searchAttributes.js';
import { activitySummary } from '../domain/temporalSummaries.js';
import type { ActivityProxies } from './activityProxies.js';
import { proxyWithCallOptions, withCallOptions } from './callOptions.js';

/**
 * Runs that keep their search attributes current (status, step, account) and
 * give each activity a summary naming its step. Runs started before replay
 * as they ran: neither the upserts nor the summaries are in their histories.
 */
export const JOB_VISIBILITY_PATCH = 'job-search-attributes-and-summaries';
/** The drift and account checks' activities carry summaries from this patch on. */
export const ACTIVITY_SUMMARIES_PATCH = 'activity-summaries';

export interface JobVisibility {
  status(status: JobStatus): void;
  step(step: JobStep): void;
  account(accountId: string): void;
  /** The proxies, with every (remote) activity call carrying its summary. */
  summarized(acts: ActivityProxies): ActivityProxies;
}

const UNCHANGED: JobVisibility = { status() {}, step() {}, account() {}, summarized: (acts) => acts };

/**
 * A job's search attributes, kept as the job moves. Decided once at the
 * run's start: patched() asked later, outside replay, would say yes to a run
 * whose earlier history has no such commands, and its attributes would hold
 * only what changed after the upgrade. An upsert needs the attributes
 * registered (the worker does it before it polls: src/temporal/searchAttributeRegistration.ts).
 */
export function jobVisibility(job: { jobId: string; spec: JobSpec; status: JobStatus }): JobVisibility {
  if (!patched(JOB_VISIBILITY_PATCH)) return UNCHANGED;
  // The web sets them at the start and a continued run inherits them; a run that has none
  // (carried on from a run started before them, or started by hand) fills them in.
  if (workflowInfo().typedSearchAttributes.get(JOB_ID) === undefined) upsertSearchAttributes(jobSearchAttributes(job));
  const set = (key: typeof JOB_STATUS, value: string) => {
    // Only changes: an unchanged value would add an event to a history that may live for weeks.
    if (workflowInfo().typedSearchAttributes.get(key) !== value) upsertSearchAttributes([{ key, value }]);
  };
  return {
    status: (status) => set(JOB_STATUS, status),
    step: (step) => set(JOB_STEP, step),
    account: (accountId) => set(AWS_ACCOUNT_ID, accountId),
    summarized: (acts) => ({
      ...acts,
      aws: summarizing(acts.aws),
      terraform: summarizing(acts.terraform),
      readiness: summarizing(acts.readiness),
      mail: summarizing(acts.mail),
    }),
  };
}

/** One activity function whose calls carry their summary (options given at the call win). */
export function summarizedActivity<F>(name: string, fn: F): F {
  return withCallOptions(fn, (args) => ({ summary: activitySummary(name, args[0]) }));
}

/** A proxyActivities object whose every activity carries its summary. */
export function summarizing<P extends object>(proxy: P): P {
  return proxyWithCallOptions(proxy, (name) => (args) => ({ summary: activitySummary(name, args[0]) }));
}
