import { type Client, ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';
import { durationSeconds } from '../config.js';
import type { DriftCheckInput } from '../workflows/driftCheck.js';

/** The one Schedule of the service: every DRIFT_CHECK_INTERVAL, a drift check of every live environment. */
export const DRIFT_SCHEDULE_ID = 'drift-check';

export interface DriftScheduleSettings {
  /** `6h`, `30m`…; `0`: no checks (an existing schedule is removed). */
  interval: string;
  concurrency: number;
  taskQueue: string;
}

/**
 * Creates the schedule, or brings an existing one to the settings: every web
 * process calls it at start, so the last one started wins and all agree.
 * A pass still running when the next is due makes the next one wait its turn
 * (skipped), so passes never pile up.
 */
export async function ensureDriftSchedule(
  client: Client,
  s: DriftScheduleSettings,
): Promise<'created' | 'updated' | 'removed' | 'off'> {
  const handle = client.schedule.getHandle(DRIFT_SCHEDULE_ID);
  const seconds = s.interval === '0' ? 0 : durationSeconds(s.interval);
  if (seconds === 0) {
    try {
      await handle.delete();
      return 'removed';
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) return 'off';
      throw err;
    }
  }
  const args: [DriftCheckInput] = [{ concurrency: s.concurrency }];
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'driftCheck',
    taskQueue: s.taskQueue,
    args,
    workflowExecutionTimeout: `${Math.max(seconds, 3600)}s`,
    staticSummary: `drift check of every live environment (every ${s.interval})`,
  };
  const spec = { intervals: [{ every: `${seconds}s` }] };
  try {
    await client.schedule.create({
      scheduleId: DRIFT_SCHEDULE_ID,
      spec,
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1m' },
      state: { note: `drift check of live environments every ${s.interval}` },
    });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  await handle.update((prev) => ({
    ...prev,
    spec,
    action,
    policies: { ...prev.policies, overlap: ScheduleOverlapPolicy.SKIP },
    state: { ...prev.state, note: `drift check of live environments every ${s.interval}` },
  }));
  return 'updated';
}
