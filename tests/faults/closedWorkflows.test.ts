import { execFileSync } from 'node:child_process';
import path from 'node:path';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listSteps } from '../../src/db/jobs.js';
import { readStateVerdict } from '../../src/activities/stateFile.js';
import { mailsPerRecipient, startServiceProcesses, type ServiceProcesses } from '../support/serviceProcesses.js';
import { waitFor } from '../support/processes.js';
import { createAndRun, getJob, killTerraformOf, sleep, waitForApplyLine, waitForJobs } from './support.js';

/**
 * Jobs whose workflow ends in a way no workflow code sees through: terminated
 * from the Temporal CLI, or a step whose workers were lost for its whole time
 * budget before Terraform had written any state. The job must never go on
 * showing `running`.
 */

let svc: ServiceProcesses;
// A step's time budget of about 22 s, so a lost worker can use it up within the test.
const BUDGET_HOURS = '0.006';

beforeAll(async () => {
  svc = await startServiceProcesses({
    sandbox: { sandbox_sleep_seconds: { apply: 15 }, sandbox_resource_count: 1 },
    env: { STEP_INFRA_RETRY_HOURS: BUDGET_HOURS },
  });
  await svc.startWeb();
}, 180_000);

afterAll(async () => {
  await svc?.stop();
});

describe('a workflow terminated from the Temporal CLI', () => {
  it('shows the job failed with the reason within a minute, emails once, and can still be destroyed', async () => {
    if (svc.workerCount() === 0) await svc.startWorker();
    const id = await createAndRun(svc, 'terminated-job', 'terminated@example.com');
    await waitForApplyLine(svc, [id]);

    execFileSync(
      inject('temporalCliPath'),
      [
        'workflow',
        'terminate',
        '--address',
        svc.temporalAddress,
        '--namespace',
        'default',
        '--workflow-id',
        `job-${id}`,
        '--reason',
        'stuck, ended by the operator',
      ],
      { stdio: 'pipe' },
    );
    const terminatedAt = Date.now();

    // The web's reconciler runs at its default interval (20 s): the job is corrected within a minute.
    const [job] = await waitForJobs(svc, [id], ['failed'], 60_000);
    expect(Date.now() - terminatedAt).toBeLessThan(60_000);
    expect(job.error).toMatch(/terminated from Temporal/);
    expect(job.error).toContain('stuck, ended by the operator');
    expect(job.error).toMatch(/during step apply; resources may remain/);
    expect(job.hasResources).toBe(true);

    const audit = (await (await svc.api(`/api/jobs/${id}/audit`)).json()) as {
      entries: { actor: string; action: string; detail: string }[];
    };
    const entry = audit.entries.find((e) => e.action === 'reconcile');
    expect(entry?.actor).toBe('system:reconciler');
    expect(entry?.detail).toMatch(/^running → failed: the workflow was terminated/);
    await waitFor('the failure email', () => mailsPerRecipient(svc.mails).get('terminated@example.com') === 1, 20_000);
    expect((await listSteps(svc.db, id)).filter((s) => s.state === 'running')).toEqual([]);

    // The resources the apply made are not lost: a destroy runs in a new run of the job's workflow.
    const destroy = await svc.api(`/api/jobs/${id}/destroy`, { method: 'POST' });
    expect(destroy.status, await destroy.clone().text()).toBe(202);
    const [destroyed] = await waitForJobs(svc, [id], ['destroyed', 'failed'], 120_000);
    expect(destroyed.status, destroyed.error ?? '').toBe('destroyed');
    expect(destroyed.hasResources).toBe(false);
    expect(readStateVerdict(path.join(svc.jobsWorkdir, id)).has).toBe(false);
    // A later pass of the reconciler leaves the destroyed job alone (its new run completed with that status).
    await sleep(1_000);
    expect((await getJob(svc, id)).status).toBe('destroyed');
    expect(mailsPerRecipient(svc.mails).get('terminated@example.com')).toBe(2); // failed, destroyed
  }, 300_000);
});

describe('an apply killed before it wrote any state, its workers gone for the whole budget', () => {
  it('ends failed with nothing created, never running', async () => {
    // This worker's applies wait before creating their first resource.
    await svc.killWorkers();
    await svc.startWorker({
      TERRAFORM_EXTRA_VARS_JSON: JSON.stringify({ sandbox_sleep_seconds: { first: 60, apply: 15 }, sandbox_resource_count: 1 }),
    });
    const id = await createAndRun(svc, 'no-state-job', 'no-state@example.com');
    await waitForApplyLine(svc, [id], /waiting before the first resource/);
    // The node is lost: the worker and the Terraform it ran, before Terraform persisted anything.
    await svc.killWorkers();
    expect(killTerraformOf(svc.jobsWorkdir, id)).toBe(true);
    const verdict = readStateVerdict(path.join(svc.jobsWorkdir, id));
    expect(verdict.has, verdict.reason).toBe(false);
    expect(fs.existsSync(path.join(svc.jobsWorkdir, id, 'terraform.tfstate.backup'))).toBe(false);

    // No worker for longer than the step's budget; then one comes back and runs the failure path.
    await sleep(26_000);
    expect((await getJob(svc, id)).status).toBe('running');
    await svc.startWorker();
    const [job] = await waitForJobs(svc, [id], ['failed', 'succeeded', 'cancelled'], 60_000);
    expect(job.status).toBe('failed');
    expect(job.error).toMatch(/retried for its whole time budget/);
    expect(job.error).toMatch(/\(nothing was created\)$/);
    expect(job.hasResources).toBe(false);
    const steps = await listSteps(svc.db, id);
    expect(steps.filter((s) => s.state === 'running')).toEqual([]);
    expect(steps.find((s) => s.step === 'apply')?.state).toBe('interrupted');
    await waitFor('the failure email', () => mailsPerRecipient(svc.mails).get('no-state@example.com') === 1, 20_000);
  }, 300_000);
});
