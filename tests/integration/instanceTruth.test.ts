import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJob, signalJob, startJob } from '../../src/api/jobCommands.js';
import { getJob, listSteps } from '../../src/db/jobs.js';
import { listLogLines } from '../../src/db/logs.js';
import { listJobNotifications } from '../../src/db/notifications.js';
import type { JobSpec } from '../../src/domain/jobSpec.js';
import { startSandboxStack, type SandboxStack } from '../support/stack.js';
import { sampleSpec, waitForStatus, testActor } from '../support/jobs.js';
import { waitFor } from '../support/processes.js';

/**
 * A job succeeds only when the instance says its containers run: the sandbox
 * module boots the real first-boot script with stand-in docker (images tagged
 * sandbox-fail-pull, sandbox-exit and sandbox-unhealthy misbehave), real
 * Terraform and Temporal run the job, and the ready step reads the console.
 */

const actor = testActor('tester');
let stack: SandboxStack;

beforeAll(async () => {
  stack = await startSandboxStack();
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

function specWith(image: string): JobSpec {
  return sampleSpec({
    containers: [
      {
        name: 'web',
        image: 'nginx:latest',
        ports: ['8080:80'],
        healthcheck: { test: ['CMD', 'curl', '-f', 'http://localhost/'] },
      },
      { name: 'api', image, healthcheck: { test: 'wget -q -O- http://localhost:3000/health', interval: '5s', retries: 3 } },
    ],
  });
}

async function launch(spec: JobSpec) {
  const job = await createJob(stack.commands, spec, actor);
  await startJob(stack.commands, job.id, spec, actor);
  return job.id;
}

async function instanceLines(jobId: string) {
  return (await listLogLines(stack.temp.db, jobId, { afterSeq: 0, limit: 10_000 })).filter((l) => l.stream === 'instance');
}

describe('the ready step', () => {
  it('succeeds only after the instance reported every container running and healthy', async () => {
    const jobId = await launch(specWith('example/api:1.4'));
    const job = await waitForStatus(stack.temp.db, jobId, ['succeeded', 'failed']);
    expect(job.status, job.error ?? '').toBe('succeeded');
    const lines = await instanceLines(jobId);
    const success = lines.find((l) => l.line.startsWith(`PROVISIONING-SUCCESS job=${jobId}`));
    expect(success?.step).toBe('ready');
    for (const name of ['web', 'api']) {
      expect(
        lines.some((l) => l.line.includes(`"phase":"health","container":"${name}"`) && l.line.includes('"health":"healthy"')),
      ).toBe(true);
    }
    // The step ended after the instance's last word, not before it.
    const ready = (await listSteps(stack.temp.db, jobId)).find((s) => s.step === 'ready')!;
    expect(Date.parse(ready.finished_at!)).toBeGreaterThanOrEqual(Date.parse(success!.ts));
    await signalJob(stack.commands, jobId, 'destroy', actor);
    await waitForStatus(stack.temp.db, jobId, ['destroyed']);
  });

  it.each([
    ['sandbox-fail-pull', 'pull', 'the image could not be pulled', 'manifest unknown'],
    [
      'sandbox-exit',
      'container',
      'the container is restarting (exit code 1, restarted 3 times)',
      'fatal: sandbox container exited (code 1)',
    ],
    [
      'sandbox-unhealthy',
      'health',
      'the container is unhealthy (its healthcheck failed)',
      'healthcheck failing: sandbox unhealthy',
    ],
  ])('fails a job whose image is tagged %s, naming phase %s, the image and its output', async (tag, phase, reason, output) => {
    const image = `example/api:${tag}-2`;
    const jobId = await launch(specWith(image));
    const job = await waitForStatus(stack.temp.db, jobId, ['succeeded', 'failed']);
    expect(job.status).toBe('failed');
    expect(job.error).toContain(`the instance reported a failure at phase ${phase} (container api, image ${image}): ${reason}`);
    expect(job.error).toContain(output);
    // Nothing was taken down: the instance is there to look at, and to destroy.
    expect(job.has_resources).toBe(1);
    expect(job.error).toMatch(/resources may remain/);

    // The instance's own lines are in the job log, as their own source.
    const lines = await instanceLines(jobId);
    expect(lines.some((l) => l.line.startsWith(`PROVISIONING-FAILED job=${jobId}`) && l.line.includes(output))).toBe(true);
    expect(lines.every((l) => l.step === 'ready')).toBe(true);

    // The failure email names the same.
    const mail = await waitFor('the failure email', async () =>
      (await listJobNotifications(stack.temp.db, jobId)).find((m) => m.event === 'failed'),
    );
    expect(mail.text).toContain(`phase ${phase}`);
    expect(mail.text).toContain(image);
    expect(mail.text).toContain(output);

    // The ready step failed once: a report from the instance is final, no retry.
    const readies = (await listSteps(stack.temp.db, jobId)).filter((s) => s.step === 'ready');
    expect(readies.map((s) => s.state)).toEqual(['failed']);
    await signalJob(stack.commands, jobId, 'destroy', actor);
    expect((await waitForStatus(stack.temp.db, jobId, ['destroyed', 'failed'])).status).toBe('destroyed');
    expect((await getJob(stack.temp.db, jobId))?.has_resources).toBe(0);
  });
});
