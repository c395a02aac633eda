import crypto from 'node:crypto';
import type { Db } from '../db/database.js';
import { getApiToken, insertApiToken, listApiTokens, revokeApiToken, type TokenListRow } from '../db/apiTokens.js';
import { recordAudit } from '../db/audit.js';
import type { ApiTokenRow, UserRow } from '../db/schema.js';
import { getUser, LOCAL_ADMIN_ID, LOCAL_SUBJECT, setUserActive, setUserRoleOverride } from '../db/users.js';
import { atLeast, effectiveRole, isRole, type Role } from '../domain/permissions.js';
import { sha256Hex } from './auth.js';
import { CommandError } from './commandError.js';
import type { Actor } from './jobCommands.js';
import type { TokenInput, UserUpdate } from './peopleRoutes.js';

/**
 * API tokens and users, shared by their pages and the API so both apply the
 * same rules: a token's role is never above its user's, people manage their
 * own tokens and admins everyone's, and only admins change users.
 */

export type TokenState = 'active' | 'expired' | 'revoked';

export function tokenState(t: Pick<ApiTokenRow, 'revoked_at' | 'expires_at'>, now: Date): TokenState {
  if (t.revoked_at) return 'revoked';
  return t.expires_at && Date.parse(t.expires_at) <= now.getTime() ? 'expired' : 'active';
}

/** The secret's prefix tells secret scanners and people what it is. */
const TOKEN_PREFIX = 'prov_';

export async function createToken(
  db: Db,
  actor: Actor,
  input: TokenInput,
  now = new Date(),
): Promise<{ token: TokenListRow; secret: string }> {
  const role: Role = input.role ?? actor.role;
  if (!atLeast(actor.role, role)) {
    throw new CommandError(
      'role_required',
      `a token's role cannot be above yours: you are a ${actor.role}, the token asked for ${role}`,
    );
  }
  const secret = `${TOKEN_PREFIX}${crypto.randomBytes(32).toString('base64url')}`;
  const id = `t${crypto.randomBytes(8).toString('hex')}`;
  const expiresAt = input.expiresInDays ? new Date(now.getTime() + input.expiresInDays * 86_400_000) : null;
  await insertApiToken(db, {
    id,
    userId: actor.userId,
    name: input.name,
    role,
    tokenHash: sha256Hex(secret),
    createdAt: now,
    expiresAt,
  });
  await recordAudit(db, {
    actor,
    action: 'token_create',
    detail: `${input.name} (${role}${expiresAt ? `, expires ${expiresAt.toISOString().slice(0, 10)}` : ''})`,
  });
  const token = (await listApiTokens(db, actor.userId)).find((t) => t.id === id)!;
  return { token, secret };
}

/** Everyone's tokens for an admin, one's own for anyone else. */
export function tokensFor(db: Db, actor: Actor): Promise<TokenListRow[]> {
  return listApiTokens(db, actor.role === 'admin' ? undefined : actor.userId);
}

export async function revokeToken(db: Db, actor: Actor, id: string, now = new Date()): Promise<TokenListRow> {
  const token = await getApiToken(db, id);
  if (!token || (token.user_id !== actor.userId && actor.role !== 'admin')) {
    // Someone else's token is "not found" to a non-admin: its existence is not theirs to learn.
    throw new CommandError('not_found', `token ${id} not found`);
  }
  if (await revokeApiToken(db, id, now)) {
    await recordAudit(db, { actor, action: 'token_revoke', detail: `${token.name} (${token.id})` });
  }
  return (await listApiTokens(db, token.user_id)).find((t) => t.id === id)!;
}

function requireAdmin(actor: Actor, what: string): void {
  if (actor.role !== 'admin') throw new CommandError('role_required', `${what} needs the admin role; you are a ${actor.role}`);
}

/** Users the operator configures (the local admin, API_TOKENS names): their role comes from the configuration. */
export function configuredUser(u: Pick<UserRow, 'id' | 'subject'>): boolean {
  return u.id === LOCAL_ADMIN_ID || u.subject === LOCAL_SUBJECT || u.subject.startsWith('env-token:');
}

export async function updateUser(db: Db, actor: Actor, id: string, update: UserUpdate, now = new Date()): Promise<UserRow> {
  requireAdmin(actor, 'changing users');
  const user = await getUser(db, id);
  if (!user) throw new CommandError('not_found', `user ${id} not found`);
  const changes: string[] = [];
  if (update.role !== undefined && update.role !== user.role_override) {
    if (configuredUser(user)) {
      throw new CommandError(
        'conflict',
        `${user.name} is configured by the operator (admin role); their role cannot be changed here`,
      );
    }
    if (update.role !== null && !isRole(update.role)) throw new CommandError('conflict', 'unknown role');
    await setUserRoleOverride(db, id, update.role);
    changes.push(update.role ? `role set to ${update.role}` : 'role follows the identity provider again');
  }
  if (update.active !== undefined && update.active !== (user.active === 1)) {
    if (!update.active && user.id === LOCAL_ADMIN_ID) {
      throw new CommandError('conflict', 'the local admin account is switched off with LOCAL_LOGIN=false, not deactivated');
    }
    if (!update.active && user.id === actor.userId) throw new CommandError('conflict', 'you cannot deactivate yourself');
    await setUserActive(db, id, update.active, now);
    changes.push(update.active ? 'reactivated' : 'deactivated: sessions and tokens stopped');
  }
  if (changes.length)
    await recordAudit(db, { actor, action: 'user_update', detail: `${user.name} (${user.id}): ${changes.join('; ')}` });
  return (await getUser(db, id))!;
}

export function userRole(u: Pick<UserRow, 'role_override' | 'mapped_role'>): Role | null {
  return effectiveRole(u.role_override, u.mapped_role);
}

/** A user as the API answers and the users page lists them. */
export function userSummary(u: UserRow) {
  return {
    id: u.id,
    name: u.name,
    email: u.email,
    subject: u.subject,
    role: userRole(u),
    mappedRole: isRole(u.mapped_role) ? u.mapped_role : null,
    roleOverride: isRole(u.role_override) ? u.role_override : null,
    active: u.active === 1,
    createdAt: u.created_at,
    lastLoginAt: u.last_login_at,
  };
}

/** A token as the API answers and the tokens page lists it: never its secret, which is not kept. */
export function tokenSummary(t: TokenListRow, now = new Date()) {
  return {
    id: t.id,
    name: t.name,
    role: t.role,
    userId: t.user_id,
    userName: t.user_name,
    createdAt: t.created_at,
    expiresAt: t.expires_at,
    lastUsedAt: t.last_used_at,
    revokedAt: t.revoked_at,
    state: tokenState(t, now),
  };
}
