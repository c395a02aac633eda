import { z } from 'zod';
import { documented } from '../domain/documentedSchema.js';
import { NOT_BLANK } from '../domain/specPatterns.js';
import type { JobSpecSchema } from '../domain/jobSpec.js';
import type { SpecChangeSchema } from '../domain/specChange.js';
import { revisionRoutes } from './revisionRoutes.js';
import { JOB_STATUSES } from '../domain/lifecycle.js';
import { peopleRoutes } from './peopleRoutes.js';
import { auditListSchema, createdJobJsonSchema, jobJsonSchema, jobListSchema, logPageSchema, stepListSchema } from './jobJson.js';

/**
 * The API's route table: method, path, input schemas and responses of every
 * route. The API's sub-apps register their routes from it and validate with
 * its schemas; buildOpenApiDocument (openapi.ts) turns it into OpenAPI 3.1
 * with z.toJSONSchema. One table, so the document and the routes cannot drift.
 */

export const API_BASE = '/api';

// --- request schemas ----------------------------------------------------------------------------

const jobId = z.string().min(1).max(64).describe('the job id');
export const jobIdParams = z.object({ id: jobId });

/**
 * A whole number in a query string: digits only, so that "" or "1e3" is refused rather than
 * read as 0 or 1000 (as z.coerce would), and the document's `integer` is what is taken.
 */
function queryInt(what: string, min: number, max = Number.MAX_SAFE_INTEGER, fallback?: number) {
  const whole = `${what} must be a whole number`;
  const parsed = z
    .string({ error: whole })
    .regex(/^[0-9]{1,16}$/, { error: whole })
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, { error: min === 0 ? `${what} must be 0 or more` : `${what} must be at least ${min}` })
        .max(max, { error: `${what} must be at most ${max}` }),
    );
  const json = { type: 'integer', minimum: min, maximum: max };
  // zod leaves a default out of the input's schema when a transform is under it.
  if (fallback === undefined) return documented(parsed, json);
  return documented(parsed.default(fallback), { ...json, default: fallback });
}
const nonNegativeInt = (what: string) => queryInt(what, 0);

export const listJobsQuery = z.strictObject(
  {
    status: z
      .enum(JOB_STATUSES, { error: `status must be one of ${JOB_STATUSES.join(', ')}` })
      .optional()
      .describe('only jobs in this status'),
    q: z
      .string()
      .max(200, { error: 'q must be at most 200 characters' })
      .optional()
      .describe('search in name and requester email'),
    cursor: z
      .string()
      .max(512)
      .regex(/^[A-Za-z0-9_-]*$/, { error: 'cursor is not one this API handed out (use nextCursor as it is)' })
      .optional()
      .describe('nextCursor of the previous page'),
    limit: queryInt('limit', 1, 200, 25).describe('page size, 1-200'),
  },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown query parameter "${iss.keys.join('", "')}"` : undefined) },
);

export const MAX_LOG_PAGE = 5000;
export const logsQuery = z.strictObject(
  {
    after: queryInt('after', 0, undefined, 0).describe('return lines with seq greater than this'),
    limit: queryInt('limit', 1, MAX_LOG_PAGE, 1000).describe(`lines per page, 1-${MAX_LOG_PAGE}`),
  },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown query parameter "${iss.keys.join('", "')}"` : undefined) },
);

export const logStreamQuery = z.strictObject(
  { after: nonNegativeInt('after').optional().describe('start after this seq (Last-Event-ID wins when both are given)') },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown query parameter "${iss.keys.join('", "')}"` : undefined) },
);

export const lastEventIdHeader = z
  .string()
  .regex(/^\d{1,15}$/, { error: 'Last-Event-ID must be the seq of a log line' })
  .transform(Number)
  .describe('the seq of the last line received; the stream resumes after it');

export const auditQuery = z.strictObject(
  {
    limit: queryInt('limit', 1, 500, 100),
    before: nonNegativeInt('before').optional().describe('only entries with an id below this (paging back)'),
  },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown query parameter "${iss.keys.join('", "')}"` : undefined) },
);

