import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { NOTIFY_MAX_ATTEMPTS } from '../domain/failures.js';

/**
 * Every live environment looked at for drift, a few at a time: started by
 * the drift Schedule (DRIFT_CHECK_INTERVAL). A check that fails is recorded
 * on its job and the others go on; a job newly found drifted emails its
 * owner once. Checks change nothing: Reconcile, from the job page, does.
 */
const { listLiveJobs, checkDrift } = proxyActivities<Activities>({
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
  const jobIds = await listLiveJobs();
  // One time for the whole pass: the emails it sends are named after it, so a retried email is the same one.
  const at = workflowInfo().startTime.getTime();
  const checkedAt = new Date(at).toISOString();
  const result: DriftCheckResult = { checked: 0, drifted: [], errors: [], skipped: 0 };
  let next = 0;
  const lane = async () => {
    while (next < jobIds.length) {
      const jobId = jobIds[next++]!;
      try {
        const outcome = await checkDrift({ jobId, checkedAt });
        if (outcome.state === 'skipped') {
          result.skipped++;
          continue;
        }
        result.checked++;
        if (outcome.state === 'error') result.errors.push(jobId);
        if (outcome.state === 'drifted') {
          result.drifted.push(jobId);
          if (outcome.newlyDrifted) await notify({ jobId, event: `drift_${at}` }).catch(() => undefined);
        }
      } catch {
        result.errors.push(jobId);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(input.concurrency, jobIds.length)) }, lane));
  return result;
}
