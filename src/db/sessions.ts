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
      last_seen_at: s.createdAt.toISOString(),
      revoked_at: null,
    })
    .execute();
}

/**
 * The user of an active session (recorded, not signed out, not expired, of
 * the user the cookie names), whatever that user's state: the caller refuses
 * deactivated users, so deactivation ends every session at once.
 */
export async function sessionUser(
  db: Db,
  idHash: string,
  userId: string,
  now: Date,
): Promise<(UserRow & { session_seen_at: string }) | undefined> {
  return (
    db
      .selectFrom('sessions')
      .innerJoin('users', 'users.id', 'sessions.user_id')
      .selectAll('users')
      // When the session was last used (its start for sessions from before that was kept).
      .select((eb) => eb.fn.coalesce('sessions.last_seen_at', 'sessions.created_at').as('session_seen_at'))
      .where('sessions.id_hash', '=', idHash)
      .where('sessions.user_id', '=', userId)
      .where('sessions.revoked_at', 'is', null)
      .where('sessions.expires_at', '>', now.toISOString())
      .executeTakeFirst()
  );
}

/** The session was used now: its idle time starts again. */
export async function touchSession(db: Db, idHash: string, at: Date): Promise<void> {
  await db.updateTable('sessions').set({ last_seen_at: at.toISOString() }).where('id_hash', '=', idHash).execute();
}

export async function revokeSession(db: Db, idHash: string, at: Date): Promise<void> {
  await db.updateTable('sessions').set({ revoked_at: at.toISOString() }).where('id_hash', '=', idHash).execute();
}

/** Expired rows serve no check any more; removed at sign-in so the table stays small. */
export async function pruneExpiredSessions(db: Db, now: Date): Promise<void> {
  await db.deleteFrom('sessions').where('expires_at', '<=', now.toISOString()).execute();
}
