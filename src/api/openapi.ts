import type { z } from 'zod';
import { type JsonSchema, toJsonSchema as jsonSchema } from '../domain/documentedSchema.js';
import { errorSchema } from './apiErrors.js';
import { openApiPath, type RouteDef } from './apiRoutes.js';
import { auditListSchema, jobJsonSchema, jobListSchema, logPageSchema, stepListSchema } from './jobJson.js';
import { multipartJobSchema, responseLinks } from './openapiLinks.js';

/**
 * The OpenAPI 3.1 document of the route table (apiRoutes.ts), served at /api/openapi.json.
 * The schemas come from the running configuration (allowlists, whether access keys are on):
 * the document states what this service enforces.
 */

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'malformed JSON, bad query parameter or header',
  401: 'no or wrong credentials',
  403: "refused: the caller's role or the job's owner does not allow it; or (session and basic auth, not bearer tokens) the CSRF token is missing or wrong",
  404: 'no such job (or token, user, revision)',
  409:
    "the action is not valid in the job's current status, a change conflicts with the environment as it is (it changes " +
    'nothing, or shrinks the volume), or a request with this Idempotency-Key is in progress',
  413: 'body larger than 2 MB',
  415: 'content type other than application/json (or multipart/form-data where accepted)',
  422: 'validation failed: each field named in error.fields; or an Idempotency-Key reused with another body',
  429: 'too many wrong credentials from this address (on POST /api/jobs also: too many jobs created from it); Retry-After says when to try again',
  503: 'Temporal (or the database) is unavailable, or too many live log streams are open; retry later (Retry-After)',
};

export interface OpenApiOptions {
  publicBaseUrl: string;
  version?: string;
}

export function buildOpenApiDocument(routes: Record<string, RouteDef>, opts: OpenApiOptions) {
  const components: Record<string, { schema: z.ZodType; io: 'input' | 'output' }> = {
    Error: { schema: errorSchema, io: 'output' },
    Job: { schema: jobJsonSchema, io: 'output' },
    JobList: { schema: jobListSchema, io: 'output' },
    LogPage: { schema: logPageSchema, io: 'output' },
    StepList: { schema: stepListSchema, io: 'output' },
    AuditList: { schema: auditListSchema, io: 'output' },
  };
  const createBody = (routes.createJob as RouteDef | undefined)?.body?.json;
  if (createBody) components.JobSpec = { schema: createBody, io: 'input' };
  const names = new Map<z.ZodType, string>(Object.entries(components).map(([name, c]) => [c.schema, name]));
  const ref = (schema: z.ZodType, io: 'input' | 'output'): JsonSchema => {
    const name = names.get(schema);
    return name ? { $ref: `#/components/schemas/${name}` } : jsonSchema(schema, io);
  };
  const errorResponse = (status: number) => ({
    description: ERROR_DESCRIPTIONS[status] ?? 'error',
    ...(status === 429
      ? { headers: { 'Retry-After': { required: true, description: 'seconds', schema: { type: 'integer', minimum: 1 } } } }
      : {}),
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  });
  const links = responseLinks(routes);

  const paths: Record<string, Record<string, unknown>> = {};
  for (const [operationId, route] of Object.entries(routes)) {
    const parameters: unknown[] = [];
    const addParams = (obj: z.ZodObject | undefined, where: 'path' | 'query') => {
      if (!obj) return;
      const js = jsonSchema(obj, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
      for (const [name, schema] of Object.entries(js.properties ?? {})) {
        const { description, ...rest } = schema;
        parameters.push({
          name,
          in: where,
          required: where === 'path' || (js.required ?? []).includes(name),
          ...(description ? { description } : {}),
          schema: rest,
        });
      }
    };
    addParams(route.params, 'path');
    addParams(route.query, 'query');
    for (const h of route.headers ?? []) {
      const { description, ...schema } = jsonSchema(h.schema, 'input');
      parameters.push({
        name: h.name,
        in: 'header',
        required: h.required ?? false,
        ...(description ? { description } : {}),
        schema,
      });
    }

    const responses: Record<string, unknown> = {
      [route.response.status]: {
        description: route.response.description,
        ...(route.response.schema
          ? { content: { [route.response.contentType ?? 'application/json']: { schema: ref(route.response.schema, 'output') } } }
          : {}),
        ...(links.has(operationId) ? { links: links.get(operationId) } : {}),
      },
    };
    const errors = new Set(route.errors);
    // Wrong credentials are throttled per address before any route is reached (signInThrottle.ts).
    if (route.auth !== false) errors.add(401).add(429);
    for (const status of [...errors].sort()) {
      responses[status] =
        route.tag === 'meta' && status === 503 && route.response.schema
          ? {
              description: ERROR_DESCRIPTIONS[503],
              content: { 'application/json': { schema: ref(route.response.schema, 'output') } },
            }
          : errorResponse(status);
    }

    const operation: Record<string, unknown> = {
      operationId,
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      tags: [route.tag],
      ...(parameters.length ? { parameters } : {}),
      responses,
    };
    if (route.body) {
      const content: Record<string, unknown> = {};
      if (route.body.json) content['application/json'] = { schema: ref(route.body.json, 'input') };
      if (route.body.multipart && route.body.json) {
        content['multipart/form-data'] = {
          schema: multipartJobSchema(ref(route.body.json, 'input'), jsonSchema(route.body.json, 'input')),
          encoding: { spec: { contentType: 'application/json' }, usersCsv: { contentType: 'text/csv' } },
        };
      }
      operation.requestBody = { required: route.body.required, content };
    }
    if (route.auth === false) operation.security = [];
    const path = openApiPath(route.path);
    paths[path] = { ...(paths[path] ?? {}), [route.method.toLowerCase()]: operation };
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'Provisioning service API',
      version: opts.version ?? '1',
      description:
        'Self-service EC2 provisioning: create a job from a job spec, run it (one Temporal workflow per job), follow its ' +
        'steps and logs, approve, cancel or destroy it. Errors are `{ "error": { "code", "message", "fields"? } }`.',
    },
    servers: [{ url: opts.publicBaseUrl }],
    security: [{ bearerAuth: [] }, { basicAuth: [] }],
    tags: [
      { name: 'jobs', description: 'jobs and what can be done to them' },
      { name: 'logs', description: 'job output' },
      { name: 'people', description: 'who you are, your API tokens, and (admins) the users and their roles' },
      { name: 'meta', description: 'the service itself' },
    ],
    paths,
    components: {
      schemas: Object.fromEntries(Object.entries(components).map(([name, c]) => [name, jsonSchema(c.schema, c.io)])),
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          description: 'an API token (POST /api/tokens, or API_TOKENS); no cookie and no CSRF token needed',
        },
        basicAuth: {
          type: 'http',
          scheme: 'basic',
          description:
            'the local admin account, APP_ADMIN_USER / APP_ADMIN_PASS (unless LOCAL_LOGIN=false); state-changing requests also need X-CSRF-Token, from GET /api/me',
        },
      },
    },
  };
}

export type OpenApiDocument = ReturnType<typeof buildOpenApiDocument>;
