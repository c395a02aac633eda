import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJob, signalJob, startJob, type CommandDeps } from '../../src/api/jobCommands.js';
import { getJob, listSteps, startStep, transitionJob, updateJob } from '../../src/db/jobs.js';
import { listAudit } from '../../src/db/audit.js';
import { listJobNotifications } from '../../src/db/notifications.js';
import type { JobSpec } from '../../src/domain/jobSpec.js';
import { reconcileOnce, startReconciler, type ReconcilerDeps } from '../../src/reconciler/reconciler.js';
import { startSandboxStack, type SandboxStack } from '../support/stack.js';
import { sampleSpec, waitForStatus, waitForStep, testActor, APPROVER } from '../support/jobs.js';
import { waitFor } from '../support/processes.js';

/**
 * The reconciler against real workflows on the shared dev server: jobs whose
 * workflow closed without recording it are corrected once, with the reason
 * the workflow's own ending gives; jobs whose workflow runs are left alone.
 */

const actor = testActor('tester', { ip: '127.0.0.1' });
let stack: SandboxStack;
let deps: ReconcilerDeps;

beforeAll(async () => {
  stack = await startSandboxStack();
  deps = { db: stack.temp.db, client: stack.client, notifier: stack.notifier };
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

async function launch(spec: JobSpec, commands: CommandDeps = stack.commands) {
  const job = await createJob(commands, spec, actor);
  await startJob(commands, job.id, spec, actor);
  return job.id;
}

describe('reconcileOnce', () => {
  it('leaves a job alone while its workflow runs', async () => {
    const spec = sampleSpec({ options: { requireApproval: true } });
    const id = await launch(spec);
    await waitForStatus(stack.temp.db, id, ['awaiting_approval']);
    const result = await reconcileOnce(deps);
    expect(result.corrected.filter((c) => c.jobId === id)).toEqual([]);
    expect((await getJob(stack.temp.db, id))?.status).toBe('awaiting_approval');
    await signalJob(stack.commands, id, 'reject', APPROVER, { reason: 'not now' });
    await waitForStatus(stack.temp.db, id, ['rejected']);
  });

  it('records a terminated workflow as failed, with the reason and who ended it, once', async () => {
    const spec = sampleSpec();
    stack.knobs.set(spec.name, { sandbox_sleep_seconds: { apply: 30 } });
    const id = await launch(spec);
    await waitForStep(stack.temp.db, id, 'apply', 'running');
    await stack.client.workflow.getHandle(`job-${id}`).terminate('found stuck by the on-call');

    // Two web processes reconciling at once: one records, audits and emails.
    const [a, b] = await Promise.all([reconcileOnce(deps), reconcileOnce(deps)]);
    const corrected = [...a.corrected, ...b.corrected].filter((c) => c.jobId === id);
    expect(corrected).toHaveLength(1);
    const job = (await getJob(stack.temp.db, id))!;
    expect(job.status).toBe('failed');
    expect(job.error).toMatch(
      /^the workflow was terminated from Temporal by \S+ \(reason: "found stuck by the on-call"\) during step apply; resources may remain/,
    );
    expect(job.finished_at).not.toBeNull();
    const audit = (await listAudit(stack.temp.db, { jobId: id })).filter((e) => e.action === 'reconcile');
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor: 'system:reconciler' });
    expect(audit[0].detail).toMatch(/^running → failed: the workflow was terminated/);
    // The attempt that was running when the workflow closed no longer says so.
    await waitFor('apply attempts closed', async () => (await listSteps(stack.temp.db, id)).every((s) => s.state !== 'running'));
    const mails = (await listJobNotifications(stack.temp.db, id)).filter((m) => m.event === 'failed');
    expect(mails.map((m) => m.status)).toEqual(['stored']);
    expect(mails[0].text).toContain('found stuck by the on-call');
    // A second pass finds nothing to do.
    expect((await reconcileOnce(deps)).corrected.filter((c) => c.jobId === id)).toEqual([]);
  });

  it('fails a job shown running whose workflow does not exist, after a grace period', async () => {
    const spec = sampleSpec();
    const job = await createJob(stack.commands, spec, actor);
    // The web crashed between recording the start and starting the workflow.
    await transitionJob(stack.temp.db, job.id, ['draft'], {
      status: 'running',
      workflow_id: `job-${job.id}`,
      started_at: new Date().toISOString(),
    });
    await reconcileOnce(deps);
    expect((await getJob(stack.temp.db, job.id))?.status).toBe('running');
    await updateJob(stack.temp.db, job.id, { started_at: new Date(Date.now() - 120_000).toISOString() });
    await startStep(stack.temp.db, job.id, 'verify', 1);
    const result = await reconcileOnce(deps);
    expect(result.corrected.find((c) => c.jobId === job.id)).toMatchObject({ from: 'running', to: 'failed' });
    const after = (await getJob(stack.temp.db, job.id))!;
    expect(after.error).toBe(
      "the job's workflow does not exist in Temporal (it never started, or was deleted); nothing was created",
    );
    expect((await listSteps(stack.temp.db, job.id))[0]).toMatchObject({ state: 'interrupted' });
  });

  it('takes the status a completed workflow returned when the database missed it', async () => {
    const spec = sampleSpec({ options: { requireApproval: true } });
    const id = await launch(spec);
    await waitForStatus(stack.temp.db, id, ['awaiting_approval']);
    await signalJob(stack.commands, id, 'reject', APPROVER, { reason: 'too big' });
    await stack.client.workflow.getHandle(`job-${id}`).result();
    // As if the workflow's last status write had been lost.
    await updateJob(stack.temp.db, id, { status: 'awaiting_approval' });
    const result = await reconcileOnce(deps);
    expect(result.corrected.find((c) => c.jobId === id)).toMatchObject({ from: 'awaiting_approval', to: 'rejected' });
    expect((await getJob(stack.temp.db, id))?.status).toBe('rejected');
  });

  it('fails a succeeded job whose workflow was terminated, and a destroy still removes its resources', async () => {
    const id = await launch(sampleSpec());
    await waitForStatus(stack.temp.db, id, ['succeeded']);
    await stack.client.workflow.getHandle(`job-${id}`).terminate('expired by hand');
    // The listing of running workflows lags a moment behind a terminate; the reconciler's next pass sees it.
    await waitFor(
      'a pass that sees the terminated workflow',
      async () => {
        await reconcileOnce(deps);
        return (await getJob(stack.temp.db, id))?.status !== 'succeeded';
      },
      20_000,
    );
    const job = (await getJob(stack.temp.db, id))!;
    expect(job.status).toBe('failed');
    expect(job.error).toMatch(/terminated from Temporal by \S+ \(reason: "expired by hand"\); the environment still exists/);
    expect(job.has_resources).toBe(1);

    const destroying = await signalJob(stack.commands, id, 'destroy', actor);
    expect(destroying.status).toBe('destroying');
    const done = await waitForStatus(stack.temp.db, id, ['destroyed', 'failed']);
    expect(done.status, done.error ?? '').toBe('destroyed');
    expect(done.has_resources).toBe(0);
    const destroys = (await listSteps(stack.temp.db, id)).filter((s) => s.step === 'destroy');
    expect(destroys.map((s) => s.state)).toEqual(['succeeded']);
    expect((await reconcileOnce(deps)).corrected.filter((c) => c.jobId === id)).toEqual([]);
  });
});

