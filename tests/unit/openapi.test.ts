import { describe, expect, it } from 'vitest';
import { apiRoutes, type RouteDef } from '../../src/api/apiRoutes.js';
import { buildOpenApiDocument } from '../../src/api/openapi.js';
import { createJobSpecSchema, type JobSpecPolicy } from '../../src/domain/jobSpec.js';
import { createSpecChangeSchema } from '../../src/domain/specChange.js';

/**
 * The OpenAPI document follows the configuration it is built from (the
 * allowlists, whether access keys are on), links a created job to what can be
 * done to it next, and takes the multipart form's spec part as JSON.
 * tests/security/apiFuzz.test.ts holds the running service to it.
 */

type Json = Record<string, any>;

function documentFor(policy: Partial<JobSpecPolicy> = {}): Json {
  const full: JobSpecPolicy = {
    allowedRegions: ['us-east-1', 'eu-west-1'],
    allowedInstanceTypes: ['t3.micro', 't3.small'],
    allowAccessKeys: false,
    ...policy,
  };
  const routes = apiRoutes(createJobSpecSchema(full), createSpecChangeSchema(full)) as Record<string, RouteDef>;
  return JSON.parse(JSON.stringify(buildOpenApiDocument(routes, { publicBaseUrl: 'http://prov.test' })));
}

describe('the OpenAPI document', () => {
  it("lists the configured regions and instance types as enums, in a job's spec and in a change", () => {
    const doc = documentFor({ allowedRegions: ['eu-central-1'], allowedInstanceTypes: ['m5.large'] });
    const spec = doc.components.schemas.JobSpec;
    expect(spec.properties.region.enum).toEqual(['eu-central-1']);
    expect(spec.properties.instance.properties.type.enum).toEqual(['m5.large']);
    const change = doc.paths['/api/jobs/{id}/revisions'].post.requestBody.content['application/json'].schema;
    expect(change.properties.instance.properties.type.enum).toEqual(['m5.large']);
  });

  it('offers access keys only where they are on, and role ARNs only in the allowed accounts', () => {
    const off = documentFor().components.schemas.JobSpec.properties.auth;
    expect(off.properties.method).toMatchObject({ const: 'assume_role' });
    expect(JSON.stringify(off)).not.toContain('access_keys');
    // A role ARN or a team account: one of them given.
    expect(off.anyOf.map((a: Json) => a.required)).toEqual([['roleArn'], ['teamAccountId']]);

    const on = documentFor({ allowAccessKeys: true, allowedAccountIds: ['111122223333'] }).components.schemas.JobSpec.properties
      .auth;
    const methods = on.oneOf.map((branch: Json) => branch.properties.method.const);
    expect(methods).toEqual(['assume_role', 'access_keys']);
    const keys = on.oneOf[1];
    expect(keys.then).toMatchObject({ required: ['sessionToken'] });
    const roleArn = new RegExp(on.oneOf[0].properties.roleArn.anyOf[0].pattern);
    expect(roleArn.test('arn:aws:iam::111122223333:role/P')).toBe(true);
    expect(roleArn.test('arn:aws:iam::999988887777:role/P')).toBe(false);
  });

  it('states what the spec checks in code: email, image, ports, CIDRs, blank optional fields', () => {
    const spec = documentFor().components.schemas.JobSpec;
    expect(spec.properties.requesterEmail.allOf).toHaveLength(2);
    const container = spec.properties.containers.items.properties;
    expect(container.image).toMatchObject({ maxLength: 255, pattern: expect.stringContaining('sha256') });
    expect(container.ports.items.pattern).toBeTruthy();
    expect(container.environment.propertyNames.not.enum).toContain('APP_USERS_B64');
    expect(spec.properties.instance.properties.ingressCidr.pattern).toBeTruthy();
    // "" and null mean "not given", as the form sends them.
    expect(spec.properties.instance.properties.amiId.anyOf).toEqual([
      expect.objectContaining({ type: 'string' }),
      { const: '' },
      { type: 'null' },
    ]);
    expect(spec.properties.network.allOf).toHaveLength(3);
  });

  it('links an answer holding a job to the operations on it, a revision to itself, a token to its revoke', () => {
    const doc = documentFor();
    const created = doc.paths['/api/jobs'].post.responses['201'].links;
    expect(Object.keys(created).sort()).toEqual(
      [
        'approveJob',
        'cancelJob',
        'createJobRevision',
        'destroyJob',
        'getJob',
        'getJobAudit',
        'getJobLogs',
        'getJobSteps',
        'listJobRevisions',
        'reconcileJob',
        'rejectJob',
        'runJob',
        'setJobTtl',
      ].sort(),
    );
    expect(created.runJob).toEqual({ operationId: 'runJob', parameters: { id: '$response.body#/id' } });
    expect(doc.paths['/api/jobs/{id}/run'].post.responses['202'].links.destroyJob).toBeTruthy();
    const revision = doc.paths['/api/jobs/{id}/revisions'].post.responses['202'].links.getJobRevision;
    expect(revision.parameters).toEqual({ id: '$response.body#/job/id', number: '$response.body#/revision/number' });
    expect(doc.paths['/api/tokens'].post.responses['201'].links.revokeToken.parameters).toEqual({ id: '$response.body#/id' });
  });

  it("takes the multipart form's spec part as JSON, the JobSpec, and the users CSV beside it", () => {
    const form = documentFor().paths['/api/jobs'].post.requestBody.content['multipart/form-data'];
    expect(form.schema.properties.spec).toMatchObject({ $ref: '#/components/schemas/JobSpec' });
    expect(form.schema.required).toEqual(['spec']);
    expect(form.encoding.spec.contentType).toBe('application/json');
    expect(form.schema.then.properties.spec.not.required).toEqual(['usersCsv']);
  });

  it('documents 429 (wrong credentials throttled) wherever credentials are checked', () => {
    const doc = documentFor();
    expect(doc.paths['/api/me'].get.responses['429'].headers['Retry-After'].required).toBe(true);
    expect(doc.paths['/health'].get.responses['429']).toBeUndefined();
    expect(doc.components.schemas.Error.properties.error.properties.code.enum).toContain('rate_limited');
  });
});
