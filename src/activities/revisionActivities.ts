import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { Db } from '../db/database.js';
import { finishStep, startStep, updateJob } from '../db/jobs.js';
import { insertRevision, updateRevision } from '../db/revisions.js';
import { publishedPorts } from '../domain/containers.js';
import { containersRunning, describeInstanceFailure, progressOf } from '../domain/instanceEvents.js';
import { type JobSpec, publicSpec } from '../domain/jobSpec.js';
import type { RevisionState } from '../domain/lifecycle.js';
import { renderArtifactFiles } from '../domain/instanceArtifacts.js';
import { renderUserData } from '../domain/userDataScript.js';
import type { ReviseRequest } from '../workflows/messages.js';
import { artifactsLocation, uploadArtifacts, userDataArtifacts } from './artifacts.js';
import { AWS_REQUEST_HANDLER, type JobCredentials } from './awsCredentials.js';
import type { ActivitySettings, JobOutputs, JobRef } from './index.js';
import { type CommandRunner, InstanceCommandError, sandboxCommandRunner, ssmCommandRunner } from './instanceCommand.js';
import type { StepRunner } from './stepRunner.js';
import { jobWorkspaceDir } from './workspace.js';

/** What the revision activities borrow from createActivities: the step runner and the job's credentials. */
export interface RevisionKit {
  db: Db;
  settings: ActivitySettings;
  inStep: StepRunner;
  secretsOf: (spec: JobSpec) => string[];
  credentialsFor: (jobId: string, spec: JobSpec) => Promise<{ credentials: JobCredentials }>;
}

/** Where the sandbox module's stand-in instance keeps its files, in the job's workspace. */
export const SANDBOX_INSTANCE_DIR = '.sandbox-instance';

