import fs from 'node:fs';
import path from 'node:path';
import { Context, CancelledFailure } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../db/database.js';
import { beginStepAttempt, closeRunningSteps, finishStep, getJob, startStep, updateJob, type StepAttempt } from '../db/jobs.js';
import type { JobSpec } from '../domain/jobSpec.js';
import type { JobStatus, JobStep } from '../domain/lifecycle.js';
import type { NotificationEvent } from '../domain/notifications.js';
import { publishedPorts } from '../domain/containers.js';
import { resolveJobCredentials, terraformEnv } from './awsCredentials.js';
import { JobCredentialCache } from './credentialCache.js';
import { runPreflight } from './preflight.js';
import { waitForReady } from './readiness.js';
import { LogSink } from './logSink.js';
import { exhausted, isInfraFault, mapFailures, toFailure } from './failures.js';
import { JOB_ERROR_ATTEMPTS, NOTIFY_MAX_ATTEMPTS, type StepKind } from '../domain/failures.js';
import { readStateVerdict } from './stateFile.js';
import { redactLine } from '../domain/redact.js';
import {
  terraformApply,
  terraformDestroy,
  terraformInit,
  terraformOutput,
  terraformPlan,
  type PlanSummary,
  type TerraformContext,
} from './terraformCommands.js';
import { jobWorkspaceDir, prepareWorkspace, TFVARS_FILE } from './workspace.js';
import { writeBackendFiles, type S3StateBackend } from './stateBackend.js';
import { renderTfvars, renderUserData } from './userData.js';
import type { Notifier } from '../notifications/notifier.js';
import { jobLogger } from '../observability/logger.js';
import { stepFinished } from '../observability/metrics.js';

export interface ActivitySettings {
  jobsWorkdir: string;
  terraformModuleDir: string;
  terraformBinary: string;
  killGraceMs: number;
  readinessProbe: 'tcp' | 'off';
  readinessTimeoutMs: number;
  /** The sandbox module's instances are not real EC2 instances: skip their status checks. */
  skipInstanceStatusChecks: boolean;
  allowedAccountIds: string[];
  heartbeatMs?: number;
  /** TF_PLUGIN_CACHE_DIR: the provider cache every init shares (under a lock). */
  pluginCacheDir?: string;
  /** TF_STATE_BUCKET and friends: job state in S3 instead of the workspace. */
  stateBackend?: S3StateBackend;
  /**
   * Variables merged into every job's tfvars: operator-wide settings for the
   * module, and the sandbox module's knobs in tests and benchmarks.
   */
  extraTfvars?: (jobId: string, spec: JobSpec) => Record<string, unknown>;
}

export interface ActivityDeps {
  db: Db;
  settings: ActivitySettings;
  notifier: Notifier;
  /** Overridable for tests; the worker passes the real AWS-backed functions. */
  aws?: {
    resolveJobCredentials?: typeof resolveJobCredentials;
    runPreflight?: typeof runPreflight;
    waitForReady?: typeof waitForReady;
  };
  /**
   * Where the jobs' assumed credentials are kept between steps (memory only).
   * One per createActivities by default; tests pass their own to watch it.
   */
  credentialCache?: JobCredentialCache;
}

export interface JobRef {
  jobId: string;
  spec: JobSpec;
}

export type JobOutputs = Record<string, string | null>;

/** Job statuses after which the job runs no more steps until a destroy, if ever. */
const FINISHED_STATUSES: ReadonlySet<JobStatus> = new Set(['succeeded', 'failed', 'cancelled', 'rejected', 'destroyed']);

/**
 * Every activity of the provisioning workflow. Each one gets the job's
 * credentials in the worker (assumed once per job and kept in worker memory
 * between its steps; they never leave the worker), records its step in
 * job_steps, streams its lines into job_logs, heartbeats from its first
 * second, and maps our errors to typed Temporal failures.
 */
