import { patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { NOTIFY_MAX_ATTEMPTS } from '../domain/failures.js';
import { proxyWithTerraformQueue } from './terraformRouting.js';
import { ACTIVITY_SUMMARIES_PATCH, summarizedActivity } from './visibility.js';

/**
 * Every live environment looked at for drift, a few at a time: started by
 * the drift Schedule (DRIFT_CHECK_INTERVAL). A check that fails is recorded
 * on its job and the others go on; a job newly found drifted emails its
 * owner once. Checks change nothing: Reconcile, from the job page, does.
 */
const { listLiveJobs, checkDrift } = proxyWithTerraformQueue<Activities>({
  // checkDrift runs a refresh-only plan: it waits for a worker's Terraform slot like a job's steps.
  startToCloseTimeout: '30m',
  heartbeatTimeout: '30s',
  // A failed check is recorded and tried again at the next interval, not in a loop now.
  retry: { initialInterval: '10s', maximumAttempts: 2 },
});

const { notify } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  heartbeatTimeout: '20s',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '5m', maximumAttempts: NOTIFY_MAX_ATTEMPTS },
});

export interface DriftCheckInput {
  /** Checks at once (DRIFT_CHECK_CONCURRENCY). */
  concurrency: number;
}

export interface DriftCheckResult {
  checked: number;
  drifted: string[];
  errors: string[];
  skipped: number;
}

export async function driftCheck(input: DriftCheckInput): Promise<DriftCheckResult> {
  // Each check names its job in the UI; decided at the start, so a pass begun before replays as it ran.
  const summaries = patched(ACTIVITY_SUMMARIES_PATCH);
  const [list, check, mail] = summaries
    ? [
        summarizedActivity('listLiveJobs', listLiveJobs),
        summarizedActivity('checkDrift', checkDrift),
        summarizedActivity('notify', notify),
      ]
    : [listLiveJobs, checkDrift, notify];
  const jobIds = await list();
  // One time for the whole pass: the emails it sends are named after it, so a retried email is the same one.
  const at = workflowInfo().startTime.getTime();
  const checkedAt = new Date(at).toISOString();
  const result: DriftCheckResult = { checked: 0, drifted: [], errors: [], skipped: 0 };
  let next = 0;
  const lane = async () => {
    while (next < jobIds.length) {
      const jobId = jobIds[next++]!;
      try {
        const outcome = await check({ jobId, checkedAt });
        if (outcome.state === 'skipped') {
          result.skipped++;
          continue;
        }
        result.checked++;
        if (outcome.state === 'error') result.errors.push(jobId);
        if (outcome.state === 'drifted') {
          result.drifted.push(jobId);
          if (outcome.newlyDrifted) await mail({ jobId, event: `drift_${at}` }).catch(() => undefined);
        }
      } catch {
        result.errors.push(jobId);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(input.concurrency, jobIds.length)) }, lane));
  return result;
}