export const idempotencyKeyHeader = z
  .string()
  .regex(/^[\x21-\x7e]{1,255}$/, { error: 'Idempotency-Key must be 1-255 visible ASCII characters' })
  .describe('retry-safe key: the same key and body return the first result; another body with the key is refused (422)');

export const emptyBody = z.strictObject(
  {},
  {
    error: (iss) =>
      iss.code === 'unrecognized_keys' ? `unknown field "${iss.keys.join('", "')}"` : 'the body must be a JSON object',
  },
);

export const cancelBody = z.strictObject(
  {
    reason: z
      .string({ error: 'reason must be a string' })
      .trim()
      .max(2000, { error: 'reason must be at most 2000 characters' })
      .optional(),
  },
  {
    error: (iss) =>
      iss.code === 'unrecognized_keys' ? `unknown field "${iss.keys.join('", "')}"` : 'the body must be a JSON object',
  },
);

export const approveBody = z.strictObject(
  {
    comment: z
      .string({ error: 'comment must be a string' })
      .trim()
      .max(2000, { error: 'comment must be at most 2000 characters' })
      .optional(),
  },
  {
    error: (iss) =>
      iss.code === 'unrecognized_keys' ? `unknown field "${iss.keys.join('", "')}"` : 'the body must be a JSON object',
  },
);

export const rejectBody = z.strictObject(
  {
    reason: documented(
      z
        .string({
          error: (iss) =>
            iss.input === undefined ? 'reason is required: say why the plan is rejected' : 'reason must be a string',
        })
        .trim()
        .min(1, { error: 'reason is required: say why the plan is rejected' })
        .max(2000, { error: 'reason must be at most 2000 characters' }),
      { type: 'string', maxLength: 2000, pattern: NOT_BLANK },
    ),
  },
  {
    error: (iss) =>
      iss.code === 'unrecognized_keys' ? `unknown field "${iss.keys.join('", "')}"` : 'the body must be a JSON object',
  },
);

export const ttlBody = z.strictObject(
  {
    ttlHours: z
      .number({ error: 'ttlHours must be a number of hours, or null for no time to live' })
      .positive({ error: 'ttlHours must be more than 0' })
      .max(720, { error: 'ttlHours must be at most 720 (30 days)' })
      .nullable()
      .describe('hours from now until the environment is destroyed; null: until someone destroys it'),
  },
  {
    error: (iss) =>
      iss.code === 'unrecognized_keys' ? `unknown field "${iss.keys.join('", "')}"` : 'the body must be a JSON object',
  },
);

/** One event of a job's log stream, as an event-stream reader hands it over. */
const logEventSchema = z
  .object({
    event: z
      .enum(['message', 'status', 'end', 'error'])
      .optional()
      .describe('`message` (the default) for a log line; `status` and `end` carry the job, `error` that the stream failed'),
    id: z
      .string()
      .regex(/^[0-9]+$/)
      .optional()
      .describe("a log line's seq, to resume after"),
    data: z.string().describe('JSON: the log line; or for `status` {status, step, actions}, for `end` where it ended'),
    retry: z.number().int().optional().describe('on the first event: milliseconds to wait before reconnecting'),
  })
  .describe('an event (the heartbeat comments carry none)');

const healthSchema = z.object({ status: z.enum(['ok', 'degraded']), db: z.string(), temporal: z.string() });

// --- the table ----------------------------------------------------------------------------------

export interface HeaderDef {
  name: string;
  required?: boolean;
  schema: z.ZodType;
}

export interface RouteDef {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Full path in Hono's syntax (`/api/jobs/:id`). */
  path: string;
  summary: string;
  description?: string;
  tag: 'jobs' | 'logs' | 'people' | 'meta';
  /** false for the one unauthenticated route (/health). */
  auth?: boolean;
  params?: z.ZodObject;
  query?: z.ZodObject;
  headers?: HeaderDef[];
  /** `multipart`: the JSON body may also come as multipart/form-data (the job spec; openapiLinks.ts). */
  body?: { required: boolean; json?: z.ZodType; multipart?: boolean };
  response: { status: number; description: string; schema?: z.ZodType; contentType?: string };
  /** Error statuses the route answers with (401 is implied for authenticated routes). */
  errors: number[];
}

