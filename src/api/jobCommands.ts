import crypto from 'node:crypto';
import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import type { Db } from '../db/database.js';
import { getJob, insertJob, transitionJob } from '../db/jobs.js';
import { recordAudit } from '../db/audit.js';
import type { JobRow } from '../db/schema.js';
import { publicSpec, type JobSpec } from '../domain/jobSpec.js';
import { actionAllowed, workflowIdFor, type JobAction, type JobStatus } from '../domain/lifecycle.js';
import { decide, type JobPermission, type Subject } from '../domain/permissions.js';
import { CommandError } from './commandError.js';
import { checkTeamRoom, placeJob } from './teamPlacement.js';
import { signalRevision } from './revisionCommands.js';
import { jobWorkflowStartOptions } from './jobWorkflowStart.js';

/** The job commands' error (one class for every command of the web layer). */
export { CommandError as JobCommandError } from './commandError.js';
import { approveSignal, cancelSignal, destroySignal, rejectSignal } from '../workflows/messages.js';
import type { ProvisionJobInput } from '../workflows/provisionJob.js';

/**
 * What a user can do to a job, shared by the form handlers and the REST API so
 * both apply the same state rules. Errors carry an HTTP-ish code.
 */

export interface CommandDeps {
  db: Db;
  temporal: Client;
  taskQueue: string;
  approvalTimeoutMs: number;
  /** STEP_INFRA_RETRY_HOURS in ms; unset: the workflow's default. */
  infraRetryBudgetMs?: number;
  /** How long a Terraform step waits in its queue before the workflow schedules it again; unset: the workflow's default (tests set it low). */
  terraformQueueCheckMs?: number;
  /** TEAM_ACCOUNTS_ONLY: jobs run only in team accounts, no typed role ARNs. */
  teamAccountsOnly?: boolean;
  /** Events after which a waiting job's workflow continues as new; unset: the workflow's default (tests set it low). */
  historyBound?: number;
  /** How long an Update (TTL, revision) waits for a worker to take it; unset: UPDATE_WAIT_MS (tests on a loaded machine set more). */
  updateWaitMs?: number;
  /** PUBLIC_BASE_URL: a job's workflow links to its page in the Temporal UI; unset: no link. */
  publicBaseUrl?: string;
}

/** An Update waits this long for a worker before the request answers "try again shortly". */
export const UPDATE_WAIT_MS = 20_000;

/** Who acts: the principal of the request, as the permission rules and the audit need it. */
export interface Actor extends Subject {
  /** Display name, for the audit and the job's "created by". */
  user: string;
  tokenName?: string | null;
  ip?: string | null;
}

/** Refuses with the rule's code (a 403 in the API) unless `actor` may do `permission` to `job`. */
export function authorize(actor: Actor, permission: JobPermission, job?: { owner_id: string | null }): void {
  const decision = decide(actor, permission, job);
  if (!decision.allowed) throw new CommandError(decision.code, decision.message);
}

export function newJobId(): string {
  // Short, URL- and path-safe, sortable enough for humans: "j" + 12 base32 chars.
  return `j${crypto.randomBytes(8).readBigUInt64BE().toString(32).padStart(13, '0').slice(0, 12)}`;
}

/**
 * Creates a job. Jobs that authenticate with access keys start at once: the
 * keys are never stored, so they travel only in the (encrypted) workflow input.
 */
export async function createJob(deps: CommandDeps, given: JobSpec, actor: Actor): Promise<JobRow> {
  authorize(actor, 'create');
  const placement = await placeJob(deps.db, actor, given, { teamAccountsOnly: deps.teamAccountsOnly ?? false });
  const spec = placement.spec;
  const now = new Date().toISOString();
  const id = newJobId();
  const row = await insertJob(deps.db, {
    id,
    name: spec.name,
    status: 'draft',
    step: null,
    requester_email: spec.requesterEmail,
    region: spec.region,
    instance_type: spec.instance.type,
    auth_method: spec.auth.method,
    spec_json: JSON.stringify(publicSpec(spec)),
    account_id: null,
    assumed_role_arn: null,
    plan_summary_json: null,
    outputs_json: null,
    error: null,
    workflow_id: null,
    created_by: actor.user,
    owner_id: actor.userId,
    team_id: placement.teamId,
    team_account_id: placement.teamAccountId,
    created_at: now,
    started_at: null,
    finished_at: null,
    destroy_at: null,
    updated_at: now,
  });
  await recordAudit(deps.db, { actor, action: 'create', jobId: id });
  if (spec.auth.method === 'access_keys') return startJob(deps, id, spec, actor);
  return row;
}

