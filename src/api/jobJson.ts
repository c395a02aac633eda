import { z } from 'zod';
import type { AuditRow, JobLogRow, JobRow, JobStepRow } from '../db/schema.js';
import { JOB_STATUSES } from '../domain/lifecycle.js';
import { jobView, type LinkSettings } from '../domain/jobView.js';
import { driftView } from '../domain/revisionView.js';
import type { Subject } from '../domain/permissions.js';

/**
 * How the API shows a job and its parts. The zod schemas here are the
 * response side of the OpenAPI document, and the serializers are typed by
 * them, so the document and what the API sends are the same thing.
 */

const JOB_ACTIONS = ['run', 'cancel', 'approve', 'reject', 'destroy'] as const;
const isoTime = z.string().describe('ISO-8601 timestamp');

export const jobJsonSchema = z.object({
  id: z.string(),
  name: z.string(),
  status: z.enum(JOB_STATUSES),
  step: z.string().nullable().describe('the step running now or last run (verify, preflight, … destroy)'),
  spec: z
    .record(z.string(), z.unknown())
    .describe(
      "the job spec as submitted, without any secret; the users CSV and the containers' environment values only for the job's owner, approvers and admins",
    ),
  createdBy: z.string().nullable().describe('who created the job'),
  ownerId: z.string().nullable().describe('the user the job belongs to'),
  accountId: z.string().nullable(),
  planSummary: z.record(z.string(), z.unknown()).nullable().describe('resources to add, change and destroy'),
  outputs: z
    .record(z.string(), z.string().nullable())
    .nullable()
    .describe('instance_id, public_ip, private_ip, public_dns, ami_id, security_group_id'),
  error: z.string().nullable(),
  workflowId: z.string().nullable(),
  hasResources: z.boolean().describe("whether the job's Terraform state holds resources"),
  destroyAt: isoTime.nullable().describe('when the TTL timer destroys the environment'),
  drift: z
    .object({
      state: z.enum(['in_sync', 'drifted', 'error']),
      checkedAt: isoTime.nullable(),
      items: z.array(z.string()).describe('what moved outside the service (or why the check failed)'),
    })
    .nullable()
    .describe('the last drift check of a live environment; null: not checked (or not live)'),
  actions: z
    .array(z.enum(JOB_ACTIONS))
    .describe("the actions the caller may take now: valid in the job's status and allowed to the caller's role"),
  createdAt: isoTime,
  startedAt: isoTime.nullable(),
  finishedAt: isoTime.nullable(),
  links: z.object({
    self: z.string().describe('this job in the API'),
    ui: z.string().describe('the job page'),
    temporal: z.string().nullable().describe("the workflow in Temporal's Web UI, once started"),
  }),
  waitingForWorker: z
    .object({
      step: z.string().describe('the step that waits: init, plan, apply, output, destroy, verify, …'),
      terraform: z
        .boolean()
        .describe(
          "true: a Terraform step, queued until a worker has a free Terraform slot (the workers' TERRAFORM_MAX_CONCURRENT)",
        ),
      since: isoTime.describe('when the step was scheduled'),
    })
    .nullable()
    .optional()
    .describe(
      "GET /api/jobs/{id} only: the job's step that Temporal has scheduled and no worker has taken yet (every worker's " +
        'Terraform slots are busy, or no worker runs); null when no step waits, or when Temporal could not be asked',
    ),
  stalled: z
    .object({
      attempts: z.number().int().describe("how many times in a row the workflow's task has failed"),
      since: isoTime.describe('when the first of those attempts was scheduled'),
      reason: z.string().nullable().describe("the last failure's message, when Temporal's history gave it"),
    })
    .nullable()
    .optional()
    .describe(
      "GET /api/jobs/{id} only: the job's workflow cannot move on, its task failing again and again (a payload the " +
        'workers refuse, a fault in new workflow code); what the job shows is where it stopped. null when it moves, ' +
        'or when Temporal could not be asked',
    ),
});
export type JobJson = z.infer<typeof jobJsonSchema>;

export const specWarningSchema = z.object({
  path: z.string().describe('the spec field the warning is about, e.g. usersCsv'),
  message: z.string(),
});
export type SpecWarning = z.infer<typeof specWarningSchema>;

