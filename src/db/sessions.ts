import type { Db } from './database.js';
import type { UserRow } from './schema.js';

/** Browser sessions by the hash of their id; the signed cookie carries the id itself. */

export async function insertSession(
  db: Db,
  s: { idHash: string; userId: string; userName: string; createdAt: Date; expiresAt: Date },
): Promise<void> {
  await db
    .insertInto('sessions')
    .values({
      id_hash: s.idHash,
      user: s.userName,
      user_id: s.userId,
      created_at: s.createdAt.toISOString(),
      expires_at: s.expiresAt.toISOString(),
      revoked_at: null,
    })
    .execute();
}

/**
 * The user of an active session (recorded, not signed out, not expired, of
 * the user the cookie names), whatever that user's state: the caller refuses
 * deactivated users, so deactivation ends every session at once.
 */
export async function sessionUser(db: Db, idHash: string, userId: string, now: Date): Promise<UserRow | undefined> {
  return db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .selectAll('users')
    .where('sessions.id_hash', '=', idHash)
    .where('sessions.user_id', '=', userId)
    .where('sessions.revoked_at', 'is', null)
    .where('sessions.expires_at', '>', now.toISOString())
    .executeTakeFirst();
}

export async function revokeSession(db: Db, idHash: string, at: Date): Promise<void> {
  await db.updateTable('sessions').set({ revoked_at: at.toISOString() }).where('id_hash', '=', idHash).execute();
}

/** Expired rows serve no check any more; removed at sign-in so the table stays small. */
export async function pruneExpiredSessions(db: Db, now: Date): Promise<void> {
  await db.deleteFrom('sessions').where('expires_at', '<=', now.toISOString()).execute();
}
