import { Context, CancelledFailure } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../db/database.js';
import { beginStepAttempt, finishStep, updateJob, type StepAttempt } from '../db/jobs.js';
import type { JobStep } from '../domain/lifecycle.js';
import { JOB_ERROR_ATTEMPTS, type StepKind } from '../domain/failures.js';
import { LogSink } from './logSink.js';
import { exhausted, isInfraFault, mapFailures, toFailure } from './failures.js';
import { jobLogger } from '../observability/logger.js';
import { stepFinished } from '../observability/metrics.js';

export interface StepIo {
  sink: LogSink;
  signal: AbortSignal;
  heartbeat: () => void;
  attempt: number;
}

export type StepRunner = <T>(
  jobId: string,
  step: JobStep,
  run: (io: StepIo) => Promise<T>,
  secrets?: string[],
  /** 0: the job's first run; N: a step of revision N. */
  revision?: number,
) => Promise<T>;

/**
 * Runs one step attempt: job_steps row, a log sink, heartbeats, cancellation
 * and failure mapping. Errors in the job spend the step's small budget of
 * attempts; infrastructure faults (a lost or stopping worker, the database
 * out of reach) are recorded as `interrupted` and retried without a count,
 * within the time budget the workflow gives the step.
 */
export function createStepRunner(deps: { db: Db; heartbeatMs: number; onFailed?: (jobId: string) => void }): StepRunner {
  const { db, heartbeatMs } = deps;
  return async function inStep<T>(
    jobId: string,
    step: JobStep,
    run: (io: StepIo) => Promise<T>,
    secrets: string[] = [],
    revision = 0,
  ): Promise<T> {
    const ctx = Context.current();
    const { workflowId = `job-${jobId}`, runId = '' } = ctx.info.workflowExecution ?? {};
    const heartbeat = () => ctx.heartbeat({ step, attempt: ctx.info.attempt });
    // Every step heartbeats for as long as it runs, whatever it waits on (STS, a lock,
    // the database): with a heartbeat timeout on the activity, a task that reached no
    // worker, or a worker that stopped, turns into a retry within that timeout.
    const beat = setInterval(heartbeat, heartbeatMs);
    let opened: StepAttempt;
    try {
      opened = await beginStepAttempt(db, {
        jobId,
        step,
        invocation: `${runId}:${ctx.info.activityId}`,
        temporalAttempt: ctx.info.attempt,
        lostError: LOST_ATTEMPT_MESSAGE,
        revision,
      });
      // A revision's steps show under the revision; the job's own step stays that of its first run.
      if (revision === 0) await updateJob(db, jobId, { step });
    } catch (err) {
      clearInterval(beat);
      throw toFailure(err);
    }
    const { attempt } = opened;
    const log = jobLogger({ jobId, workflowId, runId, activity: ctx.info.activityType, step, attempt });
    const startedMs = performance.now();
    log.info(`step ${step} started`);
    const sink = new LogSink({ db, jobId, step, attempt, secrets });
    try {
      const result = await mapFailures(() => run({ sink, signal: ctx.cancellationSignal, heartbeat, attempt }));
      await sink.close();
      await finishStep(db, jobId, step, attempt, 'succeeded');
      stepFinished(log, step, 'succeeded', startedMs);
      return result;
    } catch (caught) {
      const lostAttempt = ctx.cancellationSignal.aborted && attemptGivenUp(ctx);
      // A worker shutting down (SIGTERM, a deploy) cancels its activities: that is
      // no cancel of the job, so the step fails retryably and another worker runs it.
      let err: unknown = lostAttempt
        ? ApplicationFailure.retryable(
            lostAttempt === 'shutdown' ? WORKER_SHUTDOWN_MESSAGE : LOST_ATTEMPT_MESSAGE,
            'WorkerShutdown',
          )
        : toFailure(caught);
      const cancelled = ctx.cancellationSignal.aborted && !lostAttempt;
      const infra = !cancelled && isInfraFault(err);
      const budget = STEP_KIND[step] ? JOB_ERROR_ATTEMPTS[STEP_KIND[step]!] : undefined;
      if (!cancelled && !infra && budget !== undefined && retryable(err) && opened.jobErrors + 1 >= budget) {
        err = exhausted(err, opened.jobErrors + 1);
      }
      const state = cancelled ? 'cancelled' : infra ? 'interrupted' : 'failed';
      const message = (err as Error).message;
      try {
        sink.write('system', cancelled ? `${step} cancelled` : `${step} ${infra ? 'interrupted' : 'failed'}: ${message}`);
        await sink.close();
        // Error text is stored like log lines: through the redaction filter.
        await finishStep(db, jobId, step, attempt, state, { error: cancelled ? 'cancelled' : sink.redact(message) });
      } catch {
        // The database is out of reach: the row stays `running` and the next attempt marks it interrupted.
      }
      stepFinished(log, step, state, startedMs, err);
      deps.onFailed?.(jobId);
      if (cancelled) throw new CancelledFailure('cancelled by request');
      throw err;
    } finally {
      clearInterval(beat);
    }
  };
}

const WORKER_SHUTDOWN_MESSAGE = 'interrupted: the worker shut down during the step; another worker retries it';
export const LOST_ATTEMPT_MESSAGE =
  'interrupted: the worker running this attempt stopped responding (lost, killed or cut off); another attempt took over';

/** Which budget of attempts each step spends on errors in the job. */
const STEP_KIND: Partial<Record<JobStep, StepKind>> = {
  verify: 'aws',
  preflight: 'aws',
  render: 'terraform',
  init: 'terraform',
  plan: 'terraform',
  apply: 'terraform',
  output: 'terraform',
  destroy: 'terraform',
  ready: 'readiness',
};

function retryable(failure: unknown): boolean {
  return !(failure instanceof ApplicationFailure && failure.nonRetryable);
}

/**
 * Why the SDK cancelled this attempt when it was no cancel of the job: the
 * worker is shutting down (its grace time is over), or Temporal no longer
 * waits for this attempt (it timed out, e.g. heartbeats that did not arrive
 * while the server restarted, and another attempt runs or will).
 */
function attemptGivenUp(ctx: Context): 'shutdown' | 'lost' | undefined {
  const details = ctx.cancellationDetails;
  const reason = ctx.cancellationSignal.reason as { message?: string } | undefined;
  if (details?.workerShutdown || reason?.message === 'WORKER_SHUTDOWN') return 'shutdown';
  if (details?.timedOut || details?.notFound || reason?.message === 'TIMED_OUT' || reason?.message === 'NOT_FOUND') return 'lost';
  return undefined;
}