export function createRevisionActivities(kit: RevisionKit) {
  const { db, settings, inStep } = kit;

  async function runnerFor(jobId: string, spec: JobSpec, outputs: JobOutputs): Promise<CommandRunner> {
    if (settings.instanceConsole === 'sandbox') {
      const workspace = jobWorkspaceDir(settings.jobsWorkdir, jobId);
      const knobs = settings.extraTfvars?.(jobId, spec) ?? {};
      const artifacts = settings.artifacts ? userDataArtifacts(settings.artifacts, jobId) : undefined;
      return sandboxCommandRunner({
        instanceRoot: path.join(workspace, SANDBOX_INSTANCE_DIR),
        standinsDir: path.join(workspace, 'standins'),
        env: {
          PROVISIONING_SETTLE_SECONDS: String(knobs.sandbox_instance_settle_seconds ?? 0),
          PROVISIONING_HEALTH_WAIT_SECONDS: '20',
          SANDBOX_S3_ENDPOINT: String(knobs.sandbox_s3_endpoint ?? ''),
          SANDBOX_S3_READABLE: artifacts ? `${artifacts.bucket}/${artifacts.keyPrefix}/` : '',
        },
      });
    }
    const instanceId = outputs.instance_id;
    if (!instanceId) throw new InstanceCommandError('the job has no instance id in its outputs', { status: 'NoInstance' });
    const { credentials } = await kit.credentialsFor(jobId, spec);
    const ssm = new SSMClient({ region: spec.region, credentials: { ...credentials }, requestHandler: AWS_REQUEST_HANDLER });
    return ssmCommandRunner(ssm, instanceId, { comment: `provisioning job ${jobId}: change` });
  }

  /** The first-boot script as plain text: it is idempotent, so run again it brings the instance to the spec. */
  function changeScript(jobId: string, spec: JobSpec): string {
    const artifacts = settings.artifacts ? userDataArtifacts(settings.artifacts, jobId) : undefined;
    const rendered = renderUserData({ jobId, containers: spec.containers, usersCsv: spec.usersCsv ?? '', artifacts });
    return rendered.encoding === 'plain' ? rendered.script : gunzipSync(Buffer.from(rendered.script, 'base64')).toString('utf8');
  }

  return {
    /**
     * Local activity: a revision's row. `start` records a new one (idempotent by
     * its id) and returns its number; otherwise it updates the revision, and a
     * finished revision's spec becomes the job's.
     */
    async recordRevision(input: {
      jobId: string;
      start?: ReviseRequest;
      number?: number;
      state?: RevisionState;
      error?: string | null;
      decidedBy?: string;
      /** With decidedBy: whether the plan was approved. */
      approved?: boolean;
      finished?: boolean;
      spec?: JobSpec;
    }): Promise<number> {
      const { jobId } = input;
      if (input.start) {
        const r = input.start;
        return insertRevision(db, {
          id: r.revisionId,
          jobId,
          kind: r.kind,
          requestedBy: r.by,
          requestedById: r.byId,
          reason: r.reason ?? null,
          differencesJson: JSON.stringify(r.differences),
          specJson: JSON.stringify(r.changeable),
        });
      }
      const number = input.number ?? 0;
      await updateRevision(db, jobId, number, {
        ...(input.state ? { state: input.state } : {}),
        ...(input.error !== undefined ? { error: input.error } : {}),
        ...(input.decidedBy ? { decided_by: input.decidedBy } : {}),
        ...(input.finished ? { finished_at: new Date().toISOString() } : {}),
      });
      // The approval shows among the revision's steps, like the first run's (attempt numbers are job-wide).
      if (input.state === 'awaiting_approval') await startStep(db, jobId, 'approval', number + 1, undefined, number);
      if (input.decidedBy) {
        await finishStep(db, jobId, 'approval', number + 1, input.approved ? 'succeeded' : 'failed', { detail: input.decidedBy });
      }
      if (input.spec) {
        await updateJob(db, jobId, {
          spec_json: JSON.stringify(publicSpec(input.spec)),
          instance_type: input.spec.instance.type,
        });
      }
      // An apply wrote the declared state: whatever drifted before is put back.
      if (input.state === 'succeeded') {
        await updateJob(db, jobId, { drift_state: 'in_sync', drift_checked_at: new Date().toISOString(), drift_json: null });
      }
      return number;
    },

    /**
     * A revision's last step: the first-boot script again, on the running
     * instance (Run Command), with the new containers and users; its lines go to
     * the job log, and the instance's own report decides. `rollback` puts back
     * the spec the environment ran before a revision that failed.
     */
    async applyOnInstance(input: JobRef & { outputs: JobOutputs; rollback?: boolean }): Promise<{ seconds: number }> {
      const { jobId, spec, outputs, revision } = input;
      return inStep(
        jobId,
        'ready',
        async ({ sink, signal, heartbeat }) => {
          if (settings.artifacts && input.rollback) {
            // The files in S3 are the new revision's: the instance fetches the old ones again.
            const files = renderArtifactFiles({ containers: spec.containers, usersCsv: spec.usersCsv ?? '' });
            await uploadArtifacts(settings.artifacts, jobId, files, { signal });
            sink.write('system', `restored the previous files in ${artifactsLocation(settings.artifacts, jobId)}`);
          }
          const runner = await runnerFor(jobId, spec, outputs);
          const ports = publishedPorts(spec.containers).map((p) => `${p.port}/${p.protocol}`);
          sink.write(
            'system',
            `${input.rollback ? 'putting back the previous containers and users' : 'applying the containers and users'} on the instance (${runner.describe})` +
              (ports.length ? `; published ports ${ports.join(', ')}` : ''),
          );
          const lines: string[] = [];
          try {
            const result = await runner.run({
              script: changeScript(jobId, spec),
              timeoutMs: settings.readinessTimeoutMs,
              pollMs: settings.readinessPollMs,
              signal,
              heartbeat,
              onLines: (fresh) => {
                for (const line of fresh) {
                  lines.push(line);
                  sink.write('instance', line);
                }
              },
            });
            // The script exits non-zero on any failure. Its report lines decide when they are there; SSM
            // returns only the first 24,000 characters of output, so a long run may have lost its last lines.
            const progress = progressOf(jobId, lines);
            if (progress.failure || result.exitCode !== 0) {
              throw new InstanceCommandError(
                progress.failure ? describeInstanceFailure(progress.failure) : `the change script exited with ${result.exitCode}`,
                { status: result.status, exitCode: result.exitCode },
              );
            }
            sink.write(
              'system',
              progress.outcome === 'succeeded'
                ? `the instance reports ${containersRunning(progress.containers.length)} (${result.seconds.toFixed(1)} s)`
                : `the change script succeeded in ${result.seconds.toFixed(1)} s (its report was past the output SSM returns)`,
            );
            return { seconds: result.seconds };
          } catch (err) {
            // The instance's own account of what failed says more than an exit code.
            const failure = progressOf(jobId, lines).failure;
            if (err instanceof InstanceCommandError && failure) {
              throw new InstanceCommandError(describeInstanceFailure(failure), { status: err.status, exitCode: err.exitCode });
            }
            throw err;
          }
        },
        kit.secretsOf(spec),
        revision,
      );
    },
  };
}
