import crypto from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { validator } from 'hono/validator';
import type { z } from 'zod';
import type { AppEnv } from './auth.js';
import { ApiError, badRequest, validationError } from './apiErrors.js';
import type { ApiRoutes } from './apiRoutes.js';
import { parseUsersCsv } from '../domain/usersCsv.js';

/**
 * How the API reads its input: content types, the validators of path, query
 * and body (each throwing the API's error for its kind), the job spec from
 * JSON or multipart, and the canonical hash of a body for Idempotency-Key.
 */

const JSON_TYPE = /^application\/([\w.-]+\+)?json$/i;

export function mediaType(c: Context): string {
  return (c.req.header('content-type') ?? '').split(';')[0].trim().toLowerCase();
}

export function parseOr<T extends z.ZodType>(schema: T, value: unknown, fail: (e: z.ZodError) => ApiError): z.output<T> {
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

export function bodyHash(value: unknown): string {
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
export function bodyGuard(opts: { multipart: boolean; bodyRequired: boolean }): MiddlewareHandler<AppEnv> {
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

/** The validators every API sub-app uses, bound to the route table's schemas. */
export function apiValidators(R: ApiRoutes) {
  return {
    idParam: validator('param', (v) =>
      parseOr(R.getJob.params, v, () => new ApiError('not_found', `job ${String((v as { id?: unknown }).id)} not found`)),
    ),
    query: <T extends z.ZodObject>(schema: T) => validator('query', (v) => parseOr(schema, v, (e) => badRequest(e, 'query'))),
    jsonBody: <T extends z.ZodType>(schema: T) =>
      validator('json', (v) => parseOr(schema, v, (e) => validationError(e, 'the request body is not valid'))),
  };
}

/** The job spec from a JSON body or from a multipart form (spec field + usersCsv file). */
export async function specInput(c: Context<AppEnv>, jsonValue: unknown): Promise<unknown> {
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
    throw new ApiError('validation_failed', 'spec must be a JSON object', [
      { path: 'spec', message: 'spec must be a JSON object' },
    ]);
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
