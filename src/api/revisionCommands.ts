import crypto from 'node:crypto';
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { recordAudit } from '../db/audit.js';
import { getJob } from '../db/jobs.js';
import { getRevision, latestRevision } from '../db/revisions.js';
import type { JobRevisionRow, JobRow } from '../db/schema.js';
import type { PublicJobSpec } from '../domain/jobSpec.js';
import { type RevisionKind, revisionInProgress, workflowIdFor } from '../domain/lifecycle.js';
import { applySpecChange, type ChangeableSpec, changeProblems, type SpecChange, specDifferences } from '../domain/specChange.js';
import { approveSignal, cancelSignal, rejectSignal, reviseUpdate } from '../workflows/messages.js';
import { getTeam } from '../db/teams.js';
import { CommandError } from './commandError.js';
import { teamPolicyOf } from './teamPlacement.js';
import { type Actor, authorize, type CommandDeps, type SignalArgs, UPDATE_WAIT_MS } from './jobCommands.js';

/**
 * Changes to a live environment: each one a revision, asked of the job's
 * workflow by an Update that says at once whether the job took it (and why
 * not); the workflow then plans, asks for approval when it must, applies,
 * and brings the instance to the new spec.
 */

const GRPC_DEADLINE_EXCEEDED = 4;

export function changeableOf(spec: PublicJobSpec): ChangeableSpec {
  return {
    instance: {
      type: spec.instance.type,
      volumeSizeGb: spec.instance.volumeSizeGb,
      ingressCidr: spec.instance.ingressCidr ?? '0.0.0.0/0',
      ...(spec.instance.sshCidr ? { sshCidr: spec.instance.sshCidr } : {}),
    },
    containers: spec.containers,
    ...(spec.usersCsv ? { usersCsv: spec.usersCsv } : {}),
  };
}

export interface RevisionOptions {
  kind?: RevisionKind;
  /** The operator's ARTIFACTS_BUCKET: files travel through S3, and the user data limit does not apply. */
  artifactsInS3?: boolean;
  /** Caller-made id (an Idempotency-Key): a repeated request records one revision. */
  revisionId?: string;
}

export async function requestRevision(
  deps: CommandDeps,
  jobId: string,
  change: SpecChange,
  actor: Actor,
  opts: RevisionOptions = {},
): Promise<{ job: JobRow; revision: JobRevisionRow }> {
  const job = await getJob(deps.db, jobId);
  if (!job) throw new CommandError('not_found', `job ${jobId} not found`);
  authorize(actor, 'change', job);
  if (job.status !== 'succeeded') {
    throw new CommandError(
      'conflict',
      `cannot change job ${jobId}: it is ${job.status.replace('_', ' ')}; only a live environment can change`,
    );
  }
  const kind = opts.kind ?? 'change';
  const before = changeableOf(JSON.parse(job.spec_json) as PublicJobSpec);
  const after = applySpecChange(before, change);
  if (kind === 'change') {
    // Each is about the environment as it is now (a volume can only grow from its size, a change must change
    // something, the result must fit): a conflict with the job's state, not a malformed request.
    const conflicts = changeProblems(before, after, { artifactsInS3: opts.artifactsInS3 });
    if (conflicts.length) throw new CommandError('conflict', conflicts.map((p) => p.message).join('; '), conflicts);
    // A team's narrower instance types hold for its jobs' changes as for their first run (a 422, as there).
    const team = job.team_id ? await getTeam(deps.db, job.team_id) : undefined;
    const allowed = team ? teamPolicyOf(team).instanceTypes : null;
    if (team && allowed && !allowed.includes(after.instance.type) && after.instance.type !== before.instance.type) {
      const message = `instance.type "${after.instance.type}" is not one team ${team.name} may use: ${allowed.join(', ')}`;
      throw new CommandError('validation_failed', message, [{ path: 'instance.type', message }]);
    }
  }
  const differences = specDifferences(before, after);
  const revisionId = opts.revisionId ?? crypto.randomUUID();
  const handle = deps.temporal.workflow.getHandle(job.workflow_id ?? workflowIdFor(jobId));
  let number: number;
  try {
    const result = await deps.temporal.withDeadline(Date.now() + (deps.updateWaitMs ?? UPDATE_WAIT_MS), () =>
      handle.executeUpdate(reviseUpdate, {
        updateId: revisionId,
        args: [
          {
            revisionId,
            kind,
            by: actor.user,
            byId: actor.userId || null,
            ...(change.reason ? { reason: change.reason } : {}),
            changeable: after,
            differences,
          },
        ],
      }),
    );
    number = result.revision;
  } catch (err) {
    throw updateError(err, jobId, deps.updateWaitMs ?? UPDATE_WAIT_MS);
  }
  await recordAudit(deps.db, {
    actor,
    action: kind === 'reconcile' ? 'reconcile' : 'change',
    jobId,
    detail: `revision ${number}: ${differences.map((d) => d.text).join('; ') || 'the declared state again'}`,
  });
  return { job: (await getJob(deps.db, jobId))!, revision: (await getRevision(deps.db, jobId, number))! };
}

