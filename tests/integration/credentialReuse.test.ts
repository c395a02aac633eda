import fs from 'node:fs';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { STSClient, type STSClientConfig } from '@aws-sdk/client-sts';
import { resolveJobCredentials, type ResolveCredentialsInput } from '../../src/activities/awsCredentials.js';
import { JobCredentialCache } from '../../src/activities/credentialCache.js';
import { createJob, signalJob, startJob, type CommandDeps } from '../../src/api/jobCommands.js';
import { listSteps } from '../../src/db/jobs.js';
import type { JobSpec } from '../../src/domain/jobSpec.js';
import { configureLogging } from '../../src/observability/logger.js';
import { sampleSpec, waitForStatus, waitForStep, testActor } from '../support/jobs.js';
import { startSandboxStack, type SandboxStack } from '../support/stack.js';
import { testDataConverter } from '../support/worker.js';

/**
 * A job assumes its role once and reuses the credentials between its steps,
 * in the worker's memory only. Real parts: the Temporal dev server, a worker
 * with the real activities, terraform on the sandbox module, SQLite, and moto
 * for STS; the STS clients are real ones that record every call they send.
 */

const actor = testActor('tester', { ip: '127.0.0.1' });
const MIN = 60_000;

let stack: SandboxStack;
let temp: SandboxStack['temp'];
let client: Client;
let commands: CommandDeps;
let knobs: SandboxStack['knobs'];
/** Moves the credential cache's clock (not the credentials' expiry, which STS sets). */
let skewMs = 0;
const cache = new JobCredentialCache({ now: () => Date.now() + skewMs });
/** Every STS call: the command and, for AssumeRole, the job it was for (from the session name). */
const stsCalls: Array<{ command: string; jobId?: string }> = [];
/** Every credential STS handed out, to look for afterwards. */
const secrets = new Set<string>();
const workerLog: string[] = [];

function recordingStsClient(config: STSClientConfig): STSClient {
  const sts = new STSClient(config);
  sts.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { RoleSessionName?: string };
      stsCalls.push({ command: String(context.commandName), jobId: input.RoleSessionName?.replace(/^job-/, '') });
      return next(args);
    },
    { step: 'initialize', name: 'countStsCalls' },
  );
  return sts;
}

async function resolveAndRemember(input: ResolveCredentialsInput) {
  const res = await resolveJobCredentials(input, { createStsClient: recordingStsClient });
  for (const value of [res.credentials.accessKeyId, res.credentials.secretAccessKey, res.credentials.sessionToken]) {
    if (value) secrets.add(value);
  }
  return res;
}

const assumeRoleCalls = (jobId: string) => stsCalls.filter((c) => c.command === 'AssumeRoleCommand' && c.jobId === jobId).length;

