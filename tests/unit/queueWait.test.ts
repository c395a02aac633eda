import { describe, expect, it } from 'vitest';
import { ActivityFailure, ApplicationFailure, RetryState, TimeoutFailure, TimeoutType } from '@temporalio/common';
import type { ActivityOptions } from '@temporalio/workflow';
import { describeFailure } from '../../src/workflows/failureText.js';
import { DEFAULT_QUEUE_CHECK_MS, onlyWaitedInQueue, queueCheckMs, scheduleUntilStarted } from '../../src/workflows/queueWait.js';

/**
 * A Terraform step that waits for a worker's slot is scheduled again when its
 * schedule-to-start timeout fires (Temporal does not retry that timeout), and
 * anything else that ends the activity still ends the step.
 */

const timedOut = (type: TimeoutType) =>
  new ActivityFailure(
    'activity timed out',
    'terraformApply',
    '7',
    RetryState.NON_RETRYABLE_FAILURE,
    '',
    new TimeoutFailure(`activity timeout (${type})`, undefined, type),
  );

describe('queue wait', () => {
  it('waits under half the step budget per scheduling, so the budget never ends a step not started', () => {
    expect(queueCheckMs(6 * 3_600_000)).toBe(DEFAULT_QUEUE_CHECK_MS);
    expect(queueCheckMs(18_000)).toBe(9_000);
    expect(queueCheckMs(6 * 3_600_000, 2_000)).toBe(2_000);
    expect(queueCheckMs(6 * 3_600_000, 10)).toBe(1_000);
  });

  it('tells a step that only waited in the queue from one that failed', () => {
    expect(onlyWaitedInQueue(timedOut(TimeoutType.SCHEDULE_TO_START))).toBe(true);
    expect(onlyWaitedInQueue(timedOut(TimeoutType.SCHEDULE_TO_CLOSE))).toBe(false);
    expect(onlyWaitedInQueue(timedOut(TimeoutType.HEARTBEAT))).toBe(false);
    expect(onlyWaitedInQueue(ApplicationFailure.create({ message: 'terraform apply failed' }))).toBe(false);
  });

  it('schedules the step again while it only waits, then returns what the run returns', async () => {
    const calls: ActivityOptions[] = [];
    const result = await scheduleUntilStarted(async (options) => {
      calls.push(options);
      if (calls.length < 3) throw timedOut(TimeoutType.SCHEDULE_TO_START);
      return 'applied';
    }, 5_000);
    expect(result).toBe('applied');
    expect(calls).toEqual([
      { scheduleToStartTimeout: 5_000 },
      { scheduleToStartTimeout: 5_000 },
      { scheduleToStartTimeout: 5_000 },
    ]);
  });

  it('lets every other ending through at once: faults, the budget, errors in the job', async () => {
    for (const err of [
      timedOut(TimeoutType.SCHEDULE_TO_CLOSE),
      timedOut(TimeoutType.START_TO_CLOSE),
      ApplicationFailure.create({ message: 'plan failed', nonRetryable: true }),
    ]) {
      let calls = 0;
      await expect(
        scheduleUntilStarted(async () => {
          calls++;
          throw err;
        }, 5_000),
      ).rejects.toBe(err);
      expect(calls).toBe(1);
    }
  });

  it('says a step that was never started waited for a worker, not that workers were lost', () => {
    expect(describeFailure(timedOut(TimeoutType.SCHEDULE_TO_START))).toMatch(/waited for a worker/);
    expect(describeFailure(timedOut(TimeoutType.SCHEDULE_TO_CLOSE))).toMatch(/whole time budget/);
  });
});