/** Reads the stored (secret-free) spec back; role-based jobs need nothing else to run. */
export function storedSpec(job: JobRow): JobSpec {
  return JSON.parse(job.spec_json) as JobSpec;
}

export async function startJob(deps: CommandDeps, jobId: string, spec: JobSpec | undefined, actor: Actor): Promise<JobRow> {
  const job = await getJob(deps.db, jobId);
  if (!job) throw new CommandError('not_found', `job ${jobId} not found`);
  authorize(actor, 'run', job);
  await checkTeamRoom(deps.db, job.team_id);
  // What was stored is what runs (a team's rules may have shaped it), but for access keys, which are never stored.
  const fullSpec = spec?.auth.method === 'access_keys' ? spec : storedSpec(job);
  if (fullSpec.auth.method === 'access_keys' && !('secretAccessKey' in fullSpec.auth && fullSpec.auth.secretAccessKey)) {
    throw new CommandError(
      'conflict',
      'this job uses access keys, which are never stored; create a new job (or clone this one) and give the keys again',
    );
  }
  const workflowId = workflowIdFor(jobId);
  const now = new Date().toISOString();
  // Compare-and-set first: of two concurrent starts only one gets past this line.
  const won = await transitionJob(deps.db, jobId, ['draft'], {
    status: 'running',
    workflow_id: workflowId,
    started_at: now,
  });
  if (!won) {
    throw new CommandError('conflict', `job ${jobId} has already been started (status ${job.status}); a job runs once`);
  }
  const input: ProvisionJobInput = {
    jobId,
    spec: fullSpec,
    approvalTimeoutMs: deps.approvalTimeoutMs,
    ...(deps.infraRetryBudgetMs !== undefined ? { infraRetryBudgetMs: deps.infraRetryBudgetMs } : {}),
    ...(deps.terraformQueueCheckMs !== undefined ? { terraformQueueCheckMs: deps.terraformQueueCheckMs } : {}),
    ...(deps.historyBound !== undefined ? { historyBound: deps.historyBound } : {}),
  };
  try {
    await deps.temporal.workflow.start('provisionJob', {
      workflowId,
      taskQueue: deps.taskQueue,
      args: [input],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      ...jobWorkflowStartOptions(job, fullSpec, { status: 'running', publicBaseUrl: deps.publicBaseUrl }),
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new CommandError('conflict', `job ${jobId} already has a workflow (${workflowId}); a job runs once`);
    }
    // Temporal unreachable: put the job back so the user can try again.
    await transitionJob(deps.db, jobId, ['running'], { status: 'draft', workflow_id: null, started_at: null });
    throw new CommandError('unavailable', `could not start the workflow: ${(err as Error).message}`);
  }
  await recordAudit(deps.db, { actor, action: 'start', jobId });
  return (await getJob(deps.db, jobId))!;
}

export interface SignalArgs {
  reason?: string;
  comment?: string;
}

/** cancel / approve / reject / destroy: checked against the job's status, then signalled. */
export async function signalJob(
  deps: CommandDeps,
  jobId: string,
  action: Exclude<JobAction, 'run'>,
  actor: Actor,
  args: SignalArgs = {},
): Promise<JobRow> {
  const job = await getJob(deps.db, jobId);
  if (!job) throw new CommandError('not_found', `job ${jobId} not found`);
  authorize(actor, action, job);
  const status = job.status as JobStatus;
  // A live environment's approve, reject and cancel are its revision's.
  if (status === 'succeeded' && action !== 'destroy') return signalRevision(deps, job, action, actor, args);
  if (!actionAllowed(action, status, { hasResources: job.has_resources === 1 })) {
    throw new CommandError('conflict', `cannot ${action} job ${jobId}: it is ${status.replace('_', ' ')}`);
  }
  if (action === 'reject' && !args.reason?.trim()) {
    throw new CommandError('conflict', 'a rejection needs a reason');
  }
  const handle = deps.temporal.workflow.getHandle(job.workflow_id ?? workflowIdFor(jobId));
  try {
    switch (action) {
      case 'cancel':
        await handle.signal(cancelSignal, { by: actor.user, reason: args.reason });
        await transitionJob(deps.db, jobId, ['running', 'awaiting_approval'], { status: 'cancelling' });
        break;
      case 'destroy':
        await handle.signal(destroySignal, { by: actor.user });
        await transitionJob(deps.db, jobId, ['succeeded', 'failed'], { status: 'destroying' });
        break;
      case 'approve':
        await handle.signal(approveSignal, { approver: actor.user, comment: args.comment });
        break;
      case 'reject':
        await handle.signal(rejectSignal, { by: actor.user, reason: args.reason!.trim() });
        break;
    }
  } catch (err) {
    if (err instanceof WorkflowNotFoundError && action === 'destroy') {
      return destroyWithNewRun(deps, job, actor);
    }
    if (err instanceof WorkflowNotFoundError) {
      throw new CommandError('conflict', `job ${jobId} has no running workflow to ${action}`);
    }
    throw new CommandError('unavailable', `could not reach Temporal: ${(err as Error).message}`);
  }
  await recordAudit(deps.db, {
    actor,
    action,
    jobId,
    detail: args.reason ?? args.comment ?? null,
  });
  return (await getJob(deps.db, jobId))!;
}

/**
 * A destroy of a job whose workflow has closed (terminated from Temporal, or
 * ended by a fault) while its resources remain: a new run of the job's
 * workflow, under the same id, that only destroys. Without it, the only way
 * to remove such resources would be by hand.
 */
async function destroyWithNewRun(deps: CommandDeps, job: JobRow, actor: Actor): Promise<JobRow> {
  const spec = storedSpec(job);
  if (spec.auth.method === 'access_keys') {
    throw new CommandError(
      'conflict',
      `job ${job.id} has no running workflow, and it used access keys, which are never stored: ` +
        'its resources must be destroyed by hand, or by a job with the same keys',
    );
  }
  const won = await transitionJob(deps.db, job.id, ['succeeded', 'failed'], { status: 'destroying', error: null });
  if (!won) throw new CommandError('conflict', `job ${job.id} changed while the destroy was being requested; try again`);
  const input: ProvisionJobInput = {
    jobId: job.id,
    spec,
    approvalTimeoutMs: deps.approvalTimeoutMs,
    mode: 'destroy',
    ...(deps.infraRetryBudgetMs !== undefined ? { infraRetryBudgetMs: deps.infraRetryBudgetMs } : {}),
    ...(deps.terraformQueueCheckMs !== undefined ? { terraformQueueCheckMs: deps.terraformQueueCheckMs } : {}),
  };
  try {
    await deps.temporal.workflow.start('provisionJob', {
      workflowId: job.workflow_id ?? workflowIdFor(job.id),
      taskQueue: deps.taskQueue,
      args: [input],
      // The earlier run is closed: this one takes over its id, so the job's links and signals stay the same.
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      ...jobWorkflowStartOptions(job, spec, { status: 'destroying', mode: 'destroy', publicBaseUrl: deps.publicBaseUrl }),
    });
  } catch (err) {
    await transitionJob(deps.db, job.id, ['destroying'], { status: job.status, error: job.error });
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new CommandError('conflict', `job ${job.id} already has a running workflow; try the destroy again`);
    }
    throw new CommandError('unavailable', `could not start the destroy: ${(err as Error).message}`);
  }
  await recordAudit(deps.db, {
    actor,
    action: 'destroy',
    jobId: job.id,
    detail: "the job's workflow had closed: destroyed by a new run",
  });
  return (await getJob(deps.db, job.id))!;
}
