import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeHistory, HISTORIES_DIR } from '../support/histories.js';
import { createJob, signalJob, startJob } from '../../src/api/jobCommands.js';
import { setJobTtl } from '../../src/api/jobTtl.js';
import { getJob } from '../../src/db/jobs.js';
import { progressQuery } from '../../src/workflows/messages.js';
import { sampleSpec, testActor, waitForStatus } from '../support/jobs.js';
import { waitFor } from '../support/processes.js';
import { startSandboxStack, type SandboxStack } from '../support/stack.js';

/**
 * A job whose environment waits long enough for its history to grow
 * continues as new, carrying its state: here the bound is set low, so a
 * succeeded job switches runs at once and again after a few TTL Updates.
 * Updates sent one after another and all at once across the switches are
 * each applied, the job's row never leaves `succeeded`, and the destroy
 * still reaches the run that is current.
 */

let stack: SandboxStack;
const actor = testActor('can-tester');

beforeAll(async () => {
  stack = await startSandboxStack({ workdirPrefix: 'prov-can-' });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

async function runs(workflowId: string) {
  const out: { runId: string; status: string }[] = [];
  for await (const w of stack.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    out.push({ runId: w.runId, status: w.status.name });
  }
  return out;
}

describe('a long wait continues as new', () => {
  it('carries the job across runs without losing an Update, a status or the destroy', { timeout: 180_000 }, async () => {
    const commands = { ...stack.commands, historyBound: 40 };
    const spec = sampleSpec({ name: 'can-job', options: { requireApproval: false, ttlHours: 100 } });
    const job = await createJob(commands, spec, actor);
    await startJob(commands, job.id, spec, actor);
    await waitForStatus(stack.temp.db, job.id, ['succeeded']);
    const workflowId = `job-${job.id}`;
    // Past the bound already when it starts waiting: the next run carries on.
    await waitFor('a continued run', async () => (await runs(workflowId)).some((r) => r.status === 'CONTINUED_AS_NEW'), 30_000);
    const handle = stack.client.workflow.getHandle(workflowId);
    expect(await handle.query(progressQuery)).toMatchObject({ status: 'succeeded', hasResources: true });

    // One after another: each Update lands, whichever run is current.
    let last = '';
    for (let i = 1; i <= 20; i++) last = (await setJobTtl(commands, job.id, 50 + i, actor)).destroy_at!;
    expect(Date.parse(last) - Date.now()).toBeGreaterThan(69.9 * 3_600_000);
    // All at once, across a switch: every one is applied, none lost.
    const many = await Promise.all(Array.from({ length: 12 }, (_, i) => setJobTtl(commands, job.id, 80 + i, actor)));
    expect(many.every((j) => j.destroy_at !== null)).toBe(true);
    // `UPDATE_HISTORIES=1 npx vitest run tests/integration/continueAsNew.test.ts` records the current
    // run (one that carries the job on) for the replay test.
    if (process.env.UPDATE_HISTORIES) {
      fs.writeFileSync(path.join(HISTORIES_DIR, 'provision-carried-run-v3.binpb'), encodeHistory(await handle.fetchHistory()));
    }
    const continued = (await runs(workflowId)).filter((r) => r.status === 'CONTINUED_AS_NEW');
    expect(continued.length).toBeGreaterThanOrEqual(2);
    const audit = await stack.temp.db
      .selectFrom('audit_log')
      .select('detail')
      .where('job_id', '=', job.id)
      .where('action', '=', 'ttl')
      .execute();
    expect(audit).toHaveLength(32);

    // The row stayed the truth throughout, and the destroy reaches the current run.
    const row = (await getJob(stack.temp.db, job.id))!;
    expect(row.status).toBe('succeeded');
    expect(row.error).toBeNull();
    const progress = await handle.query(progressQuery);
    expect(progress.destroyAt).toBe(row.destroy_at);
    await signalJob(commands, job.id, 'destroy', actor);
    expect((await waitForStatus(stack.temp.db, job.id, ['destroyed', 'failed'])).status).toBe('destroyed');
    expect(await handle.result()).toEqual({ status: 'destroyed' });
  });
});
