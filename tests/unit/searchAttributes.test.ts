import { describe, expect, it } from 'vitest';
import proto from '@temporalio/proto';
import { accountOfRole, jobSearchAttributes } from '../../src/workflows/searchAttributes.js';
import { activitySummary, jobWorkflowDetails, jobWorkflowSummary } from '../../src/domain/temporalSummaries.js';
import {
  devServerSearchAttributeArgs,
  ensureSearchAttributes,
  SERVICE_ATTRIBUTES,
  type SearchAttributeServices,
} from '../../src/temporal/searchAttributeRegistration.js';
import { sampleSpec } from '../support/jobs.js';

const { IndexedValueType } = proto.temporal.api.enums.v1;
const KEYWORD = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;

const grpcError = (code: number, message: string) => Object.assign(new Error(message), { code });

/**
 * A namespace whose operator API is refused (Temporal Cloud with a namespace
 * API key): `exists` answers queries, anything else is "not a valid search attribute".
 */
function refusingNamespace(exists: string[]): SearchAttributeServices & { queries: string[] } {
  const queries: string[] = [];
  return {
    queries,
    operatorService: {
      listSearchAttributes: async () => {
        throw grpcError(7, 'PERMISSION_DENIED: Request unauthorized');
      },
      addSearchAttributes: async () => {
        throw grpcError(7, 'PERMISSION_DENIED: Request unauthorized');
      },
    },
    workflowService: {
      listWorkflowExecutions: async ({ query }) => {
        queries.push(query);
        const name = query.split(' ')[0]!;
        if (!exists.includes(name))
          throw grpcError(3, `INVALID_ARGUMENT: invalid query: ${name} is not a valid search attribute`);
        return {};
      },
    },
  };
}

describe('the search attributes of a job', () => {
  it('are what the spec, the team and the account say; unknown values are left out', () => {
    const spec = sampleSpec({ name: 'demo-web', region: 'eu-west-1' });
    const pairs = jobSearchAttributes({ jobId: 'j1', spec, status: 'running', teamId: 'team01' });
    expect(Object.fromEntries(pairs.map((p) => [p.key.name, p.value]))).toEqual({
      JobId: 'j1',
      JobName: 'demo-web',
      JobStatus: 'running',
      Requester: 'alice@example.com',
      AwsAccountId: '123456789012',
      Region: 'eu-west-1',
      InstanceType: 't3.micro',
      Team: 'team01',
    });
    const keys = sampleSpec({
      auth: { method: 'access_keys', accessKeyId: 'AKIAABCDEFGHIJKLMNOP', secretAccessKey: 'x'.repeat(40) },
    });
    const names = jobSearchAttributes({ jobId: 'j2', spec: keys, status: 'running' }).map((p) => p.key.name);
    expect(names).not.toContain('AwsAccountId');
    expect(names).not.toContain('Team');
    expect(accountOfRole('arn:aws-us-gov:iam::210987654321:role/x')).toBe('210987654321');
  });

  it('fit the ten Keyword columns of SQL visibility', () => {
    expect(Object.values(SERVICE_ATTRIBUTES).filter((t) => t === 'Keyword').length).toBeLessThanOrEqual(10);
    expect(devServerSearchAttributeArgs({ JobId: 'Keyword' })).toEqual(['--search-attribute', 'JobId=Keyword']);
  });
});

describe('summaries', () => {
  it('name the job, its page and each step', () => {
    const spec = sampleSpec({ name: 'demo-web', region: 'eu-west-1' });
    expect(jobWorkflowSummary(spec)).toBe('demo-web · eu-west-1 · t3.micro');
    expect(jobWorkflowSummary(spec, 'destroy')).toBe('demo-web · eu-west-1 · t3.micro · destroy only');
    expect(jobWorkflowDetails('https://prov.example.com/', 'j1')).toBe(
      'Job j1: [https://prov.example.com/jobs/j1](https://prov.example.com/jobs/j1)',
    );
    expect(activitySummary('terraformPlan', { jobId: 'j1' })).toBe('plan: terraform plan');
    expect(activitySummary('terraformApply', { jobId: 'j1', revision: 2 })).toBe('revision 2 · apply: terraform apply');
    expect(activitySummary('notify', { jobId: 'j1', event: 'ttl_warning_1h' })).toBe('notify: email "ttl_warning_1h"');
    expect(activitySummary('applyOnInstance', { revision: 3, rollback: true })).toBe(
      'revision 3 · ready: put the previous containers and users back (Run Command)',
    );
    expect(activitySummary('checkDrift', { jobId: 'j9' })).toBe('drift check: terraform plan -refresh-only of job j9');
  });
});

describe('registration where the operator API is refused', () => {
  it('warns and goes on when every attribute exists', async () => {
    const ns = refusingNamespace(Object.keys(SERVICE_ATTRIBUTES));
    const warnings: string[] = [];
    const result = await ensureSearchAttributes(ns, 'prov.a1b2c', { log: { info() {}, warn: (m) => warnings.push(m) } });
    expect(result.added).toEqual([]);
    expect(ns.queries).toHaveLength(Object.keys(SERVICE_ATTRIBUTES).length);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/PERMISSION_DENIED/);
    expect(warnings[0]).toContain('JobId, JobName, JobStatus');
  });

  it('stops, naming the missing attributes and how to add them', async () => {
    const ns = refusingNamespace(['JobId', 'JobName']);
    const err = (await ensureSearchAttributes(ns, 'prov.a1b2c').then(
      () => undefined,
      (e: unknown) => e,
    )) as Error | undefined;
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toMatch(/JobStatus, JobStep, Requester, AwsAccountId, Region, InstanceType, Team are missing/);
    expect(err!.message).not.toMatch(/JobId,/);
    expect(err!.message).toMatch(
      /temporal operator search-attribute create --namespace prov\.a1b2c --name JobStatus --type Keyword/,
    );
    expect(err!.message).toMatch(/tcld namespace search-attributes add/);
  });

  it('adds on a server that can add but not list (the time-skipping test server)', async () => {
    const added: Array<Record<string, number>> = [];
    const ns: SearchAttributeServices = {
      operatorService: {
        listSearchAttributes: async () => {
          throw grpcError(12, 'UNIMPLEMENTED');
        },
        addSearchAttributes: async ({ searchAttributes }) => {
          added.push(searchAttributes);
          return {};
        },
      },
      workflowService: { listWorkflowExecutions: async () => ({}) },
    };
    expect((await ensureSearchAttributes(ns, 'default')).added).toEqual(Object.keys(SERVICE_ATTRIBUTES));
    expect(Object.values(added[0]!).every((t) => t === KEYWORD)).toBe(true);
  });
});
