import type { Context, ErrorHandler, Handler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import { zodIssuesToFields } from '../domain/jobSpec.js';
import { CommandError as JobCommandError } from './commandError.js';

/**
 * The API's one error shape, `{ error: { code, message, fields? } }`, and the
 * mapping from whatever was thrown to it. Handlers throw; the /api sub-app's
 * onError answers. Unexpected errors are logged and answered without detail.
 */

export interface FieldError {
  path: string;
  message: string;
}

export interface ApiErrorBody {
  error: { code: string; message: string; fields?: FieldError[] };
}

/** The status each code is sent with; a code names the kind of problem for scripts. */
export const ERROR_STATUS = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  role_required: 403,
  not_owner: 403,
  own_job: 403,
  account_not_in_team: 403,
  csrf: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  idempotency_in_progress: 409,
  too_large: 413,
  unsupported_media_type: 415,
  validation_failed: 422,
  idempotency_key_reused: 422,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ApiErrorCode = keyof typeof ERROR_STATUS;

export class ApiError extends Error {
  readonly status: ContentfulStatusCode;
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly fields?: FieldError[],
  ) {
    super(message);
    this.status = ERROR_STATUS[code];
  }

  toBody(): ApiErrorBody {
    return errorBody(this.code, this.message, this.fields);
  }
}

export function errorBody(code: string, message: string, fields?: FieldError[]): ApiErrorBody {
  return { error: { code, message, ...(fields?.length ? { fields } : {}) } };
}

/** A 422 naming every field zod complained about. */
export function validationError(error: z.ZodError, message = 'the request is not valid'): ApiError {
  const fields = zodIssuesToFields(error);
  const first = fields[0]?.message;
  return new ApiError(
    'validation_failed',
    first && fields.length === 1 ? first : `${message}: ${fields.length} problems`,
    fields,
  );
}

/** A 400 for a query string or header a client got wrong: not a payload to fix, a request to fix. */
export function badRequest(error: z.ZodError, what: string): ApiError {
  const fields = zodIssuesToFields(error);
  return new ApiError(
    'bad_request',
    `invalid ${what}: ${fields.map((f) => `${f.path || what}: ${f.message}`).join('; ')}`,
    fields,
  );
}

const HTTP_CODES: Record<number, ApiErrorCode> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'too_large',
  415: 'unsupported_media_type',
  422: 'validation_failed',
  503: 'unavailable',
};

/** Status and body for anything thrown by an API handler. */
export function errorResponseFor(err: unknown): { status: ContentfulStatusCode; body: ApiErrorBody } {
  if (err instanceof ApiError) return { status: err.status, body: errorBody(err.code, err.message, err.fields) };
  if (err instanceof JobCommandError) {
    return { status: ERROR_STATUS[err.code], body: errorBody(err.code, err.message, err.fields) };
  }
  if (err instanceof z.ZodError) return { status: 422, body: validationError(err).toBody() };
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    const code = HTTP_CODES[status] ?? (status >= 500 ? 'internal' : 'bad_request');
    return { status, body: errorBody(code, err.message || 'request refused') };
  }
  if (err instanceof Error && err.name === 'BodyLimitError') {
    return { status: 413, body: errorBody('too_large', 'request body is larger than the 2 MB limit') };
  }
  return { status: 500, body: errorBody('internal', 'internal error; the server log has the details') };
}

export const apiErrorHandler: ErrorHandler = (err, c: Context) => {
  const { status, body } = errorResponseFor(err);
  if (status >= 500 && !(err instanceof JobCommandError)) console.error(`[api] ${c.req.method} ${c.req.path}:`, err);
  return c.json(body, status);
};

export const apiNotFound: NotFoundHandler = (c) =>
  c.json(errorBody('not_found', `no API route ${c.req.method} ${c.req.path}; see /api/openapi.json`), 404);

/**
 * For a path that is served, asked with a method it is not served with: 405
 * naming the methods it is (RFC 9110), not the 404 of a path that does not
 * exist; OPTIONS gets the list alone. HEAD goes wherever GET does.
 */
export function methodNotAllowed(methods: readonly string[]): Handler {
  const served = [...new Set(methods)];
  const allow = [...served, ...(served.includes('GET') ? ['HEAD'] : []), 'OPTIONS'].join(', ');
  return (c) => {
    if (c.req.method === 'OPTIONS') return c.body(null, 204, { Allow: allow });
    return c.json(
      errorBody('method_not_allowed', `${c.req.path} takes ${served.join(', ')}, not ${c.req.method}; see /api/openapi.json`),
      405,
      { Allow: allow },
    );
  };
}

/** The error shape as a schema, for the OpenAPI document. */
export const errorSchema = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(ERROR_STATUS) as [ApiErrorCode, ...ApiErrorCode[]]).describe('what kind of problem, for scripts'),
      message: z.string().describe('what went wrong, for people'),
      fields: z
        .array(z.object({ path: z.string().describe('dotted path of the field, e.g. containers[0].image'), message: z.string() }))
        .optional(),
    }),
  })
  .describe('An error: what kind, what went wrong and, for validation errors, which fields');