const idempotencyHeader: HeaderDef = { name: 'Idempotency-Key', schema: idempotencyKeyHeader };
const ACTION_ERRORS = [400, 403, 404, 409, 413, 415, 422, 503];

/** `POST /api/jobs/:id/<action>`: the job as it is after the request, and the errors every action shares. */
function actionRoute<B extends z.ZodType>(
  action: string,
  summary: string,
  outcome: string,
  json: B,
  opts: { headers?: HeaderDef[]; bodyRequired?: boolean } = {},
) {
  return {
    method: 'POST',
    path: `/api/jobs/:id/${action}`,
    summary,
    tag: 'jobs',
    params: jobIdParams,
    ...(opts.headers ? { headers: opts.headers } : {}),
    body: { required: opts.bodyRequired ?? false, json },
    response: { status: 202, description: `${outcome}; the job as it is now`, schema: jobJsonSchema },
    errors: ACTION_ERRORS,
  } as const satisfies RouteDef;
}

/** Every route of the API, keyed by operationId. The schemas carry the operator's allowlists. */
export function apiRoutes(specSchema: JobSpecSchema, changeSchema: SpecChangeSchema) {
  return {
    ...peopleRoutes,
    ...revisionRoutes(changeSchema, { jobIdParams, idempotencyHeader }),
    listJobs: {
      method: 'GET',
      path: '/api/jobs',
      summary: 'List jobs, newest first',
      description: 'Keyset-paginated: follow nextCursor. Filter by status, search name and requester email with q.',
      tag: 'jobs',
      query: listJobsQuery,
      response: { status: 200, description: 'a page of jobs', schema: jobListSchema },
      errors: [400],
    },
    createJob: {
      method: 'POST',
      path: '/api/jobs',
      summary: 'Create a job (draft)',
      description:
        'The job spec as JSON, or multipart/form-data with the spec as a JSON field `spec` and the users CSV as a file `usersCsv`. ' +
        'Jobs that authenticate with access keys start at once (the keys are never stored); others start with POST /api/jobs/{id}/run. ' +
        'Users CSV columns other than username, email, role and display_name are dropped from the stored CSV and named in `warnings`.',
      tag: 'jobs',
      headers: [idempotencyHeader],
      body: { required: true, json: specSchema, multipart: true },
      response: {
        status: 201,
        description: 'the job, with warnings about what was left out of its spec',
        schema: createdJobJsonSchema,
      },
      errors: [400, 403, 409, 413, 415, 422, 503],
    },
    getJob: {
      method: 'GET',
      path: '/api/jobs/:id',
      summary: 'A job',
      tag: 'jobs',
      params: jobIdParams,
      response: { status: 200, description: 'the job', schema: jobJsonSchema },
      errors: [404],
    },
    runJob: actionRoute(
      'run',
      'Start a draft job (one workflow per job; a second run is a 409)',
      'the workflow started',
      emptyBody,
      {
        headers: [idempotencyHeader],
      },
    ),
    cancelJob: actionRoute('cancel', 'Cancel a running job; what was created is destroyed', 'cancellation requested', cancelBody),
    destroyJob: actionRoute(
      'destroy',
      'Destroy the environment of a succeeded (or failed, with resources) job',
      'destroy requested',
      emptyBody,
    ),
    approveJob: actionRoute('approve', 'Approve the plan of a job awaiting approval', 'approval sent', approveBody),
    rejectJob: actionRoute(
      'reject',
      'Reject the plan of a job awaiting approval (a reason is required)',
      'rejection sent',
      rejectBody,
      {
        bodyRequired: true,
      },
    ),
    setJobTtl: {
      method: 'POST',
      path: '/api/jobs/:id/ttl',
      summary: "Change a live environment's time to live (extend or shorten, from now)",
      description:
        'An Update of the running workflow: the destroy and its warnings are rescheduled. Refused (409, with the reason) ' +
        'unless the job has succeeded and waits for its destroy, or past 720 hours from the job start (or the team’s longest).',
      tag: 'jobs',
      params: jobIdParams,
      body: { required: true, json: ttlBody },
      response: { status: 200, description: 'the job with its new destroyAt', schema: jobJsonSchema },
      errors: [400, 403, 404, 409, 415, 422, 503],
    },
    getJobLogs: {
      method: 'GET',
      path: '/api/jobs/:id/logs',
      summary: 'Log lines after a seq, oldest first',
      description:
        'At most `limit` lines and about 2 MB of JSON (a page always holds at least one line when there is one): ' +
        'follow `nextAfter` while `hasMore` to read every line once.',
      tag: 'logs',
      params: jobIdParams,
      query: logsQuery,
      response: { status: 200, description: 'a page of log lines', schema: logPageSchema },
      errors: [400, 404],
    },
    streamJobLogs: {
      method: 'GET',
      path: '/api/jobs/:id/logs/stream',
      summary: 'Live log lines as server-sent events',
      description:
        "Each line is an event (`id:` its seq, data: a log line as JSON). `event: status` when the job's status or step " +
        'changes, a comment every 15 s as a heartbeat, and `event: end` once the job has settled (nothing running: ' +
        'final, or succeeded or failed and waiting, with no step or revision in progress) and every line has been sent; ' +
        'its data says whether the job is final. Open a new stream when an action starts something again. Resume with ' +
        'Last-Event-ID or ?after=. Streams are limited per caller and per web process (LOG_STREAMS_PER_PRINCIPAL, ' +
        'LOG_STREAMS_TOTAL): past either, 503 with Retry-After.',
      tag: 'logs',
      params: jobIdParams,
      query: logStreamQuery,
      headers: [{ name: 'Last-Event-ID', schema: lastEventIdHeader }],
      response: { status: 200, description: 'an event stream', contentType: 'text/event-stream', schema: logEventSchema },
      errors: [400, 404, 503],
    },
    getJobSteps: {
      method: 'GET',
      path: '/api/jobs/:id/steps',
      summary: "The job's step attempts, in order",
      tag: 'jobs',
      params: jobIdParams,
      response: { status: 200, description: 'step attempts', schema: stepListSchema },
      errors: [404],
    },
    getJobAudit: {
      method: 'GET',
      path: '/api/jobs/:id/audit',
      summary: 'Who did what to the job, newest first',
      tag: 'jobs',
      params: jobIdParams,
      query: auditQuery,
      response: { status: 200, description: 'audit entries', schema: auditListSchema },
      errors: [400, 404],
    },
    getOpenApi: {
      method: 'GET',
      path: '/api/openapi.json',
      summary: 'This document',
      tag: 'meta',
      response: { status: 200, description: 'OpenAPI 3.1 document', schema: z.record(z.string(), z.unknown()) },
      errors: [],
    },
    health: {
      method: 'GET',
      path: '/health',
      summary: 'Whether the database and Temporal answer',
      tag: 'meta',
      auth: false,
      response: { status: 200, description: 'both answer (503 with the same body when one does not)', schema: healthSchema },
      errors: [503],
    },
  } as const satisfies Record<string, RouteDef>;
}

export type ApiRoutes = ReturnType<typeof apiRoutes>;

/** `/api/jobs/:id` → `/jobs/:id`: the path inside the sub-app mounted at /api. */
export function subPath(route: { path: string }): string {
  if (!route.path.startsWith(`${API_BASE}/`)) throw new Error(`${route.path} is not under ${API_BASE}`);
  return route.path.slice(API_BASE.length);
}

/** `/api/jobs/:id` → `/api/jobs/{id}`. */
export function openApiPath(honoPath: string): string {
  return honoPath.replace(/:(\w+)/g, '{$1}');
}
