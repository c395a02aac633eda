import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogSink } from '../../src/activities/logSink.js';
import {
  terraformApply,
  terraformDestroy,
  terraformInit,
  terraformOutput,
  terraformPlan,
  type TerraformContext,
} from '../../src/activities/terraformCommands.js';
import {
  TerraformCancelled,
  TerraformConfigError,
  TerraformExitError,
  TerraformSpawnError,
} from '../../src/activities/terraformErrors.js';
import { runTerraform } from '../../src/activities/terraformProcess.js';
import { stateHasResources } from '../../src/activities/stateFile.js';
import { InvalidJobIdError, jobWorkspaceDir, prepareWorkspace } from '../../src/activities/workspace.js';
import type { Db } from '../../src/db/database.js';
import { appendLogLines, countLogLines, lastLogLines, listLogLines, maxLogSeq } from '../../src/db/logs.js';
import { createTempDb, tempDir } from '../support/tempDb.js';

const SANDBOX = path.resolve('tests/fixtures/sandbox-module');
const TERRAFORM = 'terraform';

// AWS's documented example credentials: realistic shapes, never valid.
const KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const SESSION_TOKEN = 'IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDsandboxsessiontoken==';
const CREDENTIALS = { AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET_KEY, AWS_SESSION_TOKEN: SESSION_TOKEN };

let db: Db;
let cleanupDb: () => Promise<void>;
let jobsWorkdir: string;
let jobCounter = 0;

beforeAll(async () => {
  // Each test inits its own workspace; a shared plugin cache is neither needed nor safe.
  delete process.env.TF_PLUGIN_CACHE_DIR;
  ({ db, cleanup: cleanupDb } = await createTempDb());
  jobsWorkdir = tempDir('prov-jobs-');
});

afterAll(async () => {
  await cleanupDb?.();
  fs.rmSync(jobsWorkdir, { recursive: true, force: true });
});

async function newJob(tfvars: Record<string, unknown> = {}) {
  const jobId = `job-${process.pid}-${++jobCounter}`;
  const now = new Date().toISOString();
  await db
    .insertInto('jobs')
    .values({
      id: jobId,
      name: `runner test ${jobCounter}`,
      status: 'running',
      step: null,
      requester_email: 'alice@example.com',
      region: 'us-east-1',
      instance_type: 't3.micro',
      auth_method: 'access_keys',
      spec_json: '{}',
      account_id: null,
      assumed_role_arn: null,
      plan_summary_json: null,
      outputs_json: null,
      error: null,
      workflow_id: null,
      created_by: null,
      created_at: now,
      started_at: now,
      finished_at: null,
      updated_at: now,
    })
    .execute();
  const workspaceDir = await prepareWorkspace({
    jobsWorkdir,
    jobId,
    moduleDir: SANDBOX,
    tfvars: { job_id: jobId, job_name: 'runner-test', ...tfvars },
  });
  return { jobId, workspaceDir };
}

function stepContext(
  job: { jobId: string; workspaceDir: string },
  step: string,
  extra: Omit<Partial<TerraformContext>, 'sink'> & { secrets?: string[]; attempt?: number } = {},
): TerraformContext & { sink: LogSink } {
  const { secrets, attempt, ...ctx } = extra;
  const sink = new LogSink({ db, jobId: job.jobId, step, attempt: attempt ?? 1, secrets });
  return { binary: TERRAFORM, workspaceDir: job.workspaceDir, env: {}, sink, graceMs: 5_000, ...ctx };
}

async function inStep<T>(ctx: TerraformContext & { sink: LogSink }, run: (ctx: TerraformContext) => Promise<T>) {
  try {
    return await run(ctx);
  } finally {
    await ctx.sink.close();
  }
}

async function allLines(jobId: string) {
  return listLogLines(db, jobId, { afterSeq: 0, limit: 1_000_000 });
}

