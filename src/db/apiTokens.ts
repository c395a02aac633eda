import type { Db } from './database.js';
import type { ApiTokenRow } from './schema.js';

/** Named API tokens by the sha256 of their secret; the secret itself is never stored. */

export async function insertApiToken(
  db: Db,
  t: { id: string; userId: string; name: string; role: string; tokenHash: string; createdAt: Date; expiresAt: Date | null },
): Promise<void> {
  await db
    .insertInto('api_tokens')
    .values({
      id: t.id,
      user_id: t.userId,
      name: t.name,
      role: t.role,
      token_hash: t.tokenHash,
      created_at: t.createdAt.toISOString(),
      expires_at: t.expiresAt?.toISOString() ?? null,
    })
    .execute();
}

export type TokenWithUser = ApiTokenRow & {
  user_name: string;
  user_active: number;
  user_role_override: string | null;
  user_mapped_role: string | null;
};

/** The token a secret's hash names, with its user; whether it may act is for the caller to judge. */
export async function findApiTokenByHash(db: Db, tokenHash: string): Promise<TokenWithUser | undefined> {
  return db
    .selectFrom('api_tokens')
    .innerJoin('users', 'users.id', 'api_tokens.user_id')
    .selectAll('api_tokens')
    .select([
      'users.name as user_name',
      'users.active as user_active',
      'users.role_override as user_role_override',
      'users.mapped_role as user_mapped_role',
    ])
    .where('api_tokens.token_hash', '=', tokenHash)
    .executeTakeFirst();
}

export async function getApiToken(db: Db, id: string): Promise<ApiTokenRow | undefined> {
  return db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
}

export type TokenListRow = ApiTokenRow & { user_name: string };

/** Tokens, newest first: one user's, or (userId undefined) everyone's. */
export async function listApiTokens(db: Db, userId?: string): Promise<TokenListRow[]> {
  let q = db
    .selectFrom('api_tokens')
    .innerJoin('users', 'users.id', 'api_tokens.user_id')
    .selectAll('api_tokens')
    .select('users.name as user_name');
  if (userId !== undefined) q = q.where('api_tokens.user_id', '=', userId);
  return q.orderBy('api_tokens.created_at', 'desc').orderBy('api_tokens.id').limit(1000).execute();
}

export async function revokeApiToken(db: Db, id: string, now: Date): Promise<boolean> {
  const r = await db
    .updateTable('api_tokens')
    .set({ revoked_at: now.toISOString() })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function touchApiToken(db: Db, id: string, now: Date): Promise<void> {
  await db.updateTable('api_tokens').set({ last_used_at: now.toISOString() }).where('id', '=', id).execute();
}
