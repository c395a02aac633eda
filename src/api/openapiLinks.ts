import { ifThen, type JsonSchema } from '../domain/documentedSchema.js';
import type { RouteDef } from './apiRoutes.js';
import { createdJobJsonSchema, jobJsonSchema } from './jobJson.js';
import { createdTokenJsonSchema } from './peopleRoutes.js';
import { revisionCreatedSchema } from './revisionRoutes.js';

/**
 * The parts of the OpenAPI document that connect operations: the links from
 * an answer that holds a job (or a revision, or a token) to what can be done
 * to it next, so a client, or a stateful fuzzer, goes from a created job to
 * its run, logs, steps, audit, approval, revisions, cancel and destroy; and
 * the multipart form of a new job.
 */

type Links = Record<string, { operationId: string; parameters: Record<string, string>; description?: string }>;

const JOB_PATH = '/api/jobs/:id';

/** The operations on one job, addressed by its id alone. */
function jobOperations(routes: Record<string, RouteDef>): string[] {
  return Object.entries(routes)
    .filter(([, r]) => r.path.startsWith(JOB_PATH) && Object.keys(r.params?.shape ?? {}).join() === 'id')
    .map(([operationId]) => operationId)
    .filter(
      // Followed by reading the answer whole, a link to a job's live event stream would hang on a running
      // job until it settles, as the stream is meant to; the stream's own tests read it as a client does.
      (operationId) => routes[operationId].response.contentType !== 'text/event-stream',
    );
}

function toJob(operations: string[], jobId: string): Links {
  return Object.fromEntries(operations.map((operationId) => [operationId, { operationId, parameters: { id: jobId } }]));
}

/** Per operationId: the links of its success response. */
export function responseLinks(routes: Record<string, RouteDef>): Map<string, Links> {
  const onJob = jobOperations(routes);
  const revisionOf = Object.entries(routes).find(([, r]) => r.path === `${JOB_PATH}/revisions/:number` && r.method === 'GET');
  const revokeToken = Object.entries(routes).find(([, r]) => r.path === '/api/tokens/:id' && r.method === 'DELETE');
  const out = new Map<string, Links>();
  for (const [operationId, route] of Object.entries(routes)) {
    const schema = route.response.schema;
    if (schema === jobJsonSchema || schema === createdJobJsonSchema) {
      out.set(operationId, toJob(onJob, '$response.body#/id'));
    } else if (schema === revisionCreatedSchema) {
      const links = toJob(onJob, '$response.body#/job/id');
      if (revisionOf) {
        links[revisionOf[0]] = {
          operationId: revisionOf[0],
          parameters: { id: '$response.body#/job/id', number: '$response.body#/revision/number' },
        };
      }
      out.set(operationId, links);
    } else if (schema === createdTokenJsonSchema && revokeToken) {
      out.set(operationId, {
        [revokeToken[0]]: { operationId: revokeToken[0], parameters: { id: '$response.body#/id' } },
      });
    }
  }
  return out;
}

/**
 * A new job as multipart/form-data: the spec as a JSON part (the JobSpec),
 * and the users CSV as a text part of its own, in which case the spec leaves
 * it out. `_csrf` is the page form's CSRF token, which API clients leave out.
 */
export function multipartJobSchema(specRef: JsonSchema, spec: JsonSchema): JsonSchema {
  const usersCsv = (spec.properties as Record<string, JsonSchema> | undefined)?.usersCsv ?? { type: 'string' };
  return {
    type: 'object',
    properties: {
      spec: { ...specRef, description: 'the job spec as JSON; usersCsv may be left out of it and sent as the part below' },
      usersCsv: { ...usersCsv, description: `${usersCsv.description ?? 'the users CSV'}; as a part of its own (a file)` },
      _csrf: { type: 'string', description: "the page form's CSRF token; API clients leave it out" },
    },
    required: ['spec'],
    additionalProperties: false,
    ...ifThen({ required: ['usersCsv'] }, { properties: { spec: { not: { required: ['usersCsv'] } } } }),
  };
}
