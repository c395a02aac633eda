import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { streamSSE } from 'hono/streaming';
import { validator } from 'hono/validator';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { clientAddress } from '../rateLimit.js';
import type { z } from 'zod';
import type { AppEnv } from '../auth.js';
import type { RouteDeps } from './deps.js';
import { ifNoneMatchHits, LogPageCache } from '../logPageCache.js';
import { ApiError, apiErrorHandler, apiNotFound, badRequest, errorResponseFor, validationError } from '../apiErrors.js';
import { auditJson, jobJson, logLineJson, stepJson, type LinkSettings } from '../jobJson.js';
import {
  apiRoutes,
  buildOpenApiDocument,
  idempotencyKeyHeader,
  lastEventIdHeader,
  subPath,
  type RouteDef,
} from '../openapi.js';
import { createJob, signalJob, startJob, type Actor } from '../jobCommands.js';
import { getJob, listJobs, listSteps } from '../../db/jobs.js';
import { listLogLines, logPageJson } from '../../db/logs.js';
import { listAudit } from '../../db/audit.js';
import { claimIdempotencyKey, completeIdempotencyKey, releaseIdempotencyKey } from '../../db/idempotency.js';
import type { JobRow } from '../../db/schema.js';
import type { JobStatus } from '../../domain/lifecycle.js';
import { allowedActions, FINAL_STATUSES } from '../../domain/lifecycle.js';
import { parseUsersCsv } from '../../domain/usersCsv.js';

/**
 * The REST API under /api. Routes come from the table in openapi.ts (paths,
 * methods and input schemas), so /api/openapi.json describes exactly what is
 * served here. The state rules live in jobCommands.ts; handlers only parse,
 * call and serialize. Errors are thrown and answered by apiErrorHandler.
 */

export const SSE = {
  pollMs: 250,
  heartbeatMs: 15_000,
  batch: 1000,
  retryMs: 2000,
};

/**
 * Whether nothing more will happen to the job, so no log line is coming: a log
 * stream ends there. A succeeded job (or a failed one with resources) can still
 * be destroyed, and its destroy output should reach an open job page live.
 */
function isFinal(job: JobRow): boolean {
  return (FINAL_STATUSES as readonly string[]).includes(job.status) || (job.status === 'failed' && job.has_resources !== 1);
}

/**
 * Settled log pages kept in memory per web process (see logPageCache.ts); a
 * few dozen 1,000-line pages, a small part of the web's memory.
 */
const LOG_PAGE_CACHE_BYTES = 16 * 1024 * 1024;
/**
 * A settled page never changes, so browsers may keep it; after an hour they
 * ask again with If-None-Match and get a 304. Private: it needs credentials.
 */
const SETTLED_LOG_PAGE_CACHE_CONTROL = 'private, max-age=3600';

/** How long a request waits for another request with the same Idempotency-Key to finish. */
const IDEMPOTENCY_WAIT_MS = 15_000;

const JSON_TYPE = /^application\/([\w.-]+\+)?json$/i;

function mediaType(c: Context): string {
  return (c.req.header('content-type') ?? '').split(';')[0].trim().toLowerCase();
}

function parseOr<T extends z.ZodType>(schema: T, value: unknown, fail: (e: z.ZodError) => ApiError): z.output<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw fail(parsed.error);
  return parsed.data;
}

/** Key order independent, so `{"a":1,"b":2}` and `{"b":2,"a":1}` are the same body. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function bodyHash(value: unknown): string {
  return crypto.createHash('sha256').update(canonicalJson(value)).digest('hex');
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function utf8Field(value: string | File, field: string): Promise<string> {
  if (typeof value === 'string') return value;
  const bytes = Buffer.from(await value.arrayBuffer());
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // For the users CSV its parser says what is wrong: the line of the first bad byte, UTF-16, a workbook.
    const message =
      (field === 'usersCsv' ? parseUsersCsv(bytes).errors.find((e) => e.line === null)?.message : undefined) ??
      `${field} must be UTF-8 text`;
    throw new ApiError('validation_failed', message, [{ path: field, message }]);
  }
}

/**
 * POST bodies: JSON (or, where `multipart` is allowed, multipart/form-data),
 * anything else is a 415. Action routes accept an empty body with or without
 * a JSON content type; the parent's bodyLimit has already capped the size.
 */
