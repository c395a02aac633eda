import { z } from 'zod';
import type { JobRevisionRow, JobStepRow } from '../db/schema.js';
import { REVISION_KINDS, REVISION_STATES } from '../domain/lifecycle.js';
import type { SpecChangeSchema, SpecDifference } from '../domain/specChange.js';
import { replacedAddresses } from '../domain/revisionView.js';
import type { HeaderDef, RouteDef } from './apiRoutes.js';
import { jobJsonSchema, stepJson, stepJsonSchema } from './jobJson.js';

/**
 * The revisions part of the API's route table (apiRoutes.ts): changes to a
 * live environment, their list, one with its steps, and Reconcile.
 */

const isoTime = z.string().describe('ISO-8601 timestamp');

export const revisionJsonSchema = z.object({
  number: z.number().int().describe('1 for the first change after the job’s own run'),
  kind: z.enum(REVISION_KINDS).describe('`change`: asked with a new spec; `reconcile`: the declared state applied again'),
  state: z.enum(REVISION_STATES),
  requestedBy: z.string(),
  requestedAt: isoTime,
  reason: z.string().nullable(),
  differences: z
    .array(
      z.object({
        field: z.string(),
        text: z.string(),
        applies: z
          .enum(['instance', 'infrastructure', 'restart'])
          .describe('`instance`: on the running instance; `restart`: the instance stops and starts'),
      }),
    )
    .describe('what the revision changes, said for people (environment values never appear)'),
  plan: z
    .object({
      add: z.number().int(),
      change: z.number().int(),
      destroy: z.number().int(),
      replaces: z.array(z.string()).describe('resources the plan replaces (destroyed and created again)'),
    })
    .nullable(),
  decidedBy: z.string().nullable().describe('the approval decision, when one was asked'),
  error: z.string().nullable(),
  finishedAt: isoTime.nullable(),
});
export const revisionListSchema = z.object({ jobId: z.string(), revisions: z.array(revisionJsonSchema) });
export const revisionDetailSchema = revisionJsonSchema.extend({ steps: z.array(stepJsonSchema) });
export const revisionCreatedSchema = z.object({ job: jobJsonSchema, revision: revisionJsonSchema });

export const reconcileBody = z.strictObject(
  {
    reason: z
      .string({ error: 'reason must be a string' })
      .trim()
      .max(500, { error: 'reason: at most 500 characters' })
      .optional(),
  },
  {
    error: (iss) =>
      iss.code === 'unrecognized_keys' ? `unknown field "${iss.keys.join('", "')}"` : 'the body must be a JSON object',
  },
);

const ERRORS = [400, 403, 404, 409, 413, 415, 422, 503];

/** apiRoutes passes its own job id parameter and Idempotency-Key header (this module cannot import them: a cycle). */
export function revisionRoutes(
  changeSchema: SpecChangeSchema,
  shared: { jobIdParams: z.ZodObject<{ id: z.ZodString }>; idempotencyHeader: HeaderDef },
) {
  const { jobIdParams, idempotencyHeader } = shared;
  const revisionParams = jobIdParams.extend({
    number: z.coerce.number({ error: 'number must be a revision number' }).int().min(1).max(1_000_000_000),
  });
  return {
    listJobRevisions: {
      method: 'GET',
      path: '/api/jobs/:id/revisions',
      summary: 'Changes made to a live environment, newest first',
      tag: 'jobs',
      params: jobIdParams,
      response: { status: 200, description: 'the revisions', schema: revisionListSchema },
      errors: [400, 404],
    },
    createJobRevision: {
      method: 'POST',
      path: '/api/jobs/:id/revisions',
      summary: 'Change a live environment: containers, users, instance type, volume size (grow only), ingress and SSH',
      description:
        'Only the fields given change. An Update of the job’s workflow, which records the revision and runs it: plan, ' +
        'approval when the job asks for it or the plan replaces or destroys anything, apply, then the containers and users ' +
        'on the running instance. Refused (409, with the reason) unless the job has succeeded and no other revision is in progress. ' +
        'A failed revision leaves the environment running; the job stays `succeeded`.',
      tag: 'jobs',
      params: jobIdParams,
      headers: [idempotencyHeader],
      body: { required: true, json: changeSchema },
      response: { status: 202, description: 'the revision, recorded and started', schema: revisionCreatedSchema },
      errors: ERRORS,
    },
    getJobRevision: {
      method: 'GET',
      path: '/api/jobs/:id/revisions/:number',
      summary: 'One revision, with its steps',
      tag: 'jobs',
      params: revisionParams,
      response: { status: 200, description: 'the revision', schema: revisionDetailSchema },
      errors: [400, 404],
    },
    reconcileJob: {
      method: 'POST',
      path: '/api/jobs/:id/reconcile',
      summary: 'Apply the job’s declared state again (after drift), as a revision',
      tag: 'jobs',
      params: jobIdParams,
      headers: [idempotencyHeader],
      body: { required: false, json: reconcileBody },
      response: { status: 202, description: 'the revision, recorded and started', schema: revisionCreatedSchema },
      errors: ERRORS,
    },
  } as const satisfies Record<string, RouteDef>;
}

export function revisionJson(row: JobRevisionRow): z.infer<typeof revisionJsonSchema> {
  const plan = row.plan_json
    ? (JSON.parse(row.plan_json) as {
        add: number;
        change: number;
        destroy: number;
        resources?: { address: string; actions: string[] }[];
      })
    : null;
  return {
    number: row.number,
    kind: row.kind as z.infer<typeof revisionJsonSchema>['kind'],
    state: row.state as z.infer<typeof revisionJsonSchema>['state'],
    requestedBy: row.requested_by,
    requestedAt: row.requested_at,
    reason: row.reason,
    differences: JSON.parse(row.differences_json) as SpecDifference[],
    plan: plan
      ? {
          add: plan.add,
          change: plan.change,
          destroy: plan.destroy,
          replaces: replacedAddresses(plan.resources),
        }
      : null,
    decidedBy: row.decided_by,
    error: row.error,
    finishedAt: row.finished_at,
  };
}

export function revisionDetailJson(row: JobRevisionRow, steps: JobStepRow[]): z.infer<typeof revisionDetailSchema> {
  return { ...revisionJson(row), steps: steps.map(stepJson) };
}
