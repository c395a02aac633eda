import type { SearchAttributePair } from '@temporalio/common';
import type { JobRow } from '../db/schema.js';
import type { JobSpec } from '../domain/jobSpec.js';
import type { JobStatus } from '../domain/lifecycle.js';
import { jobSearchAttributes } from '../workflows/searchAttributes.js';
import { jobWorkflowDetails, jobWorkflowSummary } from '../domain/temporalSummaries.js';

/**
 * What a job's workflow starts with besides its input: the search attributes
 * that make it findable in Temporal from its first moment (the workflow keeps
 * them current), and the summary and link the Temporal UI shows for it.
 */
export function jobWorkflowStartOptions(
  job: Pick<JobRow, 'id' | 'team_id' | 'account_id'>,
  spec: JobSpec,
  opts: { status: JobStatus; mode?: 'destroy'; publicBaseUrl?: string },
): { typedSearchAttributes: SearchAttributePair[]; staticSummary: string; staticDetails?: string } {
  return {
    typedSearchAttributes: jobSearchAttributes({
      jobId: job.id,
      spec,
      status: opts.status,
      accountId: job.account_id,
      teamId: job.team_id,
    }),
    staticSummary: jobWorkflowSummary(spec, opts.mode),
    ...(opts.publicBaseUrl ? { staticDetails: jobWorkflowDetails(opts.publicBaseUrl, job.id) } : {}),
  };
}