describe('a workflow that cannot record its own failure', () => {
  it('fails in Temporal instead of hanging, and the reconciler records it', async () => {
    const db = stack.temp.db;
    // The database refuses this job's final status for a while (a broken disk, a bad migration).
    await sql`create trigger refuse_failed before update of status on jobs
              when new.status = 'failed' and new.name like 'refused-%'
              begin select raise(abort, 'the disk refuses this write'); end`.execute(db);
    try {
      const spec = sampleSpec({ name: `refused-${Date.now()}` });
      stack.knobs.set(spec.name, { sandbox_fail_step: 'plan' });
      const id = await launch(spec, { ...stack.commands, infraRetryBudgetMs: 8_000 });
      const handle = stack.client.workflow.getHandle(`job-${id}`);
      const err = await handle.result().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(String((err as { cause?: { message?: string } })?.cause?.message)).toMatch(
        /the workflow stopped on an unexpected error/,
      );
      expect((await getJob(db, id))?.status).toBe('running');
      await sql`drop trigger refuse_failed`.execute(db);
      // The reconciler skips what Temporal's listing still shows running (it lags a closed workflow by a
      // moment; the next pass takes it): its one pass here comes once the listing has caught up.
      await waitFor(
        'the listing to show the workflow closed',
        async () => {
          for await (const wf of stack.client.workflow.list({ query: `WorkflowId = 'job-${id}'` })) {
            if (wf.status.name === 'RUNNING') return false;
          }
          return true;
        },
        20_000,
        200,
      );
      const reconciler = startReconciler({ ...deps, intervalMs: 60_000 });
      await reconciler.runNow();
      await reconciler.stop();
      const job = (await getJob(db, id))!;
      expect(job.status).toBe('failed');
      expect(job.error).toMatch(
        /^the workflow failed: the workflow stopped on an unexpected error: .*during step plan; nothing was created$/,
      );
    } finally {
      await sql`drop trigger if exists refuse_failed`.execute(db);
    }
  });
});
