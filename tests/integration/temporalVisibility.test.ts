import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import proto from '@temporalio/proto';
import { createJob, signalJob, startJob, type CommandDeps } from '../../src/api/jobCommands.js';
import { updateJob } from '../../src/db/jobs.js';
import { insertTeam, newTeamId } from '../../src/db/teams.js';
import type { JobSpec } from '../../src/domain/jobSpec.js';
import { ENCODING } from '../../src/temporal/codec.js';
import { JOB_VISIBILITY_PATCH } from '../../src/workflows/visibility.js';
import { HISTORIES_DIR, encodeHistory } from '../support/histories.js';
import { sampleSpec, testActor, waitForStatus, waitForStep } from '../support/jobs.js';
import { waitFor } from '../support/processes.js';
import { startSandboxStack, type SandboxStack } from '../support/stack.js';
import { testDataConverter } from '../support/worker.js';

/**
 * Jobs findable and readable in Temporal, on real parts (the run's dev
 * server, registered with the service's search attributes by its flags, a
 * worker with the real activities, terraform on the sandbox module, moto):
 * the Temporal CLI, as any operator would use it, finds jobs by their search
 * attributes as the jobs move; each job's workflow carries its summary and
 * the link to its page, and each activity a summary naming its step, both
 * encrypted by the codec like any payload.
 */

const execFileP = promisify(execFile);
const { EventType } = proto.temporal.api.enums.v1;
const actor = testActor('visibility-tester');
const PUBLIC = 'http://prov.test:8000';

let stack: SandboxStack;
let commands: CommandDeps;
let teamId: string;
const jobs: Record<'east' | 'west' | 'westFailed' | 'westWaiting' | 'carried', { id: string; spec: JobSpec }> = {} as never;

beforeAll(async () => {
  stack = await startSandboxStack({ workdirPrefix: 'prov-visibility-' });
  commands = { ...stack.commands, publicBaseUrl: PUBLIC };
  teamId = newTeamId();
  await insertTeam(
    stack.temp.db,
    teamId,
    {
      name: `visibility-${teamId}`,
      oidc_group: null,
      allowed_regions: null,
      allowed_instance_types: null,
      max_ttl_hours: null,
      max_live_jobs: null,
      approval_policy: 'never',
    },
    new Date(),
  );
  const launch = async (
    key: keyof typeof jobs,
    spec: JobSpec,
    opts: { knobs?: Record<string, unknown>; team?: boolean; deps?: CommandDeps } = {},
  ) => {
    if (opts.knobs) stack.knobs.set(spec.name, opts.knobs);
    const job = await createJob(opts.deps ?? commands, spec, actor);
    // As if placed in a team account: the web starts the workflow with the job's team.
    if (opts.team) await updateJob(stack.temp.db, job.id, { team_id: teamId });
    await startJob(opts.deps ?? commands, job.id, spec, actor);
    jobs[key] = { id: job.id, spec };
  };
  await Promise.all([
    launch('east', sampleSpec({ region: 'us-east-1' }), { team: true }),
    launch('west', sampleSpec({ region: 'eu-west-1' })),
    launch('westFailed', sampleSpec({ region: 'eu-west-1' }), { knobs: { sandbox_fail_step: 'plan' } }),
    launch('westWaiting', sampleSpec({ region: 'eu-west-1', options: { requireApproval: true } })),
    // Continues as new as soon as it waits for its destroy.
    launch('carried', sampleSpec({ region: 'us-east-1' }), { team: true, deps: { ...commands, historyBound: 1 } }),
  ]);
  const db = stack.temp.db;
  await Promise.all([
    waitForStep(db, jobs.east.id, 'notify', 'succeeded'),
    waitForStep(db, jobs.west.id, 'notify', 'succeeded'),
    waitForStatus(db, jobs.westFailed.id, ['failed']),
    waitForStatus(db, jobs.westWaiting.id, ['awaiting_approval']),
    waitForStep(db, jobs.carried.id, 'notify', 'succeeded'),
  ]);
}, 240_000);

afterAll(async () => {
  await stack?.stop();
});

/** Workflow ids the Temporal CLI lists for a query, within this file's task queue (the server is shared). */
async function cliList(query: string): Promise<string[]> {
  const { stdout } = await execFileP(inject('temporalCliPath'), [
    'workflow',
    'list',
    '--address',
    inject('temporalAddress'),
    '--namespace',
    'default',
    '--query',
    `(${query}) AND TaskQueue="${stack.worker.taskQueue}"`,
    '-o',
    'json',
  ]);
  const rows = JSON.parse(stdout || '[]') as Array<{ execution: { workflowId: string } }>;
  return [...new Set(rows.map((r) => r.execution.workflowId))].sort();
}

/** Visibility follows the history a moment later: the answer is awaited, then compared exactly. */
async function expectListed(query: string, keys: Array<keyof typeof jobs>) {
  const want = keys.map((k) => `job-${jobs[k].id}`).sort();
  let got: string[] = [];
  await waitFor(
    `${query} to list ${want.join(', ')}`,
    async () => {
      got = await cliList(query);
      return JSON.stringify(got) === JSON.stringify(want);
    },
    30_000,
    250,
  ).catch(() => undefined);
  expect(got, query).toEqual(want);
}

