import path from 'node:path';
import { Context } from '@temporalio/activity';
import type { Db } from '../db/database.js';
import { closeRunningSteps, finishStep, startStep, updateJob } from '../db/jobs.js';
import type { JobSpec, JobSpecPolicy } from '../domain/jobSpec.js';
import { withCheckedSpecs } from './inputCheck.js';
import type { JobStatus } from '../domain/lifecycle.js';
import type { NotificationEvent } from '../domain/notifications.js';
import { publishedPorts } from '../domain/containers.js';
import { EC2Client } from '@aws-sdk/client-ec2';
import { AWS_REQUEST_HANDLER, resolveJobCredentials } from './awsCredentials.js';
import { authOf } from './teamAccountAuth.js';
import { createTeamAccountActivities } from './teamAccountCheck.js';
import { createRevisionActivities } from './revisionActivities.js';
import { createTerraformActivities } from './terraformActivities.js';
import { createDriftActivities } from './driftCheck.js';
import { ec2ConsoleSource, fileConsoleSource } from './instanceConsole.js';
import { JobCredentialCache } from './credentialCache.js';
import { runPreflight } from './preflight.js';
import { waitForReady } from './readiness.js';
import { NOTIFY_MAX_ATTEMPTS } from '../domain/failures.js';
import { createStepRunner, LOST_ATTEMPT_MESSAGE } from './stepRunner.js';
import { readStateVerdict } from './stateFile.js';
import { redactLine } from '../domain/redact.js';
import { jobWorkspaceDir } from './workspace.js';
import type { S3StateBackend } from './stateBackend.js';
import type { ArtifactsStore } from './artifacts.js';
import type { Notifier } from '../notifications/notifier.js';
import { jobLogger } from '../observability/logger.js';

export interface ActivitySettings {
  jobsWorkdir: string;
  terraformModuleDir: string;
  terraformBinary: string;
  killGraceMs: number;
  readinessProbe: 'tcp' | 'off';
  readinessTimeoutMs: number;
  /** Time between the ready step's polls of the console and the status checks; default 5 s. */
  readinessPollMs?: number;
  /** Where the ready step reads the instance's console: EC2's, or the sandbox module's console file. */
  instanceConsole: 'ec2' | 'sandbox';
  /** The sandbox module's instances are not real EC2 instances: skip their status checks. */
  skipInstanceStatusChecks: boolean;
  allowedAccountIds: string[];
  heartbeatMs?: number;
  /** TF_PLUGIN_CACHE_DIR: the provider cache every init shares (under a lock). */
  pluginCacheDir?: string;
  /** TF_STATE_BUCKET and friends: job state in S3 instead of the workspace. */
  stateBackend?: S3StateBackend;
  /**
   * ARTIFACTS_BUCKET and friends: each job's compose file and users CSV go to S3 (the worker's own
   * credentials) and the instance fetches them, instead of carrying them in its user data.
   */
  artifacts?: ArtifactsStore;
  /**
   * Variables merged into every job's tfvars: operator-wide settings for the
   * module, and the sandbox module's knobs in tests and benchmarks.
   */
  extraTfvars?: (jobId: string, spec: JobSpec) => Record<string, unknown>;
  /** The lists the API checks a spec against (jobSpecPolicyOf): each activity checks its spec again with them. */
  specPolicy: JobSpecPolicy;
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
  /** Set for the steps of a revision (its number); absent for the job's first run. */
  revision?: number;
}

export type JobOutputs = Record<string, string | null>;

/** Where the sandbox module's stand-in instance writes its console, in the job's workspace. */
export const SANDBOX_CONSOLE_FILE = '.sandbox-instance/console.log';

