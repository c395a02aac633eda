import fs from 'node:fs';
import path from 'node:path';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJob, signalJob, startJob } from '../../src/api/jobCommands.js';
import { getJob } from '../../src/db/jobs.js';
import { listJobNotifications } from '../../src/db/notifications.js';
import { getRevision } from '../../src/db/revisions.js';
import { DRIFT_SCHEDULE_ID, ensureDriftSchedule } from '../../src/temporal/driftSchedule.js';
import { sampleSpec, testActor, waitForStatus } from '../support/jobs.js';
import { waitFor } from '../support/processes.js';
import { appOnStack } from '../support/appOverDb.js';
import { startSandboxStack, type SandboxStack } from '../support/stack.js';

/**
 * Drift on real Temporal and Terraform with the sandbox module: its knob
 * (a file of changes "made by hand" in its instance directory) stands for
 * someone changing the instance in the AWS console. The Schedule's pass,
 * triggered rather than waited for, runs a refresh-only plan per live job;
 * the drifted job gets its findings, a badge and one email, the others stay
 * in sync, and Reconcile (a revision) puts the declared state back.
 */

let stack: SandboxStack;
const owner = testActor('drift-owner', { userId: 'drift-owner' });

beforeAll(async () => {
  stack = await startSandboxStack({ workdirPrefix: 'prov-drift-' });
}, 120_000);

afterAll(async () => {
  await ensureDriftSchedule(stack?.client, { interval: '0', concurrency: 1, taskQueue: 'none' }).catch(() => undefined);
  await stack?.stop();
});

async function liveJob(name: string) {
  const spec = sampleSpec({ name, options: { requireApproval: false } });
  const job = await createJob(stack.commands, spec, owner);
  await startJob(stack.commands, job.id, spec, owner);
  expect((await waitForStatus(stack.temp.db, job.id, ['succeeded', 'failed'])).status).toBe('succeeded');
  return job.id;
}

/** One pass of the schedule, now, and its result once it has finished. */
async function pass(): Promise<{ checked: number; drifted: string[]; errors: string[] }> {
  const schedule = stack.client.schedule.getHandle(DRIFT_SCHEDULE_ID);
  const before = (await schedule.describe()).info.recentActions.length;
  await schedule.trigger();
  let runId: string | undefined;
  let workflowId = '';
  await waitFor(
    'the triggered drift check',
    async () => {
      const actions = (await schedule.describe()).info.recentActions;
      if (actions.length <= before) return false;
      const started = actions[actions.length - 1]!.action;
      workflowId = started.workflow.workflowId;
      runId = started.workflow.firstExecutionRunId;
      return true;
    },
    30_000,
  );
  return stack.client.workflow.getHandle(workflowId, runId).result();
}

