import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';

const E = proto.temporal.api.enums.v1.EventType;

/**
 * Where a job's time went as Temporal recorded it, up to the workflow task
 * that follows its last step before `succeeded` (the ready step): the
 * orchestration part of the overhead, in the server's own clock.
 */
export interface HistoryTimings {
  /** Activity tasks waiting to be picked up: scheduled → started, summed (eager dispatch makes this ~0). */
  activityQueueMs: number;
  /** Activities running on a worker: started → completed, summed. */
  activityRunMs: number;
  /** Workflow tasks: scheduled → completed, summed (queue wait plus the worker's turn, with local activities). */
  workflowTaskMs: number;
  activities: number;
}

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
  t ? Number(t.seconds ?? 0) * 1000 + (t.nanos ?? 0) / 1e6 : 0;

export async function historyTimings(client: Client, workflowId: string, lastActivity = 'waitReady'): Promise<HistoryTimings> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const events = history.events ?? [];
  const out: HistoryTimings = { activityQueueMs: 0, activityRunMs: 0, workflowTaskMs: 0, activities: 0 };
  const scheduledAt = new Map<string, number>();
  const nameOf = new Map<string, string>();
  let wftScheduled = 0;
  let lastDone = false;
  for (const e of events) {
    const id = String(e.eventId);
    const at = ms(e.eventTime);
    switch (e.eventType) {
      case E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
        wftScheduled = at;
        break;
      case E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
        out.workflowTaskMs += at - wftScheduled;
        if (lastDone) return out;
        break;
      case E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        scheduledAt.set(id, at);
        nameOf.set(id, e.activityTaskScheduledEventAttributes?.activityType?.name ?? '');
        out.activities++;
        break;
      case E.EVENT_TYPE_ACTIVITY_TASK_STARTED: {
        const sid = String(e.activityTaskStartedEventAttributes?.scheduledEventId);
        const wait = at - (scheduledAt.get(sid) ?? at);
        out.activityQueueMs += wait;
        scheduledAt.set(sid, at);
        break;
      }
      case E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: {
        const sid = String(e.activityTaskCompletedEventAttributes?.scheduledEventId);
        out.activityRunMs += at - (scheduledAt.get(sid) ?? at);
        if (nameOf.get(sid) === lastActivity) lastDone = true;
        break;
      }
    }
  }
  return out;
}

/** What Temporal recorded of a job's wait for workers: the longest wait of one Terraform scheduling, timeouts, retries. */
export interface QueueRecord {
  /** Longest scheduled → started of a Terraform activity (a still-unstarted one counts to its timeout). */
  longestTerraformWaitMs: number;
  /** ActivityTaskTimedOut events, of any kind (a schedule-to-start one is a wait for a worker that was scheduled again). */
  timedOut: number;
  scheduleToStartTimeouts: number;
  /** Activity attempts past the first: retries after a failure or a lost worker. */
  retries: number;
  /** Each retried attempt: the activity and what ended the attempt before it. */
  retried: string[];
  /** Each scheduling of a Terraform activity: scheduled → started (or timed out unstarted), epoch ms. */
  terraformWaits: [number, number][];
}

export async function queueRecord(
  client: Client,
  workflowId: string,
  isTerraform: (type: string) => boolean,
): Promise<QueueRecord> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const out: QueueRecord = {
    longestTerraformWaitMs: 0,
    timedOut: 0,
    scheduleToStartTimeouts: 0,
    retries: 0,
    retried: [],
    terraformWaits: [],
  };
  const terraformScheduledAt = new Map<string, number>();
  const nameOf = new Map<string, string>();
  const waited = (sid: string, at: number) => {
    const from = terraformScheduledAt.get(sid);
    if (from !== undefined) {
      out.longestTerraformWaitMs = Math.max(out.longestTerraformWaitMs, at - from);
      out.terraformWaits.push([from, at]);
    }
    terraformScheduledAt.delete(sid);
  };
  for (const e of history.events ?? []) {
    const at = ms(e.eventTime);
    switch (e.eventType) {
      case E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: {
        const name = e.activityTaskScheduledEventAttributes?.activityType?.name ?? '';
        nameOf.set(String(e.eventId), name);
        if (isTerraform(name)) terraformScheduledAt.set(String(e.eventId), at);
        break;
      }
      case E.EVENT_TYPE_ACTIVITY_TASK_STARTED: {
        const a = e.activityTaskStartedEventAttributes;
        waited(String(a?.scheduledEventId), at);
        if ((a?.attempt ?? 1) > 1) {
          out.retries++;
          const cause = a?.lastFailure?.message ?? '';
          out.retried.push(`${nameOf.get(String(a?.scheduledEventId))} attempt ${a?.attempt}: ${cause.slice(0, 160)}`);
        }
        break;
      }
      case E.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: {
        const a = e.activityTaskTimedOutEventAttributes;
        out.timedOut++;
        const type = a?.failure?.timeoutFailureInfo?.timeoutType;
        if (type === proto.temporal.api.enums.v1.TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START) {
          out.scheduleToStartTimeouts++;
          waited(String(a?.scheduledEventId), at);
        }
        break;
      }
    }
  }
  return out;
}
