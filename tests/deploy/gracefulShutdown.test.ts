import path from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJob, signalJob, startJob } from '../../src/api/jobCommands.js';
import { getJob, listSteps } from '../../src/db/jobs.js';
import { listLogLines } from '../../src/db/logs.js';
import { startSandboxStack, type WorkerlessStack } from '../support/stack.js';
import { terraformTaskQueue } from '../../src/domain/terraformCapacity.js';
import { uniqueQueue } from '../support/worker.js';
import { sampleSpec, waitForStatus, waitForStep, testActor } from '../support/jobs.js';
import { ROOT, childEnv, collectOutput, descendants, isAlive, waitExit, waitFor } from '../support/processes.js';

/**
 * SIGTERM to a worker started as production starts it (`npm run worker`,
 * which execs node: the signal reaches the worker itself, as `docker stop`
 * sends it): polling stops, the running apply gets
 * WORKER_SHUTDOWN_GRACE_SECONDS, then is cancelled — Terraform gets exactly
 * one SIGINT and stops on its own — and the process exits 0. Another worker
 * retries the step and finishes the job; nothing is left running.
 */

const GRACE_SECONDS = 3;
let stack: WorkerlessStack;
let temp: WorkerlessStack['temp'];
let jobsWorkdir: string;
const taskQueue = uniqueQueue('shutdown');
const workers: ChildProcess[] = [];

function workerEnv(): Record<string, string> {
  return stack.processEnv({
    taskQueue,
    sandbox: { sandbox_sleep_seconds: { apply: 30 } },
    env: { TERRAFORM_KILL_GRACE_SECONDS: '20', WORKER_SHUTDOWN_GRACE_SECONDS: String(GRACE_SECONDS), LOG_LEVEL: 'info' },
  });
}