async function waitForLogLine(jobId: string, needle: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const rows = await lastLogLines(db, jobId, 50);
    if (rows.some((r) => r.line.includes(needle))) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no log line containing ${JSON.stringify(needle)} within ${timeoutMs} ms`);
}

/** Live (non-zombie) processes whose process group is `pgid` or whose cwd is inside `dir`. */
function liveProcesses(opts: { pgid?: number; dir?: string }): number[] {
  const found: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z' || fields[0] === 'X') continue;
      const inGroup = opts.pgid !== undefined && Number(fields[2]) === opts.pgid;
      let inDir = false;
      if (opts.dir) {
        const cwd = fs.readlinkSync(`/proc/${name}/cwd`);
        inDir = cwd === opts.dir || cwd.startsWith(`${opts.dir}/`);
      }
      if (inGroup || inDir) found.push(Number(name));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

async function expectNoProcessesLeft(opts: { pgid?: number; dir?: string }) {
  // The kernel may take a moment to tear a killed group down.
  const deadline = Date.now() + 2_000;
  while (liveProcesses(opts).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(liveProcesses(opts)).toEqual([]);
}

describe('terraform runner on the sandbox module', () => {
  it('runs init, plan, apply, output and destroy, logging every line in order', async () => {
    // Every variable of the AWS module, shaped as the service renders them.
    const job = await newJob({
      job_name: 'demo-web',
      requester: 'alice@example.com',
      created_by: 'admin',
      region: 'eu-west-1',
      instance_type: 't3.micro',
      volume_size_gb: 20,
      ami_id: '',
      vpc_id: 'vpc-0abc1234',
      subnet_id: 'subnet-0abc1234',
      security_group_ids: [],
      ingress_cidr: '0.0.0.0/0',
      ssh_cidr: '',
      published_ports: [{ port: 80, protocol: 'tcp', container: 'webapp' }],
      metadata_hop_limit: 1,
      user_data: '#!/bin/bash\necho hi\n',
      user_data_base64: '',
      sandbox_resource_count: 1,
      sandbox_log_lines: 5,
    });
    expect(fs.statSync(job.workspaceDir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(job.workspaceDir, 'terraform.tfvars.json')).mode & 0o777).toBe(0o600);

    await inStep(stepContext(job, 'init'), terraformInit);
    const plan = await inStep(stepContext(job, 'plan'), terraformPlan);
    expect(plan).toMatchObject({ add: 3, change: 0, destroy: 0 });
    expect(plan.resources.map((r) => r.address).sort()).toEqual([
      'terraform_data.extra[0]',
      'terraform_data.instance',
      'terraform_data.security_group',
    ]);
    expect(plan.resources.every((r) => r.actions.join() === 'create')).toBe(true);

    expect(await inStep(stepContext(job, 'apply'), terraformApply)).toEqual({ replanned: false });
    const outputs = await inStep(stepContext(job, 'output'), terraformOutput);
    expect(Object.keys(outputs).sort()).toEqual([
      'ami_id',
      'instance_id',
      'private_ip',
      'public_dns',
      'public_ip',
      'security_group_id',
    ]);
    expect(outputs.instance_id).toMatch(/^i-[0-9a-f]{17}$/);
    expect(outputs.security_group_id).toMatch(/^sg-[0-9a-f]{17}$/);
    expect(outputs.ami_id).toMatch(/^ami-[0-9a-f]{17}$/);
    expect(outputs.public_ip).toMatch(/^203\.0\.113\.\d{1,3}$/);
    expect(outputs.private_ip).toMatch(/^10\.0\.\d{1,3}\.\d{1,3}$/);
    expect(outputs.public_dns).toBe(`ec2-${outputs.public_ip!.replaceAll('.', '-')}.eu-west-1.compute.amazonaws.com`);

    expect(stateHasResources(job.workspaceDir)).toBe(true);
    await inStep(stepContext(job, 'destroy'), terraformDestroy);
    expect(stateHasResources(job.workspaceDir)).toBe(false);

    const rows = await allLines(job.jobId);
    // seq is 1..n without gaps; each step's lines keep their order.
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
    expect([...new Set(rows.map((r) => r.step))]).toEqual(['init', 'plan', 'apply', 'output', 'destroy']);
    for (const step of ['init', 'plan', 'apply', 'destroy']) {
      const own = rows.filter((r) => r.step === step);
      expect(own.length, step).toBeGreaterThan(1);
      expect(own.map((r) => r.line_no)).toEqual([...own.map((r) => r.line_no)].sort((a, b) => a - b));
    }
    const text = rows.map((r) => r.line);
    const sandboxLines = text.filter((l) => /sandbox line \d+$/.test(l)).map((l) => Number(l.split(' ').at(-1)));
    expect(sandboxLines).toEqual([1, 2, 3, 4, 5]);
    expect(text).toContain('Apply complete! Resources: 3 added, 0 changed, 0 destroyed.');
    expect(text).toContain('Destroy complete! Resources: 3 destroyed.');
    expect(text.some((l) => l.includes('Plan: 3 to add, 0 to change, 0 to destroy.'))).toBe(true);
    // The plan JSON and the output JSON stay out of the log.
    expect(text.some((l) => l.includes('"resource_changes"') || l.includes('"format_version"'))).toBe(false);
    expect(text.some((l) => l.includes('"sensitive"'))).toBe(false);
    expect(text.some((l) => l.startsWith('$ terraform show -json'))).toBe(true);
    expect(rows.every((r) => r.attempt === 1 && !Number.isNaN(Date.parse(r.ts)))).toBe(true);
    expect(new Set(rows.map((r) => r.stream))).toEqual(new Set(['system', 'stdout']));
  });

  it('fails at plan with a non-retryable, readable TerraformConfigError', async () => {
    const job = await newJob({ sandbox_fail_step: 'plan' });
    await inStep(stepContext(job, 'init'), terraformInit);
    const err = await inStep(stepContext(job, 'plan'), terraformPlan).catch((e) => e);
    expect(err).toBeInstanceOf(TerraformConfigError);
    expect(err).toMatchObject({ type: 'TerraformConfigError', retryable: false, exitCode: 1, command: 'plan' });
    const [headline] = err.message.split('\n');
    expect(headline).toBe('terraform plan failed (exit code 1): Resource precondition failed');
    expect(err.message).toContain('The sandbox was asked to fail at plan');
    const stderr = (await allLines(job.jobId)).filter((r) => r.stream === 'stderr').map((r) => r.line);
    expect(stderr).toContain('Error: Resource precondition failed');
  });

  it('classifies a broken module as TerraformConfigError', async () => {
    const job = await newJob();
    fs.appendFileSync(
      path.join(job.workspaceDir, 'main.tf'),
      '\nresource "terraform_data" "broken" {\n  not_an_argument = 1\n}\n',
    );
    const err = await inStep(stepContext(job, 'init'), terraformInit)
      .then(() => inStep(stepContext(job, 'plan'), terraformPlan))
      .catch((e) => e);
    expect(err).toBeInstanceOf(TerraformConfigError);
    expect(err.message).toMatch(/Unsupported argument/);
  });

  it('fails at apply with a retryable TerraformExitError whose message keeps no secret', async () => {
    const job = await newJob({ sandbox_fail_step: 'apply', sandbox_echo_env: Object.keys(CREDENTIALS) });
    await inStep(stepContext(job, 'init'), terraformInit);
    await inStep(stepContext(job, 'plan'), terraformPlan);
    const err = await inStep(
      stepContext(job, 'apply', { env: CREDENTIALS, secrets: Object.values(CREDENTIALS) }),
      terraformApply,
    ).catch((e) => e);
    expect(err).toBeInstanceOf(TerraformExitError);
    expect(err).not.toBeInstanceOf(TerraformConfigError);
    expect(err).toMatchObject({ type: 'TerraformExitError', retryable: true, exitCode: 1 });
    expect(err.message).toMatch(/^terraform apply failed \(exit code 1\): local-exec provisioner error/);
    expect(err.message).toContain('failing at apply as asked');
    // Terraform repeats the provisioner's output, echoed credentials included, in its error text.
    expect(err.message).toContain('env AWS_SECRET_ACCESS_KEY=[REDACTED]');
    for (const secret of Object.values(CREDENTIALS)) expect(err.message).not.toContain(secret);
  });

  it('keeps secrets out of job_logs and the worker environment out of terraform', async () => {
    process.env.WORKER_ONLY_SECRET = 'worker-only-value-7f3a';
    try {
      const job = await newJob({
        sandbox_echo_env: [...Object.keys(CREDENTIALS), 'JOB_OPAQUE_SECRET', 'WORKER_ONLY_SECRET', 'TF_IN_AUTOMATION'],
      });
      const env = { ...CREDENTIALS, JOB_OPAQUE_SECRET: 'opaque-job-secret-93kd' };
      const secrets = Object.values(env);
      await inStep(stepContext(job, 'init', { env, secrets }), terraformInit);
      await inStep(stepContext(job, 'plan', { env, secrets }), terraformPlan);
      await inStep(stepContext(job, 'apply', { env, secrets }), terraformApply);

      const lines = (await allLines(job.jobId)).map((r) => r.line);
      const all = lines.join('\n');
      for (const secret of [...secrets, 'worker-only-value-7f3a']) expect(all).not.toContain(secret);
      // The values did reach terraform's child (and were hidden), the worker's own did not.
      const echoed = lines.filter((l) => l.includes('(local-exec): env ')).map((l) => l.split('(local-exec): ')[1]);
      expect(echoed).toEqual([
        'env AWS_ACCESS_KEY_ID=[REDACTED]',
        'env AWS_SECRET_ACCESS_KEY=[REDACTED]',
        'env AWS_SESSION_TOKEN=[REDACTED]',
        'env JOB_OPAQUE_SECRET=[REDACTED]',
        'env WORKER_ONLY_SECRET=',
        'env TF_IN_AUTOMATION=1',
      ]);
      // And straight from the table, case-sensitively, in case a reader ever skips the list query.
      for (const secret of secrets) {
        const hits = await db.selectFrom('job_logs').select('seq').where(sql<boolean>`instr(line, ${secret}) > 0`).execute();
        expect(hits, secret).toEqual([]);
      }
    } finally {
      delete process.env.WORKER_ONLY_SECRET;
    }
  });

  it('cancels a sleeping apply with exactly one SIGINT and leaves no process behind', async () => {
    const job = await newJob({ sandbox_sleep_seconds: { apply: 30 } });
    await inStep(stepContext(job, 'init'), terraformInit);
    await inStep(stepContext(job, 'plan'), terraformPlan);

    const abort = new AbortController();
    const pids: number[] = [];
    const graceMs = 5_000;
    const ctx = stepContext(job, 'apply', { signal: abort.signal, graceMs });
    const applying = runTerraform({
      binary: TERRAFORM,
      cwd: job.workspaceDir,
      args: ['apply', '-input=false', '-no-color', 'tfplan'],
      env: {},
      sink: ctx.sink,
      signal: abort.signal,
      graceMs,
      onSpawn: (pid) => pids.push(pid),
    }).finally(() => ctx.sink.close());
    const outcome = applying.catch((e) => e);

    await waitForLogLine(job.jobId, 'sandbox line 3');
    expect(liveProcesses({ dir: job.workspaceDir }).length).toBeGreaterThanOrEqual(2); // terraform and the sleep
    // Its own process group, so a Ctrl-C of the worker's terminal does not reach it too.
    const stat = fs.readFileSync(`/proc/${pids[0]}/stat`, 'utf8');
    const pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
    expect(pgid).toBe(pids[0]);
    expect(pgid).not.toBe(Number(fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[2]));
    const t0 = Date.now();
    abort.abort();
    const err = await outcome;
    const elapsed = Date.now() - t0;

    expect(err).toBeInstanceOf(TerraformCancelled);
    expect(err).toMatchObject({ type: 'TerraformCancelled', killed: false });
    expect(elapsed).toBeLessThan(graceMs);
    const lines = (await allLines(job.jobId)).map((r) => r.line);
    expect(lines.filter((l) => l.includes('Interrupt received')).length).toBe(1);
    expect(lines.some((l) => l.includes('Two interrupts received'))).toBe(false);
    expect(lines.some((l) => l.endsWith('(local-exec): sandbox: instance ready'))).toBe(false);
    await expectNoProcessesLeft({ pgid: pids[0], dir: job.workspaceDir });
    console.info(`[measure] cancel: terraform stopped ${elapsed} ms after the abort (grace ${graceMs} ms)`);

    // What was created before the cancel is in the state and can be destroyed.
    expect(stateHasResources(job.workspaceDir)).toBe(true);
    await inStep(stepContext(job, 'destroy'), terraformDestroy);
    expect(stateHasResources(job.workspaceDir)).toBe(false);
  });

  it('kills what a cancelled terraform leaves behind (a provisioner that ignores SIGINT)', async () => {
    const job = await newJob({ sandbox_sleep_seconds: { apply: 30 }, sandbox_trap_interrupt: true });
    await inStep(stepContext(job, 'init'), terraformInit);
    await inStep(stepContext(job, 'plan'), terraformPlan);
    const abort = new AbortController();
    const ctx = stepContext(job, 'apply', { signal: abort.signal, graceMs: 5_000 });
    const outcome = inStep(ctx, terraformApply).catch((e) => e);
    await waitForLogLine(job.jobId, 'sandbox line 3');
    abort.abort();
    expect(await outcome).toBeInstanceOf(TerraformCancelled);
    await expectNoProcessesLeft({ dir: job.workspaceDir });
  });

  it('sends one SIGINT, then SIGKILLs the group after the grace period', async () => {
    const job = await newJob();
    const abort = new AbortController();
    const pids: number[] = [];
    const ctx = stepContext(job, 'apply');
    // A stand-in that counts interrupts and never exits on its own.
    const script = `n=0; trap 'n=$((n+1)); echo "interrupt $n"' INT; echo started; while :; do sleep 0.05; done`;
    const outcome = runTerraform({
      binary: '/bin/sh',
      cwd: job.workspaceDir,
      args: ['-c', script],
      env: {},
      sink: ctx.sink,
      signal: abort.signal,
      graceMs: 700,
      onSpawn: (pid) => pids.push(pid),
    })
      .finally(() => ctx.sink.close())
      .catch((e) => e);
    await waitForLogLine(job.jobId, 'started');
    const t0 = Date.now();
    abort.abort();
    abort.abort();
    const err = await outcome;
    const elapsed = Date.now() - t0;
    expect(err).toBeInstanceOf(TerraformCancelled);
    expect(err.killed).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(650);
    expect(elapsed).toBeLessThan(3_000);
    const lines = (await allLines(job.jobId)).map((r) => r.line);
    expect(lines.filter((l) => l.startsWith('interrupt '))).toEqual(['interrupt 1']);
    await expectNoProcessesLeft({ pgid: pids[0] });
  });

  it('re-plans and applies when the saved plan is stale or missing', async () => {
    const job = await newJob();
    await inStep(stepContext(job, 'init'), terraformInit);
    expect(await inStep(stepContext(job, 'plan'), terraformPlan)).toMatchObject({ add: 2 });

    // Another operation changes the state after the plan was saved.
    const side = stepContext(job, 'apply', { attempt: 1 });
    await runTerraform({
      binary: TERRAFORM,
      cwd: job.workspaceDir,
      args: ['apply', '-auto-approve', '-input=false', '-no-color', '-var', 'sandbox_resource_count=1'],
      env: {},
      sink: side.sink,
      graceMs: 5_000,
    });
    await side.sink.close();

    const result = await inStep(stepContext(job, 'apply', { attempt: 2 }), terraformApply);
    expect(result.replanned).toBe(true);
    // The fresh plan brings the state back to the job's own variables.
    expect(result.plan).toMatchObject({ add: 0, change: 0, destroy: 1 });
    expect(result.plan?.resources).toEqual([{ address: 'terraform_data.extra[0]', actions: ['delete'] }]);
    const attempt2 = (await allLines(job.jobId)).filter((r) => r.step === 'apply' && r.attempt === 2).map((r) => r.line);
    expect(attempt2).toContain('Error: Saved plan is stale');
    expect(attempt2.some((l) => l.startsWith('Apply complete! Resources: 0 added, 0 changed, 1 destroyed.'))).toBe(true);

    fs.rmSync(path.join(job.workspaceDir, 'tfplan'));
    const again = await inStep(stepContext(job, 'apply', { attempt: 3 }), terraformApply);
    expect(again).toMatchObject({ replanned: true, plan: { add: 0, change: 0, destroy: 0 } });
  });

  it('stores every line of a chatty apply exactly once while heartbeats keep coming', async () => {
    const lineCount = 20_000;
    const job = await newJob({ sandbox_log_lines: lineCount });
    await inStep(stepContext(job, 'init'), terraformInit);
    await inStep(stepContext(job, 'plan'), terraformPlan);

    const beats: number[] = [];
    const ctx = stepContext(job, 'apply', { heartbeatMs: 100, onHeartbeat: () => beats.push(Date.now()) });
    const t0 = Date.now();
    await inStep(ctx, terraformApply);
    const elapsed = Date.now() - t0;

    const rows = (await allLines(job.jobId)).filter((r) => r.step === 'apply');
    const numbers = rows
      .map((r) => /\(local-exec\): sandbox line (\d+)$/.exec(r.line)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number);
    expect(numbers.length).toBe(lineCount);
    expect(numbers).toEqual(Array.from({ length: lineCount }, (_, i) => i + 1));
    expect(await countLogLines(db, job.jobId)).toBe(await maxLogSeq(db, job.jobId));

    const gaps = [t0, ...beats].slice(1).map((b, i) => b - [t0, ...beats][i]);
    const maxGap = Math.max(...gaps);
    expect(beats.length).toBeGreaterThan(elapsed / 100 / 3);
    expect(maxGap).toBeLessThan(1_000);
    console.info(
      `[measure] chatty apply: ${rows.length} lines stored in ${elapsed} ms ` +
        `(${Math.round((rows.length / elapsed) * 1000)} lines/s), ${beats.length} heartbeats, largest gap ${maxGap} ms`,
    );
  });

  it('reports a missing binary as TerraformSpawnError', async () => {
    const job = await newJob();
    const ctx = stepContext(job, 'init');
    const err = await runTerraform({
      binary: path.join(job.workspaceDir, 'no-such-terraform'),
      cwd: job.workspaceDir,
      args: ['version'],
      env: {},
      sink: ctx.sink,
      graceMs: 1_000,
    }).catch((e) => e);
    await ctx.sink.close();
    expect(err).toBeInstanceOf(TerraformSpawnError);
    expect(err.type).toBe('TerraformSpawnError');
  });

  it('splits output into lines across chunks, CRLF, multi-byte characters and a last line without newline', async () => {
    const job = await newJob();
    const ctx = stepContext(job, 'init');
    const script = `
      const euro = Buffer.from('€');
      const parts = [Buffer.from('one\\r\\ntw'), Buffer.from('o\\nthree '), euro.subarray(0, 1), euro.subarray(1), Buffer.from('\\nlast')];
      (async () => { for (const p of parts) { process.stdout.write(p); await new Promise(r => setTimeout(r, 30)); } process.stderr.write('err no newline'); })();`;
    const result = await runTerraform({
      binary: process.execPath,
      cwd: job.workspaceDir,
      args: ['-e', script],
      env: {},
      sink: ctx.sink,
      graceMs: 1_000,
    });
    await ctx.sink.close();
    expect(result).toEqual({ exitCode: 0, stdoutTail: ['one', 'two', 'three €', 'last'] });
    const rows = (await allLines(job.jobId)).filter((r) => r.stream !== 'system');
    expect(rows.map((r) => [r.stream, r.line])).toEqual([
      ['stdout', 'one'],
      ['stdout', 'two'],
      ['stdout', 'three €'],
      ['stdout', 'last'],
      ['stderr', 'err no newline'],
    ]);
  });
});

describe('job workspaces', () => {
  it.each([
    '../etc',
    '..',
    'a/../../b',
    'job/../x',
    '/etc/passwd',
    'ABC-123',
    'job_1',
    'ab',
    '',
    '-abc',
    'x'.repeat(65),
    'job\u0000x',
  ])('refuses the job id %j', (jobId) => {
    expect(() => jobWorkspaceDir(jobsWorkdir, jobId)).toThrow(InvalidJobIdError);
  });

  it('builds the path from a valid id, inside the jobs directory', () => {
    expect(jobWorkspaceDir('/srv/jobs', '3f2a9c1e-aaaa-4bbb-8ccc-123456789abc')).toBe(
      '/srv/jobs/3f2a9c1e-aaaa-4bbb-8ccc-123456789abc',
    );
    const err = (() => {
      try {
        jobWorkspaceDir('/srv/jobs', '../x');
      } catch (e) {
        return e as InvalidJobIdError;
      }
    })();
    expect(err?.type).toBe('InvalidInput');
  });

  it('is idempotent: a retried prepare refreshes module and tfvars but keeps state and .terraform', async () => {
    const moduleDir = tempDir('prov-module-');
    // The module's files (its stand-ins folder is not what this is about).
    for (const f of fs.readdirSync(SANDBOX)) {
      if (fs.statSync(path.join(SANDBOX, f)).isFile()) fs.copyFileSync(path.join(SANDBOX, f), path.join(moduleDir, f));
    }
    fs.writeFileSync(path.join(moduleDir, 'extra.tf'), '# dropped later\n');
    fs.writeFileSync(path.join(moduleDir, 'terraform.tfstate'), '{"not":"copied"}');
    fs.mkdirSync(path.join(moduleDir, '.terraform'));
    fs.writeFileSync(path.join(moduleDir, 'example.auto.tfvars'), 'job_name = "not copied"\n');
    try {
      const jobId = `ws-${process.pid}-idem`;
      const dir = await prepareWorkspace({ jobsWorkdir, jobId, moduleDir, tfvars: { job_name: 'first' } });
      expect(fs.readdirSync(dir).sort()).toEqual(['extra.tf', 'main.tf', 'outputs.tf', 'terraform.tfvars.json', 'variables.tf']);

      fs.writeFileSync(path.join(dir, 'terraform.tfstate'), '{"kept":true}');
      fs.mkdirSync(path.join(dir, '.terraform'));
      fs.writeFileSync(path.join(dir, '.terraform', 'marker'), 'kept');
      fs.writeFileSync(path.join(dir, 'main.tf'), '# tampered\n');
      fs.rmSync(path.join(moduleDir, 'extra.tf'));
      fs.chmodSync(dir, 0o755);

      expect(await prepareWorkspace({ jobsWorkdir, jobId, moduleDir, tfvars: { job_name: 'second' } })).toBe(dir);
      expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
      expect(fs.readFileSync(path.join(dir, 'terraform.tfstate'), 'utf8')).toBe('{"kept":true}');
      expect(fs.readFileSync(path.join(dir, '.terraform', 'marker'), 'utf8')).toBe('kept');
      expect(fs.readFileSync(path.join(dir, 'main.tf'), 'utf8')).toBe(fs.readFileSync(path.join(SANDBOX, 'main.tf'), 'utf8'));
      expect(fs.existsSync(path.join(dir, 'extra.tf'))).toBe(false);
      expect(JSON.parse(fs.readFileSync(path.join(dir, 'terraform.tfvars.json'), 'utf8'))).toEqual({ job_name: 'second' });
      expect(fs.statSync(path.join(dir, 'terraform.tfvars.json')).mode & 0o777).toBe(0o600);
    } finally {
      fs.rmSync(moduleDir, { recursive: true, force: true });
    }
  });

  it('refuses a module directory without Terraform files', async () => {
    await expect(
      prepareWorkspace({ jobsWorkdir, jobId: `ws-${process.pid}-nomod`, moduleDir: `${jobsWorkdir}/missing`, tfvars: {} }),
    ).rejects.toMatchObject({ type: 'TerraformConfigError' });
  });
});

describe('job log storage', () => {
  const line = (lineNo: number, extra: Partial<{ step: string; attempt: number; stream: string }> = {}) => ({
    step: 'apply',
    attempt: 1,
    stream: 'stdout',
    lineNo,
    line: `line ${lineNo}`,
    ts: new Date().toISOString(),
    ...extra,
  });

  it('numbers lines per job and never stores a redelivered batch twice', async () => {
    const { jobId } = await newJob();
    expect(await maxLogSeq(db, jobId)).toBe(0);
    expect(await appendLogLines(db, jobId, [line(1), line(2), line(3)])).toBe(3);
    // Redelivered, partly overlapping, and a duplicate inside the batch itself.
    expect(await appendLogLines(db, jobId, [line(2), line(3), line(4), line(4)])).toBe(4);
    // Same line numbers in another attempt or stream are new lines.
    expect(await appendLogLines(db, jobId, [line(1, { attempt: 2 }), line(1, { stream: 'stderr' })])).toBe(6);
    expect(await appendLogLines(db, jobId, [])).toBe(6);
    expect(await countLogLines(db, jobId)).toBe(6);

    const rows = await listLogLines(db, jobId, { afterSeq: 2, limit: 3 });
    expect(rows.map((r) => [r.seq, r.line_no, r.attempt, r.stream])).toEqual([
      [3, 3, 1, 'stdout'],
      [4, 4, 1, 'stdout'],
      [5, 1, 2, 'stdout'],
    ]);
    expect((await lastLogLines(db, jobId, 2)).map((r) => r.seq)).toEqual([5, 6]);
  });

  it('LogSink flushes on its own, by time and by size, and stores everything on close', async () => {
    const { jobId } = await newJob();
    const sink = new LogSink({ db, jobId, step: 'plan', attempt: 1, flushIntervalMs: 50, maxBatchLines: 10 });
    sink.write('stdout', 'password=hunter2');
    await new Promise((r) => setTimeout(r, 200));
    expect(await countLogLines(db, jobId)).toBe(1);
    for (let i = 0; i < 25; i++) sink.write('stdout', `bulk ${i}`);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 20));
    expect(await countLogLines(db, jobId)).toBeGreaterThanOrEqual(11);
    sink.write('stderr', 'last');
    await sink.close();
    const rows = await allLines(jobId);
    expect(rows.length).toBe(27);
    expect(rows[0].line).toBe('password=[REDACTED]');
    expect(rows.at(-1)).toMatchObject({ stream: 'stderr', line: 'last', line_no: 27 });
    expect(() => sink.write('stdout', 'late')).toThrow(/closed/);
  });
});