function bodyGuard(opts: { multipart: boolean; bodyRequired: boolean }): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const type = mediaType(c);
    const accepted = opts.multipart ? 'application/json or multipart/form-data' : 'application/json';
    const isJson = JSON_TYPE.test(type);
    const isMultipart = opts.multipart && type === 'multipart/form-data';
    if (type && !isJson && !isMultipart) {
      throw new ApiError('unsupported_media_type', `content type ${type} is not accepted here; send ${accepted}`);
    }
    if (isMultipart) return next();
    const body = await c.req.text();
    if (body.trim() === '') {
      if (opts.bodyRequired) {
        throw new ApiError(
          type ? 'bad_request' : 'unsupported_media_type',
          type ? 'the request body is empty; send a JSON object' : `send the body as ${accepted}`,
        );
      }
      // An empty body means "no options": parse it as {} whatever the content type said.
      const headers = new Headers(c.req.raw.headers);
      headers.delete('content-type');
      headers.delete('content-length');
      c.req.raw = new Request(c.req.raw.url, { method: c.req.raw.method, headers, signal: c.req.raw.signal });
      return next();
    }
    if (!type) throw new ApiError('unsupported_media_type', `a request body needs a content type; send ${accepted}`);
    return next();
  };
}

export function apiJobsApp(deps: RouteDeps) {
  const { db, config, commands } = deps;
  const R = apiRoutes(deps.specSchema);
  const links: LinkSettings = {
    publicBaseUrl: config.publicBaseUrl,
    temporalUiUrl: config.temporalUiUrl,
    namespace: config.TEMPORAL_NAMESPACE,
  };
  let openApiDoc: string | undefined;
  const logPages = new LogPageCache({ maxBytes: LOG_PAGE_CACHE_BYTES });

  const toJson = (job: JobRow) => jobJson(job, links);

  const actorOf = (c: Context<AppEnv>): Actor => ({
    user: c.get('principal')?.user ?? 'anonymous',
    // The socket's address, or under TRUST_PROXY the one our proxy saw; null without a socket (app.request).
    ip: clientAddress(c, { trustProxy: config.TRUST_PROXY }),
  });

  const requireJob = async (id: string): Promise<JobRow> => {
    const job = await getJob(db, id);
    if (!job) throw new ApiError('not_found', `job ${id} not found`);
    return job;
  };

  // Input validators, one per kind of input; each throws the API's error for its kind.
  const idParam = validator('param', (v) =>
    parseOr(R.getJob.params, v, () => new ApiError('not_found', `job ${String((v as { id?: unknown }).id)} not found`)),
  );
  const query = <T extends z.ZodObject>(schema: T) => validator('query', (v) => parseOr(schema, v, (e) => badRequest(e, 'query')));
  const jsonBody = <T extends z.ZodType>(schema: T) =>
    validator('json', (v) => parseOr(schema, v, (e) => validationError(e, 'the request body is not valid')));

  /**
   * Runs `op` once per Idempotency-Key (scoped by caller and route): a repeat
   * with the same body gets the first response back, another body a 422, and
   * a repeat while the first still runs waits for it. Server-side failures
   * free the key so the client can retry.
   */
  async function idempotent(
    c: Context<AppEnv>,
    scope: string,
    hash: string,
    op: () => Promise<{ status: ContentfulStatusCode; body: unknown }>,
  ): Promise<Response> {
    const rawKey = c.req.header('idempotency-key');
    if (rawKey === undefined) {
      const { status, body } = await op();
      return c.json(body, status);
    }
    const key = parseOr(idempotencyKeyHeader, rawKey, (e) => badRequest(e, 'Idempotency-Key header'));
    const fullScope = `${c.get('principal')?.user ?? 'anonymous'}|${scope}`;
    const deadline = Date.now() + IDEMPOTENCY_WAIT_MS;
    let claim = await claimIdempotencyKey(db, { scope: fullScope, key, bodyHash: hash });
    while (claim.state === 'in_progress' && Date.now() < deadline) {
      await sleep(50);
      claim = await claimIdempotencyKey(db, { scope: fullScope, key, bodyHash: hash });
    }
    switch (claim.state) {
      case 'mismatch':
        throw new ApiError(
          'idempotency_key_reused',
          `Idempotency-Key "${key}" was already used with a different request body; use a new key for a different request`,
        );
      case 'in_progress':
        throw new ApiError('idempotency_in_progress', `a request with Idempotency-Key "${key}" is still being processed; retry shortly`);
      case 'completed':
        c.header('Idempotent-Replayed', 'true');
        return c.body(claim.responseJson, claim.statusCode as ContentfulStatusCode, { 'Content-Type': 'application/json' });
      case 'claimed': {
        let result: { status: ContentfulStatusCode; body: unknown };
        try {
          result = await op();
        } catch (err) {
          const mapped = errorResponseFor(err);
          if (mapped.status >= 500) {
            await releaseIdempotencyKey(db, fullScope, key);
            throw err;
          }
          result = mapped;
        }
        const json = JSON.stringify(result.body);
        await completeIdempotencyKey(db, fullScope, key, result.status, json);
        return c.body(json, result.status, { 'Content-Type': 'application/json' });
      }
    }
  }

  /** The job spec from a JSON body or from a multipart form (spec field + usersCsv file). */
  async function specInput(c: Context<AppEnv>, jsonValue: unknown): Promise<unknown> {
    if (mediaType(c) !== 'multipart/form-data') return jsonValue;
    let form: Record<string, string | File>;
    try {
      form = await c.req.parseBody();
    } catch (err) {
      throw new ApiError('bad_request', `malformed multipart body: ${(err as Error).message}`);
    }
    const unknownFields = Object.keys(form).filter((k) => !['spec', 'usersCsv', '_csrf'].includes(k));
    if (unknownFields.length) {
      throw new ApiError(
        'validation_failed',
        `unknown form field "${unknownFields.join('", "')}"; send spec (the job spec as JSON) and usersCsv (a file)`,
        unknownFields.map((k) => ({ path: k, message: `unknown form field "${k}"` })),
      );
    }
    if (form.spec === undefined) {
      throw new ApiError('validation_failed', 'spec is required: the job spec as a JSON form field', [
        { path: 'spec', message: 'spec is required: the job spec as a JSON form field' },
      ]);
    }
    const specText = await utf8Field(form.spec, 'spec');
    let spec: unknown;
    try {
      spec = JSON.parse(specText);
    } catch (err) {
      throw new ApiError('bad_request', `the spec form field is not valid JSON: ${(err as Error).message}`, [
        { path: 'spec', message: 'not valid JSON' },
      ]);
    }
    if (!isPlainObject(spec)) {
      throw new ApiError('validation_failed', 'spec must be a JSON object', [{ path: 'spec', message: 'spec must be a JSON object' }]);
    }
    if (form.usersCsv !== undefined) {
      if ('usersCsv' in spec) {
        const message = 'give the users CSV either in spec.usersCsv or as the usersCsv file, not both';
        throw new ApiError('validation_failed', message, [{ path: 'usersCsv', message }]);
      }
      spec = { ...spec, usersCsv: await utf8Field(form.usersCsv, 'usersCsv') };
    }
    return spec;
  }

  const app = new Hono<AppEnv>();
  app.onError(apiErrorHandler);
  app.notFound(apiNotFound);

  // Scripts on basic auth need the CSRF token for POSTs: every API response carries it.
  app.use(async (c, next) => {
    await next();
    const token = c.get('csrfToken');
    if (token) c.header('X-CSRF-Token', token);
    c.header('Cache-Control', c.res.headers.get('Cache-Control') ?? 'no-store');
  });

  // --- jobs ---------------------------------------------------------------------------------

  app.on(R.listJobs.method, subPath(R.listJobs), query(R.listJobs.query), async (c) => {
    const q = c.req.valid('query');
    const page = await listJobs(db, { status: q.status, search: q.q?.trim() || undefined, cursor: q.cursor, limit: q.limit });
    return c.json({ jobs: page.jobs.map(toJson), nextCursor: page.nextCursor }, 200);
  });

  app.on(
    R.createJob.method,
    subPath(R.createJob),
    bodyGuard({ multipart: true, bodyRequired: true }),
    validator('json', async (v, c) => {
      // JSON bodies arrive parsed; multipart ones are read here (validator('json') leaves them alone).
      const input = await specInput(c as Context<AppEnv>, v);
      const spec = parseOr(deps.specSchema, input, (e) => validationError(e, 'the job spec is not valid'));
      return { spec, hash: bodyHash(input) };
    }),
    async (c) => {
      const { spec, hash } = c.req.valid('json');
      return idempotent(c, 'POST /api/jobs', hash, async () => ({
        status: 201,
        body: toJson(await createJob(commands, spec, actorOf(c))),
      }));
    },
  );

  app.on(R.getJob.method, subPath(R.getJob), idParam, async (c) => {
    return c.json(toJson(await requireJob(c.req.valid('param').id)), 200);
  });

  app.on(
    R.runJob.method,
    subPath(R.runJob),
    idParam,
    bodyGuard({ multipart: false, bodyRequired: false }),
    jsonBody(R.runJob.body.json),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      return idempotent(c, `POST /api/jobs/${id}/run`, bodyHash(body), async () => ({
        status: 202,
        body: toJson(await startJob(commands, id, undefined, actorOf(c))),
      }));
    },
  );

  app.on(
    R.cancelJob.method,
    subPath(R.cancelJob),
    idParam,
    bodyGuard({ multipart: false, bodyRequired: false }),
    jsonBody(R.cancelJob.body.json),
    async (c) => {
      const { reason } = c.req.valid('json');
      const job = await signalJob(commands, c.req.valid('param').id, 'cancel', actorOf(c), { reason: reason || undefined });
      return c.json(toJson(job), 202);
    },
  );

  app.on(
    R.destroyJob.method,
    subPath(R.destroyJob),
    idParam,
    bodyGuard({ multipart: false, bodyRequired: false }),
    jsonBody(R.destroyJob.body.json),
    async (c) => {
      const job = await signalJob(commands, c.req.valid('param').id, 'destroy', actorOf(c));
      return c.json(toJson(job), 202);
    },
  );

  app.on(
    R.approveJob.method,
    subPath(R.approveJob),
    idParam,
    bodyGuard({ multipart: false, bodyRequired: false }),
    jsonBody(R.approveJob.body.json),
    async (c) => {
      const { comment } = c.req.valid('json');
      const job = await signalJob(commands, c.req.valid('param').id, 'approve', actorOf(c), { comment: comment || undefined });
      return c.json(toJson(job), 202);
    },
  );

  app.on(
    R.rejectJob.method,
    subPath(R.rejectJob),
    idParam,
    bodyGuard({ multipart: false, bodyRequired: false }),
    jsonBody(R.rejectJob.body.json),
    async (c) => {
      const { reason } = c.req.valid('json');
      const job = await signalJob(commands, c.req.valid('param').id, 'reject', actorOf(c), { reason });
      return c.json(toJson(job), 202);
    },
  );

  app.on(R.getJobSteps.method, subPath(R.getJobSteps), idParam, async (c) => {
    const job = await requireJob(c.req.valid('param').id);
    return c.json({ jobId: job.id, steps: (await listSteps(db, job.id)).map(stepJson) }, 200);
  });

  app.on(R.getJobAudit.method, subPath(R.getJobAudit), idParam, query(R.getJobAudit.query), async (c) => {
    const job = await requireJob(c.req.valid('param').id);
    const q = c.req.valid('query');
    const rows = await listAudit(db, { jobId: job.id, limit: q.limit, beforeId: q.before });
    return c.json({ jobId: job.id, entries: rows.map(auditJson) }, 200);
  });

  // --- logs ---------------------------------------------------------------------------------

  app.on(R.getJobLogs.method, subPath(R.getJobLogs), idParam, query(R.getJobLogs.query), async (c) => {
    const { id } = c.req.valid('param');
    const { after, limit } = c.req.valid('query');
    const key = LogPageCache.key(id, after, limit);
    // A settled page is a fact for good (jobs and their lines are never deleted): no database read.
    let settled = logPages.get(key);
    if (!settled) {
      // Status first, lines second: a job final before the read has stored its last line.
      const job = await requireJob(id);
      const page = await logPageJson(db, job.id, { afterSeq: after, limit });
      const json =
        `{"jobId":${JSON.stringify(job.id)},"lines":${page.linesJson},` +
        `"nextAfter":${page.lastSeq ?? after},"hasMore":${page.hasMore}}`;
      // Full with more after it, or nothing more to come: these bytes never change.
      if (!((page.count === limit && page.hasMore) || isFinal(job))) {
        return c.body(json, 200, { 'Content-Type': 'application/json' });
      }
      settled = logPages.put(key, json);
    }
    c.header('ETag', settled.etag);
    c.header('Cache-Control', SETTLED_LOG_PAGE_CACHE_CONTROL);
    if (ifNoneMatchHits(c.req.header('if-none-match'), settled.etag)) return c.body(null, 304);
    return c.body(settled.body, 200, { 'Content-Type': 'application/json' });
  });

  app.on(
    R.streamJobLogs.method,
    subPath(R.streamJobLogs),
    idParam,
    query(R.streamJobLogs.query),
    validator('header', (h) =>
      h['last-event-id'] === undefined
        ? { lastEventId: undefined }
        : { lastEventId: parseOr(lastEventIdHeader, h['last-event-id'], (e) => badRequest(e, 'Last-Event-ID header')) },
    ),
    async (c) => {
      const job = await requireJob(c.req.valid('param').id);
      let after = c.req.valid('header').lastEventId ?? c.req.valid('query').after ?? 0;
      return streamSSE(c, async (stream) => {
        const stop = new AbortController();
        stream.onAbort(() => stop.abort());
        c.req.raw.signal.addEventListener('abort', () => stop.abort(), { once: true });
        let lastState = '';
        let lastWrite = Date.now();
        let first = true;
        try {
          while (!stop.signal.aborted) {
            // Status first, lines second: a job final before the read has stored its last line.
            const current = await getJob(db, job.id);
            if (!current) break;
            const state = `${current.status}|${current.step ?? ''}`;
            if (state !== lastState) {
              lastState = state;
              await stream.writeSSE({
                event: 'status',
                data: JSON.stringify({
                  status: current.status,
                  step: current.step,
                  actions: allowedActions(current.status as JobStatus, { hasResources: current.has_resources === 1 }),
                }),
                ...(first ? { retry: SSE.retryMs } : {}),
              });
              first = false;
              lastWrite = Date.now();
            }
            const lines = await listLogLines(db, job.id, { afterSeq: after, limit: SSE.batch });
            if (lines.length > 0) {
              // One write per batch; JSON.stringify leaves no raw newline to split a data field.
              await stream.write(lines.map((l) => `id: ${l.seq}\ndata: ${JSON.stringify(logLineJson(l))}\n\n`).join(''));
              after = lines[lines.length - 1].seq;
              lastWrite = Date.now();
              if (lines.length === SSE.batch) continue;
            }
            if (isFinal(current)) {
              await stream.writeSSE({ event: 'end', data: JSON.stringify({ status: current.status, lastSeq: after }) });
              break;
            }
            if (Date.now() - lastWrite >= SSE.heartbeatMs) {
              await stream.write(': heartbeat\n\n');
              lastWrite = Date.now();
            }
            await sleep(SSE.pollMs, undefined, { signal: stop.signal }).catch(() => undefined);
          }
        } catch (err) {
          console.error(`[api] log stream of job ${job.id} failed:`, err);
          await stream.writeSSE({ event: 'error', data: JSON.stringify({ message: 'the log stream failed; reconnect to resume' }) });
        }
      });
    },
  );

  // --- meta ---------------------------------------------------------------------------------

  app.on(R.getOpenApi.method, subPath(R.getOpenApi), (c) => {
    openApiDoc ??= JSON.stringify(
      buildOpenApiDocument(R as Record<string, RouteDef>, {
        publicBaseUrl: config.publicBaseUrl,
        allowedRegions: config.ALLOWED_REGIONS,
        allowedInstanceTypes: config.ALLOWED_INSTANCE_TYPES,
      }),
    );
    return c.body(openApiDoc, 200, { 'Content-Type': 'application/json' });
  });

  // notFound is not inherited when this app is mounted with route(); this catch-all is, and
  // keeps unknown /api paths from falling through to the HTML pages.
  app.all('*', (c) => apiNotFound(c));
  return app;
}