describe('drift of a live environment', () => {
  it('is found by the scheduled check, shown, emailed once, and reconciled as a revision', { timeout: 240_000 }, async () => {
    const drifted = await liveJob('drift-changed');
    const steady = await liveJob('drift-steady');
    expect(
      await ensureDriftSchedule(stack.client, { interval: '6h', concurrency: 2, taskQueue: stack.worker.taskQueue }),
    ).toMatch(/created|updated/);
    const described = await stack.client.schedule.getHandle(DRIFT_SCHEDULE_ID).describe();
    expect(described.spec.intervals?.[0]?.every).toBe(6 * 3_600_000);
    // Temporal's time-skipping test server has no Schedules, so the timing is read from the real
    // server's own plan rather than waited for: its next passes come every 6 h, and a pass still
    // running when the next is due makes that one skip rather than pile up.
    const next = described.info.nextActionTimes.map((d) => d.getTime());
    expect(next.length).toBeGreaterThanOrEqual(2);
    expect(next[0]! - Date.now()).toBeLessThanOrEqual(6 * 3_600_000);
    for (let i = 1; i < next.length; i++) expect(next[i]! - next[i - 1]!).toBe(6 * 3_600_000);
    expect(described.policies.overlap).toBe(ScheduleOverlapPolicy.SKIP);
    // Set again with the same settings: the one schedule is updated, not doubled.
    expect(await ensureDriftSchedule(stack.client, { interval: '6h', concurrency: 2, taskQueue: stack.worker.taskQueue })).toBe(
      'updated',
    );

    // Nothing changed yet: both in sync.
    const first = await pass();
    expect(first.drifted).toEqual([]);
    expect((await getJob(stack.temp.db, drifted))!.drift_state).toBe('in_sync');

    // Someone changes the instance type "in the console".
    const instanceDir = path.join(stack.jobsWorkdir, drifted, '.sandbox-instance');
    fs.writeFileSync(
      path.join(instanceDir, 'changed-by-hand.json'),
      JSON.stringify({ 'aws_instance.this': 'instance_type t3.micro → t3.large (changed by hand)' }),
    );
    const second = await pass();
    expect(second.drifted).toEqual([drifted]);
    const row = (await getJob(stack.temp.db, drifted))!;
    expect(row.drift_state).toBe('drifted');
    expect(JSON.parse(row.drift_json!)).toEqual(['aws_instance.this: instance_type t3.micro → t3.large (changed by hand)']);
    expect((await getJob(stack.temp.db, steady))!.drift_state).toBe('in_sync');
    const driftMails = async () =>
      (await listJobNotifications(stack.temp.db, drifted)).filter((n) => n.event.startsWith('drift_'));
    await waitFor('the drift email', async () => (await driftMails()).length === 1, 20_000);
    expect((await driftMails())[0]!.text).toContain('instance_type t3.micro → t3.large');

    // Still drifted at the next pass: no second email for the same findings.
    expect((await pass()).drifted).toEqual([drifted]);
    expect(await driftMails()).toHaveLength(1);

    // The pages show it: a badge on the dashboard and the job page, and Reconcile.
    const app = appOnStack(stack, 'drift-token-0123456789');
    const auth = { authorization: 'Bearer drift-token-0123456789' };
    const dashboard = await (await app.request('/', { headers: auth })).text();
    const rowOf = (html: string, id: string) => html.slice(html.indexOf(`data-job-id="${id}"`)).split('</tr>')[0]!;
    expect(rowOf(dashboard, drifted)).toContain('badge-drifted');
    expect(rowOf(dashboard, steady)).not.toContain('badge-drifted');
    const apiJob = (await (await app.request(`/api/jobs/${drifted}`, { headers: auth })).json()) as { drift: unknown };
    expect(apiJob.drift).toMatchObject({
      state: 'drifted',
      items: [expect.stringContaining('instance_type t3.micro → t3.large')],
    });
    const page = await (await app.request(`/jobs/${drifted}`, { headers: auth })).text();
    expect(page).toContain('id="job-drift-badge"');
    expect(page).toContain('instance_type t3.micro → t3.large (changed by hand)');
    expect(page).toContain(`action="/jobs/${drifted}/reconcile"`);

    const reconciled = await app.request(`/api/jobs/${drifted}/reconcile`, { method: 'POST', headers: auth });
    expect(reconciled.status).toBe(202);
    const { revision } = (await reconciled.json()) as { revision: { number: number; kind: string } };
    expect(revision.kind).toBe('reconcile');
    await waitFor(
      'the reconcile revision',
      async () => ['succeeded', 'failed'].includes((await getRevision(stack.temp.db, drifted, revision.number))?.state ?? ''),
      90_000,
    );
    const applied = (await getRevision(stack.temp.db, drifted, revision.number))!;
    expect(applied.state).toBe('succeeded');
    // The apply puts the declared values back: the plan changed the instance in place, replacing nothing.
    expect(JSON.parse(applied.plan_json!)).toMatchObject({ add: 0, change: 1, destroy: 0 });
    expect((await getJob(stack.temp.db, drifted))!.drift_state).toBe('in_sync');
    const after = await pass();
    expect(after.drifted).toEqual([]);
    expect((await getJob(stack.temp.db, drifted))!.drift_state).toBe('in_sync');

    for (const id of [drifted, steady]) {
      await signalJob(stack.commands, id, 'destroy', owner);
      await waitForStatus(stack.temp.db, id, ['destroyed', 'failed']);
    }
    // Destroyed jobs are not looked at; `0` takes the schedule away.
    expect((await pass()).checked).toBe(0);
    expect(await ensureDriftSchedule(stack.client, { interval: '0', concurrency: 2, taskQueue: stack.worker.taskQueue })).toBe(
      'removed',
    );
  });

  it('says why a job cannot be checked: access keys are never stored', { timeout: 120_000 }, async () => {
    const spec = sampleSpec({
      name: 'drift-keys',
      auth: {
        method: 'access_keys',
        accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
        secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      },
    });
    const job = await createJob(stack.commands, spec, owner);
    expect((await waitForStatus(stack.temp.db, job.id, ['succeeded', 'failed'])).status).toBe('succeeded');
    await ensureDriftSchedule(stack.client, { interval: '6h', concurrency: 1, taskQueue: stack.worker.taskQueue });
    const result = await pass();
    expect(result.errors).toContain(job.id);
    const row = (await getJob(stack.temp.db, job.id))!;
    expect(row.drift_state).toBe('error');
    expect(JSON.parse(row.drift_json!)[0]).toMatch(/access keys are never stored/);
    await signalJob(stack.commands, job.id, 'destroy', owner);
    await waitForStatus(stack.temp.db, job.id, ['destroyed', 'failed']);
  });
});
