import { ActivityCancellationType, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { NON_RETRYABLE_TYPES, NOTIFY_MAX_ATTEMPTS } from '../domain/failures.js';
import { queueCheckMs } from './queueWait.js';
import { proxyWithTerraformQueue } from './terraformRouting.js';

/**
 * Timeouts and retries, set once per proxy by the kind of work. Attempts are
 * not counted here: the activities count the errors in the job against
 * JOB_ERROR_ATTEMPTS and make the last one final, while attempts lost to
 * infrastructure faults (a worker killed mid-step times out on its
 * heartbeat) are retried until the step's time budget runs out.
 */
export function activityProxies(infraBudgetMs: number, terraformQueueCheckMs?: number) {
  // Status writes wait out a database that is down for a while, within the budget. The SDK's
  // local activities do not stop retrying at their schedule-to-close timeout (seen on 1.24),
  // so the budget is also spelled as the number of attempts its backoff fits in.
  const quickRetry = { initialMs: 200, coefficient: 2, maximumMs: 10_000 };
  const quick = proxyLocalActivities<Activities>({
    startToCloseTimeout: '30s',
    scheduleToCloseTimeout: infraBudgetMs,
    retry: {
      initialInterval: quickRetry.initialMs,
      backoffCoefficient: quickRetry.coefficient,
      maximumInterval: quickRetry.maximumMs,
      maximumAttempts: attemptsWithin(infraBudgetMs, quickRetry),
    },
  });

  // Every activity heartbeats while it runs (inStep in the activities). A heartbeat
  // timeout is what turns an activity task that was handed out but never ran (a poll
  // response lost on the way, a frozen worker) into a retry within seconds: Temporal
  // retries heartbeat and start-to-close timeouts, never schedule-to-start ones. The
  // SDK sends heartbeats at most every 0.8 × the timeout, so 20 s leaves 4 s for an
  // event loop stalled by a busy worker (stalls of 2-3 s were measured with 50 jobs).
  const SHORT_STEP_HEARTBEAT = '20s';

  const aws = proxyActivities<Activities>({
    startToCloseTimeout: '2m',
    scheduleToCloseTimeout: infraBudgetMs,
    heartbeatTimeout: SHORT_STEP_HEARTBEAT,
    retry: {
      initialInterval: '2s',
      backoffCoefficient: 2,
      maximumInterval: '1m',
      nonRetryableErrorTypes: [...NON_RETRYABLE_TYPES],
    },
  });

  // On cancel, wait until the activity has really stopped (Terraform exited, state saved)
  // before the clean-up destroys from that state: never two Terraform runs in one workspace.
  // The steps that run Terraform wait on their own task queue for a worker's Terraform slot
  // (TERRAFORM_MAX_CONCURRENT); a step still queued after a while is scheduled again, so a long
  // queue never uses up the budget, which is for faults (queueWait.ts).
  const terraform = proxyWithTerraformQueue<Activities>(
    {
      startToCloseTimeout: '2h',
      scheduleToCloseTimeout: infraBudgetMs,
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      heartbeatTimeout: '10s',
      retry: {
        initialInterval: '5s',
        backoffCoefficient: 2,
        // A worker back after a crash loop picks the step up within half a minute.
        maximumInterval: '30s',
        nonRetryableErrorTypes: [...NON_RETRYABLE_TYPES],
      },
    },
    queueCheckMs(infraBudgetMs, terraformQueueCheckMs),
  );

  const readiness = proxyActivities<Activities>({
    startToCloseTimeout: '2h',
    scheduleToCloseTimeout: infraBudgetMs,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    heartbeatTimeout: '10s',
    retry: { initialInterval: '5s', maximumInterval: '30s', nonRetryableErrorTypes: [...NON_RETRYABLE_TYPES] },
  });

  const mail = proxyActivities<Activities>({
    startToCloseTimeout: '1m',
    heartbeatTimeout: SHORT_STEP_HEARTBEAT,
    retry: {
      initialInterval: '5s',
      backoffCoefficient: 2,
      maximumInterval: '5m',
      maximumAttempts: NOTIFY_MAX_ATTEMPTS,
    },
  });
  return { quick, aws, terraform, readiness, mail };
}

export type ActivityProxies = ReturnType<typeof activityProxies>;

/** How many attempts a retry policy's backoff makes before `budgetMs` has passed (at least 2). */
export function attemptsWithin(budgetMs: number, p: { initialMs: number; coefficient: number; maximumMs: number }): number {
  let attempts = 1;
  let waited = 0;
  let interval = p.initialMs;
  while (waited < budgetMs && attempts < 100_000) {
    waited += interval;
    attempts++;
    interval = Math.min(interval * p.coefficient, p.maximumMs);
  }
  return Math.max(attempts, 2);
}