function updateError(err: unknown, jobId: string, waitMs: number): CommandError {
  if (err instanceof WorkflowUpdateFailedError) {
    const reason = (err.cause as Error | undefined)?.message ?? err.message;
    return new CommandError('conflict', `cannot change job ${jobId}: ${reason}`);
  }
  if (err instanceof WorkflowNotFoundError) return new CommandError('conflict', `job ${jobId} has no running workflow`);
  if ((err as { code?: number }).code === GRPC_DEADLINE_EXCEEDED || /deadline/i.test((err as Error).message)) {
    return new CommandError('unavailable', `no worker took the change within ${waitMs / 1000} s; try again shortly`);
  }
  return new CommandError('unavailable', `could not reach Temporal: ${(err as Error).message}`);
}

/**
 * Approve, reject or cancel the job's revision in progress: the same signals
 * as for the first run, which the workflow routes to the revision. Whoever
 * asked for the revision does not approve it, as nobody approves their own job.
 */
export async function signalRevision(
  deps: CommandDeps,
  job: JobRow,
  action: 'approve' | 'reject' | 'cancel',
  actor: Actor,
  args: SignalArgs = {},
): Promise<JobRow> {
  const rev = await latestRevision(deps.db, job.id);
  const ok = action === 'cancel' ? revisionInProgress(rev?.state) : rev?.state === 'awaiting_approval';
  if (!rev || !ok) {
    throw new CommandError(
      'conflict',
      `cannot ${action} job ${job.id}: it is succeeded, and no revision of it ${action === 'cancel' ? 'is in progress' : 'awaits approval'}`,
    );
  }
  if (action !== 'cancel' && rev.requested_by_id && rev.requested_by_id === actor.userId) {
    throw new CommandError('own_job', `you asked for revision ${rev.number}: someone else must ${action} it`);
  }
  if (action === 'reject' && !args.reason?.trim()) throw new CommandError('conflict', 'a rejection needs a reason');
  const handle = deps.temporal.workflow.getHandle(job.workflow_id ?? workflowIdFor(job.id));
  try {
    if (action === 'cancel') await handle.signal(cancelSignal, { by: actor.user, reason: args.reason });
    else if (action === 'approve') await handle.signal(approveSignal, { approver: actor.user, comment: args.comment });
    else await handle.signal(rejectSignal, { by: actor.user, reason: args.reason!.trim() });
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new CommandError('conflict', `job ${job.id} has no running workflow`);
    throw new CommandError('unavailable', `could not reach Temporal: ${(err as Error).message}`);
  }
  await recordAudit(deps.db, {
    actor,
    action,
    jobId: job.id,
    detail: `revision ${rev.number}${args.reason || args.comment ? `: ${args.reason ?? args.comment}` : ''}`,
  });
  return (await getJob(deps.db, job.id))!;
}
