import { defineSearchAttributeKey, type SearchAttributePair, SearchAttributeType } from '@temporalio/common';
import type { JobSpec } from '../domain/jobSpec.js';
import type { JobStatus } from '../domain/lifecycle.js';

/**
 * The custom search attributes of the service's workflows: what makes a job
 * findable in Temporal (`temporal workflow list --query 'JobStatus="failed"
 * AND Region="eu-west-1"'`, the UI's filter). All are Keyword: exact values,
 * and Temporal's SQL visibility (SQLite, Postgres, MySQL) holds at most ten
 * custom Keyword attributes per namespace, so the list stays at nine.
 *
 * Search attributes are not payloads: the codec does not encrypt them, and
 * Temporal stores and shows them in clear text. None holds a secret.
 *
 * Shared by the web (start options), the workflows (upserts; this module is
 * workflow-safe) and the registration (src/temporal/searchAttributeRegistration.ts).
 */
export const JOB_ID = defineSearchAttributeKey('JobId', SearchAttributeType.KEYWORD);
export const JOB_NAME = defineSearchAttributeKey('JobName', SearchAttributeType.KEYWORD);
/** The job's status, as the database and the dashboard say it (`running`, `succeeded`, `destroyed`…). */
export const JOB_STATUS = defineSearchAttributeKey('JobStatus', SearchAttributeType.KEYWORD);
/** The step the job (or its revision) is at, or was at last: `plan`, `apply`, `destroy`… */
export const JOB_STEP = defineSearchAttributeKey('JobStep', SearchAttributeType.KEYWORD);
/** The requester's email (the spec's requesterEmail, the dashboard's Requester column). */
export const REQUESTER = defineSearchAttributeKey('Requester', SearchAttributeType.KEYWORD);
export const AWS_ACCOUNT_ID = defineSearchAttributeKey('AwsAccountId', SearchAttributeType.KEYWORD);
export const REGION = defineSearchAttributeKey('Region', SearchAttributeType.KEYWORD);
export const INSTANCE_TYPE = defineSearchAttributeKey('InstanceType', SearchAttributeType.KEYWORD);
/**
 * The team's id (`team3f2a…`, as in its page's address), not its name: a
 * team may be renamed, and a job's workflow lives for weeks; an id never
 * goes stale in the attributes of the workflows already running.
 */
export const TEAM = defineSearchAttributeKey('Team', SearchAttributeType.KEYWORD);

export const SERVICE_SEARCH_ATTRIBUTES = [
  JOB_ID,
  JOB_NAME,
  JOB_STATUS,
  JOB_STEP,
  REQUESTER,
  AWS_ACCOUNT_ID,
  REGION,
  INSTANCE_TYPE,
  TEAM,
] as const;

/** The AWS account a role ARN belongs to. */
export function accountOfRole(roleArn: string | undefined): string | undefined {
  return roleArn ? /^arn:aws[\w-]*:iam::(\d{12}):role\//.exec(roleArn)?.[1] : undefined;
}

/** Keyword values must be non-empty strings: an unknown value is left out rather than stored empty. */
function pairs(entries: Array<[SearchAttributePair['key'], string | null | undefined]>): SearchAttributePair[] {
  return entries
    .filter(([, v]) => typeof v === 'string' && v !== '')
    .map(([key, value]) => ({ key, value }) as SearchAttributePair);
}

/**
 * What the spec says of a job, as search attributes: set by the web when it
 * starts the job's workflow, and by a run of the workflow that was started
 * without them (a run carried on from one started before they existed).
 */
export function jobSearchAttributes(job: {
  jobId: string;
  spec: Pick<JobSpec, 'name' | 'requesterEmail' | 'region' | 'instance' | 'auth'>;
  status: JobStatus;
  /** Known once the verify step ran (the job's row), or from the role ARN. */
  accountId?: string | null;
  teamId?: string | null;
}): SearchAttributePair[] {
  const { spec } = job;
  const roleArn = spec.auth.method === 'assume_role' ? spec.auth.roleArn : undefined;
  return pairs([
    [JOB_ID, job.jobId],
    [JOB_NAME, spec.name],
    [JOB_STATUS, job.status],
    [REQUESTER, spec.requesterEmail],
    [AWS_ACCOUNT_ID, job.accountId ?? accountOfRole(roleArn)],
    [REGION, spec.region],
    [INSTANCE_TYPE, spec.instance.type],
    [TEAM, job.teamId],
  ]);
}
