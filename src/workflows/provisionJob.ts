import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  ContinueAsNew,
  continueAsNew,
  isCancellation,
  patched,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { JobSpec } from '../domain/jobSpec.js';
import type { JobStatus, JobStep } from '../domain/lifecycle.js';
import type { NotificationEvent } from '../domain/notifications.js';
import { DEFAULT_INFRA_RETRY_HOURS, JOB_FAILED_TYPE } from '../domain/failures.js';
import { activityProxies, type ActivityProxies } from './activityProxies.js';
import {
  approveSignal,
  cancelSignal,
  destroySignal,
  progressQuery,
  rejectSignal,
  type ApproveRequest,
  type JobProgress,
  type RejectRequest,
  type StepRecord,
} from './messages.js';
import { describeFailure as describe } from './failureText.js';
import { lifetime } from './lifetime.js';
import { liveChanges } from './revision.js';
import { jobVisibility, type JobVisibility } from './visibility.js';

export interface ProvisionJobInput {
  jobId: string;
  /** Full spec, secrets included: the payload codec encrypts it in history. */
  spec: JobSpec;
  /** How long a plan may wait for approval before the job ends `rejected`. */
  approvalTimeoutMs: number;
  /**
   * How long each step keeps retrying infrastructure faults (lost workers, an
   * unreachable database) before the job fails; absent in jobs started before
   * it existed (STEP_INFRA_RETRY_HOURS).
   */
  infraRetryBudgetMs?: number;
  /** How long a Terraform step waits in its queue before it is scheduled again; unset: queueWait.ts's default (tests set it low). */
  terraformQueueCheckMs?: number;
  /** `destroy`: a run started only to destroy what an earlier run, since closed, left behind. */
  mode?: 'provision' | 'destroy';
  /**
   * Set when the job's workflow continued as new while its environment waits
   * for the destroy: what the earlier run knew, so this one only waits.
   */
  carried?: CarriedState;
  /** Events after which a waiting run continues as new (default 10,000; tests set it low). */
  historyBound?: number;
}

export interface CarriedState {
  status: 'succeeded' | 'failed';
  /** When the job started (its first run): the TTL limit counts from there. */
  startedAt: string;
  destroyAt?: string;
  hasResources: boolean;
  error?: string;
}

const DEFAULT_HISTORY_BOUND = 10_000;
/** Patch: a destroy that arrives while a waiting run finishes its handlers before switching is kept. */
const DESTROY_BEFORE_SWITCH = 'destroy-before-switch';

export interface ProvisionJobResult {
  status: JobStatus;
  error?: string;
}

const HOUR = 3_600_000;

/**
 * One job, from the run request to its destroy. Whatever happens inside, the
 * job's row ends in a final status that says why: an unexpected error is
 * recorded as `failed` before the workflow itself fails (a terminate or
 * timeout from outside, which no workflow code sees, is caught by the
 * reconciler in the web process).
 */
export async function provisionJob(input: ProvisionJobInput): Promise<ProvisionJobResult> {
  // Before any command: whether this run keeps its search attributes current (a patch).
  const startStatus = input.carried?.status ?? (input.mode === 'destroy' ? 'destroying' : 'running');
  const visible = jobVisibility({ jobId: input.jobId, spec: input.spec, status: startStatus });
  const acts = visible.summarized(
    activityProxies(input.infraRetryBudgetMs ?? DEFAULT_INFRA_RETRY_HOURS * HOUR, input.terraformQueueCheckMs),
  );
  // A run that carries on a waiting job starts as what it carries: handlers registered
  // below take Updates buffered for this run at once, and must see the job as it is.
  const carried = input.carried;
  const progress: JobProgress = {
    status: carried?.status ?? 'running',
    step: null,
    steps: [],
    startedAt: carried?.startedAt ?? new Date().toISOString(),
    hasResources: carried?.hasResources ?? false,
    ...(carried?.error ? { error: carried.error } : {}),
    ...(carried?.destroyAt ? { destroyAt: carried.destroyAt } : {}),
  };
  try {
    return await runJob(input, acts, progress, visible);
  } catch (err) {
    if ((err as ApplicationFailure)?.type === JOB_FAILED_TYPE) throw err; // recorded already
    if (err instanceof ContinueAsNew) throw err; // not an ending: the job goes on in the next run
    const error = `the workflow stopped on an unexpected error: ${describe(err)}`;
    visible.status('failed');
    await CancellationScope.nonCancellable(async () => {
      try {
        await acts.quick.recordJob({ jobId: input.jobId, status: 'failed', error, finishedAt: new Date().toISOString() });
      } catch {
        // The database stayed out of reach for the whole budget: the reconciler records it.
      }
    });
    // A failed workflow, not a workflow task retried forever: the job says failed, so must Temporal.
    throw ApplicationFailure.create({
      message: error,
      type: 'WorkflowError',
      nonRetryable: true,
      cause: err instanceof Error ? err : undefined,
    });
  }
}