async function decodeText(payload: Payload | null | undefined): Promise<string | undefined> {
  if (!payload) return undefined;
  const [clear] = await testDataConverter().payloadCodecs![0]!.decode([payload]);
  return defaultPayloadConverter.fromPayload<string>(clear!);
}

describe('search attributes', () => {
  it('finds jobs by status, region, step, team and the rest with the Temporal CLI', async () => {
    await expectListed('JobStatus="succeeded" AND Region="eu-west-1"', ['west']);
    await expectListed('JobStatus="succeeded" AND Region="us-east-1"', ['carried', 'east']);
    await expectListed('JobStatus="failed" AND JobStep="plan"', ['westFailed']);
    await expectListed('JobStatus="awaiting_approval" AND JobStep="approval"', ['westWaiting']);
    await expectListed('Region="eu-west-1"', ['west', 'westFailed', 'westWaiting']);
    await expectListed(`Team="${teamId}"`, ['carried', 'east']);
    await expectListed('AwsAccountId="123456789012" AND Requester="alice@example.com" AND InstanceType="t3.micro"', [
      'carried',
      'east',
      'west',
      'westFailed',
      'westWaiting',
    ]);
    await expectListed(`JobId="${jobs.west.id}" AND JobName="${jobs.west.spec.name}"`, ['west']);
  });

  it('follows the job to its destroy', async () => {
    await signalJob(commands, jobs.east.id, 'destroy', actor);
    await waitForStatus(stack.temp.db, jobs.east.id, ['destroyed']);
    await expectListed('JobStatus="destroyed" AND JobStep="destroy"', ['east']);
  });

  it('keeps them in a run carried on by continue-as-new, Team (set only at the start) included', async () => {
    const handle = stack.client.workflow.getHandle(`job-${jobs.carried.id}`);
    const now = await waitFor('the job to continue as new', async () => {
      const d = await handle.describe();
      return d.raw.workflowExecutionInfo?.firstRunId !== d.runId ? d : undefined;
    });
    expect(now.status.name).toBe('RUNNING');
    expect(now.searchAttributes).toMatchObject({
      JobId: [jobs.carried.id],
      JobStatus: ['succeeded'],
      JobStep: ['notify'],
      Team: [teamId],
      Region: ['us-east-1'],
    });
  });
});

describe('in the Temporal UI', () => {
  it("starts each job's workflow with its summary and a link to its page, encrypted like any payload", async () => {
    const description = await stack.client.workflow.getHandle(`job-${jobs.west.id}`).describe();
    expect(await description.staticSummary()).toBe(`${jobs.west.spec.name} · eu-west-1 · t3.micro`);
    expect(await description.staticDetails()).toContain(`${PUBLIC}/jobs/${jobs.west.id}`);
    const metadata = description.raw.executionConfig?.userMetadata;
    expect(Buffer.from(metadata?.summary?.metadata?.encoding ?? []).toString()).toBe(ENCODING);
  });

  it('gives every activity a summary naming its step', async () => {
    const history = await stack.client.workflow.getHandle(`job-${jobs.west.id}`).fetchHistory();
    const scheduled = (history.events ?? []).filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED);
    const summaries = await Promise.all(
      scheduled.map(async (e) => [
        e.activityTaskScheduledEventAttributes?.activityType?.name,
        await decodeText(e.userMetadata?.summary),
      ]),
    );
    expect(summaries).toEqual([
      ['verifyCredentials', 'verify: check the AWS credentials with STS'],
      ['preflight', 'preflight: check the account, network and AMI'],
      ['renderWorkspace', 'render: write the Terraform workspace'],
      ['terraformInit', 'init: terraform init'],
      ['terraformPlan', 'plan: terraform plan'],
      ['terraformApply', 'apply: terraform apply'],
      ['terraformOutput', 'output: terraform output'],
      ['waitReady', "ready: wait for the instance's report on its containers"],
      ['notify', 'notify: email "succeeded"'],
    ]);
    // Behind the patch: the run recorded it, so runs started before replay without these commands.
    const patches = (history.events ?? [])
      .filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')
      .map((e) => Buffer.from(e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads?.[0]?.data ?? []).toString());
    expect(patches.some((p) => p.includes(JOB_VISIBILITY_PATCH))).toBe(true);
  });

  it('records the -v5 histories (UPDATE_HISTORIES=1): a job waiting for its destroy, then destroyed', async () => {
    const handle = stack.client.workflow.getHandle(`job-${jobs.west.id}`);
    const waiting = await handle.fetchHistory();
    await signalJob(commands, jobs.west.id, 'destroy', actor);
    await waitForStatus(stack.temp.db, jobs.west.id, ['destroyed']);
    expect(await handle.result()).toEqual({ status: 'destroyed' });
    // `UPDATE_HISTORIES=1 npx vitest run tests/integration/temporalVisibility.test.ts` records them again.
    if (process.env.UPDATE_HISTORIES) {
      fs.writeFileSync(path.join(HISTORIES_DIR, 'provision-waiting-for-destroy-v5.binpb'), encodeHistory(waiting));
      fs.writeFileSync(path.join(HISTORIES_DIR, 'provision-happy-path-v5.binpb'), encodeHistory(await handle.fetchHistory()));
    }
  });
});
