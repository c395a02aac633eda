import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { createJob, signalJob, startJob, type CommandDeps } from '../../src/api/jobCommands.js';
import { listSteps } from '../../src/db/jobs.js';
import { listLogLines } from '../../src/db/logs.js';
import type { JobSpec } from '../../src/domain/jobSpec.js';
import { progressQuery } from '../../src/workflows/messages.js';
import { HAPPY_PATH_HISTORY, encodeHistory } from '../support/histories.js';
import { startSandboxStack, type SandboxStack } from '../support/stack.js';
import { sampleSpec, waitForStatus, waitForStep, testActor, APPROVER } from '../support/jobs.js';
import { waitFor } from '../support/processes.js';

/**
 * The provisioning workflow end to end on real parts: the Temporal dev
 * server, a worker with the real activities, real terraform on the sandbox
 * module, a real SQLite file and moto for STS and the pre-flight calls.
 */

const actor = testActor('tester', { ip: '127.0.0.1' });
let stack: SandboxStack;
let temp: SandboxStack['temp'];
let client: Client;
let commands: CommandDeps;
let jobsWorkdir: string;
let knobs: SandboxStack['knobs'];

beforeAll(async () => {
  stack = await startSandboxStack();
  ({ temp, client, commands, jobsWorkdir, knobs } = stack);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

async function launch(spec: JobSpec, deps: CommandDeps = commands) {
  const job = await createJob(deps, spec, actor);
  await startJob(deps, job.id, spec, actor);
  return job.id;
}

function stateList(jobId: string): string[] {
  const dir = path.join(jobsWorkdir, jobId);
  if (!fs.existsSync(path.join(dir, 'terraform.tfstate'))) return [];
  return execFileSync('terraform', ['state', 'list'], { cwd: dir, encoding: 'utf8' }).split('\n').filter(Boolean);
}

function terraformProcessesIn(dir: string): string[] {
  try {
    return execFileSync('pgrep', ['-af', 'terraform'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes(dir));
  } catch {
    return [];
  }
}

describe('provisionJob workflow', () => {
  it('provisions, records every step, stays open, then destroys on request', async () => {
    const spec = sampleSpec();
    const jobId = await launch(spec);
    const done = await waitForStatus(temp.db, jobId, ['succeeded', 'failed']);
    expect(done.error).toBeNull();
    expect(done.status).toBe('succeeded');
    expect(done.account_id).toMatch(/^\d{12}$/);

    const outputs = JSON.parse(done.outputs_json!);
    expect(outputs.instance_id).toMatch(/^i-[0-9a-f]{17}$/);
    expect(Object.keys(outputs).sort()).toEqual(
      ['ami_id', 'instance_id', 'private_ip', 'public_dns', 'public_ip', 'security_group_id'].sort(),
    );
    const plan = JSON.parse(done.plan_summary_json!);
    expect(plan.add).toBeGreaterThan(0);

    // The success email is the last step, right after the status turns succeeded.
    await waitForStep(temp.db, jobId, 'notify', 'succeeded');
    const steps = await listSteps(temp.db, jobId);
    const order = steps.map((s) => s.step);
    for (const s of ['verify', 'preflight', 'render', 'init', 'plan', 'apply', 'output', 'ready', 'notify']) {
      expect(order, `step ${s}`).toContain(s);
    }
    expect(steps.every((s) => s.state === 'succeeded')).toBe(true);
    expect(order.indexOf('plan')).toBeLessThan(order.indexOf('apply'));

    const logs = await listLogLines(temp.db, jobId, { afterSeq: 0, limit: 10_000 });
    expect(logs.length).toBeGreaterThan(10);
    expect(logs.map((l) => l.seq)).toEqual(logs.map((_, i) => i + 1));
    expect(logs.some((l) => l.step === 'apply' && /Apply complete/.test(l.line))).toBe(true);

    const mail = await temp.db.selectFrom('notifications').selectAll().where('job_id', '=', jobId).execute();
    expect(mail.map((m) => m.event)).toEqual(['succeeded']);

    const handle = client.workflow.getHandle(`job-${jobId}`);
    const progress = await handle.query(progressQuery);
    expect(progress.status).toBe('succeeded');
    expect((await handle.describe()).status.name).toBe('RUNNING');
    expect(stateList(jobId).length).toBeGreaterThan(0);

    await signalJob(commands, jobId, 'destroy', actor);
    const destroyed = await waitForStatus(temp.db, jobId, ['destroyed', 'failed']);
    expect(destroyed.status).toBe('destroyed');
    expect(await handle.result()).toEqual({ status: 'destroyed' });
    expect(stateList(jobId)).toEqual([]);
    const audit = await temp.db.selectFrom('audit_log').select('action').where('job_id', '=', jobId).execute();
    expect(audit.map((a) => a.action)).toEqual(['create', 'start', 'destroy']);

    // `UPDATE_HISTORIES=1 npx vitest run tests/integration/provisionJob.test.ts -t provisions` re-records
    // the history the replay test checks the workflow code against.
    if (process.env.UPDATE_HISTORIES) {
      fs.mkdirSync(path.dirname(HAPPY_PATH_HISTORY), { recursive: true });
      fs.writeFileSync(HAPPY_PATH_HISTORY, encodeHistory(await handle.fetchHistory()));
    }
  });

  it('refuses to start a job twice', async () => {
    const spec = sampleSpec();
    const job = await createJob(commands, spec, actor);
    await startJob(commands, job.id, spec, actor);
    await expect(startJob(commands, job.id, spec, actor)).rejects.toThrow(/already been started/);
    await waitForStatus(temp.db, job.id, ['succeeded']);
    await signalJob(commands, job.id, 'destroy', actor);
    await waitForStatus(temp.db, job.id, ['destroyed']);
  });

  it('cancels mid-apply: one SIGINT, clean-up destroys what was made, no terraform left', async () => {
    const spec = sampleSpec();
    knobs.set(spec.name, { sandbox_sleep_seconds: { apply: 60 }, sandbox_resource_count: 2 });
    const jobId = await launch(spec);
    await waitForStep(temp.db, jobId, 'apply', 'running');
    // Let terraform create the first resources and reach the sleeping provisioner.
    await waitForLog(jobId, /sandbox: creating instance/);
    const t0 = Date.now();
    await signalJob(commands, jobId, 'cancel', actor, { reason: 'changed my mind' });
    const job = await waitForStatus(temp.db, jobId, ['cancelled', 'failed']);
    expect(job.status, job.error ?? '').toBe('cancelled');
    expect(Date.now() - t0).toBeLessThan(45_000);

    const steps = await listSteps(temp.db, jobId);
    expect(steps.find((s) => s.step === 'apply')?.state, JSON.stringify(steps)).toBe('cancelled');
    expect(steps.find((s) => s.step === 'destroy')?.state).toBe('succeeded');
    const logs = await listLogLines(temp.db, jobId, { afterSeq: 0, limit: 10_000 });
    const interrupts = logs.filter((l) => l.step === 'apply' && /Interrupt received/.test(l.line));
    expect(interrupts).toHaveLength(1);
    expect(stateList(jobId)).toEqual([]);
    expect(terraformProcessesIn(path.join(jobsWorkdir, jobId))).toEqual([]);
    // The email goes out right after the status changes.
    await waitFor('cancelled email', async () =>
      (await temp.db.selectFrom('notifications').select('event').where('job_id', '=', jobId).execute()).some(
        (m) => m.event === 'cancelled',
      ),
    );
  });

  it('fails at plan with a readable error and shows where it stopped', async () => {
    const spec = sampleSpec();
    knobs.set(spec.name, { sandbox_fail_step: 'plan' });
    const jobId = await launch(spec);
    const job = await waitForStatus(temp.db, jobId, ['failed', 'succeeded']);
    expect(job.status).toBe('failed');
    expect(job.error).toMatch(/sandbox/i);
    expect(job.error).toMatch(/\(nothing was created\)$/);
    const steps = await listSteps(temp.db, jobId);
    expect(steps.find((s) => s.step === 'plan')?.state).toBe('failed');
    expect(steps.some((s) => s.step === 'apply')).toBe(false);
    expect(job.has_resources).toBe(0);
    // Nothing to destroy: the workflow ends, failed.
    await expect(client.workflow.getHandle(`job-${jobId}`).result()).rejects.toThrow();
  });

  it('fails at apply keeping what it made destroyable, then destroys on request', async () => {
    const spec = sampleSpec();
    knobs.set(spec.name, { sandbox_fail_step: 'apply', sandbox_resource_count: 1 });
    const jobId = await launch(spec);
    const job = await waitForStatus(temp.db, jobId, ['failed', 'succeeded']);
    expect(job.status).toBe('failed');
    expect(job.error).toMatch(/failing at apply as asked/);
    // A Terraform error in the job gets its small budget of attempts, and the job says what is left.
    expect(job.error).toMatch(/\(gave up after 4 attempts\) \(resources may remain: destroy the job to remove them\)$/);
    expect((await listSteps(temp.db, jobId)).filter((s) => s.step === 'apply').map((s) => s.state)).toEqual([
      'failed',
      'failed',
      'failed',
      'failed',
    ]);
    expect(job.has_resources).toBe(1);
    expect(stateList(jobId).length).toBeGreaterThan(0);
    const handle = client.workflow.getHandle(`job-${jobId}`);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    await signalJob(commands, jobId, 'destroy', actor);
    expect((await waitForStatus(temp.db, jobId, ['destroyed'])).has_resources).toBe(0);
    expect(stateList(jobId)).toEqual([]);
  });

  it('skips the destroy when cancelled before anything was created', async () => {
    const spec = sampleSpec({ options: { requireApproval: true } });
    const jobId = await launch(spec);
    await waitForStatus(temp.db, jobId, ['awaiting_approval']);
    await signalJob(commands, jobId, 'cancel', actor);
    const job = await waitForStatus(temp.db, jobId, ['cancelled', 'failed']);
    expect(job.status).toBe('cancelled');
    const steps = await listSteps(temp.db, jobId);
    expect(steps.some((s) => s.step === 'destroy' || s.step === 'apply')).toBe(false);
  });

  it('waits for approval after plan and continues when approved', async () => {
    const spec = sampleSpec({ options: { requireApproval: true } });
    const jobId = await launch(spec);
    await waitForStatus(temp.db, jobId, ['awaiting_approval']);
    expect((await listSteps(temp.db, jobId)).some((s) => s.step === 'apply')).toBe(false);
    await signalJob(commands, jobId, 'approve', APPROVER, { comment: 'looks right' });
    const job = await waitForStatus(temp.db, jobId, ['succeeded', 'failed']);
    expect(job.status).toBe('succeeded');
    const approval = (await listSteps(temp.db, jobId)).find((s) => s.step === 'approval');
    expect(approval?.state).toBe('succeeded');
    expect(approval?.detail).toMatch(/approved by approver: looks right/);
    await signalJob(commands, jobId, 'destroy', actor);
    await waitForStatus(temp.db, jobId, ['destroyed']);
  });

  it('ends rejected without apply when rejected', async () => {
    const spec = sampleSpec({ options: { requireApproval: true } });
    const jobId = await launch(spec);
    await waitForStatus(temp.db, jobId, ['awaiting_approval']);
    await signalJob(commands, jobId, 'reject', APPROVER, { reason: 'too big' });
    const job = await waitForStatus(temp.db, jobId, ['rejected']);
    expect(job.error).toMatch(/rejected by approver: too big/);
    expect((await listSteps(temp.db, jobId)).some((s) => s.step === 'apply')).toBe(false);
    expect(stateList(jobId)).toEqual([]);
  });

  it('ends rejected when nobody decides before the deadline', async () => {
    const spec = sampleSpec({ options: { requireApproval: true } });
    const jobId = await launch(spec, { ...commands, approvalTimeoutMs: 1_500 });
    const job = await waitForStatus(temp.db, jobId, ['rejected', 'succeeded']);
    expect(job.status).toBe('rejected');
    expect(job.error).toMatch(/no decision before the approval deadline/);
  });

  it('destroys the environment when its TTL runs out', async () => {
    const spec = sampleSpec({ options: { requireApproval: false, ttlHours: 20 / 3600 } });
    const jobId = await launch(spec);
    const ok = await waitForStatus(temp.db, jobId, ['succeeded', 'failed']);
    expect(ok.status).toBe('succeeded');
    expect(ok.destroy_at).not.toBeNull();
    const job = await waitForStatus(temp.db, jobId, ['destroyed', 'failed'], 60_000);
    expect(job.status).toBe('destroyed');
    expect(stateList(jobId)).toEqual([]);
  });
});

async function waitForLog(jobId: string, re: RegExp) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const logs = await listLogLines(temp.db, jobId, { afterSeq: 0, limit: 10_000 });
    if (logs.some((l) => re.test(l.line))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no log line matching ${re}`);
}
