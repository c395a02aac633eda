import crypto from 'node:crypto';
import type { ResolveCredentialsInput, ResolvedCredentials } from './awsCredentials.js';

/**
 * The job's resolved AWS credentials, kept in this worker's memory between
 * the steps of one job, so a job assumes its role once instead of before
 * every step (each AssumeRole + GetCallerIdentity pair is two STS round trips).
 *
 * - Memory only: nothing here is returned from an activity, logged, written
 *   to disk or the database, or put in a Temporal payload. The cached object
 *   is the sealed one from resolveJobCredentials (JSON and inspect redact it).
 * - Keyed by everything that decides what credentials a call would get: the
 *   job id, region, auth method, role ARN, external id, access keys, session
 *   length and account allowlist. Another job, or the same job with changed
 *   inputs, never matches. The key is an HMAC under a per-process random key,
 *   so the map's keys hold no secret in a recoverable form.
 * - Reused while enough of the session is left: at least half of the granted
 *   lifetime and never less than `minRemainingMs` (so a step that starts with
 *   reused credentials still has 30 minutes of a default one-hour session for
 *   Terraform). Credentials without an expiry (access keys) are re-checked
 *   after `maxAgeMs`.
 * - Bounded: at most `maxEntries` entries, least recently used out first;
 *   entries past their reuse time are purged on every insert and by a sweep
 *   every minute while anything is held (a worker that ran a job's steps but
 *   not its workflow never sees the job end).
 * - Dropped when the job ends (`dropJob`), and after a failed step (a retry
 *   must not reuse credentials that may be the reason it failed).
 * - Concurrent lookups of the same key share one resolution; a failed
 *   resolution is not kept.
 */

export interface CredentialCacheOptions {
  /** At most this many entries (jobs × distinct inputs); default 256. */
  maxEntries?: number;
  /** Never reuse credentials with less than this left; default 5 minutes. */
  minRemainingMs?: number;
  /** Reuse credentials without an expiry (access keys) this long; default 15 minutes. */
  maxAgeMs?: number;
  /** The clock (epoch ms); tests move it. */
  now?: () => number;
  /** How often held entries are swept for ones past their reuse time; default 1 minute. */
  sweepEveryMs?: number;
}

interface Entry {
  jobId: string;
  /** Set while the resolution runs; callers arriving meanwhile wait for it. */
  pending?: Promise<ResolvedCredentials>;
  value?: ResolvedCredentials;
  /** Epoch ms after which `value` is not handed out again. */
  reuseUntil: number;
}

export type Resolver = (input: ResolveCredentialsInput) => Promise<ResolvedCredentials>;

const DEFAULT_MAX_ENTRIES = 256;
const DEFAULT_MIN_REMAINING_MS = 5 * 60_000;
const DEFAULT_MAX_AGE_MS = 15 * 60_000;
const DEFAULT_SWEEP_EVERY_MS = 60_000;

export class JobCredentialCache {
  readonly #entries = new Map<string, Entry>();
  readonly #hmacKey = crypto.randomBytes(32);
  readonly #maxEntries: number;
  readonly #minRemainingMs: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  readonly #sweepEveryMs: number;
  #sweeper: NodeJS.Timeout | undefined;

  constructor(opts: CredentialCacheOptions = {}) {
    this.#maxEntries = Math.max(1, opts.maxEntries ?? DEFAULT_MAX_ENTRIES);
    this.#minRemainingMs = opts.minRemainingMs ?? DEFAULT_MIN_REMAINING_MS;
    this.#maxAgeMs = opts.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
    this.#now = opts.now ?? Date.now;
    this.#sweepEveryMs = opts.sweepEveryMs ?? DEFAULT_SWEEP_EVERY_MS;
  }

  /** Entries held, in flight included. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The credentials for `input`: reused when this job resolved the very same
   * inputs recently enough, otherwise resolved with `resolve` and kept.
   * `fresh` always resolves (the verify step) and keeps the result.
   */
  async get(input: ResolveCredentialsInput, resolve: Resolver, opts: { fresh?: boolean } = {}): Promise<ResolvedCredentials> {
    const key = this.#key(input);
    const now = this.#now();
    const hit = this.#entries.get(key);
    if (hit && !opts.fresh) {
      if (hit.pending) return hit.pending;
      if (hit.value && now < hit.reuseUntil) {
        // Most recently used goes last: eviction takes from the front.
        this.#entries.delete(key);
        this.#entries.set(key, hit);
        return hit.value;
      }
    }

    const entry: Entry = { jobId: input.jobId, reuseUntil: 0 };
    entry.pending = resolve(input).then(
      (value) => {
        entry.pending = undefined;
        entry.value = value;
        entry.reuseUntil = this.#reuseUntil(value, now);
        if (entry.reuseUntil <= this.#now() && this.#entries.get(key) === entry) this.#entries.delete(key);
        return value;
      },
      (err: unknown) => {
        if (this.#entries.get(key) === entry) this.#entries.delete(key);
        throw err;
      },
    );
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    this.#purge();
    this.#sweeper ??= setInterval(() => this.#purge(), this.#sweepEveryMs).unref();
    return entry.pending;
  }

  /** Forgets every entry of the job (the job ended, or a step failed); returns how many. */
  dropJob(jobId: string): number {
    let dropped = 0;
    for (const [key, entry] of this.#entries) {
      if (entry.jobId === jobId) {
        this.#entries.delete(key);
        dropped++;
      }
    }
    return dropped;
  }

  clear(): void {
    this.#entries.clear();
    this.#stopSweeping();
  }

  #stopSweeping(): void {
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  #reuseUntil(value: ResolvedCredentials, obtainedAt: number): number {
    const expiration = value.credentials.expiration?.getTime();
    if (expiration === undefined || Number.isNaN(expiration)) return obtainedAt + this.#maxAgeMs;
    const lifetime = expiration - obtainedAt;
    // Hand out only while at least half the lifetime (and never less than the floor) is left.
    return expiration - Math.max(this.#minRemainingMs, lifetime / 2);
  }

  /** Drops what can no longer be reused, then the least recently used beyond the bound. */
  #purge(): void {
    const now = this.#now();
    for (const [key, entry] of this.#entries) {
      if (!entry.pending && now >= entry.reuseUntil) this.#entries.delete(key);
    }
    for (const key of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxEntries) break;
      this.#entries.delete(key);
    }
    if (this.#entries.size === 0) this.#stopSweeping();
  }

  /** Everything that decides which credentials a resolution returns, HMACed: the job id first of all. */
  #key(input: ResolveCredentialsInput): string {
    const { auth } = input;
    const parts = [
      input.jobId,
      input.region,
      input.durationSeconds ?? null,
      [...(input.allowedAccountIds ?? [])].sort(),
      auth.method,
      ...(auth.method === 'assume_role'
        ? [auth.roleArn, auth.externalId ?? null]
        : [auth.accessKeyId, auth.secretAccessKey, auth.sessionToken ?? null]),
    ];
    return crypto.createHmac('sha256', this.#hmacKey).update(JSON.stringify(parts)).digest('base64url');
  }
}
