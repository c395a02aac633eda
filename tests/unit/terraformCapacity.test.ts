import os from 'node:os';
import { describe, expect, it } from 'vitest';
import proto from '@temporalio/proto';
import { availableMemoryBytes, parseConfig } from '../../src/config.js';
import {
  isTerraformActivity,
  TERRAFORM_SLOTS_MAX,
  terraformSlotsFor,
  terraformTaskQueue,
} from '../../src/domain/terraformCapacity.js';
import { mayWaitForWorker, workerWaitOf } from '../../src/api/temporalView.js';
import { problemsOf } from '../support/configProblems.js';

const GiB = 2 ** 30;
const { PendingActivityState } = proto.temporal.api.enums.v1;

describe('TERRAFORM_MAX_CONCURRENT', () => {
  it('defaults to the memory left after the worker, in 512 MiB runs, between 1 and 32', () => {
    expect(terraformSlotsFor(0.5 * GiB)).toBe(1);
    expect(terraformSlotsFor(1 * GiB)).toBe(1);
    expect(terraformSlotsFor(2 * GiB)).toBe(2);
    expect(terraformSlotsFor(4 * GiB)).toBe(6);
    expect(terraformSlotsFor(8 * GiB)).toBe(14);
    expect(terraformSlotsFor(16 * GiB)).toBe(30);
    expect(terraformSlotsFor(64 * GiB)).toBe(TERRAFORM_SLOTS_MAX);
    expect(terraformSlotsFor(Number.NaN)).toBe(1);
  });

  it("takes this machine's (or container's) memory when unset or empty", () => {
    expect(availableMemoryBytes()).toBeGreaterThan(0);
    expect(availableMemoryBytes()).toBeLessThanOrEqual(os.totalmem());
    const expected = terraformSlotsFor(availableMemoryBytes());
    expect(parseConfig({}).TERRAFORM_MAX_CONCURRENT).toBe(expected);
    expect(parseConfig({ TERRAFORM_MAX_CONCURRENT: '' }).TERRAFORM_MAX_CONCURRENT).toBe(expected);
  });

  it('takes a whole number from 1 to 256, and names the variable otherwise', () => {
    expect(parseConfig({ TERRAFORM_MAX_CONCURRENT: '1' }).TERRAFORM_MAX_CONCURRENT).toBe(1);
    expect(parseConfig({ TERRAFORM_MAX_CONCURRENT: '256' }).TERRAFORM_MAX_CONCURRENT).toBe(256);
    for (const bad of ['0', '-2', '1.5', 'many', '257']) {
      const problems = problemsOf({ TERRAFORM_MAX_CONCURRENT: bad });
      expect(problems, bad).toHaveLength(1);
      expect(problems[0]).toMatch(new RegExp(`^TERRAFORM_MAX_CONCURRENT: "${bad.replace('.', '\\.')}" is invalid`));
    }
  });
});

describe('the Terraform task queue', () => {
  it('is the task queue with a suffix, and takes the activities that run terraform', () => {
    expect(terraformTaskQueue('provisioning')).toBe('provisioning-terraform');
    for (const name of [
      'terraformInit',
      'terraformPlan',
      'terraformApply',
      'terraformOutput',
      'terraformDestroy',
      'checkDrift',
    ]) {
      expect(isTerraformActivity(name), name).toBe(true);
    }
    // Render writes files only; the others never run terraform.
    for (const name of ['renderWorkspace', 'verifyCredentials', 'preflight', 'waitReady', 'applyOnInstance', 'notify']) {
      expect(isTerraformActivity(name), name).toBe(false);
    }
  });
});

describe('waiting for a worker', () => {
  const NOW = Date.parse('2026-12-02T12:00:00Z');
  const ts = (ms: number) =>
    proto.google.protobuf.Timestamp.fromObject({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });
  const pending = (over: Record<string, unknown>) => ({
    activityType: { name: 'terraformApply' },
    state: PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED,
    attempt: 1,
    scheduledTime: ts(NOW - 5_000),
    ...over,
  });

  it('names the step scheduled and not started, with since when', () => {
    expect(workerWaitOf({ pendingActivities: [pending({})] }, NOW)).toEqual({
      step: 'apply',
      terraform: true,
      since: new Date(NOW - 5_000).toISOString(),
    });
    expect(workerWaitOf({ pendingActivities: [pending({ activityType: { name: 'verifyCredentials' } })] }, NOW)).toEqual({
      step: 'verify',
      terraform: false,
      since: new Date(NOW - 5_000).toISOString(),
    });
  });

  it('says nothing of a step that runs, waits for its retry, or is being handed to a worker', () => {
    const started = pending({ state: PendingActivityState.PENDING_ACTIVITY_STATE_STARTED });
    expect(workerWaitOf({ pendingActivities: [started] }, NOW)).toBeNull();
    const backoff = pending({ attempt: 2, nextAttemptScheduleTime: ts(NOW + 10_000) });
    expect(workerWaitOf({ pendingActivities: [backoff] }, NOW)).toBeNull();
    expect(workerWaitOf({ pendingActivities: [pending({ scheduledTime: ts(NOW - 200) })] }, NOW)).toBeNull();
    expect(workerWaitOf({}, NOW)).toBeNull();
    // A retry past its backoff waits for a worker again, since its time came.
    const due = pending({ attempt: 2, nextAttemptScheduleTime: ts(NOW - 3_000) });
    expect(workerWaitOf({ pendingActivities: [due] }, NOW)?.since).toBe(new Date(NOW - 3_000).toISOString());
  });

  it('is asked of Temporal only while the job or its change runs steps', () => {
    for (const status of ['running', 'cancelling', 'destroying']) expect(mayWaitForWorker(status), status).toBe(true);
    for (const status of ['draft', 'awaiting_approval', 'failed', 'cancelled', 'destroyed', 'rejected']) {
      expect(mayWaitForWorker(status), status).toBe(false);
    }
    expect(mayWaitForWorker('succeeded')).toBe(false);
    expect(mayWaitForWorker('succeeded', 'applying')).toBe(true);
    expect(mayWaitForWorker('succeeded', 'awaiting_approval')).toBe(false);
  });
});
