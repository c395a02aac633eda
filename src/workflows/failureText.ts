import { ApplicationFailure, TimeoutFailure } from '@temporalio/workflow';
import { TimeoutType } from '@temporalio/common';

/** What a failure says to people: the cause an activity failure wraps, in words. */
export function describeFailure(err: unknown): string {
  // A step that ran out of its time budget: every attempt was lost to a fault outside the job.
  if (err instanceof TimeoutFailure && err.timeoutType === TimeoutType.SCHEDULE_TO_CLOSE) {
    return 'the step was retried for its whole time budget (STEP_INFRA_RETRY_HOURS): workers kept being lost or the database stayed out of reach';
  }
  // Only runs from before queueWait.ts's patch end this way: no worker took the step in time.
  if (err instanceof TimeoutFailure && err.timeoutType === TimeoutType.SCHEDULE_TO_START) {
    return 'the step waited for a worker and none took it in time: it never started (no fault in the job)';
  }
  if (err instanceof ApplicationFailure || (err as Error)?.name === 'ApplicationFailure') {
    return (err as Error).message;
  }
  // ActivityFailure wraps the real cause.
  const cause = (err as { cause?: unknown })?.cause;
  if (cause instanceof Error && cause.message) return describeFailure(cause);
  return err instanceof Error ? err.message : String(err);
}
