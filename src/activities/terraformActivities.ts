import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../db/database.js';
import { getJob, updateJob } from '../db/jobs.js';
import { getRevision, updateRevision } from '../db/revisions.js';
import type { JobSpec } from '../domain/jobSpec.js';
import { replacedAddresses } from '../domain/revisionView.js';
import { renderArtifactFiles } from '../domain/instanceArtifacts.js';
import { renderUserData } from '../domain/userDataScript.js';
import { jobLogger } from '../observability/logger.js';
import { replanBeyondApproval } from './approvedPlan.js';
import { artifactsLocation, deleteArtifacts, uploadArtifacts, userDataArtifacts } from './artifacts.js';
import { type JobCredentials, terraformEnv } from './awsCredentials.js';
import type { ActivitySettings, JobOutputs, JobRef } from './index.js';
import type { LogSink } from './logSink.js';
import { writeBackendFiles } from './stateBackend.js';
import type { StepRunner } from './stepRunner.js';
import {
  type PlanSummary,
  type TerraformContext,
  terraformApply,
  terraformDestroy,
  terraformInit,
  terraformOutput,
  terraformPlan,
} from './terraformCommands.js';
import { renderTfvars } from './tfvars.js';
import { jobWorkspaceDir, prepareWorkspace, TFVARS_FILE } from './workspace.js';

/** What the Terraform steps borrow from createActivities: the step runner and the job's credentials. */
export interface TerraformKit {
  db: Db;
  settings: ActivitySettings;
  inStep: StepRunner;
  secretsOf: (spec: JobSpec) => string[];
  credentialsFor: (jobId: string, spec: JobSpec) => Promise<{ credentials: JobCredentials }>;
  heartbeatMs: number;
}

/**
 * The steps that run Terraform in the job's workspace: render, init, plan,
 * apply, output and destroy, for the job's first run and its revisions (a
 * revision's plan is kept with it, and its apply may only do what that plan
 * showed).
 */
