import { inspect } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import { JobCredentialCache } from '../../src/activities/credentialCache.js';
import type { ResolveCredentialsInput, ResolvedCredentials } from '../../src/activities/awsCredentials.js';

/**
 * The worker's per-job credential cache, with a stub resolver standing for
 * STS (the integration test credentialReuse.test.ts counts real AssumeRole
 * calls against moto) and a clock the test moves.
 */

const ROLE = 'arn:aws:iam::123456789012:role/Provisioner';
const HOUR = 3_600_000;
const MIN = 60_000;

function setup(opts: { lifetimeMs?: number | null; maxEntries?: number } = {}) {
  let now = Date.parse('2026-01-01T00:00:00Z');
  let issued = 0;
  const lifetime = opts.lifetimeMs === undefined ? HOUR : opts.lifetimeMs;
  const resolve = vi.fn(async (input: ResolveCredentialsInput): Promise<ResolvedCredentials> => {
    issued += 1;
    return {
      credentials: {
        accessKeyId: `ASIA${issued}`,
        secretAccessKey: `secret-${issued}-${input.jobId}`,
        sessionToken: `token-${issued}`,
        ...(lifetime === null ? {} : { expiration: new Date(now + lifetime) }),
      },
      accountId: '123456789012',
      arn: `arn:aws:sts::123456789012:assumed-role/Provisioner/job-${input.jobId}`,
    };
  });
  const cache = new JobCredentialCache({ now: () => now, maxEntries: opts.maxEntries });
  return {
    cache,
    resolve,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const input = (over: Partial<ResolveCredentialsInput> = {}): ResolveCredentialsInput => ({
  jobId: 'job1',
  region: 'us-east-1',
  auth: { method: 'assume_role', roleArn: ROLE, externalId: 'tenant-42' },
  allowedAccountIds: [],
  ...over,
});

describe('JobCredentialCache', () => {
  it('resolves once for several steps of one job and hands out the same credentials', async () => {
    const { cache, resolve, advance } = setup();
    const first = await cache.get(input(), resolve);
    advance(10 * MIN);
    const second = await cache.get(input(), resolve);
    expect(resolve).toHaveBeenCalledTimes(1);
    expect(second).toBe(first);
  });

  it('never hands one job the credentials of another, nor the same job after its inputs changed', async () => {
    const { cache, resolve } = setup();
    const a = await cache.get(input(), resolve);
    const b = await cache.get(input({ jobId: 'job2' }), resolve);
    expect(b.credentials.secretAccessKey).not.toBe(a.credentials.secretAccessKey);
    expect(b.credentials.secretAccessKey).toContain('job2');

    const changed: ResolveCredentialsInput[] = [
      input({ auth: { method: 'assume_role', roleArn: 'arn:aws:iam::123456789012:role/Other', externalId: 'tenant-42' } }),
      input({ auth: { method: 'assume_role', roleArn: ROLE, externalId: 'tenant-43' } }),
      input({ auth: { method: 'assume_role', roleArn: ROLE } }),
      input({ region: 'eu-west-1' }),
      input({ allowedAccountIds: ['123456789012'] }),
      input({ durationSeconds: 900 }),
    ];
    for (const c of changed) {
      const calls = resolve.mock.calls.length;
      const got = await cache.get(c, resolve);
      expect(resolve.mock.calls.length, JSON.stringify(c)).toBe(calls + 1);
      expect(got).not.toBe(a);
    }
    // The original inputs still find their own entry.
    expect(await cache.get(input(), resolve)).toBe(a);
  });

  it('keys access keys on the keys themselves', async () => {
    const { cache, resolve } = setup({ lifetimeMs: null });
    const keys = { method: 'access_keys' as const, accessKeyId: 'AKIAEXAMPLE000001', secretAccessKey: 'one' };
    await cache.get(input({ auth: keys }), resolve);
    await cache.get(input({ auth: keys }), resolve);
    expect(resolve).toHaveBeenCalledTimes(1);
    await cache.get(input({ auth: { ...keys, secretAccessKey: 'two' } }), resolve);
    await cache.get(input({ auth: { ...keys, sessionToken: 'tok' } }), resolve);
    expect(resolve).toHaveBeenCalledTimes(3);
  });

  it('refreshes credentials once less than half their lifetime is left', async () => {
    const { cache, resolve, advance } = setup();
    const first = await cache.get(input(), resolve);
    advance(29 * MIN);
    expect(await cache.get(input(), resolve)).toBe(first);
    advance(2 * MIN); // 31 minutes in: 29 of 60 left
    const second = await cache.get(input(), resolve);
    expect(resolve).toHaveBeenCalledTimes(2);
    expect(second).not.toBe(first);
    expect(second.credentials.expiration!.getTime()).toBeGreaterThan(first.credentials.expiration!.getTime());
  });

  it('never reuses credentials with less than five minutes left, however short the session', async () => {
    const { cache, resolve, advance } = setup({ lifetimeMs: 8 * MIN });
    await cache.get(input(), resolve);
    advance(2 * MIN); // 6 minutes left: more than half, and above the floor
    await cache.get(input(), resolve);
    expect(resolve).toHaveBeenCalledTimes(1);
    advance(90_000); // 4.5 minutes left: below the floor
    await cache.get(input(), resolve);
    expect(resolve).toHaveBeenCalledTimes(2);
  });

  it('does not keep credentials that are already too close to their expiry', async () => {
    const { cache, resolve } = setup({ lifetimeMs: 4 * MIN });
    await cache.get(input(), resolve);
    expect(cache.size).toBe(0);
    await cache.get(input(), resolve);
    expect(resolve).toHaveBeenCalledTimes(2);
  });

  it('re-checks credentials without an expiry after 15 minutes', async () => {
    const { cache, resolve, advance } = setup({ lifetimeMs: null });
    await cache.get(input(), resolve);
    advance(14 * MIN);
    await cache.get(input(), resolve);
    expect(resolve).toHaveBeenCalledTimes(1);
    advance(2 * MIN);
    await cache.get(input(), resolve);
    expect(resolve).toHaveBeenCalledTimes(2);
  });

  it('resolves again when asked for fresh credentials (the verify step) and keeps those', async () => {
    const { cache, resolve } = setup();
    const first = await cache.get(input(), resolve);
    const fresh = await cache.get(input(), resolve, { fresh: true });
    expect(fresh).not.toBe(first);
    expect(await cache.get(input(), resolve)).toBe(fresh);
    expect(resolve).toHaveBeenCalledTimes(2);
  });

  it('drops a job when it ends, and only that job', async () => {
    const { cache, resolve } = setup();
    await cache.get(input(), resolve);
    await cache.get(input({ region: 'eu-west-1' }), resolve);
    const other = await cache.get(input({ jobId: 'job2' }), resolve);
    expect(cache.dropJob('job1')).toBe(2);
    expect(cache.size).toBe(1);
    await cache.get(input(), resolve);
    expect(resolve).toHaveBeenCalledTimes(4);
    expect(await cache.get(input({ jobId: 'job2' }), resolve)).toBe(other);
  });

  it('shares one resolution between concurrent callers and keeps no failure', async () => {
    const { cache, resolve } = setup();
    const [a, b] = await Promise.all([cache.get(input(), resolve), cache.get(input(), resolve)]);
    expect(a).toBe(b);
    expect(resolve).toHaveBeenCalledTimes(1);

    const failing = vi.fn(async () => {
      throw new Error('AccessDenied');
    });
    await expect(cache.get(input({ jobId: 'job3' }), failing)).rejects.toThrow('AccessDenied');
    await expect(cache.get(input({ jobId: 'job3' }), failing)).rejects.toThrow('AccessDenied');
    expect(failing).toHaveBeenCalledTimes(2);
    expect(cache.size).toBe(1);
  });

  it('holds at most maxEntries, dropping the least recently used', async () => {
    const { cache, resolve } = setup({ maxEntries: 3 });
    for (const id of ['a1', 'a2', 'a3']) await cache.get(input({ jobId: id }), resolve);
    await cache.get(input({ jobId: 'a1' }), resolve); // a1 used again: a2 is now the oldest
    await cache.get(input({ jobId: 'a4' }), resolve);
    expect(cache.size).toBe(3);
    expect(resolve).toHaveBeenCalledTimes(4);
    await cache.get(input({ jobId: 'a1' }), resolve);
    await cache.get(input({ jobId: 'a3' }), resolve);
    expect(resolve).toHaveBeenCalledTimes(4);
    await cache.get(input({ jobId: 'a2' }), resolve);
    expect(resolve).toHaveBeenCalledTimes(5);
  });

  it('lets go of what can no longer be reused by itself, with no further lookups', async () => {
    vi.useFakeTimers();
    try {
      const cache = new JobCredentialCache({ sweepEveryMs: MIN });
      const resolve = async (): Promise<ResolvedCredentials> => ({
        credentials: { accessKeyId: 'ASIA1', secretAccessKey: 's', expiration: new Date(Date.now() + HOUR) },
        accountId: '123456789012',
        arn: 'arn:aws:sts::123456789012:assumed-role/Provisioner/job-job1',
      });
      await cache.get(input(), resolve);
      await vi.advanceTimersByTimeAsync(29 * MIN);
      expect(cache.size).toBe(1);
      await vi.advanceTimersByTimeAsync(2 * MIN);
      expect(cache.size).toBe(0);
      // Nothing held, nothing left running.
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('shows no credential, key material or job input when inspected or serialised', async () => {
    const { cache, resolve } = setup();
    const got = await cache.get(
      input({ auth: { method: 'access_keys', accessKeyId: 'AKIAEXAMPLE000001', secretAccessKey: 'plain-secret' } }),
      resolve,
    );
    for (const text of [inspect(cache, { depth: 10, showHidden: true }), JSON.stringify(cache)]) {
      expect(text).not.toContain(got.credentials.secretAccessKey);
      expect(text).not.toContain('plain-secret');
      expect(text).not.toContain('AKIAEXAMPLE000001');
    }
  });
});
