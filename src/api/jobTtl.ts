import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { recordAudit } from '../db/audit.js';
import { getJob } from '../db/jobs.js';
import type { JobRow } from '../db/schema.js';
import { getTeam } from '../db/teams.js';
import { workflowIdFor } from '../domain/lifecycle.js';
import { setTtlUpdate } from '../workflows/messages.js';
import { CommandError } from './commandError.js';
import { type Actor, authorize, type CommandDeps, UPDATE_WAIT_MS } from './jobCommands.js';

/**
 * A live environment's time to live, changed while it runs: an Update of the
 * job's workflow, which refuses (saying why) what its state does not allow
 * and reschedules the destroy and its warnings. `null` takes the TTL away.
 */
/** gRPC's status code for a call past its deadline. */
const GRPC_DEADLINE_EXCEEDED = 4;

export async function setJobTtl(deps: CommandDeps, jobId: string, ttlHours: number | null, actor: Actor): Promise<JobRow> {
  const job = await getJob(deps.db, jobId);
  if (!job) throw new CommandError('not_found', `job ${jobId} not found`);
  authorize(actor, 'change', job);
  // The workflow decides, but a job that is not live is refused at once, without asking it.
  if (job.status !== 'succeeded') {
    throw new CommandError('conflict', `cannot change the time to live of job ${jobId}: it is ${job.status.replace('_', ' ')}`);
  }
  const team = job.team_id ? await getTeam(deps.db, job.team_id) : undefined;
  if (team?.max_ttl_hours != null && (ttlHours === null || ttlHours > team.max_ttl_hours)) {
    const message = `ttlHours must be at most ${team.max_ttl_hours} for team ${team.name}`;
    throw new CommandError('validation_failed', message, [{ path: 'ttlHours', message }]);
  }
  const handle = deps.temporal.workflow.getHandle(job.workflow_id ?? workflowIdFor(jobId));
  try {
    // An Update waits for a worker to take it: bounded, so a request does not hang while none is up.
    await deps.temporal.withDeadline(Date.now() + (deps.updateWaitMs ?? UPDATE_WAIT_MS), () =>
      handle.executeUpdate(setTtlUpdate, { args: [{ by: actor.user, ttlHours }] }),
    );
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      const reason = (err.cause as Error | undefined)?.message ?? err.message;
      throw new CommandError('conflict', `cannot change the time to live of job ${jobId}: ${reason}`);
    }
    if (err instanceof WorkflowNotFoundError) throw new CommandError('conflict', `job ${jobId} has no running workflow`);
    if ((err as { code?: number }).code === GRPC_DEADLINE_EXCEEDED || /deadline/i.test((err as Error).message)) {
      throw new CommandError(
        'unavailable',
        `no worker took the change within ${(deps.updateWaitMs ?? UPDATE_WAIT_MS) / 1000} s; try again shortly`,
      );
    }
    throw new CommandError('unavailable', `could not reach Temporal: ${(err as Error).message}`);
  }
  await recordAudit(deps.db, {
    actor,
    action: 'ttl',
    jobId,
    detail: ttlHours === null ? 'no time to live: lives until destroyed' : `time to live set to ${ttlHours} h from now`,
  });
  return (await getJob(deps.db, jobId))!;
}