export function createTerraformActivities(kit: TerraformKit) {
  const { db, settings, inStep, secretsOf, credentialsFor, heartbeatMs } = kit;

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

  async function revisionPlan(jobId: string, revision: number): Promise<PlanSummary | undefined> {
    const row = await getRevision(db, jobId, revision);
    return row?.plan_json ? (JSON.parse(row.plan_json) as PlanSummary) : undefined;
  }

  /** The AMI the instance runs: a revision keeps it. */
  async function currentAmi(jobId: string, spec: JobSpec, doing: string): Promise<string> {
    const job = await getJob(db, jobId);
    const ami = (job?.outputs_json ? JSON.parse(job.outputs_json).ami_id : undefined) ?? spec.instance.amiId;
    if (!ami) throw new Error(`cannot ${doing}: the job has no AMI recorded`);
    return ami;
  }

  async function approvedPlan(jobId: string): Promise<PlanSummary | undefined> {
    const job = await getJob(db, jobId);
    return job?.plan_summary_json ? (JSON.parse(job.plan_summary_json) as PlanSummary) : undefined;
  }

  /** The job's workspace: module, tfvars and, with remote state, the backend files. */
  async function renderJobWorkspace(jobId: string, spec: JobSpec, amiId: string) {
    const job = await getJob(db, jobId);
    const artifacts = settings.artifacts ? userDataArtifacts(settings.artifacts, jobId) : undefined;
    const userData = renderUserData({ jobId, containers: spec.containers, usersCsv: spec.usersCsv ?? '', artifacts });
    const tfvars = {
      ...renderTfvars({ jobId, spec, amiId, userData, createdBy: job?.created_by ?? undefined, artifacts }),
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
    /** A revision passes no AMI: it keeps the one the instance runs (a new AMI is a new instance). */
    async renderWorkspace({ jobId, spec, amiId, revision }: JobRef & { amiId?: string }): Promise<void> {
      await inStep(
        jobId,
        'render',
        async ({ sink, signal }) => {
          const { dir, userData } = await renderJobWorkspace(
            jobId,
            spec,
            amiId ?? (await currentAmi(jobId, spec, "render the revision's workspace")),
          );
          if (settings.artifacts) {
            // With the worker's own credentials: the bucket is the operator's, not the job account's.
            const files = renderArtifactFiles({ containers: spec.containers, usersCsv: spec.usersCsv ?? '' });
            await uploadArtifacts(settings.artifacts, jobId, files, { signal });
            const sizes = Object.entries(files).map(([name, text]) => `${name} ${Buffer.byteLength(text, 'utf8')} bytes`);
            sink.write(
              'system',
              `uploaded ${sizes.join(' and ')} to ${artifactsLocation(settings.artifacts, jobId)} (SSE-S3); the instance fetches them at boot`,
            );
          }
          sink.write('system', `workspace ready at ${dir} (user data ${userData.bytes} bytes, ${userData.encoding})`);
        },
        [],
        revision,
      );
    },

    async terraformInit({ jobId, spec, revision }: JobRef): Promise<void> {
      await inStep(
        jobId,
        'init',
        async (io) => terraformInit(await terraformContext(jobId, spec, io)),
        secretsOf(spec),
        revision,
      );
    },

    async terraformPlan({ jobId, spec, revision }: JobRef) {
      return inStep(
        jobId,
        'plan',
        async (io) => {
          const summary = await terraformPlan(await terraformContext(jobId, spec, io));
          // A revision's plan is its own: the job keeps the plan of its first run.
          if (revision) await updateRevision(db, jobId, revision, { plan_json: JSON.stringify(summary) });
          else await updateJob(db, jobId, { plan_summary_json: JSON.stringify(summary) });
          const replaced = replacedAddresses(summary.resources);
          io.sink.write(
            'system',
            `plan: ${summary.add} to add, ${summary.change} to change, ${summary.destroy} to destroy` +
              (replaced.length ? `; replaces ${replaced.join(', ')}` : ''),
          );
          // Only the counts travel back: the full plan can be large and lives in the database.
          return { add: summary.add, change: summary.change, destroy: summary.destroy };
        },
        secretsOf(spec),
        revision,
      );
    },

    async terraformApply({ jobId, spec, revision }: JobRef): Promise<void> {
      await inStep(
        jobId,
        'apply',
        async (io) => {
          await updateJob(db, jobId, { has_resources: 1 });
          // The plan a person approved (or could have been asked to) is the one applied; a
          // revision's plan is always the one shown with it.
          const approved = revision
            ? await revisionPlan(jobId, revision)
            : spec.options?.requireApproval || spec.options?.approveWhen
              ? await approvedPlan(jobId)
              : undefined;
          await terraformApply(await terraformContext(jobId, spec, io), {
            // A retried apply re-plans; an approved job may only finish what was approved.
            checkReplan: approved ? (plan) => replanBeyondApproval(approved, plan) : undefined,
          });
        },
        secretsOf(spec),
        revision,
      );
    },

    async terraformOutput({ jobId, spec, revision }: JobRef): Promise<JobOutputs> {
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
        revision,
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
            const amiId = await currentAmi(jobId, spec, 'rebuild the workspace for destroy');
            io.sink.write('system', "workspace not on this host: rebuilding it to reach the job's remote state");
            await renderJobWorkspace(jobId, spec, amiId);
            await terraformInit(ctx);
          }
          await terraformDestroy(ctx);
          await updateJob(db, jobId, { has_resources: 0 });
          if (settings.artifacts) {
            // The environment is gone either way: a file left behind is logged, not a failed destroy.
            const where = artifactsLocation(settings.artifacts, jobId);
            try {
              await deleteArtifacts(settings.artifacts, jobId, { signal: io.signal });
              io.sink.write('system', `deleted the job's files in ${where} (none of them remain)`);
            } catch (err) {
              const message = `could not delete the job's files in ${where}: ${(err as Error).message}; delete them by hand`;
              io.sink.write('system', message);
              jobLogger({ jobId, workflowId: `job-${jobId}` }).warn(message);
            }
          }
        },
        secretsOf(spec),
      );
    },
  };
}