export function createActivities(deps: ActivityDeps) {
  const { db, settings } = deps;
  const resolveCreds = deps.aws?.resolveJobCredentials ?? resolveJobCredentials;
  const preflightCheck = deps.aws?.runPreflight ?? runPreflight;
  const readinessCheck = deps.aws?.waitForReady ?? waitForReady;
  const credentialCache = deps.credentialCache ?? new JobCredentialCache();
  const heartbeatMs = settings.heartbeatMs ?? 1_000;

  /**
   * Runs one step attempt: job_steps row, a log sink, heartbeats, cancellation
   * and failure mapping. Errors in the job spend the step's small budget of
   * attempts; infrastructure faults (a lost or stopping worker, the database
   * out of reach) are recorded as `interrupted` and retried without a count,
   * within the time budget the workflow gives the step.
   */
  async function inStep<T>(
    jobId: string,
    step: JobStep,
    run: (io: { sink: LogSink; signal: AbortSignal; heartbeat: () => void; attempt: number }) => Promise<T>,
    secrets: string[] = [],
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
      });
      await updateJob(db, jobId, { step });
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
        ? ApplicationFailure.retryable(lostAttempt === 'shutdown' ? WORKER_SHUTDOWN_MESSAGE : LOST_ATTEMPT_MESSAGE, 'WorkerShutdown')
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
      // The retry resolves credentials afresh: expired or revoked ones may be why this failed.
      credentialCache.dropJob(jobId);
      if (cancelled) throw new CancelledFailure('cancelled by request');
      throw err;
    } finally {
      clearInterval(beat);
    }
  }

  function secretsOf(spec: JobSpec): string[] {
    return spec.auth.method === 'access_keys'
      ? [spec.auth.accessKeyId, spec.auth.secretAccessKey, spec.auth.sessionToken ?? ''].filter(Boolean)
      : [];
  }

  /** The job's credentials, reused between its steps; `fresh` asks STS again (the verify step). */
  async function credentialsFor(jobId: string, spec: JobSpec, opts: { fresh?: boolean } = {}) {
    return credentialCache.get(
      { jobId, region: spec.region, auth: spec.auth, allowedAccountIds: settings.allowedAccountIds },
      resolveCreds,
      opts,
    );
  }

  async function terraformContext(
    jobId: string,
    spec: JobSpec,
    io: { sink: LogSink; signal: AbortSignal; heartbeat: () => void },
  ): Promise<TerraformContext> {
    const { credentials } = await credentialsFor(jobId, spec);
    return {
      binary: settings.terraformBinary,
      workspaceDir: jobWorkspaceDir(settings.jobsWorkdir, jobId),
      env: {
        ...terraformEnv(credentials, spec.region),
        ...(settings.pluginCacheDir ? { TF_PLUGIN_CACHE_DIR: settings.pluginCacheDir } : {}),
      },
      sink: io.sink,
      signal: io.signal,
      graceMs: settings.killGraceMs,
      onHeartbeat: io.heartbeat,
      heartbeatMs,
    };
  }

  async function approvedPlan(jobId: string): Promise<PlanSummary | undefined> {
    const job = await getJob(db, jobId);
    return job?.plan_summary_json ? (JSON.parse(job.plan_summary_json) as PlanSummary) : undefined;
  }

  /** The job's workspace: module, tfvars and, with remote state, the backend files. */
  async function renderJobWorkspace(jobId: string, spec: JobSpec, amiId: string) {
    const job = await getJob(db, jobId);
    const userData = renderUserData({ jobId, containers: spec.containers, usersCsv: spec.usersCsv ?? '' });
    const tfvars = {
      ...renderTfvars({ jobId, spec, amiId, userData, createdBy: job?.created_by ?? undefined }),
      ...(settings.extraTfvars?.(jobId, spec) ?? {}),
    };
    const dir = await prepareWorkspace({
      jobsWorkdir: settings.jobsWorkdir,
      jobId,
      moduleDir: settings.terraformModuleDir,
      tfvars,
    });
    await writeBackendFiles(dir, jobId, settings.stateBackend);
    return { dir, userData };
  }

  return {
    /** Local activity: the workflow's status changes, mirrored into `jobs` for the UI. */
    async recordJob(input: {
      jobId: string;
      status?: JobStatus;
      error?: string | null;
      finishedAt?: string;
      destroyAt?: string;
    }): Promise<void> {
      // The job runs no more steps (a later destroy assumes the role again).
      if (input.status && FINISHED_STATUSES.has(input.status)) credentialCache.dropJob(input.jobId);
      if (input.status && ENDED_STATUSES.has(input.status)) await closeRunningSteps(db, input.jobId, LOST_ATTEMPT_MESSAGE);
      await updateJob(db, input.jobId, {
        ...(input.status ? { status: input.status } : {}),
        ...(input.error !== undefined ? { error: input.error === null ? null : redactLine(input.error) } : {}),
        ...(input.finishedAt ? { finished_at: input.finishedAt } : {}),
        ...(input.destroyAt ? { destroy_at: input.destroyAt } : {}),
        ...(input.status === 'destroyed' ? { has_resources: 0 } : {}),
      });
    },

    async recordApprovalStep(input: { jobId: string; state: 'running' | 'succeeded' | 'failed'; detail?: string }) {
      if (input.state === 'running') {
        await startStep(db, input.jobId, 'approval', 1);
        await updateJob(db, input.jobId, { step: 'approval' });
      } else {
        await finishStep(db, input.jobId, 'approval', 1, input.state, { detail: input.detail });
      }
    },

    /**
     * Local activity of the failure and clean-up path: never runs Terraform and
     * never fails on a missing or empty state (nothing was created); a state it
     * cannot read counts as resources that may remain.
     */
    async stateHasResources(input: { jobId: string }): Promise<boolean> {
      const verdict = readStateVerdict(jobWorkspaceDir(settings.jobsWorkdir, input.jobId));
      jobLogger({ jobId: input.jobId, workflowId: `job-${input.jobId}` }).info(
        `state check: ${verdict.reason}; ${verdict.has ? 'resources may remain' : 'nothing to destroy'}`,
      );
      await updateJob(db, input.jobId, { has_resources: verdict.has ? 1 : 0 });
      return verdict.has;
    },

    async verifyCredentials({ jobId, spec }: JobRef): Promise<{ accountId: string; arn: string }> {
      return inStep(
        jobId,
        'verify',
        async ({ sink }) => {
          // Always asked of STS: this step is the check that the role (or the keys) work.
          const { accountId, arn } = await credentialsFor(jobId, spec, { fresh: true });
          await updateJob(db, jobId, { account_id: accountId, assumed_role_arn: arn });
          sink.write('system', `verified credentials: account ${accountId} as ${arn}`);
          return { accountId, arn };
        },
        secretsOf(spec),
      );
    },

    async preflight({ jobId, spec }: JobRef & { accountId: string }): Promise<{ amiId: string }> {
      return inStep(
        jobId,
        'preflight',
        async ({ sink }) => {
          const { credentials } = await credentialsFor(jobId, spec);
          const result = await preflightCheck({
            region: spec.region,
            credentials,
            network: spec.network,
            instance: { type: spec.instance.type, amiId: spec.instance.amiId },
          });
          sink.write(
            'system',
            `pre-flight passed: AMI ${result.amiId} (${result.amiSource})` +
              (result.availabilityZone ? `, instance type offered in ${result.availabilityZone}` : ''),
          );
          return { amiId: result.amiId };
        },
        secretsOf(spec),
      );
    },

    async renderWorkspace({ jobId, spec, amiId }: JobRef & { amiId: string }): Promise<void> {
      await inStep(jobId, 'render', async ({ sink }) => {
        const { dir, userData } = await renderJobWorkspace(jobId, spec, amiId);
        sink.write('system', `workspace ready at ${dir} (user data ${userData.bytes} bytes, ${userData.encoding})`);
      });
    },

    async terraformInit({ jobId, spec }: JobRef): Promise<void> {
      await inStep(jobId, 'init', async (io) => terraformInit(await terraformContext(jobId, spec, io)), secretsOf(spec));
    },

    async terraformPlan({ jobId, spec }: JobRef) {
      return inStep(
        jobId,
        'plan',
        async (io) => {
          const summary = await terraformPlan(await terraformContext(jobId, spec, io));
          await updateJob(db, jobId, { plan_summary_json: JSON.stringify(summary) });
          io.sink.write('system', `plan: ${summary.add} to add, ${summary.change} to change, ${summary.destroy} to destroy`);
          // Only the counts travel back: the full plan can be large and lives in SQLite.
          return { add: summary.add, change: summary.change, destroy: summary.destroy };
        },
        secretsOf(spec),
      );
    },

    async terraformApply({ jobId, spec }: JobRef): Promise<void> {
      await inStep(
        jobId,
        'apply',
        async (io) => {
          await updateJob(db, jobId, { has_resources: 1 });
          const approved = spec.options?.requireApproval ? await approvedPlan(jobId) : undefined;
          await terraformApply(await terraformContext(jobId, spec, io), {
            // A retried apply re-plans; an approved job may only finish what was approved.
            checkReplan: approved ? (plan) => replanBeyondApproval(approved, plan) : undefined,
          });
        },
        secretsOf(spec),
      );
    },

    async terraformOutput({ jobId, spec }: JobRef): Promise<JobOutputs> {
      return inStep(
        jobId,
        'output',
        async (io) => {
          const outputs = await terraformOutput(await terraformContext(jobId, spec, io));
          await updateJob(db, jobId, { outputs_json: JSON.stringify(outputs) });
          io.sink.write('system', `outputs: ${Object.keys(outputs).join(', ')}`);
          return outputs;
        },
        secretsOf(spec),
      );
    },

    async waitReady({ jobId, spec, outputs }: JobRef & { outputs: JobOutputs }): Promise<{ seconds: number }> {
      return inStep(
        jobId,
        'ready',
        async ({ sink, signal, heartbeat }) => {
          const ports = publishedPorts(spec.containers)
            .filter((p) => p.protocol === 'tcp')
            .map((p) => p.port);
          if (settings.readinessProbe === 'off') {
            sink.write('system', 'readiness probe is off (READINESS_PROBE=off)');
            return { seconds: 0 };
          }
          const { credentials } = await credentialsFor(jobId, spec);
          const result = await readinessCheck({
            region: spec.region,
            credentials,
            instanceId: outputs.instance_id ?? '',
            publicIp: outputs.public_ip,
            privateIp: outputs.private_ip,
            ports,
            probe: settings.readinessProbe,
            timeoutMs: settings.readinessTimeoutMs,
            skipStatusChecks: settings.skipInstanceStatusChecks,
            onHeartbeat: heartbeat,
            signal,
          });
          sink.write(
            'system',
            `ready after ${result.seconds.toFixed(1)} s` + (result.checked.length ? `: ${result.checked.join(', ')}` : ''),
          );
          return { seconds: result.seconds };
        },
        secretsOf(spec),
      );
    },

    async terraformDestroy({ jobId, spec }: JobRef): Promise<void> {
      await inStep(
        jobId,
        'destroy',
        async (io) => {
          const ctx = await terraformContext(jobId, spec, io);
          if (settings.stateBackend && !fs.existsSync(path.join(ctx.workspaceDir, TFVARS_FILE))) {
            // Remote state: this host never had the workspace; rebuild it from the job and reach the state.
            const job = await getJob(db, jobId);
            const amiId = (job?.outputs_json ? JSON.parse(job.outputs_json).ami_id : undefined) ?? spec.instance.amiId;
            if (!amiId) throw new Error('cannot rebuild the workspace for destroy: the job has no AMI recorded');
            io.sink.write('system', 'workspace not on this host: rebuilding it to reach the job\'s remote state');
            await renderJobWorkspace(jobId, spec, amiId);
            await terraformInit(ctx);
          }
          await terraformDestroy(ctx);
          await updateJob(db, jobId, { has_resources: 0 });
        },
        secretsOf(spec),
      );
    },

    /** Sends one notification; the outbox row makes it idempotent across retries and crashes. */
    async notify(input: { jobId: string; event: NotificationEvent }): Promise<{ status: string }> {
      const send = () =>
        deps.notifier.notify(input.jobId, input.event, {
          attempt: Context.current().info.attempt,
          maxAttempts: NOTIFY_MAX_ATTEMPTS,
        });
      // The success email is the job's last step; other events are side notes of their step
      // (heartbeating like a step, for the activity's heartbeat timeout).
      if (input.event !== 'succeeded') {
        const ctx = Context.current();
        const beat = setInterval(() => ctx.heartbeat(), heartbeatMs);
        try {
          return await send();
        } finally {
          clearInterval(beat);
        }
      }
      return inStep(input.jobId, 'notify', async ({ sink }) => {
        const res = await send();
        sink.write('system', `notification "${input.event}": ${res.status}`);
        return res;
      });
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;

const WORKER_SHUTDOWN_MESSAGE = 'interrupted: the worker shut down during the step; another worker retries it';
const LOST_ATTEMPT_MESSAGE =
  'interrupted: the worker running this attempt stopped responding (lost, killed or cut off); another attempt took over';

/** Job statuses after which no attempt of the job is still running: rows that say so were lost. */
const ENDED_STATUSES: ReadonlySet<JobStatus> = new Set(['failed', 'cancelled', 'rejected', 'destroyed']);

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

/**
 * A re-plan after a partial apply may only contain changes the approved plan
 * had: anything else needs a new approval, so it is refused, never applied.
 */
export function replanBeyondApproval(approved: PlanSummary, replan: PlanSummary): string | null {
  const allowed = new Set(approved.resources.map((r) => `${r.address}:${r.actions.join('+')}`));
  const extra = replan.resources.filter(
    (r) => !r.actions.every((a) => a === 'no-op' || a === 'read') && !allowed.has(`${r.address}:${r.actions.join('+')}`),
  );
  if (!extra.length) return null;
  return (
    'the plan changed since it was approved (' +
    extra.map((r) => `${r.actions.join('+')} ${r.address}`).join(', ') +
    '); start a new job to approve the new plan'
  );
}

