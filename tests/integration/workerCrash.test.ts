import path from 'node:path';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJob, signalJob, startJob } from '../../src/api/jobCommands.js';
import { listSteps } from '../../src/db/jobs.js';
import { listLogLines } from '../../src/db/logs.js';
import { startSandboxStack, type WorkerlessStack } from '../support/stack.js';
import { uniqueQueue } from '../support/worker.js';
import { sampleSpec, waitForStatus, waitForStep, testActor } from '../support/jobs.js';
import { collectOutput, descendants, isAlive, runTsx, waitExit, waitFor } from '../support/processes.js';

/**
 * The worker is the production entry point (`npm run worker`) in its own
 * process; the test kills it with SIGKILL during apply and starts another.
 */

let stack: WorkerlessStack;
let temp: WorkerlessStack['temp'];
let jobsWorkdir: string;
const taskQueue = uniqueQueue('crash');
const workers: ChildProcess[] = [];

function workerEnv(): Record<string, string> {
  return stack.processEnv({
    taskQueue,
    sandbox: { sandbox_sleep_seconds: { apply: 6 }, sandbox_resource_count: 2 },
    env: { WORKER_SHUTDOWN_GRACE_SECONDS: '1' },
  });
}

async function spawnWorker(): Promise<ChildProcess> {
  // Own process group, so the clean-up below can stop tsx and its node child together.
  const child = runTsx('src/worker/main.ts', workerEnv(), { detached: true });
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
  return child;
}

beforeAll(async () => {
  stack = await startSandboxStack({ workdirPrefix: 'prov-crash-jobs-', worker: false });
  ({ temp, jobsWorkdir } = stack);
}, 60_000);

afterAll(async () => {
  for (const w of workers) {
    try {
      process.kill(-w.pid!, 'SIGKILL');
    } catch {
      /* group already gone */
    }
  }
  await stack?.stop();
});

describe('a worker crash during apply', () => {
  it('loses nothing: the next worker finishes the job, each resource once, both attempts logged', async () => {
    const first = await spawnWorker();
    const commands = stack.commandsFor(taskQueue);
    const spec = sampleSpec();
    const job = await createJob(commands, spec, testActor('tester'));
    await startJob(commands, job.id, spec, testActor('tester'));
    await waitForStep(temp.db, job.id, 'apply', 'running');
    await waitFor('apply to start creating', async () =>
      (await listLogLines(temp.db, job.id, { afterSeq: 0, limit: 5000 })).some((l) => /creating instance/.test(l.line)),
    );
    // tsx runs the worker in a child node process: kill the node processes, as a crash would,
    // and leave terraform (its own process group) orphaned, as a crash would.
    const tree = descendants(first.pid!);
    const nodes = tree.filter((pid) => /node/.test(commandOf(pid)));
    expect(nodes.length).toBeGreaterThan(0);
    const orphans = tree.filter((pid) => !nodes.includes(pid));
    for (const pid of nodes) process.kill(pid, 'SIGKILL');
    first.kill('SIGKILL');
    await waitExit(first);

    await spawnWorker();
    const done = await waitForStatus(temp.db, job.id, ['succeeded', 'failed'], 120_000);
    expect(done.status, done.error ?? '').toBe('succeeded');

    const applies = (await listSteps(temp.db, job.id)).filter((s) => s.step === 'apply');
    expect(applies.length).toBeGreaterThanOrEqual(2);
    expect(applies.at(-1)?.state).toBe('succeeded');
    const logs = await listLogLines(temp.db, job.id, { afterSeq: 0, limit: 10_000 });
    const attempts = new Set(logs.filter((l) => l.step === 'apply').map((l) => l.attempt));
    expect(attempts.size).toBeGreaterThanOrEqual(2);
    // No line stored twice: (step, attempt, stream, line_no) is unique and seq is gapless.
    expect(logs.map((l) => l.seq)).toEqual(logs.map((_, i) => i + 1));

    const state = execFileSync('terraform', ['state', 'list'], { cwd: path.join(jobsWorkdir, job.id), encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
    expect(new Set(state).size).toBe(state.length);
    expect(state.filter((a) => /instance/.test(a))).toHaveLength(1);
    // The old worker's terraform did not linger past the recovery.
    await waitFor('orphaned processes gone', () => orphans.every((pid) => !isAlive(pid)), 30_000);

    await signalJob(commands, job.id, 'destroy', testActor('tester'));
    expect((await waitForStatus(temp.db, job.id, ['destroyed', 'failed'], 60_000)).status).toBe('destroyed');
  }, 240_000);
});

function commandOf(pid: number): string {
  try {
    return execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}
