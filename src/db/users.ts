import crypto from 'node:crypto';
import type { Db } from './database.js';
import type { UserRow } from './schema.js';

/** People: rows made at first sign-in, kept current from the identity provider's claims at each one. */

export const LOCAL_ADMIN_ID = 'local-admin';
export const LOCAL_SUBJECT = 'local';

export function newUserId(): string {
  return `u${crypto.randomBytes(9).toString('base64url')}`;
}

export async function getUser(db: Db, id: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function getUserBySubject(db: Db, subject: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('subject', '=', subject).executeTakeFirst();
}

export async function listUsers(db: Db): Promise<UserRow[]> {
  return db.selectFrom('users').selectAll().orderBy('name').orderBy('id').limit(5000).execute();
}

export interface SignInClaims {
  subject: string;
  email: string | null;
  name: string;
  /** The role the groups map to now (null: none); an override set by an admin is kept. */
  mappedRole: string | null;
}

/**
 * Creates the user at first sign-in or refreshes their claims and mapped role;
 * one statement, so two first sign-ins at once make one row.
 */
export async function upsertSignedInUser(db: Db, claims: SignInClaims, now: Date): Promise<UserRow> {
  const at = now.toISOString();
  await db
    .insertInto('users')
    .values({
      id: newUserId(),
      subject: claims.subject,
      email: claims.email,
      name: claims.name,
      mapped_role: claims.mappedRole,
      active: 1,
      created_at: at,
      last_login_at: at,
    })
    .onConflict((oc) =>
      oc.column('subject').doUpdateSet({
        email: claims.email,
        name: claims.name,
        mapped_role: claims.mappedRole,
        last_login_at: at,
      }),
    )
    .execute();
  return (await getUserBySubject(db, claims.subject))!;
}

/**
 * A row for a principal the operator configures rather than a person signing
 * in (the local admin, each API_TOKENS entry): made if missing, renamed if
 * the configuration changed.
 */
export async function ensureConfiguredUser(
  db: Db,
  u: { id: string; subject: string; name: string; role: string },
): Promise<void> {
  await db
    .insertInto('users')
    .values({
      id: u.id,
      subject: u.subject,
      email: null,
      name: u.name,
      role_override: u.role,
      active: 1,
      created_at: new Date().toISOString(),
    })
    .onConflict((oc) => oc.column('id').doUpdateSet({ name: u.name, role_override: u.role }))
    .execute();
}

export async function setUserRoleOverride(db: Db, id: string, role: string | null): Promise<boolean> {
  const r = await db.updateTable('users').set({ role_override: role }).where('id', '=', id).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function setUserActive(db: Db, id: string, active: boolean, now: Date): Promise<boolean> {
  const r = await db
    .updateTable('users')
    .set({ active: active ? 1 : 0, deactivated_at: active ? null : now.toISOString() })
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function markLogin(db: Db, id: string, now: Date): Promise<void> {
  await db.updateTable('users').set({ last_login_at: now.toISOString() }).where('id', '=', id).execute();
}
