import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { temporalViewReader } from '../../src/api/temporalView.js';

/**
 * The web's reader of what Temporal says of a job: one describe serves every
 * view for freshMs; past it, up to staleMs, views get the last answer at
 * once while one describe refreshes it in the background; older than that,
 * a view waits for a new answer.
 */

const { PendingActivityState } = proto.temporal.api.enums.v1;

/** A client whose describe answers when the test says, counting the calls. */
function fakeClient() {
  const calls: ((waiting: boolean) => void)[] = [];
  const raw = (waiting: boolean) => ({
    pendingActivities: waiting
      ? [
          {
            state: PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED,
            scheduledTime: { seconds: Math.floor((Date.now() - 60_000) / 1000), nanos: 0 },
            activityType: { name: 'terraformApply' },
          },
        ]
      : [],
  });
  const client = {
    withDeadline: (_deadline: number, fn: () => Promise<unknown>) => fn(),
    workflow: {
      getHandle: () => ({
        describe: () => new Promise((resolve) => calls.push((waiting) => resolve({ raw: raw(waiting) }))),
      }),
    },
  } as unknown as Client;
  return { client, calls };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(new Date('2026-12-03T00:00:00Z'));
});
afterEach(() => {
  vi.useRealTimers();
});

const settle = () => new Promise((resolve) => setImmediate(resolve));

it('serves a fresh answer, then the last one while refreshing, then waits once it is too old', async () => {
  const { client, calls } = fakeClient();
  const read = temporalViewReader(client, { freshMs: 1_500, staleMs: 2_500 });
  const view = () => read('wf-1', { mayWait: true });

  const first = view();
  expect(calls).toHaveLength(1);
  calls[0](true);
  expect((await first).waiting?.step).toBe('apply');

  // Fresh: no new describe.
  vi.advanceTimersByTime(1_000);
  expect((await view()).waiting?.step).toBe('apply');
  expect(calls).toHaveLength(1);

  // Stale: the last answer at once, one describe in the background however many views ask.
  vi.advanceTimersByTime(1_000);
  expect((await view()).waiting?.step).toBe('apply');
  expect((await view()).waiting?.step).toBe('apply');
  expect(calls).toHaveLength(2);
  calls[1](false);
  await settle();
  // The refreshed answer replaces it.
  expect((await view()).waiting).toBeNull();
  expect(calls).toHaveLength(2);

  // Too old: the view waits for a new describe.
  vi.advanceTimersByTime(3_000);
  let answered = false;
  const late = view().then((v) => {
    answered = true;
    return v;
  });
  await settle();
  expect(answered).toBe(false);
  expect(calls).toHaveLength(3);
  calls[2](true);
  expect((await late).waiting?.step).toBe('apply');
});
