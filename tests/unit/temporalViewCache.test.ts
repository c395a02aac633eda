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

it('goes on without a slow answer, asks no second time meanwhile, and serves the late answer to the views after', async () => {
  const { client, calls } = fakeClient();
  const read = temporalViewReader(client, { timeoutMs: 20, freshMs: 1_500, staleMs: 2_500 });
  const view = () => read('wf-1', { mayWait: true });

  // Temporal is slower than a view may wait: the view is shown without it.
  expect(await view()).toEqual({ waiting: null, stalled: null });
  // The describe is still out: another view waits for that one instead of asking again.
  expect(await view()).toEqual({ waiting: null, stalled: null });
  expect(calls).toHaveLength(1);
  // The late answer arrives; the next view has it at once, with no new describe and no quiet period.
  calls[0](true);
  await settle();
  expect((await view()).waiting?.step).toBe('apply');
  expect(calls).toHaveLength(1);
  vi.advanceTimersByTime(3_000);
  const again = view();
  expect(calls).toHaveLength(2);
  calls[1](false);
  expect((await again).waiting).toBeNull();
});

it('stops asking for a while once Temporal fails, then asks again', async () => {
  let described = 0;
  const client = {
    withDeadline: (_deadline: number, fn: () => Promise<unknown>) => fn(),
    workflow: {
      getHandle: () => ({
        describe: () => {
          described++;
          return Promise.reject(new Error('14 UNAVAILABLE: connection refused'));
        },
      }),
    },
  } as unknown as Client;
  const read = temporalViewReader(client, { quietMs: 10_000 });
  expect(await read('wf-1', { mayWait: true })).toEqual({ waiting: null, stalled: null });
  expect(await read('wf-2', { mayWait: true })).toEqual({ waiting: null, stalled: null });
  expect(described).toBe(1);
  vi.advanceTimersByTime(10_001);
  await read('wf-2', { mayWait: true });
  expect(described).toBe(2);
});

it('stops asking for a while when Temporal keeps views waiting and nothing answers', async () => {
  const { client, calls } = fakeClient();
  const read = temporalViewReader(client, { timeoutMs: 20, quietMs: 10_000 });
  for (const id of ['wf-1', 'wf-2', 'wf-3']) expect(await read(id, { mayWait: true })).toEqual({ waiting: null, stalled: null });
  expect(calls).toHaveLength(3);
  // Three views in a row waited in vain: a hung server must not cost every view its timeout.
  expect(await read('wf-4', { mayWait: true })).toEqual({ waiting: null, stalled: null });
  expect(calls).toHaveLength(3);
  vi.advanceTimersByTime(10_001);
  void read('wf-4', { mayWait: true });
  expect(calls).toHaveLength(4);
});
