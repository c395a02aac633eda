import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { AppEnv } from './auth.js';
import { ApiError, badRequest, errorResponseFor } from './apiErrors.js';
import { parseOr } from './apiInput.js';
import { idempotencyKeyHeader } from './apiRoutes.js';
import type { Db } from '../db/database.js';
import { claimIdempotencyKey, completeIdempotencyKey, releaseIdempotencyKey } from '../db/idempotency.js';

/** How long a request waits for another request with the same Idempotency-Key to finish. */
const IDEMPOTENCY_WAIT_MS = 15_000;

/**
 * Runs `op` once per Idempotency-Key (scoped by caller and route): a repeat
 * with the same body gets the first response back, another body a 422, and
 * a repeat while the first still runs waits for it. Server-side failures
 * free the key so the client can retry.
 */
export async function idempotent(
  db: Db,
  c: Context<AppEnv>,
  scope: string,
  hash: string,
  op: () => Promise<{ status: ContentfulStatusCode; body: unknown }>,
): Promise<Response> {
  const rawKey = c.req.header('idempotency-key');
  if (rawKey === undefined) {
    const { status, body } = await op();
    return c.json(body, status);
  }
  const key = parseOr(idempotencyKeyHeader, rawKey, (e) => badRequest(e, 'Idempotency-Key header'));
  // Per principal: a user and each of their tokens keep their own keys.
  const p = c.get('principal');
  const fullScope = `${p ? `${p.userId}${p.tokenId ? `/${p.tokenId}` : ''}` : 'anonymous'}|${scope}`;
  const deadline = Date.now() + IDEMPOTENCY_WAIT_MS;
  let claim = await claimIdempotencyKey(db, { scope: fullScope, key, bodyHash: hash });
  while (claim.state === 'in_progress' && Date.now() < deadline) {
    await sleep(50);
    claim = await claimIdempotencyKey(db, { scope: fullScope, key, bodyHash: hash });
  }
  switch (claim.state) {
    case 'mismatch':
      throw new ApiError(
        'idempotency_key_reused',
        `Idempotency-Key "${key}" was already used with a different request body; use a new key for a different request`,
      );
    case 'in_progress':
      throw new ApiError(
        'idempotency_in_progress',
        `a request with Idempotency-Key "${key}" is still being processed; retry shortly`,
      );
    case 'completed':
      c.header('Idempotent-Replayed', 'true');
      return c.body(claim.responseJson, claim.statusCode as ContentfulStatusCode, { 'Content-Type': 'application/json' });
    case 'claimed': {
      let result: { status: ContentfulStatusCode; body: unknown };
      try {
        result = await op();
      } catch (err) {
        const mapped = errorResponseFor(err);
        if (mapped.status >= 500) {
          await releaseIdempotencyKey(db, fullScope, key);
          throw err;
        }
        result = mapped;
      }
      const json = JSON.stringify(result.body);
      await completeIdempotencyKey(db, fullScope, key, result.status, json);
      return c.body(json, result.status, { 'Content-Type': 'application/json' });
    }
  }
}
