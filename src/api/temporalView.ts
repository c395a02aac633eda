import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import proto from '@temporalio/proto';
import { isTerraformActivity } from '../domain/terraformCapacity.js';
import { stepOfActivity } from '../domain/temporalSummaries.js';

/**
 * What only Temporal knows about a job, read with the web's one Temporal call
 * per job view (bounded in time and cached briefly); should Temporal not
 * answer, the job is shown without it:
 * - "waiting for a worker": a step Temporal has scheduled and no worker has
 *   picked up (the job's rows change when a worker starts it, not before);
 * - "stalled": the workflow's own task failing again and again (a worker
 *   refusing a payload it cannot read, a bug in new workflow code), so the job
 *   moves no more while its rows still say what it was doing.
 */

export interface WorkerWait {
  /** The step that waits: init, plan, apply, output, destroy, verify, … */
  step: string;
  /** True: a Terraform step, waiting until a worker has a free Terraform slot (TERRAFORM_MAX_CONCURRENT). */
  terraform: boolean;
  /** When the step (its current attempt) was scheduled, ISO-8601. */
  since: string;
}

/** The job's workflow cannot move on: its task has failed `attempts` times in a row. */
export interface WorkflowStall {
  attempts: number;
  /** When the first of those attempts was scheduled, ISO-8601. */
  since: string;
  /** The last failure's message, when Temporal's history gave it (decoded with the service's key). */
  reason: string | null;
}

/** What Temporal says of a job's workflow now. */
export interface TemporalView {
  waiting: WorkerWait | null;
  stalled: WorkflowStall | null;
}

/** A workflow task retried this often is not a worker restart or a deploy passing by: it is stuck. */
const STALLED_AFTER_ATTEMPTS = 3;

type DescribeResponse = proto.temporal.api.workflowservice.v1.IDescribeWorkflowExecutionResponse;
type Timestamp = proto.google.protobuf.ITimestamp;

const { PendingActivityState } = proto.temporal.api.enums.v1;

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
    return { step: stepOfActivity(type), terraform: isTerraformActivity(type), since: new Date(since).toISOString() };
  }
  return null;
}

/** The stall of a described workflow, if its task keeps failing (the reason is read apart). */
export function stallOf(raw: DescribeResponse): Omit<WorkflowStall, 'reason'> | null {
  const task = raw.pendingWorkflowTask;
  const attempts = task?.attempt ?? 0;
  if (attempts < STALLED_AFTER_ATTEMPTS) return null;
  const since = msOf(task?.originalScheduledTime) ?? msOf(task?.scheduledTime);
  return { attempts, since: since !== undefined ? new Date(since).toISOString() : new Date().toISOString() };
}

/** The newest workflow-task failure's message in the workflow's history, decoded; null if none or unreadable. */
async function lastTaskFailure(client: Client, workflowId: string): Promise<string | null> {
  const res = await client.workflowService.getWorkflowExecutionHistoryReverse({
    namespace: client.options.namespace,
    execution: { workflowId },
    maximumPageSize: 50,
  });
  const failure = res.history?.events?.find((e) => e.workflowTaskFailedEventAttributes)?.workflowTaskFailedEventAttributes
    ?.failure;
  if (!failure) return null;
  if (!failure.encodedAttributes) return failure.message ?? null;
  // The worker's failure converter moved the text into an encrypted payload.
  const converter = client.options.loadedDataConverter;
  let [payload] = [failure.encodedAttributes as proto.temporal.api.common.v1.IPayload];
  for (const codec of [...converter.payloadCodecs].reverse()) [payload] = await codec.decode([payload!]);
  const attrs = converter.payloadConverter.fromPayload<{ message?: string }>(payload!);
  return attrs?.message ?? null;
}

export interface WorkerWaitOptions {
  /** How long a view waits for Temporal before it goes on without its answer. */
  timeoutMs?: number;
  /**
   * How long one describe may take before Temporal counts as not answering.
   * A describe past timeoutMs goes on: a loaded server's late answer serves
   * the views after it, where giving up would leave every job without one.
   */
  answerMs?: number;
  /** How long an answer serves every view of the job (the page polls every 2 s, often from several tabs). */
  freshMs?: number;
  /**
   * Past freshMs and up to this age, an answer still serves views while one
   * asks Temporal again in the background: a view never waits on Temporal
   * for a job others are looking at. The next poll, 2 s later, has the new one.
   */
  staleMs?: number;
  /** After Temporal failed to answer, how long views do not ask (an outage must not slow every page by the timeout). */
  quietMs?: number;
  /** Workflows whose answers are kept; past it the cache is emptied. */
  maxEntries?: number;
}

export type TemporalViewReader = (workflowId: string, opts: { mayWait: boolean }) => Promise<TemporalView>;

const NOTHING: TemporalView = { waiting: null, stalled: null };

