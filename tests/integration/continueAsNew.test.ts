import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeHistory, HISTORIES_DIR } from '../support/histories.js';
import { createJob, signalJob, startJob } from '../../src/api/jobCommands.js';
import { setJobTtl } from '../../src/api/jobTtl.js';
import { getJob } from '../../src/db/jobs.js';
import { destroySignal, progressQuery, reviseUpdate, setTtlUpdate } from '../../src/workflows/messages.js';
import { requestRevision } from '../../src/api/revisionCommands.js';
import { getRevision } from '../../src/db/revisions.js';
import { createSpecChangeSchema } from '../../src/domain/specChange.js';
import { sampleSpec, testActor, testPolicy, waitForStatus } from '../support/jobs.js';
import { waitFor } from '../support/processes.js';
import { startSandboxStack, type SandboxStack } from '../support/stack.js';
import { uniqueQueue } from '../support/worker.js';

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
    // Dozens of Updates across switches on a 2-core CI machine under load: a minute, not 20 s, before
    // "try again" (what is tested is that none is lost, not how fast a loaded machine takes them).
    const commands = { ...stack.commands, historyBound: 40, updateWaitMs: 60_000 };
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

  it('runs a revision asked at a switch, and the next run holds the revised spec', { timeout: 180_000 }, async () => {
    // Dozens of Updates across switches on a 2-core CI machine under load: a minute, not 20 s, before
    // "try again" (what is tested is that none is lost, not how fast a loaded machine takes them).
    const commands = { ...stack.commands, historyBound: 40, updateWaitMs: 60_000 };
    const spec = sampleSpec({ name: 'can-revision', options: { requireApproval: false, ttlHours: 100 } });
    const job = await createJob(commands, spec, actor);
    await startJob(commands, job.id, spec, actor);
    await waitForStatus(stack.temp.db, job.id, ['succeeded']);
    const workflowId = `job-${job.id}`;
    await waitFor('a continued run', async () => (await runs(workflowId)).some((r) => r.status === 'CONTINUED_AS_NEW'), 30_000);

    // TTL Updates keep the runs switching while the revision is asked.
    const change = createSpecChangeSchema(testPolicy).parse({ instance: { volumeSizeGb: 30 } });
    const [revised] = await Promise.all([
      requestRevision(commands, job.id, change, actor),
      ...Array.from({ length: 8 }, (_, i) => setJobTtl(commands, job.id, 60 + i, actor)),
    ]);
    const deadline = Date.now() + 90_000;
    let state = '';
    while (Date.now() < deadline) {
      state = (await getRevision(stack.temp.db, job.id, revised.revision.number))?.state ?? '';
      if (['succeeded', 'failed', 'cancelled'].includes(state)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(state).toBe('succeeded');

    // More switches: the run now current refuses to shrink what the revision grew, so it holds the revised spec.
    const before = (await runs(workflowId)).length;
    for (let i = 0; i < 12; i++) await setJobTtl(commands, job.id, 70 + i, actor);
    await waitFor('another run', async () => (await runs(workflowId)).length > before, 30_000);
    const row = (await getJob(stack.temp.db, job.id))!;
    const stored = JSON.parse(row.spec_json);
    expect(stored.instance.volumeSizeGb).toBe(30);
    const shrink = stack.client.workflow.getHandle(workflowId).executeUpdate(reviseUpdate, {
      args: [
        {
          revisionId: 'shrink-after-switch',
          kind: 'change',
          by: 'cli',
          byId: null,
          changeable: { instance: { ...stored.instance, volumeSizeGb: 25 }, containers: stored.containers },
          differences: [],
        },
      ],
    });
    await expect(shrink.catch((e) => Promise.reject(e.cause))).rejects.toThrow('may only grow (now 30 GiB)');
    expect(row.status).toBe('succeeded');
    await signalJob(commands, job.id, 'destroy', actor);
    expect((await waitForStatus(stack.temp.db, job.id, ['destroyed', 'failed'])).status).toBe('destroyed');
  });
  it('keeps a destroy that arrives while the run waits for an Update to finish before switching', {
    timeout: 180_000,
  }, async () => {
    // The TTL Updates' writes (local activities) are held at a gate the test opens, so the
    // order is certain: Update A done (the run decides to switch), Update B still writing,
    // then the destroy, then B done. The switch must not take the destroy's place.
    let armed = false;
    const held: Array<{ release: () => void }> = [];
    const worker = await stack.startWorker({
      taskQueue: uniqueQueue('can-gate'),
      wrapActivities: (real) => ({
        ...real,
        async recordJob(input: Parameters<typeof real.recordJob>[0]) {
          if (armed && input.status === undefined && input.destroyAt !== undefined) {
            await new Promise<void>((release) => held.push({ release }));
          }
          return real.recordJob(input);
        },
      }),
    });
    const commands = { ...stack.commandsFor(worker.taskQueue), historyBound: 12 };
    const spec = sampleSpec({ name: 'can-destroy', options: { requireApproval: false, ttlHours: 100 } });
    const job = await createJob(commands, spec, actor);
    await startJob(commands, job.id, spec, actor);
    await waitForStatus(stack.temp.db, job.id, ['succeeded']);
    const workflowId = `job-${job.id}`;
    await waitFor('a continued run', async () => (await runs(workflowId)).some((r) => r.status === 'CONTINUED_AS_NEW'), 30_000);
    const handle = stack.client.workflow.getHandle(workflowId);
    const runsBefore = (await runs(workflowId)).length;

    armed = true;
    const updateA = handle.executeUpdate(setTtlUpdate, { args: [{ ttlHours: 50, by: 'can-tester' }] });
    await waitFor('update A writing', async () => held.length === 1, 30_000);
    const updateB = handle.executeUpdate(setTtlUpdate, { args: [{ ttlHours: 60, by: 'can-tester' }] });
    await waitFor('update B writing', async () => held.length === 2, 30_000);
    held[0]!.release();
    await updateA;
    await handle.signal(destroySignal, { by: 'can-tester' });
    // The destroy is in the run's history and a workflow task has delivered it: only then B ends.
    await waitFor(
      'the destroy delivered',
      async () => {
        const events = (await handle.fetchHistory()).events ?? [];
        const signaled = events.findIndex((e) => e.workflowExecutionSignaledEventAttributes);
        return signaled >= 0 && events.slice(signaled).some((e) => e.workflowTaskStartedEventAttributes);
      },
      30_000,
      200,
    );
    held[1]!.release();
    await updateB;
    armed = false;

    expect((await waitForStatus(stack.temp.db, job.id, ['destroyed', 'failed'], 60_000)).status).toBe('destroyed');
    expect(await handle.result()).toEqual({ status: 'destroyed' });
    // The run that took the destroy is the one that destroyed: no switch in between.
    expect((await runs(workflowId)).length).toBe(runsBefore);
    // `UPDATE_HISTORIES=1 npx vitest run tests/integration/continueAsNew.test.ts -t "keeps a destroy"`
    // records that run (the destroy-before-switch path) for the replay test.
    if (process.env.UPDATE_HISTORIES) {
      fs.writeFileSync(
        path.join(HISTORIES_DIR, 'provision-carried-destroy-before-switch-v4.binpb'),
        encodeHistory(await handle.fetchHistory()),
      );
    }
    await worker.stop();
  });
});
