import type { Context, MiddlewareHandler } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';

/**
 * In-memory fixed-window rate limits: failed sign-ins (signInThrottle.ts,
 * per account and client address) and job creation (per client address).
 *
 * One process holds the counters; behind several web processes each keeps
 * its own, which still bounds an attacker to N times the limit.
 */

export interface RateRule {
  limit: number;
  windowMs: number;
}

/** Wrong passwords for one account from one address; wrong tokens from one address. */
export const LOGIN_FAILURES: RateRule = { limit: 5, windowMs: 15 * 60_000 };
export const JOB_CREATES: RateRule = { limit: 30, windowMs: 60_000 };

export interface RateState {
  limited: boolean;
  /** Whole seconds until the window resets (at least 1 while limited). */
  retryAfterSeconds: number;
  remaining: number;
}

interface Window {
  count: number;
  resetAt: number;
}

export class FixedWindowLimiter {
  private readonly windows = new Map<string, Window>();
  private lastSweep = 0;

  constructor(
    readonly rule: RateRule,
    private readonly now: () => number = Date.now,
  ) {}

  private current(key: string): Window | undefined {
    const t = this.now();
    this.sweep(t);
    const w = this.windows.get(key);
    if (w && w.resetAt <= t) {
      this.windows.delete(key);
      return undefined;
    }
    return w;
  }

  /** Expired windows go, so a flood of addresses cannot grow the map for ever. */
  private sweep(t: number): void {
    if (t - this.lastSweep < this.rule.windowMs && this.windows.size < 10_000) return;
    this.lastSweep = t;
    for (const [k, w] of this.windows) if (w.resetAt <= t) this.windows.delete(k);
  }

  private state(w: Window | undefined): RateState {
    const count = w?.count ?? 0;
    const retryAfterSeconds = w ? Math.max(1, Math.ceil((w.resetAt - this.now()) / 1000)) : 0;
    return { limited: count >= this.rule.limit, retryAfterSeconds, remaining: Math.max(0, this.rule.limit - count) };
  }

  /** Whether `key` has used its budget, without spending any. */
  peek(key: string): RateState {
    return this.state(this.current(key));
  }

  /** Spends one unit of `key`'s budget. */
  hit(key: string): RateState {
    let w = this.current(key);
    if (!w) {
      w = { count: 0, resetAt: this.now() + this.rule.windowMs };
      this.windows.set(key, w);
    }
    w.count += 1;
    return this.state(w);
  }

  /**
   * Spends one unit unless the budget is used up (then nothing is spent):
   * for work that takes a while, so concurrent requests cannot all pass a
   * check made before any of them was counted.
   */
  take(key: string): RateState {
    const before = this.peek(key);
    // The unit just taken was within the budget, even when it was the last one.
    return before.limited ? before : { ...this.hit(key), limited: false };
  }

  /** Gives back a unit `take` spent on something that did not happen after all. */
  refund(key: string): void {
    const w = this.current(key);
    if (w && w.count > 0) w.count -= 1;
  }

  reset(key: string): void {
    this.windows.delete(key);
  }
}

export interface ClientAddressOptions {
  /** TRUST_PROXY: take the address our reverse proxy saw from X-Forwarded-For. */
  trustProxy: boolean;
}

/**
 * The client's address from the socket. Only when the operator says a
 * reverse proxy sits in front (TRUST_PROXY) is X-Forwarded-For believed, and
 * then only its last entry, the one our proxy appended: earlier entries are
 * whatever the client chose to send. Null when there is no socket (in-process
 * `app.request` calls), which no network client can arrange.
 */
export function clientAddress(c: Context, opts: ClientAddressOptions): string | null {
  if (opts.trustProxy) {
    const forwarded = (c.req.header('x-forwarded-for') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .at(-1);
    if (forwarded) return forwarded;
  }
  try {
    return getConnInfo(c).remote.address ?? null;
  } catch {
    return null;
  }
}

export function tooManyMessage(what: string, retryAfterSeconds: number): string {
  const minutes = Math.ceil(retryAfterSeconds / 60);
  const wait = retryAfterSeconds < 90 ? `${retryAfterSeconds} seconds` : `${minutes} minutes`;
  return `${what}; try again in ${wait}.`;
}

const JOBS_LIMIT_WHAT = 'Too many jobs created from your address';

function wantsJson(c: Context): boolean {
  return c.req.path.startsWith('/api/') || (c.req.header('accept') ?? '').includes('application/json');
}

/** Renders a 429 page for browsers; without one the message goes out as text. */
export type HtmlRenderer = (c: Context, message: string) => Response | Promise<Response>;

export function rateLimited(c: Context, what: string, state: RateState, html?: HtmlRenderer): Response | Promise<Response> {
  c.header('Retry-After', String(state.retryAfterSeconds));
  const message = tooManyMessage(what, state.retryAfterSeconds);
  if (wantsJson(c)) return c.json({ error: { code: 'rate_limited', message } }, 429);
  return html ? html(c, message) : c.text(message, 429);
}

/**
 * Job creation (POST /jobs, POST /api/jobs): jobs created, not attempts, are
 * counted, so a user correcting or checking a form is not locked out; once over, every
 * attempt gets 429 until the window resets. The unit is taken before the
 * handler runs (it awaits the database and Temporal, so a burst could
 * otherwise slip past the check) and given back when nothing was created.
 */
export function jobCreationLimit(
  limiter: FixedWindowLimiter,
  opts: ClientAddressOptions,
  html?: HtmlRenderer,
): MiddlewareHandler {
  return async (c, next) => {
    const addr = clientAddress(c, opts);
    if (addr === null) return next();
    const state = limiter.take(addr);
    if (state.limited) return rateLimited(c, JOBS_LIMIT_WHAT, state, html);
    try {
      await next();
    } finally {
      // 201 (API) and a redirect to the new job (form) mean a job was made; a
      // form check (200), validation errors and failures give the unit back.
      const created = c.res.status === 201 || (c.res.status >= 300 && c.res.status < 400);
      if (!created) limiter.refund(addr);
    }
  };
}