/** Views in a row that Temporal kept waiting with no answer coming meanwhile, before views stop asking for quietMs. */
const LATE_BEFORE_QUIET = 3;

interface Answer {
  /** When Temporal was asked: an answer is as old as its question. */
  at: number;
  /** Never rejects: Temporal not answering is NOTHING. */
  answer: Promise<TemporalView>;
  settled: boolean;
  /** The describe asked in the background for a stale answer, until it replaces this one. */
  refresh?: Answer;
}

function entry(at: number, answer: Promise<TemporalView>): Answer {
  const e: Answer = { at, answer, settled: false };
  void answer.then(() => {
    e.settled = true;
  });
  return e;
}

/** A reader over `client`: answers in at most `timeoutMs`, nothing whenever Temporal could not say. */
export function temporalViewReader(client: Client, opts: WorkerWaitOptions = {}): TemporalViewReader {
  const timeoutMs = opts.timeoutMs ?? 1_000;
  const answerMs = Math.max(opts.answerMs ?? 10_000, timeoutMs);
  const freshMs = opts.freshMs ?? 1_500;
  const staleMs = Math.max(opts.staleMs ?? 2_500, freshMs);
  const quietMs = opts.quietMs ?? 10_000;
  const maxEntries = opts.maxEntries ?? 1_000;
  const answers = new Map<string, Answer>();
  let quietUntil = 0;
  /** Views that gave up waiting since Temporal last answered: slow is a loaded server, a run of them a hung one. */
  let lateInARow = 0;

  const ask = async (workflowId: string, mayWait: boolean): Promise<TemporalView> => {
    try {
      const { raw } = await client.withDeadline(Date.now() + answerMs, () => client.workflow.getHandle(workflowId).describe());
      const stall = stallOf(raw);
      const reason = stall ? await lastTaskFailure(client, workflowId).catch(() => null) : null;
      lateInARow = 0;
      return { waiting: mayWait ? workerWaitOf(raw) : null, stalled: stall ? { ...stall, reason } : null };
    } catch (err) {
      // A job whose workflow is gone waits for nothing; anything else: Temporal is not answering.
      if (!(err instanceof WorkflowNotFoundError)) quietUntil = Date.now() + quietMs;
      return NOTHING;
    }
  };

  /** The answer if it comes within the view's time, else NOTHING (the describe goes on for the views after). */
  const inTime = (e: Answer): Promise<TemporalView> => {
    if (e.settled) return e.answer;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<TemporalView>((resolve) => {
      timer = setTimeout(() => {
        if (++lateInARow >= LATE_BEFORE_QUIET) {
          quietUntil = Date.now() + quietMs;
          lateInARow = 0;
        }
        resolve(NOTHING);
      }, timeoutMs);
    });
    return Promise.race([e.answer, late]).finally(() => clearTimeout(timer));
  };

  return (workflowId, { mayWait }) => {
    const now = Date.now();
    if (now < quietUntil) return Promise.resolve(NOTHING);
    const key = `${mayWait ? 'w' : 's'}:${workflowId}`;
    const kept = answers.get(key);
    // One describe at a time per job: views wait for the one asked, never start another.
    if (kept && !kept.settled) return inTime(kept);
    if (kept && now - kept.at < freshMs) return kept.answer;
    if (kept && now - kept.at < staleMs) {
      if (!kept.refresh) {
        const next = entry(now, ask(workflowId, mayWait));
        kept.refresh = next;
        void next.answer.then(() => {
          // Unless the cache was emptied meanwhile, or a newer answer is there.
          if (answers.get(key) === kept) answers.set(key, next);
        });
      }
      return kept.answer;
    }
    if (kept?.refresh && !kept.refresh.settled) return inTime(kept.refresh);
    if (answers.size >= maxEntries) answers.clear();
    const fresh = entry(now, ask(workflowId, mayWait));
    answers.set(key, fresh);
    return inTime(fresh);
  };
}

const readers = new WeakMap<Client, TemporalViewReader>();

/** The one reader of the web process's client, shared by the pages and the API (one cache). */
export function temporalViewsOf(client: Client): TemporalViewReader {
  let reader = readers.get(client);
  if (!reader) {
    reader = temporalViewReader(client);
    readers.set(client, reader);
  }
  return reader;
}

/** Whether a job in this status may have an open workflow to ask about (a stall can come at any of them). */
export function mayHaveOpenWorkflow(status: string, hasResources: boolean): boolean {
  if (['running', 'awaiting_approval', 'cancelling', 'destroying', 'succeeded'].includes(status)) return true;
  return status === 'failed' && hasResources;
}

/** Whether a job in this status (and revision state) runs steps that may wait for a worker. */
export function mayWaitForWorker(status: string, revisionState?: string | null): boolean {
  if (status === 'running' || status === 'cancelling' || status === 'destroying') return true;
  return status === 'succeeded' && (revisionState === 'planning' || revisionState === 'applying');
}
