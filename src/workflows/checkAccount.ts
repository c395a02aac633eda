import { patched, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { ACTIVITY_SUMMARIES_PATCH, summarizedActivity } from './visibility.js';

/**
 * "Test connection" for a team account: on a worker, with the worker's own
 * AWS identity, assume the account's role and try each read-only call a job
 * needs. Short and not retried: the person is waiting for the answer.
 */
const { checkTeamAccount: check } = proxyActivities<Activities>({
  startToCloseTimeout: '90s',
  retry: { maximumAttempts: 1 },
});

export interface CheckAccountInput {
  teamAccountId: string;
  region: string;
}

export async function checkTeamAccount(input: CheckAccountInput) {
  return patched(ACTIVITY_SUMMARIES_PATCH) ? summarizedActivity('checkTeamAccount', check)(input) : check(input);
}
