import crypto from 'node:crypto';
import type { Db } from '../db/database.js';
import { recordAudit } from '../db/audit.js';
import type { TeamAccountRow, TeamRow } from '../db/schema.js';
import {
  addMember,
  deleteAccount,
  getAccount,
  getTeam,
  getTeamByName,
  insertAccount,
  insertTeam,
  isMember,
  newAccountId,
  newTeamId,
  removeMember,
  rotateExternalId,
  updateTeam,
  type TeamSettings,
} from '../db/teams.js';
import { getUser } from '../db/users.js';
import { CommandError } from './commandError.js';
import type { Actor } from './jobCommands.js';
import { type AccountInput, accountOfRoleArn, type TeamInput } from './teamInputs.js';

/**
 * Teams, their members and AWS accounts: admins change them; a team's
 * members (and admins) read its accounts. External IDs are made here and
 * nowhere else.
 */

export interface Allowlists {
  regions: string[];
  instanceTypes: string[];
}

function requireAdmin(actor: Actor): void {
  if (actor.role !== 'admin')
    throw new CommandError('role_required', `managing teams needs the admin role; you are a ${actor.role}`);
}

/** Random, and with nothing in it a person could guess or carry from one team to another. */
export function newExternalId(): string {
  return `prov-${crypto.randomBytes(24).toString('base64url')}`;
}

function settingsOf(input: TeamInput, global: Allowlists): TeamSettings {
  const fields: { path: string; message: string }[] = [];
  for (const r of input.regions ?? []) {
    if (!global.regions.includes(r))
      fields.push({ path: 'regions', message: `regions: "${r}" is not in the service's ALLOWED_REGIONS` });
  }
  for (const t of input.instanceTypes ?? []) {
    if (!global.instanceTypes.includes(t)) {
      fields.push({ path: 'instanceTypes', message: `instanceTypes: "${t}" is not in the service's ALLOWED_INSTANCE_TYPES` });
    }
  }
  if (fields.length) throw new CommandError('validation_failed', fields[0].message, fields);
  return {
    name: input.name,
    oidc_group: input.oidcGroup || null,
    allowed_regions: input.regions ? JSON.stringify(input.regions) : null,
    allowed_instance_types: input.instanceTypes ? JSON.stringify(input.instanceTypes) : null,
    max_ttl_hours: input.maxTtlHours ?? null,
    max_live_jobs: input.maxLiveJobs ?? null,
    approval_policy: input.approvalPolicy,
  };
}

export async function createTeam(db: Db, actor: Actor, input: TeamInput, global: Allowlists): Promise<TeamRow> {
  requireAdmin(actor);
  const settings = settingsOf(input, global);
  if (await getTeamByName(db, input.name)) {
    throw new CommandError('validation_failed', `name: a team called ${input.name} exists`, [
      { path: 'name', message: `name: a team called ${input.name} exists` },
    ]);
  }
  const id = newTeamId();
  await insertTeam(db, id, settings, new Date());
  await recordAudit(db, { actor, action: 'team_create', detail: `${input.name} (${id})` });
  return (await getTeam(db, id))!;
}

export async function changeTeam(db: Db, actor: Actor, id: string, input: TeamInput, global: Allowlists): Promise<TeamRow> {
  requireAdmin(actor);
  const team = await getTeam(db, id);
  if (!team) throw new CommandError('not_found', `team ${id} not found`);
  await updateTeam(db, id, settingsOf(input, global));
  await recordAudit(db, { actor, action: 'team_update', detail: `${input.name} (${id})` });
  return (await getTeam(db, id))!;
}

export async function setMembership(db: Db, actor: Actor, teamId: string, userId: string, member: boolean): Promise<void> {
  requireAdmin(actor);
  const [team, user] = await Promise.all([getTeam(db, teamId), getUser(db, userId)]);
  if (!team) throw new CommandError('not_found', `team ${teamId} not found`);
  if (!user) throw new CommandError('not_found', `user ${userId} not found`);
  if (member) await addMember(db, teamId, userId, 'admin');
  else await removeMember(db, teamId, userId);
  await recordAudit(db, {
    actor,
    action: member ? 'team_member_add' : 'team_member_remove',
    detail: `${user.name} in ${team.name}`,
  });
}

export async function addAccount(db: Db, actor: Actor, teamId: string, input: AccountInput): Promise<TeamAccountRow> {
  requireAdmin(actor);
  const team = await getTeam(db, teamId);
  if (!team) throw new CommandError('not_found', `team ${teamId} not found`);
  const id = newAccountId();
  try {
    await insertAccount(
      db,
      {
        id,
        team_id: teamId,
        label: input.label,
        account_id: accountOfRoleArn(input.roleArn),
        role_arn: input.roleArn,
        external_id: newExternalId(),
      },
      new Date(),
    );
  } catch {
    const message = `roleArn: team ${team.name} has this role already`;
    throw new CommandError('validation_failed', message, [{ path: 'roleArn', message }]);
  }
  await recordAudit(db, { actor, action: 'account_add', detail: `${input.label} (${input.roleArn}) to ${team.name}` });
  return (await getAccount(db, id))!;
}

/** A new external ID; the old one keeps working for `overlapHours`, while the role's trust policy is updated. */
export async function rotateAccount(
  db: Db,
  actor: Actor,
  id: string,
  overlapHours: number,
  now = new Date(),
): Promise<TeamAccountRow> {
  requireAdmin(actor);
  const account = await getAccount(db, id);
  if (!account) throw new CommandError('not_found', `account ${id} not found`);
  await rotateExternalId(db, id, newExternalId(), new Date(now.getTime() + overlapHours * 3_600_000), now);
  await recordAudit(db, {
    actor,
    action: 'account_rotate',
    detail: `${account.label}: previous external ID valid ${overlapHours} h more`,
  });
  return (await getAccount(db, id))!;
}

export async function removeAccount(db: Db, actor: Actor, id: string): Promise<void> {
  requireAdmin(actor);
  const account = await getAccount(db, id);
  if (!account) throw new CommandError('not_found', `account ${id} not found`);
  await deleteAccount(db, id);
  await recordAudit(db, { actor, action: 'account_remove', detail: `${account.label} (${account.role_arn})` });
}

/** An account a person may see (its external ID included): their team's, or any for an admin. */
export async function readableAccount(db: Db, actor: Actor, id: string): Promise<TeamAccountRow> {
  const account = await getAccount(db, id);
  if (!account || (actor.role !== 'admin' && !(await isMember(db, account.team_id, actor.userId)))) {
    throw new CommandError('not_found', `account ${id} not found`);
  }
  return account;
}
