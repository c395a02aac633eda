import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import proto from '@temporalio/proto';
import { isTerraformActivity } from '../domain/terraformCapacity.js';

/**
 * "Waiting for a worker": a job's step that Temporal has scheduled and no
 * worker has picked up, read from the workflow's pending activities (the
 * web's one Temporal call per job view, bounded in time and cached briefly).
 * Temporal is the only one who knows: the job's rows change when a worker
 * starts the step, not while it waits. Should Temporal not answer, the job
 * is shown without it.
 */

export interface WorkerWait {
  /** The step that waits: init, plan, apply, output, destroy, verify, … */
  step: string;
  /** True: a Terraform step, waiting until a worker has a free Terraform slot (TERRAFORM_MAX_CONCURRENT). */
  terraform: boolean;
  /** When the step (its current attempt) was scheduled, ISO-8601. */
  since: string;
}

type DescribeResponse = proto.temporal.api.workflowservice.v1.IDescribeWorkflowExecutionResponse;
type Timestamp = proto.google.protobuf.ITimestamp;

const { PendingActivityState } = proto.temporal.api.enums.v1;

/** The job steps the activities record (job_steps); an activity not listed is named as it is. */
const STEP_OF_ACTIVITY: Readonly<Record<string, string>> = {
  verifyCredentials: 'verify',
  preflight: 'preflight',
  renderWorkspace: 'render',
  terraformInit: 'init',
  terraformPlan: 'plan',
  terraformApply: 'apply',
  terraformOutput: 'output',
  terraformDestroy: 'destroy',
  waitReady: 'ready',
  applyOnInstance: 'ready',
  notify: 'notify',
};

/** A step handed to a worker within this long was never waiting: the page would only flicker. */
const HAND_OFF_MS = 1_000;

function msOf(ts: Timestamp | null | undefined): number | undefined {
  if (!ts || ts.seconds == null) return undefined;
  const seconds = typeof ts.seconds === 'number' ? ts.seconds : ts.seconds.toNumber();
  return seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
}

/**
 * The step of a described workflow that waits for a worker, if one does: an
 * activity scheduled, not started, and not in a retry's backoff (that one
 * waits for its timer, not for a worker).
 */
export function workerWaitOf(raw: DescribeResponse, nowMs = Date.now()): WorkerWait | null {
  for (const a of raw.pendingActivities ?? []) {
    if (a.state !== PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED) continue;
    const next = msOf(a.nextAttemptScheduleTime);
    if (next !== undefined && next > nowMs) continue;
    const since = next ?? msOf(a.scheduledTime);
    if (since === undefined || nowMs - since < HAND_OFF_MS) continue;
    const type = a.activityType?.name ?? '';
    return { step: STEP_OF_ACTIVITY[type] ?? type, terraform: isTerraformActivity(type), since: new Date(since).toISOString() };
  }
  return null;
}

export interface WorkerWaitOptions {
  /** How long one describe may take before the view goes on without it. */
  timeoutMs?: number;
  /** How long an answer serves every view of the job (the page polls every 2 s, often from several tabs). */
  freshMs?: number;
  /** After Temporal failed to answer, how long views do not ask (an outage must not slow every page by the timeout). */
  quietMs?: number;
  /** Workflows whose answers are kept; past it the cache is emptied. */
  maxEntries?: number;
}

export type WorkerWaitReader = (workflowId: string) => Promise<WorkerWait | null>;

/** A reader over `client`: answers in at most `timeoutMs`, null whenever Temporal could not say. */
export function workerWaitReader(client: Client, opts: WorkerWaitOptions = {}): WorkerWaitReader {
  const timeoutMs = opts.timeoutMs ?? 1_000;
  const freshMs = opts.freshMs ?? 1_500;
  const quietMs = opts.quietMs ?? 10_000;
  const maxEntries = opts.maxEntries ?? 1_000;
  const answers = new Map<string, { at: number; answer: Promise<WorkerWait | null> }>();
  let quietUntil = 0;

  const ask = async (workflowId: string): Promise<WorkerWait | null> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      const described = client.withDeadline(Date.now() + timeoutMs, () => client.workflow.getHandle(workflowId).describe());
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('Temporal did not answer in time')), timeoutMs);
      });
      return workerWaitOf((await Promise.race([described, late])).raw);
    } catch (err) {
      // A job whose workflow is gone waits for nothing; anything else: Temporal is not answering.
      if (!(err instanceof WorkflowNotFoundError)) quietUntil = Date.now() + quietMs;
      return null;
    } finally {
      clearTimeout(timer);
    }
  };

  return (workflowId) => {
    const now = Date.now();
    if (now < quietUntil) return Promise.resolve(null);
    const kept = answers.get(workflowId);
    if (kept && now - kept.at < freshMs) return kept.answer;
    if (answers.size >= maxEntries) answers.clear();
    const answer = ask(workflowId);
    answers.set(workflowId, { at: now, answer });
    return answer;
  };
}

const readers = new WeakMap<Client, WorkerWaitReader>();

/** The one reader of the web process's client, shared by the pages and the API (one cache). */
export function workerWaitsOf(client: Client): WorkerWaitReader {
  let reader = readers.get(client);
  if (!reader) {
    reader = workerWaitReader(client);
    readers.set(client, reader);
  }
  return reader;
}

/** Whether a job in this status (and revision state) runs steps that may wait for a worker. */
export function mayWaitForWorker(status: string, revisionState?: string | null): boolean {
  if (status === 'running' || status === 'cancelling' || status === 'destroying') return true;
  return status === 'succeeded' && (revisionState === 'planning' || revisionState === 'applying');
}