/** The answer to creating a job: the job, and what was accepted but left out of its spec. */
export const createdJobJsonSchema = jobJsonSchema.extend({
  warnings: z
    .array(specWarningSchema)
    .describe(
      'what was accepted but changed, e.g. users CSV columns other than username, email, role and display_name, ' +
        'which are dropped; empty when nothing was (only this response carries them)',
    ),
});
export type CreatedJobJson = z.infer<typeof createdJobJsonSchema>;

export const jobListSchema = z.object({
  jobs: z.array(jobJsonSchema),
  nextCursor: z.string().nullable().describe('pass as `cursor` for the next page; null on the last page'),
});

export const logLineSchema = z.object({
  seq: z.number().int().describe("position in the job's log, from 1; use as `after` or Last-Event-ID to resume"),
  ts: isoTime,
  step: z.string(),
  attempt: z.number().int(),
  stream: z.string(),
  line: z.string(),
});
export const logPageSchema = z.object({
  jobId: z.string(),
  lines: z.array(logLineSchema),
  nextAfter: z.number().int().describe('pass as `after` to read on'),
  hasMore: z.boolean().describe('whether more lines were stored past this page when it was read'),
});

export const stepJsonSchema = z.object({
  step: z.string(),
  attempt: z.number().int(),
  state: z.string(),
  startedAt: isoTime,
  finishedAt: isoTime.nullable(),
  error: z.string().nullable(),
  detail: z.string().nullable(),
});
export const stepListSchema = z.object({ jobId: z.string(), steps: z.array(stepJsonSchema) });

export const auditJsonSchema = z.object({
  id: z.number().int(),
  at: isoTime,
  actor: z.string().describe('who acted, by name'),
  userId: z.string().nullable().describe('the user who acted; null for the system'),
  tokenName: z.string().nullable().describe('the API token they acted through, if any'),
  action: z.string(),
  ip: z.string().nullable(),
  detail: z.string().nullable(),
});
export const auditListSchema = z.object({ jobId: z.string(), entries: z.array(auditJsonSchema) });

export type { LinkSettings } from '../domain/jobView.js';

/** A job as the API returns it: the same view model the pages and the emails are rendered from. */
export function jobJson(job: JobRow, links: LinkSettings, viewer: Subject): JobJson {
  const view = jobView(job, { links, viewer });
  return {
    id: view.id,
    name: view.name,
    status: view.status,
    step: view.step,
    // Stored without secrets (publicSpec) when the job was created.
    spec: (view.spec as Record<string, unknown> | null) ?? {},
    createdBy: job.created_by,
    ownerId: job.owner_id,
    accountId: job.account_id,
    planSummary: view.plan
      ? { add: view.plan.add, change: view.plan.change, destroy: view.plan.destroy, resources: view.plan.resources }
      : null,
    outputs: view.outputs,
    error: job.error,
    workflowId: job.workflow_id,
    hasResources: view.hasResources,
    destroyAt: job.destroy_at,
    drift: driftJson(job),
    actions: view.actions,
    createdAt: job.created_at,
    startedAt: job.started_at,
    finishedAt: job.finished_at,
    links: view.links,
  };
}

/** The last drift check of a live environment; none for a job that is not live or was never checked. */
function driftJson(job: JobRow): JobJson['drift'] {
  const drift = job.status === 'succeeded' ? driftView(job) : null;
  return drift ? { state: drift.state, checkedAt: drift.checkedAt, items: drift.items } : null;
}

export function logLineJson(row: JobLogRow): z.infer<typeof logLineSchema> {
  return { seq: row.seq, ts: row.ts, step: row.step, attempt: row.attempt, stream: row.stream, line: row.line };
}

export function stepJson(row: JobStepRow): z.infer<typeof stepJsonSchema> {
  return {
    step: row.step,
    attempt: row.attempt,
    state: row.state,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    error: row.error,
    detail: row.detail,
  };
}

export function auditJson(row: AuditRow): z.infer<typeof auditJsonSchema> {
  return {
    id: row.id,
    at: row.at,
    actor: row.actor,
    userId: row.user_id,
    tokenName: row.token_name,
    action: row.action,
    ip: row.ip,
    detail: row.detail,
  };
}