beforeAll(async () => {
  configureLogging({
    level: 'debug',
    destination: new Writable({
      write(chunk, _enc, done) {
        workerLog.push(String(chunk));
        done();
      },
    }),
  });
  stack = await startSandboxStack({
    workdirPrefix: 'prov-creds-',
    aws: { resolveJobCredentials: resolveAndRemember },
    credentialCache: cache,
  });
  ({ temp, client, commands, knobs } = stack);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

async function launch(spec: JobSpec) {
  const job = await createJob(commands, spec, actor);
  await startJob(commands, job.id, spec, actor);
  return job.id;
}

async function succeeded(jobId: string) {
  const job = await waitForStatus(temp.db, jobId, ['succeeded', 'failed']);
  expect(job.error).toBeNull();
  expect(job.status).toBe('succeeded');
  await waitForStep(temp.db, jobId, 'notify', 'succeeded');
  return job;
}

/** Every string in a Temporal history, with each payload decoded by the codec first. */
async function historyText(jobId: string): Promise<string> {
  const codec = testDataConverter().payloadCodecs![0];
  const history = await client.workflow.getHandle(`job-${jobId}`).fetchHistory();
  const texts: string[] = [];
  const walk = async (node: unknown): Promise<void> => {
    if (!node || typeof node !== 'object') return;
    if (node instanceof Uint8Array) {
      texts.push(Buffer.from(node).toString('utf8'));
      return;
    }
    const obj = node as Record<string, unknown>;
    if (obj.data instanceof Uint8Array && obj.metadata && typeof obj.metadata === 'object') {
      const [decoded] = await codec.decode([obj as never]);
      texts.push(Buffer.from(decoded.data ?? []).toString('utf8'));
    }
    for (const value of Object.values(obj)) {
      if (typeof value === 'string') texts.push(value);
      else await walk(value);
    }
  };
  await walk(history);
  return texts.join('\n');
}

describe('credential reuse', () => {
  it('assumes the role once for all the steps of a job, and again only after the job ended', async () => {
    const callsBefore = stsCalls.length;
    const jobId = await launch(sampleSpec());
    const job = await succeeded(jobId);

    // Six steps use the credentials (verify, preflight, init, plan, apply, output): one AssumeRole.
    const steps = await listSteps(temp.db, jobId);
    for (const s of ['verify', 'preflight', 'init', 'plan', 'apply', 'output']) {
      expect(steps.find((r) => r.step === s)?.state, s).toBe('succeeded');
    }
    expect(assumeRoleCalls(jobId)).toBe(1);
    expect(stsCalls.slice(callsBefore).map((c) => c.command)).toEqual(['AssumeRoleCommand', 'GetCallerIdentityCommand']);
    expect(job.assumed_role_arn).toBe(`arn:aws:sts::123456789012:assumed-role/Provisioner/job-${jobId}`);
    // The job ended (succeeded): its credentials are no longer held.
    expect(cache.size).toBe(0);

    // The destroy, later, assumes the role anew, and is dropped again when done.
    await signalJob(commands, jobId, 'destroy', actor);
    expect((await waitForStatus(temp.db, jobId, ['destroyed', 'failed'])).status).toBe('destroyed');
    expect(assumeRoleCalls(jobId)).toBe(2);
    expect(cache.size).toBe(0);
  });

  it('gives every job its own: two jobs of the same role at once assume it once each', async () => {
    const spec = sampleSpec();
    const [a, b] = await Promise.all([launch(spec), launch({ ...spec, name: `${spec.name}-b` })]);
    const [jobA, jobB] = await Promise.all([succeeded(a), succeeded(b)]);
    expect(assumeRoleCalls(a)).toBe(1);
    expect(assumeRoleCalls(b)).toBe(1);
    // Each job's identity is its own role session, not the other's.
    expect(jobA.assumed_role_arn).toMatch(new RegExp(`/job-${a}$`));
    expect(jobB.assumed_role_arn).toMatch(new RegExp(`/job-${b}$`));
  });

  it('assumes the role again when the held credentials come near their expiry', async () => {
    const spec = sampleSpec();
    knobs.set(spec.name, { sandbox_sleep_seconds: { apply: 2 } });
    const jobId = await launch(spec);
    await waitForStep(temp.db, jobId, 'apply', 'running');
    expect(assumeRoleCalls(jobId)).toBe(1);
    // Four minutes of moto's one-hour session left as the output step starts: below the margin.
    skewMs = 56 * MIN;
    try {
      await succeeded(jobId);
    } finally {
      skewMs = 0;
    }
    expect(assumeRoleCalls(jobId)).toBe(2);
    const steps = await listSteps(temp.db, jobId);
    expect(steps.filter((s) => s.state !== 'succeeded')).toEqual([]);
  });

  it('keeps every credential it got out of the database, the job logs, the worker log and Temporal history', async () => {
    expect(secrets.size).toBeGreaterThanOrEqual(3 * 5);
    const jobs = await temp.db.selectFrom('jobs').select('id').execute();
    expect(jobs.length).toBeGreaterThanOrEqual(4);

    const logLines = await temp.db.selectFrom('job_logs').select('line').execute();
    const dbFiles = ['', '-wal', '-shm'].filter((suffix) => fs.existsSync(temp.file + suffix));
    // Where to look, and something each place must hold, so a check that reads nothing cannot pass.
    const stores: Array<{ where: string; text: string; holds: string }> = [
      { where: 'job_logs', text: logLines.map((l) => l.line).join('\n'), holds: 'Apply complete' },
      {
        where: 'jobs and job_steps',
        text: JSON.stringify([
          await temp.db.selectFrom('jobs').selectAll().execute(),
          await temp.db.selectFrom('job_steps').selectAll().execute(),
        ]),
        holds: jobs[0].id,
      },
      {
        // The SQLite files themselves, write-ahead log included: whatever any table holds.
        where: `the SQLite files (${dbFiles.map((f) => `app.db${f}`).join(', ')})`,
        text: dbFiles.map((suffix) => fs.readFileSync(temp.file + suffix).toString('latin1')).join('\n'),
        holds: jobs[0].id,
      },
      { where: 'worker log', text: workerLog.join(''), holds: 'step verify succeeded' },
      ...(await Promise.all(
        jobs.map(async (j) => ({ where: `Temporal history of job ${j.id}`, text: await historyText(j.id), holds: j.id })),
      )),
    ];
    for (const { where, text, holds } of stores) {
      expect(text, where).toContain(holds);
      for (const secret of secrets) {
        expect(text.includes(secret), `${where} holds a credential`).toBe(false);
      }
    }
  });
});
