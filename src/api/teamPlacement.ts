import type { Db } from '../db/database.js';
import type { TeamAccountRow, TeamRow } from '../db/schema.js';
import { accountsByRoleArn, countLiveJobs, getAccount, getTeam, isMember } from '../db/teams.js';
import type { JobSpec } from '../domain/jobSpec.js';
import { isRole } from '../domain/permissions.js';
import {
  type ApprovalPolicy,
  APPROVAL_POLICIES,
  type TeamPolicy,
  teamPolicyProblems,
  withTeamPolicy,
} from '../domain/teamPolicy.js';
import { CommandError } from './commandError.js';
import type { Actor } from './jobCommands.js';

/**
 * Where a new job runs: one of the creator's team accounts (picked, or
 * recognised from a typed role ARN), under that team's narrowing of the
 * allowlists; or, where the operator allows it, a typed role of the
 * creator's own. Another team's account is never usable: its role trusts
 * the service, and only the external ID stands between it and anyone who can
 * sign in (the confused deputy).
 */

export interface Placement {
  spec: JobSpec;
  teamId: string | null;
  teamAccountId: string | null;
}

export function teamPolicyOf(team: TeamRow): TeamPolicy {
  const list = (json: string | null) => (json ? (JSON.parse(json) as string[]) : null);
  return {
    name: team.name,
    regions: list(team.allowed_regions),
    instanceTypes: list(team.allowed_instance_types),
    maxTtlHours: team.max_ttl_hours,
    maxLiveJobs: team.max_live_jobs,
    approval: (APPROVAL_POLICIES as readonly string[]).includes(team.approval_policy)
      ? (team.approval_policy as ApprovalPolicy)
      : 'never',
  };
}

async function mayUse(db: Db, actor: Actor, account: TeamAccountRow): Promise<boolean> {
  return (isRole(actor.role) && actor.role === 'admin') || isMember(db, account.team_id, actor.userId);
}

export async function placeJob(db: Db, actor: Actor, spec: JobSpec, opts: { teamAccountsOnly: boolean }): Promise<Placement> {
  const auth = spec.auth;
  if (auth.method !== 'assume_role') return { spec, teamId: null, teamAccountId: null };
  let account: TeamAccountRow | undefined;
  if (auth.teamAccountId) {
    account = await getAccount(db, auth.teamAccountId);
    // The same refusal as for another team's account: which ids exist is no business of a non-member.
    if (!account) {
      throw new CommandError(
        'account_not_in_team',
        `auth.teamAccountId: ${auth.teamAccountId} is not a team account you may use`,
      );
    }
    if (!(await mayUse(db, actor, account))) {
      throw new CommandError('account_not_in_team', `account ${account.label} belongs to a team you are not in`);
    }
  } else if (auth.roleArn) {
    const known = await accountsByRoleArn(db, auth.roleArn);
    for (const candidate of known) if (!account && (await mayUse(db, actor, candidate))) account = candidate;
    if (!account && known.length > 0) {
      throw new CommandError('account_not_in_team', `the role ${auth.roleArn} belongs to another team's AWS account`);
    }
    if (!account && opts.teamAccountsOnly) {
      const message =
        "auth.roleArn: pick one of your team's AWS accounts (auth.teamAccountId); roles of one's own are off on this service";
      throw new CommandError('validation_failed', message, [{ path: 'auth.roleArn', message }]);
    }
  }
  if (!account) return { spec, teamId: null, teamAccountId: null };

  const team = (await getTeam(db, account.team_id))!;
  const policy = teamPolicyOf(team);
  const problems = teamPolicyProblems(spec, policy, await countLiveJobs(db, team.id));
  if (problems.length) {
    throw new CommandError(
      'validation_failed',
      problems.length === 1 ? problems[0].message : `the job does not fit team ${team.name}'s rules: ${problems.length} problems`,
      problems,
    );
  }
  // The account's role, and never an external ID in the spec: the worker takes the account's own.
  const placed: JobSpec = { ...spec, auth: { method: 'assume_role', roleArn: account.role_arn, teamAccountId: account.id } };
  return { spec: withTeamPolicy(placed, policy), teamId: team.id, teamAccountId: account.id };
}

/** At start: a draft made while the team had room may find it full now. */
export async function checkTeamRoom(db: Db, teamId: string | null): Promise<void> {
  if (!teamId) return;
  const team = await getTeam(db, teamId);
  if (!team || team.max_live_jobs === null) return;
  const live = await countLiveJobs(db, teamId);
  if (live >= team.max_live_jobs) {
    throw new CommandError(
      'conflict',
      `team ${team.name} has ${live} live environments, its limit: destroy one first, or ask an admin to raise the limit`,
    );
  }
}