/** `npm run worker`, as the Docker image's worker service runs it. */
async function spawnWorker(): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn('npm', ['run', '--silent', 'worker'], {
    cwd: ROOT,
    env: childEnv(workerEnv()),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = collectOutput(child);
  workers.push(child);
  await waitFor(
    'worker to poll',
    () => {
      if (child.exitCode !== null) throw new Error(`worker exited: ${out.text()}`);
      return out.text().includes('worker polling');
    },
    60_000,
  );
  return { child, output: out.text };
}

beforeAll(async () => {
  stack = await startSandboxStack({ workdirPrefix: 'prov-shutdown-jobs-', worker: false });
  ({ temp, jobsWorkdir } = stack);
}, 60_000);

afterAll(async () => {
  for (const w of workers) {
    if (w.exitCode !== null || w.pid === undefined) continue;
    for (const pid of descendants(w.pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    w.kill('SIGKILL');
  }
  await stack?.stop();
});

describe('SIGTERM to a worker during apply', () => {
  it('stops the apply cleanly after the grace period, exits 0, and another worker finishes the job', async () => {
    const first = await spawnWorker();
    const commands = stack.commandsFor(taskQueue);
    const spec = sampleSpec();
    const job = await createJob(commands, spec, testActor('tester'));
    await startJob(commands, job.id, spec, testActor('tester'));
    await waitForStep(temp.db, job.id, 'apply', 'running');
    await waitFor('apply to start creating', async () =>
      (await listLogLines(temp.db, job.id, { afterSeq: 0, limit: 5000 })).some((l) => /creating instance/.test(l.line)),
    );
    const tree = descendants(first.child.pid!);
    const terraform = tree.filter((pid) => /terraform/.test(commandOf(pid)));
    expect(terraform.length, 'terraform runs under the worker').toBeGreaterThan(0);

    const sentAt = Date.now();
    first.child.kill('SIGTERM');
    // A rolling restart: the replacement is up while the old one drains.
    const second = await spawnWorker();

    expect(await waitExit(first.child, 60_000), first.output()).toBe(0);
    const stoppedAfterMs = Date.now() - sentAt;
    // Nothing of the old worker outlives it: terraform stopped on its SIGINT.
    await waitFor("the old worker's processes to be gone", () => tree.every((pid) => !isAlive(pid)), 10_000);

    const done = await waitForStatus(temp.db, job.id, ['succeeded', 'failed', 'cancelled'], 150_000);
    expect(done.status, done.error ?? '').toBe('succeeded');

    const applies = (await listSteps(temp.db, job.id)).filter((s) => s.step === 'apply');
    expect(applies.length).toBeGreaterThanOrEqual(2);
    // Not a cancel of the job, nor an error of the job's: the attempt was interrupted, naming the shutdown…
    expect(applies[0]).toMatchObject({ state: 'interrupted', error: expect.stringMatching(/worker shut down/) });
    expect(applies.at(-1)?.state).toBe('succeeded');
    // …so the retry comes with the retry policy's backoff (5 s). The SDK does not always get that
    // failure to the server before the old worker's connection closes; the apply's heartbeat
    // timeout (10 s) bounds the wait then.
    expect(Date.parse(applies[1].started_at) - Date.parse(applies[0].finished_at!)).toBeLessThan(20_000);

    const logs = await listLogLines(temp.db, job.id, { afterSeq: 0, limit: 20_000 });
    const firstApply = logs.filter((l) => l.step === 'apply' && l.attempt === applies[0].attempt);
    const sigints = firstApply.filter((l) => /SIGINT sent to terraform/.test(l.line));
    expect(sigints, firstApply.map((l) => l.line).join('\n')).toHaveLength(1);
    // The SIGINT came after the grace period, not at the SIGTERM.
    expect(Date.parse(sigints[0].ts) - sentAt).toBeGreaterThanOrEqual(GRACE_SECONDS * 1000 - 500);
    // Terraform stopped on that one SIGINT: no SIGKILL of its group was needed.
    expect(firstApply.some((l) => /killing its process group/.test(l.line))).toBe(false);
    expect(firstApply.some((l) => /stopped after SIGINT|Interrupt received/.test(l.line))).toBe(true);
    expect(stoppedAfterMs).toBeLessThan(GRACE_SECONDS * 1000 + 20_000);

    // The worker logged its shutdown as JSON lines, the job's lines carrying the job id.
    const lines = first
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.some((l) => l.msg === 'worker stopped')).toBe(true);
    expect(lines.find((l) => l.msg === 'step apply interrupted')).toMatchObject({
      jobId: job.id,
      workflowId: `job-${job.id}`,
    });
    // The apply ran on the process's Terraform worker (its own task queue), which stopped with the other.
    expect(lines.find((l) => String(l.msg).startsWith('worker polling'))).toMatchObject({
      terraformTaskQueue: terraformTaskQueue(taskQueue),
    });
    const history = await stack.client.workflow.getHandle(`job-${job.id}`).fetchHistory();
    const applyQueues = (history.events ?? []).flatMap((e) => {
      const a = e.activityTaskScheduledEventAttributes;
      return a?.activityType?.name === 'terraformApply' ? [a.taskQueue?.name] : [];
    });
    expect(applyQueues.length).toBeGreaterThan(0);
    expect(new Set(applyQueues)).toEqual(new Set([terraformTaskQueue(taskQueue)]));

    // The state holds each resource once.
    const state = execFileSync('terraform', ['state', 'list'], { cwd: path.join(jobsWorkdir, job.id), encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
    expect(new Set(state).size).toBe(state.length);
    expect(state.filter((a) => /instance/.test(a))).toHaveLength(1);
    expect((await getJob(temp.db, job.id))?.error).toBeNull();

    await signalJob(commands, job.id, 'destroy', testActor('tester'));
    expect((await waitForStatus(temp.db, job.id, ['destroyed', 'failed'], 90_000)).status).toBe('destroyed');
    second.child.kill('SIGTERM');
    expect(await waitExit(second.child, 30_000)).toBe(0);
  }, 300_000);
});

function commandOf(pid: number): string {
  try {
    return execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}
