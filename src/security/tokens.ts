import crypto from 'node:crypto';

/**
 * Secret comparisons the web (sign-in, API tokens) and the worker (its
 * /metrics behind METRICS_TOKEN) share, so the worker needs nothing of the
 * web layer.
 */

function sha256(value: string): Buffer {
  return crypto.createHash('sha256').update(value).digest();
}

/** Compares digests, so neither length nor content leaks through timing. */
export function safeEqual(a: string, b: string): boolean {
  return crypto.timingSafeEqual(sha256(a), sha256(b));
}

/** Whether an Authorization header carries exactly this bearer token. */
export function bearerMatches(authorization: string | null | undefined, token: string): boolean {
  const bearer = /^Bearer\s+(.+)$/i.exec(authorization ?? '')?.[1]?.trim();
  return Boolean(bearer) && safeEqual(bearer!, token);
}
