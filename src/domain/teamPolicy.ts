import type { JobSpec } from './jobSpec.js';

/**
 * How a team narrows what its jobs may ask for, within the service's own
 * allowlists: regions, instance types, a longest time to live, a number of
 * live environments, and when a plan needs approval. Pure: the caller reads
 * the team and counts its live jobs.
 */

export const APPROVAL_POLICIES = ['never', 'always', 'on_replace'] as const;
export type ApprovalPolicy = (typeof APPROVAL_POLICIES)[number];

export interface TeamPolicy {
  name: string;
  regions: string[] | null;
  instanceTypes: string[] | null;
  maxTtlHours: number | null;
  maxLiveJobs: number | null;
  approval: ApprovalPolicy;
}

export interface PolicyProblem {
  path: string;
  message: string;
}

/** Field by field, what the spec asks that the team does not allow (empty: nothing). */
export function teamPolicyProblems(spec: JobSpec, team: TeamPolicy, liveJobs: number): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  if (team.regions && !team.regions.includes(spec.region)) {
    problems.push({
      path: 'region',
      message: `region "${spec.region}" is not one team ${team.name} may use: ${team.regions.join(', ')}`,
    });
  }
  if (team.instanceTypes && !team.instanceTypes.includes(spec.instance.type)) {
    problems.push({
      path: 'instance.type',
      message: `instance.type "${spec.instance.type}" is not one team ${team.name} may use: ${team.instanceTypes.join(', ')}`,
    });
  }
  const ttl = spec.options?.ttlHours;
  if (team.maxTtlHours !== null && ttl !== undefined && ttl > team.maxTtlHours) {
    problems.push({
      path: 'options.ttlHours',
      message: `options.ttlHours must be at most ${team.maxTtlHours} for team ${team.name}`,
    });
  }
  if (team.maxLiveJobs !== null && liveJobs >= team.maxLiveJobs) {
    problems.push({
      path: 'auth.teamAccountId',
      message: `team ${team.name} has ${liveJobs} live environments, its limit: destroy one first, or ask an admin to raise the limit`,
    });
  }
  return problems;
}

/** The spec as the team's rules make it: its longest life when none was asked, and its approval policy. */
export function withTeamPolicy(spec: JobSpec, team: TeamPolicy): JobSpec {
  const options = { ...(spec.options ?? { requireApproval: false }) };
  if (team.maxTtlHours !== null && options.ttlHours === undefined) options.ttlHours = team.maxTtlHours;
  if (team.approval === 'always') options.requireApproval = true;
  if (team.approval === 'on_replace' && !options.requireApproval) options.approveWhen = 'replace_or_destroy';
  return { ...spec, options };
}

/** A team account's external ID before its last rotation, while its overlap lasts; else null. */
export function previousExternalId(
  account: { previous_external_id: string | null; previous_valid_until: string | null },
  now: Date,
): string | null {
  const until = account.previous_valid_until ? Date.parse(account.previous_valid_until) : Number.NaN;
  return account.previous_external_id && until > now.getTime() ? account.previous_external_id : null;
}
