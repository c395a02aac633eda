import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { createJob, signalJob, startJob } from '../../src/api/jobCommands.js';
import { requestRevision } from '../../src/api/revisionCommands.js';
import { getJob, listSteps } from '../../src/db/jobs.js';
import { listJobNotifications } from '../../src/db/notifications.js';
import { getRevision, latestRevision } from '../../src/db/revisions.js';
import type { JobRevisionRow } from '../../src/db/schema.js';
import { createSpecChangeSchema, type SpecChange } from '../../src/domain/specChange.js';
import { reviseUpdate } from '../../src/workflows/messages.js';
import { encodeHistory, HISTORIES_DIR } from '../support/histories.js';
import { APPROVER, sampleSpec, testActor, testPolicy, waitForStatus, waitForStep } from '../support/jobs.js';
import { makeTeam } from '../support/people.js';
import { waitFor } from '../support/processes.js';
import { appOnStack } from '../support/appOverDb.js';
import { startSandboxStack, type SandboxStack } from '../support/stack.js';

/**
 * Day 2 on real Temporal and Terraform with the sandbox module: changes to a
 * live environment as revisions. Containers and users reach the running
 * instance without replacing it, the instance type changes in place, a
 * failed revision leaves the environment running as it was, approval and
 * cancel work as in the first run, and the workflow refuses what the job's
 * state does not allow.
 */

let stack: SandboxStack;
const owner = testActor('rev-owner', { userId: 'rev-owner' });
const changeSchema = createSpecChangeSchema(testPolicy);
const change = (input: unknown): SpecChange => changeSchema.parse(input);