async function runJob(
  input: ProvisionJobInput,
  acts: ActivityProxies,
  progress: JobProgress,
  visible: JobVisibility,
): Promise<ProvisionJobResult> {
  const { quick, aws, terraform, readiness, mail } = acts;
  const { jobId, spec } = input;
  const now = () => new Date().toISOString();
  let cancelRequested = false;
  let destroyRequested = false;
  let decision: { approved: true; by: ApproveRequest } | { approved: false; by: RejectRequest } | undefined;
  const mainScope = new CancellationScope();
  /** A live environment waiting for its destroy: what its TTL and revisions may change. */
  const isLive = () => progress.status === 'succeeded' && !destroyRequested;
  // Before the signal handlers, which may run at once for signals buffered for this run.
  const changes = liveChanges({
    jobId,
    spec,
    acts,
    progress,
    approvalTimeoutMs: input.approvalTimeoutMs,
    isLive,
    describe,
    onStep: visible.step,
  });

  setHandler(progressQuery, () => progress);
  setHandler(cancelSignal, () => {
    // During a revision, cancel stops the revision; the environment it changes stays.
    if (changes.cancel()) return;
    if (cancelRequested || !['running', 'awaiting_approval'].includes(progress.status)) return;
    cancelRequested = true;
    mainScope.cancel();
  });
  setHandler(destroySignal, () => {
    destroyRequested = true;
    // A destroy does not wait for a revision to finish: the revision stops, then all is destroyed.
    changes.cancel();
  });
  setHandler(approveSignal, (req) => {
    if (progress.status === 'awaiting_approval' && !decision) decision = { approved: true, by: req };
    else changes.decide({ approved: true, by: req });
  });
  setHandler(rejectSignal, (req) => {
    if (progress.status === 'awaiting_approval' && !decision) decision = { approved: false, by: req };
    else changes.decide({ approved: false, by: req });
  });

  const setStatus = async (status: JobStatus, extra: { error?: string | null; finished?: boolean } = {}) => {
    progress.status = status;
    visible.status(status);
    if (extra.error !== undefined) progress.error = extra.error ?? undefined;
    if (extra.finished) progress.finishedAt = now();
    await quick.recordJob({
      jobId,
      status,
      error: extra.error,
      finishedAt: extra.finished ? progress.finishedAt : undefined,
    });
  };

  /** Tracks the step for the query; the activity itself writes job_steps. */
  async function step<T>(name: JobStep, run: () => Promise<T>): Promise<T> {
    const record: StepRecord = { step: name, state: 'running', startedAt: now() };
    progress.step = name;
    visible.step(name);
    progress.steps.push(record);
    try {
      const result = await run();
      record.state = 'succeeded';
      return result;
    } catch (err) {
      record.state = isCancellation(err) ? 'cancelled' : 'failed';
      record.error = describe(err);
      throw err;
    } finally {
      record.finishedAt = now();
    }
  }

  const notify = async (event: NotificationEvent) => {
    // A notification that cannot be sent is recorded by the activity; it never fails the job.
    try {
      await mail.notify({ jobId, event });
    } catch {
      /* recorded on the job by the activity */
    }
  };

  /**
   * Whether the job's state holds anything to destroy. The check reads the state
   * file and treats none or an empty one as nothing created; should it fail all
   * the same, resources are assumed (a destroy of nothing is a quick no-op, a
   * resource forgotten is a bill).
   */
  const resourcesLeft = async (): Promise<boolean> => {
    try {
      return await quick.stateHasResources({ jobId });
    } catch {
      return true;
    }
  };

  const destroyResources = async () => {
    await setStatus('destroying');
    await step('destroy', () => terraform.terraformDestroy({ jobId, spec: changes.spec }));
    progress.hasResources = false;
  };

  // The TTL counts from the start of the job, so the destroy time is known (and shown) from the start.
  const carried = input.carried;
  const jobStartMs = carried ? Date.parse(carried.startedAt) : workflowInfo().startTime.getTime();
  const ttlHours = spec.options?.ttlHours;
  const life = lifetime({
    jobId,
    quick,
    progress,
    jobStartMs,
    destroyAtMs: carried
      ? carried.destroyAt
        ? Date.parse(carried.destroyAt)
        : undefined
      : ttlHours
        ? jobStartMs + ttlHours * HOUR
        : undefined,
    isLive,
  });

  if (carried) {
    // The same environment, waiting on in a new run: nothing to provision, nothing to announce again.
    return CancellationScope.nonCancellable(() => waitForDestroy());
  }
  if (input.mode === 'destroy') {
    // An earlier run of this job closed without destroying what it made; the web set the job `destroying`.
    progress.hasResources = true;
    destroyRequested = true;
    return CancellationScope.nonCancellable(() => waitForDestroy());
  }
  await quick.recordJob({ jobId, status: 'running', destroyAt: progress.destroyAt });

  // --- provisioning, cancellable as a whole -------------------------------------------------
  let outcome: 'succeeded' | 'failed' | 'cancelled' | 'rejected';
  try {
    outcome = await mainScope.run(async () => {
      const identity = await step('verify', () => aws.verifyCredentials({ jobId, spec }));
      visible.account(identity.accountId);
      const pre = await step('preflight', () => aws.preflight({ jobId, spec, accountId: identity.accountId }));
      await step('render', () => terraform.renderWorkspace({ jobId, spec, amiId: pre.amiId }));
      await step('init', () => terraform.terraformInit({ jobId, spec }));
      const plan = await step('plan', () => terraform.terraformPlan({ jobId, spec }));

      // A team's policy may ask for approval only when the plan replaces or destroys something.
      const approvalNeeded =
        spec.options?.requireApproval || (spec.options?.approveWhen === 'replace_or_destroy' && plan.destroy > 0);
      if (approvalNeeded) {
        const approved = await step('approval', async () => {
          progress.approvalDeadline = new Date(Date.now() + input.approvalTimeoutMs).toISOString();
          await quick.recordApprovalStep({ jobId, state: 'running' });
          await setStatus('awaiting_approval');
          await notify('approval_needed');
          const decided = await condition(() => decision !== undefined, input.approvalTimeoutMs);
          progress.approvalDeadline = undefined;
          const d = decided ? decision : undefined;
          let detail: string;
          if (!d) detail = 'no decision before the approval deadline';
          else if (d.approved) detail = `approved by ${d.by.approver}${d.by.comment ? `: ${d.by.comment}` : ''}`;
          else detail = `rejected by ${d.by.by}: ${d.by.reason}`;
          await quick.recordApprovalStep({ jobId, state: d?.approved ? 'succeeded' : 'failed', detail });
          if (!d?.approved) {
            progress.error = detail;
            return false;
          }
          await setStatus('running');
          return true;
        });
        if (!approved) return 'rejected' as const;
      }

      progress.hasResources = true; // from here on, something may exist in the account
      await step('apply', () => terraform.terraformApply({ jobId, spec }));
      const outputs = await step('output', () => terraform.terraformOutput({ jobId, spec }));
      await step('ready', () => readiness.waitReady({ jobId, spec, outputs }));
      return 'succeeded' as const;
    });
  } catch (err) {
    if (isCancellation(err) || cancelRequested) {
      outcome = 'cancelled';
    } else {
      outcome = 'failed';
      progress.error = describe(err);
    }
  }

  // --- after provisioning: clean-up that cannot itself be cancelled ----------------------------
  return CancellationScope.nonCancellable(async () => {
    if (outcome === 'rejected') {
      await setStatus('rejected', { error: progress.error ?? null, finished: true });
      await notify('rejected');
      return { status: 'rejected' as const, error: progress.error };
    }

    if (outcome === 'cancelled') {
      await setStatus('cancelling');
      if (progress.hasResources || (await resourcesLeft())) {
        try {
          await destroyResources();
        } catch (err) {
          // Clean-up failed: say so, keep the job destroyable instead of pretending.
          await setStatus('failed', { error: `cancelled, but clean-up failed: ${describe(err)}`, finished: true });
          await notify('failed');
          return waitForDestroy();
        }
      }
      await setStatus('cancelled', { finished: true });
      await notify('cancelled');
      return { status: 'cancelled' as const };
    }

    if (outcome === 'failed') {
      progress.hasResources = await resourcesLeft();
      const left = progress.hasResources ? 'resources may remain: destroy the job to remove them' : 'nothing was created';
      await setStatus('failed', { error: `${progress.error ?? 'unknown error'} (${left})`, finished: true });
      await notify('failed');
      if (!progress.hasResources) {
        // Nothing to clean up: end the workflow as failed, so Temporal shows it too.
        throw ApplicationFailure.nonRetryable(progress.error ?? 'job failed', JOB_FAILED_TYPE);
      }
      return waitForDestroy();
    }

    await setStatus('succeeded', { error: null, finished: true });
    await step('notify', () => mail.notify({ jobId, event: 'succeeded' })).catch(() => undefined);
    return waitForDestroy();
  });

  /** A long wait (TTL warnings, changes, destroy retries) must not grow one history without bound. */
  function historyTooLong(): boolean {
    const info = workflowInfo();
    return info.continueAsNewSuggested || info.historyLength > (input.historyBound ?? DEFAULT_HISTORY_BOUND);
  }

  /**
   * Continues the job in a new run that only waits, carrying what this one
   * knows. Handlers still running finish first, so an Update or signal taken
   * by this run is not dropped; one that arrives in the switch reaches the
   * new run (Temporal hands it over or the caller retries).
   */
  async function continueWaitingInNewRun(): Promise<void> {
    await condition(allHandlersFinished);
    // A revision an Update took meanwhile runs in this run first: the next run is never told of it.
    if (changes.pending) return;
    // So does a destroy that came while the handlers finished: the carried state has no place for it,
    // and runs from before this check switched without it (the destroy was lost).
    if (destroyRequested && patched(DESTROY_BEFORE_SWITCH)) return;
    const destroyAtMs = life.destroyAtMs;
    const state: CarriedState = {
      status: progress.status === 'failed' ? 'failed' : 'succeeded',
      startedAt: new Date(jobStartMs).toISOString(),
      destroyAt: destroyAtMs !== undefined ? new Date(destroyAtMs).toISOString() : undefined,
      hasResources: progress.hasResources,
      error: progress.error,
    };
    // The spec the environment runs now (after its revisions) is the one the next run holds.
    return continueAsNew<typeof provisionJob>({ ...input, spec: changes.spec, carried: state });
  }

  /**
   * The environment's whole life is this workflow: after success (or a failure
   * that left resources) it waits for `destroy` or the TTL, then destroys;
   * a destroy that fails leaves the job `failed` and destroyable again.
   */
  async function waitForDestroy(): Promise<ProvisionJobResult> {
    let warnings = life.warningsFrom(jobStartMs);

    const woken = () => destroyRequested || life.changed || changes.pending;
    while (!destroyRequested) {
      if (changes.pending) {
        await changes.runPending();
        continue;
      }
      if (historyTooLong()) {
        await continueWaitingInNewRun();
        continue;
      }
      if (life.takeChange()) {
        // A new TTL: its warnings are scheduled afresh (the ones already sent for the old one may come again).
        warnings = life.warningsFrom(Date.now());
      }
      const destroyAtMs = life.destroyAtMs;
      if (destroyAtMs === undefined) {
        await condition(woken);
        continue;
      }
      const remaining = destroyAtMs - Date.now();
      if (remaining <= 0) break;
      const next = warnings.find((w) => remaining > w.beforeMs);
      if (await condition(woken, next ? remaining - next.beforeMs : remaining)) continue;
      if (next) {
        warnings.splice(warnings.indexOf(next), 1);
        await notify(next.event);
      }
    }

    for (;;) {
      try {
        await destroyResources();
        await setStatus('destroyed', { error: null, finished: true });
        await notify('destroyed');
        return { status: 'destroyed' };
      } catch (err) {
        await setStatus('failed', { error: `destroy failed: ${describe(err)}`, finished: true });
        await notify('destroy_failed');
        destroyRequested = false;
        await condition(() => destroyRequested);
      }
    }
  }
}
