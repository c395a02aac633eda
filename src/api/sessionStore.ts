import type { Db } from '../db/database.js';
import { insertSession, isSessionActive, pruneExpiredSessions, revokeSession } from '../db/sessions.js';
import type { SessionStore } from './auth.js';

/** Sessions in the app's database, shared by every web process that serves the same users. */
export function databaseSessionStore(db: Db, now: () => Date = () => new Date()): SessionStore {
  return {
    async create(idHash, user, expiresAt) {
      await pruneExpiredSessions(db, now());
      await insertSession(db, { idHash, user, createdAt: now(), expiresAt });
    },
    isActive: (idHash) => isSessionActive(db, idHash, now()),
    revoke: (idHash) => revokeSession(db, idHash, now()),
  };
}
