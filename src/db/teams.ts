import crypto from 'node:crypto';
import type { Db } from './database.js';
import type { TeamAccountRow, TeamRow, UserRow } from './schema.js';

/** Teams, their members and their AWS accounts. */

export function newTeamId(): string {
  return `team${crypto.randomBytes(6).toString('hex')}`;
}

export function newAccountId(): string {
  return `acct${crypto.randomBytes(6).toString('hex')}`;
}

export type TeamSettings = Pick<
  TeamRow,
  'name' | 'oidc_group' | 'allowed_regions' | 'allowed_instance_types' | 'max_ttl_hours' | 'max_live_jobs' | 'approval_policy'
>;

export async function insertTeam(db: Db, id: string, t: TeamSettings, now: Date): Promise<void> {
  await db
    .insertInto('teams')
    .values({ id, ...t, created_at: now.toISOString() })
    .execute();
}

export async function updateTeam(db: Db, id: string, t: TeamSettings): Promise<void> {
  await db.updateTable('teams').set(t).where('id', '=', id).execute();
}

export async function getTeam(db: Db, id: string): Promise<TeamRow | undefined> {
  return db.selectFrom('teams').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function getTeamByName(db: Db, name: string): Promise<TeamRow | undefined> {
  return db.selectFrom('teams').selectAll().where('name', '=', name).executeTakeFirst();
}

export async function listTeams(db: Db): Promise<TeamRow[]> {
  return db.selectFrom('teams').selectAll().orderBy('name').execute();
}

export async function teamsOfUser(db: Db, userId: string): Promise<TeamRow[]> {
  return db
    .selectFrom('teams')
    .innerJoin('team_members', 'team_members.team_id', 'teams.id')
    .selectAll('teams')
    .where('team_members.user_id', '=', userId)
    .orderBy('teams.name')
    .execute();
}

export async function isMember(db: Db, teamId: string, userId: string): Promise<boolean> {
  const row = await db
    .selectFrom('team_members')
    .select('user_id')
    .where('team_id', '=', teamId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return row !== undefined;
}

export async function addMember(db: Db, teamId: string, userId: string, source: 'oidc' | 'admin'): Promise<void> {
  await db
    .insertInto('team_members')
    .values({ team_id: teamId, user_id: userId, source })
    .onConflict((oc) => oc.columns(['team_id', 'user_id']).doNothing())
    .execute();
}

export async function removeMember(db: Db, teamId: string, userId: string): Promise<void> {
  await db.deleteFrom('team_members').where('team_id', '=', teamId).where('user_id', '=', userId).execute();
}

export async function listMembers(db: Db, teamId: string): Promise<(UserRow & { source: string })[]> {
  return db
    .selectFrom('users')
    .innerJoin('team_members', 'team_members.user_id', 'users.id')
    .selectAll('users')
    .select('team_members.source')
    .where('team_members.team_id', '=', teamId)
    .orderBy('users.name')
    .execute();
}

/**
 * Keeps a person's group-given memberships in step with the groups the
 * identity provider sent at sign-in: teams whose group they are in, and no
 * longer those they left. Memberships an admin added stay.
 */
export async function syncGroupMemberships(db: Db, userId: string, groups: readonly string[]): Promise<void> {
  const teams = await db.selectFrom('teams').select(['id', 'oidc_group']).where('oidc_group', 'is not', null).execute();
  for (const t of teams) {
    if (groups.includes(t.oidc_group!)) await addMember(db, t.id, userId, 'oidc');
    else {
      await db
        .deleteFrom('team_members')
        .where('team_id', '=', t.id)
        .where('user_id', '=', userId)
        .where('source', '=', 'oidc')
        .execute();
    }
  }
}

export async function insertAccount(
  db: Db,
  a: Pick<TeamAccountRow, 'id' | 'team_id' | 'label' | 'account_id' | 'role_arn' | 'external_id'>,
  now: Date,
): Promise<void> {
  await db
    .insertInto('team_accounts')
    .values({ ...a, created_at: now.toISOString() })
    .execute();
}

export async function getAccount(db: Db, id: string): Promise<TeamAccountRow | undefined> {
  return db.selectFrom('team_accounts').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listAccounts(db: Db, teamId: string): Promise<TeamAccountRow[]> {
  return db.selectFrom('team_accounts').selectAll().where('team_id', '=', teamId).orderBy('label').execute();
}

export type AccountWithTeam = TeamAccountRow & { team_name: string };

/** The accounts a person may run jobs in: their teams' (every team's for `all`). */
export async function usableAccounts(db: Db, userId: string, all = false): Promise<AccountWithTeam[]> {
  let q = db
    .selectFrom('team_accounts')
    .innerJoin('teams', 'teams.id', 'team_accounts.team_id')
    .selectAll('team_accounts')
    .select('teams.name as team_name');
  if (!all) {
    q = q.where('team_accounts.team_id', 'in', db.selectFrom('team_members').select('team_id').where('user_id', '=', userId));
  }
  return q.orderBy('teams.name').orderBy('team_accounts.label').execute();
}

export async function accountsByRoleArn(db: Db, roleArn: string): Promise<TeamAccountRow[]> {
  return db.selectFrom('team_accounts').selectAll().where('role_arn', '=', roleArn).execute();
}

export async function rotateExternalId(db: Db, id: string, next: string, previousValidUntil: Date, now: Date): Promise<void> {
  const account = await getAccount(db, id);
  if (!account) return;
  await db
    .updateTable('team_accounts')
    .set({
      external_id: next,
      previous_external_id: account.external_id,
      previous_valid_until: previousValidUntil.toISOString(),
      rotated_at: now.toISOString(),
    })
    .where('id', '=', id)
    .where('external_id', '=', account.external_id)
    .execute();
}

export async function deleteAccount(db: Db, id: string): Promise<void> {
  await db.deleteFrom('team_accounts').where('id', '=', id).execute();
}

/** Environments a team holds now: jobs on their way or done but not destroyed, and failed ones that left resources. */
export async function countLiveJobs(db: Db, teamId: string): Promise<number> {
  const row = await db
    .selectFrom('jobs')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('team_id', '=', teamId)
    .where((eb) =>
      eb.or([
        eb('status', 'in', ['running', 'awaiting_approval', 'succeeded', 'cancelling', 'destroying']),
        eb.and([eb('status', '=', 'failed'), eb('has_resources', '=', 1)]),
      ]),
    )
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** The worker's AWS principal (GetCallerIdentity), as the worker last saw it: what trust policies must name. */
export const WORKER_PRINCIPAL_FACT = 'worker_principal_arn';

export async function setFact(db: Db, key: string, value: string, now = new Date()): Promise<void> {
  await db
    .insertInto('service_facts')
    .values({ key, value, updated_at: now.toISOString() })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at: now.toISOString() }))
    .execute();
}

export async function getFact(db: Db, key: string): Promise<string | null> {
  return (await db.selectFrom('service_facts').select('value').where('key', '=', key).executeTakeFirst())?.value ?? null;
}
