import type { Db } from './database.js';
import { lockKeyInTransaction } from './dialect.js';

/**
 * Idempotency keys: the first request with a key claims it (a row with
 * status_code 0, "in progress") in one immediate transaction, so of two
 * identical requests at once exactly one runs; the primary key (scope, key)
 * backs that up across processes. When the request finishes its response is
 * stored and every later request with the key gets it back.
 */

/** status_code of a claimed key whose request has not finished yet. */
export const IN_PROGRESS = 0;

export type IdempotencyClaim =
  | { state: 'claimed' }
  | { state: 'completed'; statusCode: number; responseJson: string }
  | { state: 'in_progress' }
  | { state: 'mismatch' };

export interface ClaimOptions {
  scope: string;
  key: string;
  bodyHash: string;
  now?: Date;
  /** A claim older than this whose request never finished (a crash) may be taken over. */
  abandonedAfterMs?: number;
  /** Keys are remembered this long; afterwards the key is free again. */
  expireAfterMs?: number;
}

export const DEFAULT_ABANDONED_AFTER_MS = 5 * 60_000;
export const DEFAULT_EXPIRE_AFTER_MS = 24 * 3_600_000;

function timeOf(stamp: string): number {
  // Rows written by SQLite's CURRENT_TIMESTAMP read "YYYY-MM-DD HH:MM:SS" (UTC).
  return Date.parse(stamp.includes('T') ? stamp : `${stamp.replace(' ', 'T')}Z`);
}

export async function claimIdempotencyKey(db: Db, opts: ClaimOptions): Promise<IdempotencyClaim> {
  const now = opts.now ?? new Date();
  const abandonedAfter = opts.abandonedAfterMs ?? DEFAULT_ABANDONED_AFTER_MS;
  const expireAfter = opts.expireAfterMs ?? DEFAULT_EXPIRE_AFTER_MS;
  return db.transaction().execute(async (trx) => {
    await lockKeyInTransaction(trx, `idempotency:${opts.scope}:${opts.key}`);
    const row = await trx
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('scope', '=', opts.scope)
      .where('key', '=', opts.key)
      .executeTakeFirst();
    if (row) {
      const age = now.getTime() - timeOf(row.created_at);
      const expired = age > expireAfter;
      const abandoned = row.status_code === IN_PROGRESS && age > abandonedAfter;
      if (!expired && !abandoned) {
        if (row.body_hash !== opts.bodyHash) return { state: 'mismatch' };
        if (row.status_code === IN_PROGRESS) return { state: 'in_progress' };
        return { state: 'completed', statusCode: row.status_code, responseJson: row.response_json };
      }
      await trx.deleteFrom('idempotency_keys').where('scope', '=', opts.scope).where('key', '=', opts.key).execute();
    }
    await trx
      .insertInto('idempotency_keys')
      .values({
        scope: opts.scope,
        key: opts.key,
        body_hash: opts.bodyHash,
        status_code: IN_PROGRESS,
        response_json: '',
        created_at: now.toISOString(),
      })
      .execute();
    return { state: 'claimed' };
  });
}

/** Stores the response of the request that claimed the key. */
export async function completeIdempotencyKey(
  db: Db,
  scope: string,
  key: string,
  statusCode: number,
  responseJson: string,
): Promise<void> {
  await db
    .updateTable('idempotency_keys')
    .set({ status_code: statusCode, response_json: responseJson })
    .where('scope', '=', scope)
    .where('key', '=', key)
    .where('status_code', '=', IN_PROGRESS)
    .execute();
}

/** Frees a claimed key whose request failed in a way worth retrying (the server's fault, not the client's). */
export async function releaseIdempotencyKey(db: Db, scope: string, key: string): Promise<void> {
  await db
    .deleteFrom('idempotency_keys')
    .where('scope', '=', scope)
    .where('key', '=', key)
    .where('status_code', '=', IN_PROGRESS)
    .execute();
}

export async function getIdempotencyKey(db: Db, scope: string, key: string) {
  return db.selectFrom('idempotency_keys').selectAll().where('scope', '=', scope).where('key', '=', key).executeTakeFirst();
}

/** Housekeeping: forgets keys created before `before` (ISO-8601). Returns how many. */
export async function deleteIdempotencyKeysBefore(db: Db, before: string): Promise<number> {
  const res = await db.deleteFrom('idempotency_keys').where('created_at', '<', before).executeTakeFirst();
  return Number(res.numDeletedRows);
}