beforeAll(async () => {
  stack = await startSandboxStack({ workdirPrefix: 'prov-rev-' });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

async function liveJob(name: string, options: { requireApproval?: boolean } = {}) {
  const spec = sampleSpec({ name, options: { requireApproval: options.requireApproval ?? false } });
  const job = await createJob(stack.commands, spec, owner);
  await startJob(stack.commands, job.id, spec, owner);
  if (options.requireApproval) {
    await waitForStatus(stack.temp.db, job.id, ['awaiting_approval']);
    await signalJob(stack.commands, job.id, 'approve', APPROVER);
  }
  expect((await waitForStatus(stack.temp.db, job.id, ['succeeded', 'failed'])).status).toBe('succeeded');
  // The status is written before the success email, the first run's last step.
  await waitForStep(stack.temp.db, job.id, 'notify', 'succeeded');
  return job.id;
}

async function waitForRevision(jobId: string, number: number, states: string[], timeoutMs = 90_000): Promise<JobRevisionRow> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await getRevision(stack.temp.db, jobId, number);
    if (row && states.includes(row.state)) return row;
    if (Date.now() > deadline)
      throw new Error(`revision ${number} of ${jobId} is ${row?.state ?? 'missing'}, not ${states.join('/')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function mailOf(jobId: string, event: string) {
  await waitFor(
    `the ${event} email`,
    async () => (await listJobNotifications(stack.temp.db, jobId)).some((m) => m.event === event),
    20_000,
  );
  return (await listJobNotifications(stack.temp.db, jobId)).find((m) => m.event === event);
}

const instanceDir = (jobId: string) => path.join(stack.jobsWorkdir, jobId, '.sandbox-instance');
const runningImage = (jobId: string, service: string) =>
  fs.readFileSync(path.join(instanceDir(jobId), 'docker-state', `${service}.image`), 'utf8');
const outputs = async (jobId: string) => JSON.parse((await getJob(stack.temp.db, jobId))!.outputs_json ?? '{}');
const specOf = async (jobId: string) => JSON.parse((await getJob(stack.temp.db, jobId))!.spec_json);

const USERS_AFTER =
  'username,email,role,display_name\nadmin,admin@example.com,admin,Administrator\nbob,bob@example.com,user,Bob\n';

describe('revisions of a live environment', () => {
  it('changes containers and users on the running instance, without replacing it', { timeout: 180_000 }, async () => {
    const id = await liveJob('rev-containers');
    const before = await outputs(id);
    const firstRunSteps = await listSteps(stack.temp.db, id);
    expect(runningImage(id, 'webapp')).toBe('nginx:latest');

    const { revision } = await requestRevision(
      stack.commands,
      id,
      change({
        containers: [
          { name: 'webapp', image: 'nginx:1.27', ports: ['8080:80'], environment: { GREETING: 'hello' } },
          { name: 'worker', image: 'busybox:1.36' },
        ],
        usersCsv: USERS_AFTER,
        reason: 'new release',
      }),
      owner,
    );
    expect(revision.number).toBe(1);
    expect(JSON.parse(revision.differences_json).map((d: { text: string }) => d.text)).toEqual([
      'container webapp: image nginx:latest → nginx:1.27; environment GREETING',
      'container worker added (busybox:1.36)',
      'users 1 → 2 (1 added)',
    ]);
    const done = await waitForRevision(id, 1, ['succeeded', 'failed', 'cancelled', 'rejected']);
    expect(done).toMatchObject({ state: 'succeeded', error: null, requested_by: 'rev-owner', reason: 'new release' });
    expect(JSON.parse(done.plan_json!)).toMatchObject({ add: 0, destroy: 0 });

    // The same instance, now running the new containers and holding the new users.
    expect((await outputs(id)).instance_id).toBe(before.instance_id);
    expect(runningImage(id, 'webapp')).toBe('nginx:1.27');
    expect(runningImage(id, 'worker')).toBe('busybox:1.36');
    expect(fs.readFileSync(path.join(instanceDir(id), 'opt', 'app', 'users.csv'), 'utf8')).toContain('bob,bob@example.com');
    const job = (await getJob(stack.temp.db, id))!;
    expect(job.status).toBe('succeeded');
    expect((await specOf(id)).containers.map((c: { image: string }) => c.image)).toEqual(['nginx:1.27', 'busybox:1.36']);

    // Its steps are its own; the first run's stay as they were.
    const steps = await listSteps(stack.temp.db, id, 1);
    expect([...new Set(steps.map((s) => s.step))]).toEqual(['verify', 'render', 'init', 'plan', 'apply', 'output', 'ready']);
    expect(steps.every((s) => s.state === 'succeeded')).toBe(true);
    expect(await listSteps(stack.temp.db, id)).toEqual(firstRunSteps);
    // The email follows the revision's record.
    const mail = await mailOf(id, 'revision_1_succeeded');
    expect(mail?.subject).toContain('revision 1 applied');
    expect(mail?.text).toContain('container worker added (busybox:1.36)');
    expect(mail?.text).not.toContain('hello');

    // `UPDATE_HISTORIES=1 npx vitest run tests/integration/revisions.test.ts -t containers` records a job
    // waiting for its destroy after a revision, for the replay test.
    if (process.env.UPDATE_HISTORIES) {
      const handle = stack.client.workflow.getHandle(`job-${id}`);
      fs.writeFileSync(path.join(HISTORIES_DIR, 'revision-applied-v4.binpb'), encodeHistory(await handle.fetchHistory()));
    }

    await signalJob(stack.commands, id, 'destroy', owner);
    expect((await waitForStatus(stack.temp.db, id, ['destroyed', 'failed'])).status).toBe('destroyed');
  });

  it('changes the instance type in place, and a failed revision leaves the environment as it ran', {
    timeout: 180_000,
  }, async () => {
    const id = await liveJob('rev-type');
    const before = await outputs(id);
    await requestRevision(stack.commands, id, change({ instance: { type: 't3.small', volumeSizeGb: 30 } }), owner);
    const resized = await waitForRevision(id, 1, ['succeeded', 'failed']);
    expect(resized.state).toBe('succeeded');
    const plan = JSON.parse(resized.plan_json!);
    expect(plan).toMatchObject({ add: 0, destroy: 0 });
    expect(plan.change).toBeGreaterThan(0);
    expect(JSON.parse(resized.differences_json).map((d: { applies: string }) => d.applies)).toEqual([
      'restart',
      'infrastructure',
    ]);
    expect((await outputs(id)).instance_id).toBe(before.instance_id);
    expect((await getJob(stack.temp.db, id))!.instance_type).toBe('t3.small');

    // An image that cannot be pulled: the revision fails on the instance, the old containers run on.
    await requestRevision(
      stack.commands,
      id,
      change({ containers: [{ name: 'webapp', image: 'example/app:sandbox-fail-pull', ports: ['8080:80'] }] }),
      owner,
    );
    const failed = await waitForRevision(id, 2, ['succeeded', 'failed']);
    expect(failed.state).toBe('failed');
    expect(failed.error).toMatch(/could not be pulled/);
    expect(failed.error).toMatch(/put back as they were/);
    expect(runningImage(id, 'webapp')).toBe('nginx:latest');
    const job = (await getJob(stack.temp.db, id))!;
    expect(job.status).toBe('succeeded');
    expect((await specOf(id)).containers[0].image).toBe('nginx:latest');
    expect((await specOf(id)).instance.type).toBe('t3.small');
    expect(await mailOf(id, 'revision_2_failed')).toBeDefined();

    await signalJob(stack.commands, id, 'destroy', owner);
    expect((await waitForStatus(stack.temp.db, id, ['destroyed', 'failed'])).status).toBe('destroyed');
  });

  it('waits for approval when the job asks for it; its requester cannot approve it; cancel ends it', {
    timeout: 180_000,
  }, async () => {
    const id = await liveJob('rev-approval', { requireApproval: true });
    await requestRevision(stack.commands, id, change({ instance: { sshCidr: '203.0.113.0/24' } }), owner);
    const waiting = await waitForRevision(id, 1, ['awaiting_approval']);
    expect(JSON.parse(waiting.differences_json)[0].text).toBe('SSH from 203.0.113.0/24 (was closed)');
    // `UPDATE_HISTORIES=1 npx vitest run tests/integration/revisions.test.ts -t approval` records a job in a
    // revision waiting for its approval, for the replay test.
    if (process.env.UPDATE_HISTORIES) {
      const handle = stack.client.workflow.getHandle(`job-${id}`);
      fs.writeFileSync(
        path.join(HISTORIES_DIR, 'revision-awaiting-approval-v4.binpb'),
        encodeHistory(await handle.fetchHistory()),
      );
    }
    // Another change waits for this one.
    await expect(requestRevision(stack.commands, id, change({ instance: { volumeSizeGb: 40 } }), owner)).rejects.toThrow(
      /revision 1 is still in progress/,
    );
    await expect(signalJob(stack.commands, id, 'approve', owner)).rejects.toMatchObject({ code: 'own_job' });
    await signalJob(stack.commands, id, 'approve', APPROVER, { comment: 'fine' });
    const approved = await waitForRevision(id, 1, ['succeeded', 'failed', 'rejected']);
    expect(approved).toMatchObject({ state: 'succeeded', decided_by: 'approved by approver: fine' });
    expect((await specOf(id)).instance.sshCidr).toBe('203.0.113.0/24');
    expect(await mailOf(id, 'revision_1_approval_needed')).toBeDefined();
    expect(await mailOf(id, 'revision_1_succeeded')).toBeDefined();

    // Cancelled while it waits: nothing changes, the job stays live.
    await requestRevision(stack.commands, id, change({ instance: { sshCidr: '' } }), owner);
    await waitForRevision(id, 2, ['awaiting_approval']);
    await signalJob(stack.commands, id, 'cancel', owner, { reason: 'not now' });
    expect((await waitForRevision(id, 2, ['cancelled', 'failed'])).state).toBe('cancelled');
    expect((await getJob(stack.temp.db, id))!.status).toBe('succeeded');
    expect((await specOf(id)).instance.sshCidr).toBe('203.0.113.0/24');

    // And rejected: the reason is kept.
    await requestRevision(stack.commands, id, change({ instance: { volumeSizeGb: 25 } }), owner);
    await waitForRevision(id, 3, ['awaiting_approval']);
    await signalJob(stack.commands, id, 'reject', APPROVER, { reason: 'too big' });
    expect(await waitForRevision(id, 3, ['rejected'])).toMatchObject({ decided_by: 'rejected by approver: too big' });
    expect((await specOf(id)).instance.volumeSizeGb).toBe(20);

    await signalJob(stack.commands, id, 'destroy', owner);
    expect((await waitForStatus(stack.temp.db, id, ['destroyed', 'failed'])).status).toBe('destroyed');
    await expect(requestRevision(stack.commands, id, change({ instance: { volumeSizeGb: 30 } }), owner)).rejects.toMatchObject({
      code: 'conflict',
    });
  });

  it('cancel during a revision stops it on the instance and puts the containers back', { timeout: 180_000 }, async () => {
    // The instance's script waits a few seconds for its containers to settle: time to cancel.
    stack.knobs.set('rev-cancel', { sandbox_instance_settle_seconds: 4 });
    const id = await liveJob('rev-cancel');
    await requestRevision(
      stack.commands,
      id,
      change({ containers: [{ name: 'webapp', image: 'nginx:1.27', ports: ['8080:80'] }] }),
      owner,
    );
    await waitFor(
      'the revision on the instance',
      async () => (await listSteps(stack.temp.db, id, 1)).some((s) => s.step === 'ready' && s.state === 'running'),
      60_000,
    );
    await signalJob(stack.commands, id, 'cancel', owner, { reason: 'wrong image' });
    const cancelled = await waitForRevision(id, 1, ['cancelled', 'failed', 'succeeded']);
    expect(cancelled.state).toBe('cancelled');
    expect(cancelled.error).toMatch(/cancelled on request; the containers and users were put back as they were/);
    expect(runningImage(id, 'webapp')).toBe('nginx:latest');
    expect((await getJob(stack.temp.db, id))!.status).toBe('succeeded');
    expect((await specOf(id)).containers[0].image).toBe('nginx:latest');
    await signalJob(stack.commands, id, 'destroy', owner);
    expect((await waitForStatus(stack.temp.db, id, ['destroyed', 'failed'])).status).toBe('destroyed');
  });

  it('refuses what cannot change, before and inside the workflow', { timeout: 120_000 }, async () => {
    const id = await liveJob('rev-refusals');
    // A conflict with the environment as it is (409 in the API), not a malformed change.
    await expect(requestRevision(stack.commands, id, change({ instance: { volumeSizeGb: 10 } }), owner)).rejects.toMatchObject({
      code: 'conflict',
      fields: [{ path: 'instance.volumeSizeGb', message: expect.stringMatching(/may only grow/) }],
    });
    await expect(requestRevision(stack.commands, id, change({ instance: { type: 't3.micro' } }), owner)).rejects.toThrow(
      /changes nothing/,
    );
    await expect(
      requestRevision(
        stack.commands,
        id,
        change({ instance: { volumeSizeGb: 30 } }),
        testActor('someone-else', { userId: 'other', role: 'requester' }),
      ),
    ).rejects.toMatchObject({ code: 'not_owner' });
    // A team's narrower instance types hold for its jobs' changes.
    const teamId = await makeTeam(stack.temp.db, 'rev-small-only');
    await stack.temp.db
      .updateTable('teams')
      .set({ allowed_instance_types: JSON.stringify(['t3.micro']) })
      .where('id', '=', teamId)
      .execute();
    await stack.temp.db.updateTable('jobs').set({ team_id: teamId }).where('id', '=', id).execute();
    await expect(requestRevision(stack.commands, id, change({ instance: { type: 't3.small' } }), owner)).rejects.toMatchObject({
      code: 'validation_failed',
      fields: [{ path: 'instance.type', message: expect.stringContaining('not one team rev-small-only may use: t3.micro') }],
    });
    // Whoever reaches Temporal without the service meets the workflow's own validator.
    const job = (await getJob(stack.temp.db, id))!;
    const spec = JSON.parse(job.spec_json);
    const update = stack.client.workflow.getHandle(`job-${id}`).executeUpdate(reviseUpdate, {
      args: [
        {
          revisionId: 'cli-1',
          kind: 'change',
          by: 'cli',
          byId: null,
          changeable: { instance: { ...spec.instance, volumeSizeGb: 9 }, containers: spec.containers },
          differences: [],
        },
      ],
    });
    await expect(update).rejects.toThrow(WorkflowUpdateFailedError);
    await expect(update.catch((e: WorkflowUpdateFailedError) => Promise.reject(e.cause))).rejects.toThrow(/may only grow/);
    expect(await latestRevision(stack.temp.db, id)).toBeUndefined();
    await signalJob(stack.commands, id, 'destroy', owner);
    await waitForStatus(stack.temp.db, id, ['destroyed', 'failed']);
  });

  it('through the API and the pages: the Change form, the revision list, and what a page offers', {
    timeout: 180_000,
  }, async () => {
    const app = appOnStack(stack, 'rev-token-0123456789');
    const auth = { authorization: 'Bearer rev-token-0123456789' };
    const api = async (method: string, url: string, body?: unknown) => {
      const res = await app.request(url, {
        method,
        headers: { ...auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, body: (await res.json()) as Record<string, any> };
    };
    const id = await liveJob('rev-api');

    // 422 names the field; the change is not recorded.
    const bad = await api('POST', `/api/jobs/${id}/revisions`, { instance: { type: 'm5.24xlarge' } });
    expect(bad.status).toBe(422);
    expect(bad.body.error.fields[0].path).toBe('instance.type');
    const shrink = await api('POST', `/api/jobs/${id}/revisions`, { instance: { volumeSizeGb: 8 } });
    expect(shrink.status).toBe(409);
    expect(shrink.body.error.fields[0]).toMatchObject({ path: 'instance.volumeSizeGb' });

    const created = await api('POST', `/api/jobs/${id}/revisions`, {
      instance: { ingressCidr: '198.51.100.0/24' },
      reason: 'office only',
    });
    expect(created.status).toBe(202);
    expect(created.body.revision).toMatchObject({ number: 1, kind: 'change', reason: 'office only' });
    expect(created.body.job.status).toBe('succeeded');
    await waitForRevision(id, 1, ['succeeded', 'failed']);
    const one = await api('GET', `/api/jobs/${id}/revisions/1`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({
      state: 'succeeded',
      differences: [{ field: 'instance.ingressCidr', text: 'published ports open to 198.51.100.0/24 (was 0.0.0.0/0)' }],
      plan: { add: 0, destroy: 0, replaces: [] },
    });
    expect(one.body.steps.map((s: { step: string }) => s.step)).toContain('ready');
    expect((await api('GET', `/api/jobs/${id}/revisions/9`)).status).toBe(404);

    // The page: the Change form comes prefilled; its submit starts revision 2 and the job page shows it.
    const form = await app.request(`/jobs/${id}/change`, { headers: auth });
    expect(form.status).toBe(200);
    const formHtml = await form.text();
    expect(formHtml).toContain('198.51.100.0/24');
    expect(formHtml).toContain('nginx:latest');
    const posted = new FormData();
    posted.set('instanceType', 't3.small');
    posted.set('volumeSizeGb', '20');
    posted.set('ingressCidr', '198.51.100.0/24');
    posted.set('sshCidr', '');
    posted.set('containersJson', JSON.stringify([{ name: 'webapp', image: 'nginx:1.27', ports: ['8080:80'] }]));
    posted.set('usersCsvText', USERS_AFTER);
    posted.set('reason', 'bigger');
    const submitted = await app.request(`/jobs/${id}/change`, { method: 'POST', headers: auth, body: posted });
    expect(submitted.status).toBe(303);
    expect(submitted.headers.get('location')).toBe(`/jobs/${id}`);
    const second = await waitForRevision(id, 2, ['succeeded', 'failed']);
    expect(second.state).toBe('succeeded');
    expect(second.reason).toBe('bigger');
    const list = await api('GET', `/api/jobs/${id}/revisions`);
    expect(list.body.revisions.map((r: { number: number }) => r.number)).toEqual([2, 1]);

    const page = await (await app.request(`/jobs/${id}`, { headers: auth })).text();
    expect(page).toContain('Revision 2');
    expect(page).toContain('instance type t3.micro → t3.small (the instance stops and starts)');
    expect(page).toContain(`href="/jobs/${id}/change"`);

    // A bad form comes back with the field's error and what was typed.
    const wrong = new FormData();
    wrong.set('instanceType', 't3.small');
    wrong.set('volumeSizeGb', '5');
    wrong.set('containersJson', '[{"name": "webapp", "image": ');
    const refused = await app.request(`/jobs/${id}/change`, { method: 'POST', headers: auth, body: wrong });
    expect(refused.status).toBe(422);
    const refusedHtml = await refused.text();
    expect(refusedHtml).toContain('Containers JSON');
    expect(refusedHtml).toMatch(/Volume size must be at least 8 GiB/);
    expect(await latestRevision(stack.temp.db, id)).toMatchObject({ number: 2 });

    await signalJob(stack.commands, id, 'destroy', owner);
    await waitForStatus(stack.temp.db, id, ['destroyed', 'failed']);
    // A job that is gone offers no change.
    const gone = await app.request(`/jobs/${id}/change`, { headers: auth });
    expect(gone.status).toBe(303);
  });
});
