import { ActivityFailure, type ActivityOptions, patched, TimeoutFailure } from '@temporalio/workflow';
import { TimeoutType } from '@temporalio/common';
import type { WithOptions } from './callOptions.js';

/**
 * A Terraform step that waits in its queue for a worker's slot is not at
 * fault, however long the queue: it waits, and the job page says "waiting
 * for a worker". Before this patch the step's time budget (its
 * schedule-to-close timeout, STEP_INFRA_RETRY_HOURS) counted the queue too,
 * and a step that no worker had started yet when it ran out failed the job
 * as if workers kept being lost. Now each scheduling of the step may wait
 * only a while in the queue (a schedule-to-start timeout shorter than the
 * budget, which Temporal does not retry) and is then scheduled again, with
 * its whole budget for when it runs.
 */
export const QUEUE_WAIT_PATCH = 'queue-wait-not-a-fault';

/** How long one scheduling of a Terraform step waits in the queue before it is scheduled again. */
export const DEFAULT_QUEUE_CHECK_MS = 3_600_000;

/** The wait per scheduling: under half the step's budget, so the budget never ends a step that has not started. */
export function queueCheckMs(budgetMs: number, wanted: number = DEFAULT_QUEUE_CHECK_MS): number {
  return Math.max(1_000, Math.min(wanted, Math.floor(budgetMs / 2)));
}

/** The activity failed because no worker took it within its schedule-to-start timeout: it only waited. */
export function onlyWaitedInQueue(err: unknown): boolean {
  return (
    err instanceof ActivityFailure &&
    err.cause instanceof TimeoutFailure &&
    err.cause.timeoutType === TimeoutType.SCHEDULE_TO_START
  );
}

/** Schedules an activity until a worker starts it: a scheduling that only waited in the queue is made again. */
export async function scheduleUntilStarted<T>(schedule: (options: ActivityOptions) => Promise<T>, checkMs: number): Promise<T> {
  for (;;) {
    try {
      return await schedule({ scheduleToStartTimeout: checkMs });
    } catch (err) {
      if (!onlyWaitedInQueue(err)) throw err;
    }
  }
}

/** One activity function, scheduled again while it only waits in the queue (in runs that have the patch). */
export function rescheduledWhileQueued<F>(fn: F, checkMs: number): F {
  const activity = fn as unknown as WithOptions;
  // patched() is asked at each call: the marker belongs before the step's first command.
  const run = (options: ActivityOptions, args: unknown[]) =>
    patched(QUEUE_WAIT_PATCH)
      ? scheduleUntilStarted((wait) => activity.executeWithOptions({ ...wait, ...options }, args), checkMs)
      : activity.executeWithOptions(options, args);
  const call = (...args: unknown[]) => run({}, args);
  call.executeWithOptions = run;
  return call as unknown as F;
}
