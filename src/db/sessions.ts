import type { Db } from './database.js';

/** Browser sessions by the hash of their id; the signed cookie carries the id itself. */

export async function insertSession(
  db: Db,
  s: { idHash: string; user: string; createdAt: Date; expiresAt: Date },
): Promise<void> {
  await db
    .insertInto('sessions')
    .values({
      id_hash: s.idHash,
      user: s.user,
      created_at: s.createdAt.toISOString(),
      expires_at: s.expiresAt.toISOString(),
      revoked_at: null,
    })
    .execute();
}

/** Active: recorded, not signed out, not expired. */
export async function isSessionActive(db: Db, idHash: string, now: Date): Promise<boolean> {
  const row = await db
    .selectFrom('sessions')
    .select('id_hash')
    .where('id_hash', '=', idHash)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now.toISOString())
    .executeTakeFirst();
  return row !== undefined;
}

export async function revokeSession(db: Db, idHash: string, at: Date): Promise<void> {
  await db.updateTable('sessions').set({ revoked_at: at.toISOString() }).where('id_hash', '=', idHash).execute();
}

/** Expired rows serve no check any more; removed at sign-in so the table stays small. */
export async function pruneExpiredSessions(db: Db, now: Date): Promise<void> {
  await db.deleteFrom('sessions').where('expires_at', '<=', now.toISOString()).execute();
}
