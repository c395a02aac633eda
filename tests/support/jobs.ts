import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { Db } from '../../src/db/database.js';
import { getJob, listSteps } from '../../src/db/jobs.js';
import type { JobRow } from '../../src/db/schema.js';
import { createJobSpecSchema, type JobSpec, type JobSpecInput } from '../../src/domain/jobSpec.js';
import type { ActivitySettings } from '../../src/activities/index.js';
import type { Actor } from '../../src/api/jobCommands.js';
import { LOCAL_ADMIN_ID } from '../../src/db/users.js';
import { waitFor, ROOT } from './processes.js';

/** Someone acting on jobs in tests that call the commands directly: the local admin, under a name. */
export function testActor(user = 'tester', extra: Partial<Actor> = {}): Actor {
  return { user, userId: LOCAL_ADMIN_ID, role: 'admin', ...extra };
}

/** An approver other than the jobs' creator: approvals need someone else. */
export const APPROVER: Actor = { user: 'approver', userId: 'test-approver', role: 'approver' };

export const SANDBOX_MODULE = path.join(ROOT, 'tests', 'fixtures', 'sandbox-module');

export const testPolicy = {
  allowedRegions: ['us-east-1', 'eu-west-1'],
  allowedInstanceTypes: ['t3.micro', 't3.small'],
  allowAccessKeys: true,
};

export const specSchema = createJobSpecSchema(testPolicy);

let counter = 0;
/** A valid spec through the real schema; `overrides` are merged at the top level. */
export function sampleSpec(overrides: Partial<JobSpecInput> = {}): JobSpec {
  counter += 1;
  const input: JobSpecInput = {
    name: `test-job-${process.pid}-${counter}`,
    requesterEmail: 'alice@example.com',
    region: 'us-east-1',
    auth: { method: 'assume_role', roleArn: 'arn:aws:iam::123456789012:role/Provisioner', externalId: 'tenant-42' },
    instance: { type: 't3.micro', volumeSizeGb: 20 },
    containers: [{ name: 'webapp', image: 'nginx:latest', ports: ['8080:80'], environment: { GREETING: 'hi' } }],
    usersCsv: 'username,email,role,display_name\nadmin,admin@example.com,admin,Administrator\n',
    options: { requireApproval: false },
    ...overrides,
  };
  return specSchema.parse(input);
}

export function sandboxSettings(jobsWorkdir: string, extra: Partial<ActivitySettings> = {}): ActivitySettings {
  return {
    jobsWorkdir,
    terraformModuleDir: SANDBOX_MODULE,
    terraformBinary: 'terraform',
    killGraceMs: 5_000,
    readinessProbe: 'off',
    readinessTimeoutMs: 20_000,
    readinessPollMs: 200,
    instanceConsole: 'sandbox',
    skipInstanceStatusChecks: true,
    specPolicy: testPolicy,
    allowedAccountIds: [],
    heartbeatMs: 500,
    ...extra,
  };
}

export async function waitForStatus(db: Db, jobId: string, statuses: string[], timeoutMs = 90_000): Promise<JobRow> {
  return waitFor(
    `job ${jobId} to reach ${statuses.join('|')}`,
    async () => {
      const job = await getJob(db, jobId);
      if (job && statuses.includes(job.status)) return job;
      return undefined;
    },
    timeoutMs,
    100,
  ).catch(async (err) => {
    const job = await getJob(db, jobId);
    const steps = await listSteps(db, jobId);
    throw new Error(
      `${(err as Error).message}; now ${job?.status} at ${job?.step}, error=${job?.error}; steps: ${steps
        .map((s) => `${s.step}#${s.attempt}:${s.state}`)
        .join(', ')}`,
    );
  });
}

export async function waitForStep(db: Db, jobId: string, step: string, state = 'running', timeoutMs = 60_000) {
  return waitFor(
    `step ${step} ${state}`,
    async () => (await listSteps(db, jobId)).find((s) => s.step === step && s.state === state),
    timeoutMs,
    50,
  );
}

export async function workflowResult(client: Client, jobId: string): Promise<unknown> {
  return client.workflow.getHandle(`job-${jobId}`).result();
}