/** Job statuses after which the job runs no more steps until a destroy, if ever. */
const FINISHED_STATUSES: ReadonlySet<JobStatus> = new Set(['succeeded', 'failed', 'cancelled', 'rejected', 'destroyed']);
/** Job statuses after which no attempt of the job is still running: rows that say so were lost. */
const ENDED_STATUSES: ReadonlySet<JobStatus> = new Set(['failed', 'cancelled', 'rejected', 'destroyed']);

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

  const inStep = createStepRunner({
    db,
    heartbeatMs,
    // The retry resolves credentials afresh: expired or revoked ones may be why this failed.
    onFailed: (jobId) => credentialCache.dropJob(jobId),
  });

  function secretsOf(spec: JobSpec): string[] {
    return spec.auth.method === 'access_keys'
      ? [spec.auth.accessKeyId, spec.auth.secretAccessKey, spec.auth.sessionToken ?? ''].filter(Boolean)
      : [];
  }

  /** The job's credentials, reused between its steps; `fresh` asks STS again (the verify step). */
  async function credentialsFor(jobId: string, spec: JobSpec, opts: { fresh?: boolean } = {}) {
    return credentialCache.get(
      { jobId, region: spec.region, auth: await authOf(db, spec), allowedAccountIds: settings.allowedAccountIds },
      resolveCreds,
      opts,
    );
  }

  // Where the files travel decides the user-data limit: the worker's own settings say.
  return withCheckedSpecs(allActivities(), { ...settings.specPolicy, artifactsInS3: Boolean(settings.artifacts) });

  function allActivities() {
    return {
      ...createTeamAccountActivities({ db, resolveCreds }),
      ...createTerraformActivities({ db, settings, inStep, secretsOf, credentialsFor, heartbeatMs }),
      ...createRevisionActivities({ db, settings, inStep, secretsOf, credentialsFor }),
      ...createDriftActivities({ db, settings, credentialsFor }, () => {
        const ctx = Context.current();
        return { heartbeat: () => ctx.heartbeat(), signal: ctx.cancellationSignal };
      }),
      /** Local activity: the workflow's status changes, mirrored into `jobs` for the UI. */
      async recordJob(input: {
        jobId: string;
        status?: JobStatus;
        error?: string | null;
        finishedAt?: string;
        /** null: the TTL was taken away. */
        destroyAt?: string | null;
      }): Promise<void> {
        // The job runs no more steps (a later destroy assumes the role again).
        if (input.status && FINISHED_STATUSES.has(input.status)) credentialCache.dropJob(input.jobId);
        if (input.status && ENDED_STATUSES.has(input.status)) await closeRunningSteps(db, input.jobId, LOST_ATTEMPT_MESSAGE);
        await updateJob(db, input.jobId, {
          ...(input.status ? { status: input.status } : {}),
          ...(input.error !== undefined ? { error: input.error === null ? null : redactLine(input.error) } : {}),
          ...(input.finishedAt ? { finished_at: input.finishedAt } : {}),
          ...(input.destroyAt !== undefined ? { destroy_at: input.destroyAt } : {}),
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

      async verifyCredentials({ jobId, spec, revision }: JobRef): Promise<{ accountId: string; arn: string }> {
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
          revision,
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

      async waitReady({ jobId, spec, outputs }: JobRef & { outputs: JobOutputs }): Promise<{ seconds: number }> {
        return inStep(
          jobId,
          'ready',
          async ({ sink, signal, heartbeat }) => {
            const ports = publishedPorts(spec.containers)
              .filter((p) => p.protocol === 'tcp')
              .map((p) => p.port);
            // The job's credentials serve EC2's console and status checks; the sandbox asks EC2 nothing.
            const needsAws = settings.instanceConsole === 'ec2' || !settings.skipInstanceStatusChecks;
            const credentials = needsAws
              ? (await credentialsFor(jobId, spec)).credentials
              : { accessKeyId: '', secretAccessKey: '' };
            const instanceId = outputs.instance_id ?? '';
            const source =
              settings.instanceConsole === 'sandbox'
                ? fileConsoleSource(path.join(jobWorkspaceDir(settings.jobsWorkdir, jobId), SANDBOX_CONSOLE_FILE))
                : ec2ConsoleSource(
                    new EC2Client({ region: spec.region, credentials: { ...credentials }, requestHandler: AWS_REQUEST_HANDLER }),
                    instanceId,
                  );
            sink.write('system', `waiting for the instance to report its containers (reading ${source.describe})`);
            const result = await readinessCheck({
              region: spec.region,
              credentials,
              instanceId: outputs.instance_id ?? '',
              publicIp: outputs.public_ip,
              privateIp: outputs.private_ip,
              ports,
              probe: settings.readinessProbe,
              timeoutMs: settings.readinessTimeoutMs,
              pollMs: settings.readinessPollMs,
              skipStatusChecks: settings.skipInstanceStatusChecks,
              onHeartbeat: heartbeat,
              signal,
              console: {
                source,
                jobId,
                // The instance's own log, a source of its own in the job log (redacted like every line).
                onLines: (lines) => {
                  for (const line of lines) sink.write('instance', line);
                },
              },
            });
            sink.write(
              'system',
              `ready after ${result.seconds.toFixed(1)} s${result.checked.length ? `: ${result.checked.join(', ')}` : ''}`,
            );
            return { seconds: result.seconds };
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
}

export type Activities = ReturnType<typeof createActivities>;
