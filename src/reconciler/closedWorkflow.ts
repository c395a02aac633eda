import { type WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { JOB_FAILED_TYPE } from '../domain/failures.js';
import { JOB_STATUSES, type JobStatus } from '../domain/lifecycle.js';

/**
 * How a job's workflow ended, read from Temporal: what the reconciler records
 * when the database still shows the job as active.
 */
export type WorkflowEnding =
  | { kind: 'running' }
  /** No workflow under the job's id (never started, or deleted after its retention). */
  | { kind: 'missing' }
  /** Ended by its own code: the status it returned is the truth. */
  | { kind: 'completed'; status: JobStatus; error: string | null }
  /** Ended from outside, or failed: the job failed, for this reason. */
  | { kind: 'ended'; reason: string; recorded: boolean };

const { HistoryEventFilterType } = proto.temporal.api.enums.v1;

export async function readWorkflowEnding(client: Client, workflowId: string): Promise<WorkflowEnding> {
  const handle = client.workflow.getHandle(workflowId);
  let description: Awaited<ReturnType<typeof handle.describe>>;
  try {
    description = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { kind: 'missing' };
    throw err;
  }
  const status = description.status.name;
  if (status === 'RUNNING') return { kind: 'running' };
  const runHandle = client.workflow.getHandle(workflowId, description.runId);
  switch (status) {
    case 'COMPLETED': {
      const result = (await runHandle.result()) as { status?: string; error?: string } | undefined;
      const returned = JOB_STATUSES.find((s) => s === result?.status);
      if (!returned) return { kind: 'ended', reason: 'the workflow completed without a job status', recorded: false };
      return { kind: 'completed', status: returned, error: result?.error ?? null };
    }
    case 'FAILED': {
      try {
        await runHandle.result();
      } catch (err) {
        const cause = (err as WorkflowFailedError).cause as { message?: string; type?: string } | undefined;
        const message = cause?.message ?? (err as Error).message;
        // JobFailed is the workflow's own ending after it recorded the failure.
        return { kind: 'ended', reason: `the workflow failed: ${message}`, recorded: cause?.type === JOB_FAILED_TYPE };
      }
      return { kind: 'ended', reason: 'the workflow failed', recorded: false };
    }
    case 'TERMINATED': {
      const { reason, identity } = await terminationOf(client, workflowId, description.runId);
      return {
        kind: 'ended',
        reason:
          `the workflow was terminated from Temporal${identity ? ` by ${identity}` : ''}` +
          (reason ? ` (reason: ${JSON.stringify(reason)})` : ' (no reason given)'),
        recorded: false,
      };
    }
    case 'TIMED_OUT':
      return { kind: 'ended', reason: 'the workflow timed out in Temporal (its run or execution timeout)', recorded: false };
    case 'CANCELLED':
      return { kind: 'ended', reason: 'the workflow was cancelled from Temporal', recorded: false };
    default:
      return { kind: 'ended', reason: `the workflow closed (${status})`, recorded: false };
  }
}

/** The terminate request's reason and the identity that sent it, from the close event alone. */
async function terminationOf(client: Client, workflowId: string, runId: string): Promise<{ reason?: string; identity?: string }> {
  try {
    const res = await client.workflowService.getWorkflowExecutionHistory({
      namespace: client.options.namespace,
      execution: { workflowId, runId },
      historyEventFilterType: HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
    });
    const attrs = res.history?.events?.at(-1)?.workflowExecutionTerminatedEventAttributes;
    return { reason: attrs?.reason || undefined, identity: attrs?.identity || undefined };
  } catch {
    return {};
  }
}
