import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { setTtlUpdate } from '../../src/workflows/messages.js';
import { encodeHistory, HISTORIES_DIR } from '../support/histories.js';
import { createJob, signalJob, startJob } from '../../src/api/jobCommands.js';
import { setJobTtl } from '../../src/api/jobTtl.js';
import { getJob } from '../../src/db/jobs.js';
import { listAudit } from '../../src/db/audit.js';
import { APPROVER, sampleSpec, testActor, waitForStatus } from '../support/jobs.js';
import { appOnStack } from '../support/appOverDb.js';
import { startSandboxStack, type SandboxStack } from '../support/stack.js';

/**
 * A live environment's time to live, changed while its workflow waits for
 * the destroy: through a Temporal Update on the real dev server and worker.
 * Longer and shorter (the destroy comes at the new time), none, and the
 * Update's refusals, with the reason, for a state that has no life to change.
 */

let stack: SandboxStack;
const actor = testActor('ttl-tester');

beforeAll(async () => {
  stack = await startSandboxStack({ workdirPrefix: 'prov-ttl-' });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

async function liveJob(name: string, ttlHours?: number) {
  const spec = sampleSpec({ name, options: { requireApproval: false, ...(ttlHours ? { ttlHours } : {}) } });
  const job = await createJob(stack.commands, spec, actor);
  await startJob(stack.commands, job.id, spec, actor);
  expect((await waitForStatus(stack.temp.db, job.id, ['succeeded', 'failed'])).status).toBe('succeeded');
  return job.id;
}

const hoursFromNow = (iso: string | null) => (iso ? (Date.parse(iso) - Date.now()) / 3_600_000 : null);

describe('changing the time to live of a live environment', () => {
  it('extends it, takes it away, and shortens it so the destroy comes at the new time', { timeout: 120_000 }, async () => {
    const id = await liveJob('ttl-change', 1);
    expect(hoursFromNow((await getJob(stack.temp.db, id))!.destroy_at)).toBeLessThan(1);

    const longer = await setJobTtl(stack.commands, id, 30, actor);
    expect(hoursFromNow(longer.destroy_at)).toBeGreaterThan(29.9);
    expect(hoursFromNow(longer.destroy_at)).toBeLessThanOrEqual(30);
    expect((await setJobTtl(stack.commands, id, null, actor)).destroy_at).toBeNull();
    // `UPDATE_HISTORIES=1 npx vitest run tests/integration/ttlChange.test.ts -t extends` records this
    // job at its waiting point, after two Updates, for the replay test.
    if (process.env.UPDATE_HISTORIES) {
      const handle = stack.client.workflow.getHandle(`job-${id}`);
      fs.writeFileSync(
        path.join(HISTORIES_DIR, 'provision-waiting-after-ttl-updates-v3.binpb'),
        encodeHistory(await handle.fetchHistory()),
      );
    }

    // A few seconds from now: the workflow's timer is rescheduled and the destroy runs.
    const started = Date.now();
    await setJobTtl(stack.commands, id, 0.002, actor);
    const done = await waitForStatus(stack.temp.db, id, ['destroyed', 'failed'], 60_000);
    expect(done.status).toBe('destroyed');
    expect(Date.now() - started).toBeGreaterThan(6_000);
    const audit = await listAudit(stack.temp.db, { jobId: id });
    expect(audit.filter((a) => a.action === 'ttl').map((a) => a.detail)).toEqual([
      'time to live set to 0.002 h from now',
      'no time to live: lives until destroyed',
      'time to live set to 30 h from now',
    ]);
    // Nothing left to change once it is gone.
    await expect(setJobTtl(stack.commands, id, 5, actor)).rejects.toMatchObject({ code: 'conflict' });
  });

  it('is refused with the reason for a job waiting for approval, and beyond the longest life', { timeout: 120_000 }, async () => {
    const spec = sampleSpec({ name: 'ttl-waiting', options: { requireApproval: true } });
    const job = await createJob(stack.commands, spec, actor);
    await startJob(stack.commands, job.id, spec, actor);
    await waitForStatus(stack.temp.db, job.id, ['awaiting_approval']);
    // `UPDATE_HISTORIES=1 … -t refused` records the job at its approval wait for the replay test.
    if (process.env.UPDATE_HISTORIES) {
      const waiting = stack.client.workflow.getHandle(`job-${job.id}`);
      fs.writeFileSync(
        path.join(HISTORIES_DIR, 'provision-awaiting-approval-v2.binpb'),
        encodeHistory(await waiting.fetchHistory()),
      );
    }
    await expect(setJobTtl(stack.commands, job.id, 5, actor)).rejects.toThrow(
      /cannot change the time to live of job .*: it is awaiting approval/,
    );
    // The workflow's own validator says no too, to whoever reaches it without the service.
    const update = stack.client.workflow
      .getHandle(`job-${job.id}`)
      .executeUpdate(setTtlUpdate, { args: [{ by: 'cli', ttlHours: 5 }] });
    await expect(update).rejects.toThrow(WorkflowUpdateFailedError);
    await expect(update.catch((e: WorkflowUpdateFailedError) => Promise.reject(e.cause))).rejects.toThrow(
      'the time to live of a job that is awaiting approval cannot change',
    );
    await signalJob(stack.commands, job.id, 'approve', APPROVER);
    await waitForStatus(stack.temp.db, job.id, ['succeeded']);
    await expect(setJobTtl(stack.commands, job.id, 719.99, actor)).resolves.toBeDefined();
    // 720 h from now is past 720 h from the job's start.
    await expect(setJobTtl(stack.commands, job.id, 720, actor)).rejects.toThrow(/at most 720 hours from the job's start/);
    await signalJob(stack.commands, job.id, 'destroy', actor);
    await waitForStatus(stack.temp.db, job.id, ['destroyed']);
  });

  it('through the API: 200 with the new destroyAt, 422 for a bad value, and the owner’s or an admin’s only', async () => {
    const id = await liveJob('ttl-api');
    const app = appOnStack(stack, 'ttl-token-0123456789');
    const call = (body: unknown) =>
      app.request(`/api/jobs/${id}/ttl`, {
        method: 'POST',
        headers: { authorization: 'Bearer ttl-token-0123456789', 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const ok = await call({ ttlHours: 12 });
    expect(ok.status).toBe(200);
    expect(hoursFromNow(((await ok.json()) as { destroyAt: string }).destroyAt)).toBeGreaterThan(11.9);
    const bad = await call({ ttlHours: -1 });
    expect(bad.status).toBe(422);
    expect(((await bad.json()) as { error: { fields: { path: string }[] } }).error.fields[0].path).toBe('ttlHours');
    // A requester who does not own the job may not change it.
    await expect(
      setJobTtl(stack.commands, id, 3, { user: 'someone', userId: 'someone-else', role: 'requester' }),
    ).rejects.toMatchObject({
      code: 'not_owner',
    });
    await signalJob(stack.commands, id, 'destroy', actor);
    await waitForStatus(stack.temp.db, id, ['destroyed']);
  });
});
