import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { JobRef } from '../../src/activities/index.js';
import { runPreflight } from '../../src/activities/preflight.js';
import { createJob, startJob, type CommandDeps } from '../../src/api/jobCommands.js';
import { listSteps } from '../../src/db/jobs.js';
import { sampleSpec, waitForStatus, testActor } from '../support/jobs.js';
import { startSandboxStack, type SandboxStack } from '../support/stack.js';
import { uniqueQueue } from '../support/worker.js';

/**
 * An activity task that Temporal handed out but that never ran (a poll
 * response lost on the way, a worker that froze) must come back as a retry
 * within seconds, not after the activity's start-to-close timeout (2 minutes
 * for the short AWS steps). Here the first attempt of a job's verify step is
 * swallowed by the worker: it never runs the step and never heartbeats, as if
 * it had not arrived. The workflow's heartbeat timeout is what gives it back;
 * Temporal retries heartbeat timeouts (a schedule-to-start timeout it would
 * not retry).
 */

const { TimeoutType } = proto.temporal.api.enums.v1;
const actor = testActor('tester', { ip: '127.0.0.1' });

let stack: SandboxStack;
let temp: SandboxStack['temp'];
let client: Client;
let commands: CommandDeps;
/** Jobs whose first verify attempt is swallowed, and when the worker got it. */
const swallow = new Map<string, number | undefined>();
/** While set, pre-flight takes longer than the heartbeat timeout (slow AWS, but alive). */
let slowPreflight = false;
const SLOW_MS = 23_000;

beforeAll(async () => {
  stack = await startSandboxStack({
    workdirPrefix: 'prov-stall-',
    aws: {
      runPreflight: async (input, deps) => {
        if (slowPreflight) await new Promise((r) => setTimeout(r, SLOW_MS));
        return runPreflight(input, deps);
      },
    },
    worker: {
      taskQueue: uniqueQueue('stall'),
      wrapActivities: (real) => ({
        ...real,
        async verifyCredentials(ref: JobRef) {
          const ctx = Context.current();
          if (ctx.info.attempt === 1 && swallow.has(ref.jobId)) {
            swallow.set(ref.jobId, Date.now());
            // Never runs, never heartbeats; let go when the worker gives it up (the SDK cancels
            // it locally as TIMED_OUT a few seconds after the heartbeat timeout).
            await new Promise<void>((resolve) => ctx.cancellationSignal.addEventListener('abort', () => resolve()));
            throw ctx.cancellationSignal.reason;
          }
          return real.verifyCredentials(ref);
        },
      }),
    },
  });
  ({ temp, client, commands } = stack);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

describe('an activity task that never runs', () => {
  it('is retried after the heartbeat timeout, and the job succeeds', async () => {
    const spec = sampleSpec();
    const job = await createJob(commands, spec, actor);
    swallow.set(job.id, undefined);
    await startJob(commands, job.id, spec, actor);

    const done = await waitForStatus(temp.db, job.id, ['succeeded', 'failed'], 75_000);
    expect(done.error).toBeNull();
    expect(done.status).toBe('succeeded');

    // The swallowed attempt left no trace in the job; the second ran the step.
    const verify = (await listSteps(temp.db, job.id)).filter((s) => s.step === 'verify');
    expect(verify.map((s) => [s.attempt, s.state])).toEqual([[2, 'succeeded']]);
    const handedOut = swallow.get(job.id)!;
    expect(handedOut).toBeTypeOf('number');
    const retriedAfterMs = Date.parse(verify[0].started_at) - handedOut;
    // Heartbeat timeout (20 s) plus the first retry interval (2 s), with room for a slow machine.
    expect(retriedAfterMs).toBeGreaterThan(15_000);
    expect(retriedAfterMs).toBeLessThan(45_000);

    // Temporal says why: the second attempt follows a heartbeat timeout of the first.
    const history = await client.workflow.getHandle(`job-${job.id}`).fetchHistory();
    const scheduled = new Map<string, string>();
    const verifyStarts: Array<{ attempt: number; timeoutType?: number | null }> = [];
    for (const e of history.events ?? []) {
      const s = e.activityTaskScheduledEventAttributes;
      if (s) scheduled.set(String(e.eventId), s.activityType?.name ?? '');
      const st = e.activityTaskStartedEventAttributes;
      if (st && scheduled.get(String(st.scheduledEventId)) === 'verifyCredentials') {
        verifyStarts.push({ attempt: st.attempt ?? 0, timeoutType: st.lastFailure?.timeoutFailureInfo?.timeoutType });
      }
    }
    expect(verifyStarts).toEqual([{ attempt: 2, timeoutType: TimeoutType.TIMEOUT_TYPE_HEARTBEAT }]);
  }, 90_000);

  it('is not mistaken for a stalled one when it runs long: a step heartbeats for as long as it runs', async () => {
    const spec = sampleSpec();
    const job = await createJob(commands, spec, actor);
    slowPreflight = true;
    try {
      await startJob(commands, job.id, spec, actor);
      const done = await waitForStatus(temp.db, job.id, ['succeeded', 'failed'], 75_000);
      expect(done.status).toBe('succeeded');
    } finally {
      slowPreflight = false;
    }
    const preflight = (await listSteps(temp.db, job.id)).filter((s) => s.step === 'preflight');
    expect(preflight.map((s) => [s.attempt, s.state])).toEqual([[1, 'succeeded']]);
    expect(Date.parse(preflight[0].finished_at!) - Date.parse(preflight[0].started_at)).toBeGreaterThan(SLOW_MS - 1_000);
  }, 90_000);
});
