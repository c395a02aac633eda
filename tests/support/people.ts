import crypto from 'node:crypto';
import { csrfTokenFor, SESSION_COOKIE, sha256Hex } from '../../src/api/auth.js';
import { createToken } from '../../src/api/peopleCommands.js';
import type { Db } from '../../src/db/database.js';
import type { UserRow } from '../../src/db/schema.js';
import { insertSession } from '../../src/db/sessions.js';
import { setUserRoleOverride, upsertSignedInUser } from '../../src/db/users.js';
import { insertTeam, newTeamId } from '../../src/db/teams.js';
import type { Role } from '../../src/domain/permissions.js';

/**
 * People for tests of roles: a user as a first sign-in makes them (with a
 * role set by an admin), a browser session of theirs as the sign-in would
 * open it, and an API token of theirs as /tokens would make it.
 */

export async function makeUser(db: Db, name: string, role: Role | null): Promise<UserRow> {
  const user = await upsertSignedInUser(
    db,
    { subject: `oidc:${name}`, email: `${name}@example.com`, name, mappedRole: null },
    new Date(),
  );
  await setUserRoleOverride(db, user.id, role);
  return { ...user, role_override: role };
}

/** A session cookie signed as hono's setSignedCookie signs it, and the CSRF token its pages carry. */
export async function sessionFor(db: Db, secretKey: string, user: Pick<UserRow, 'id' | 'name'>) {
  const sid = crypto.randomBytes(18).toString('base64url');
  const expires = Date.now() + 3_600_000;
  await insertSession(db, {
    idHash: sha256Hex(sid),
    userId: user.id,
    userName: user.name,
    createdAt: new Date(),
    expiresAt: new Date(expires),
  });
  const value = `${user.id}|${sid}|${expires}`;
  const signature = crypto.createHmac('sha256', secretKey).update(value).digest('base64');
  return {
    cookie: `${SESSION_COOKIE}=${encodeURIComponent(`${value}.${signature}`)}`,
    csrf: csrfTokenFor(secretKey, `session:${sid}`),
  };
}

export async function tokenFor(
  db: Db,
  user: Pick<UserRow, 'id' | 'name'>,
  role: Role,
  extra: { expiresInDays?: number; name?: string } = {},
) {
  const { secret, token } = await createToken(
    db,
    { user: user.name, userId: user.id, role },
    { name: extra.name ?? `${user.name}-token`, role, expiresInDays: extra.expiresInDays },
  );
  return { secret, id: token.id };
}

/** A team with no rules of its own (the service's allowlists apply), optionally following an identity provider group. */
export async function makeTeam(db: Db, name: string, oidcGroup: string | null = null): Promise<string> {
  const id = newTeamId();
  await insertTeam(
    db,
    id,
    {
      name,
      oidc_group: oidcGroup,
      allowed_regions: null,
      allowed_instance_types: null,
      max_ttl_hours: null,
      max_live_jobs: null,
      approval_policy: 'never',
    },
    new Date(),
  );
  return id;
}
