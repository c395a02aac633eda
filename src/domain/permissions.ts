/**
 * Who may do what: the one table the form routes, the API and the pages ask,
 * so a refusal and a hidden button always agree. Pure: callers pass who acts
 * and the job's owner.
 */

export const ROLES = ['viewer', 'requester', 'approver', 'admin'] as const;
export type Role = (typeof ROLES)[number];

const RANK: Record<Role, number> = { viewer: 0, requester: 1, approver: 2, admin: 3 };

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** Whether `role` reaches `floor`: an approver can do all a requester can, an admin all of it. */
export function atLeast(role: Role, floor: Role): boolean {
  return RANK[role] >= RANK[floor];
}

/** The lower of two roles: a token never acts above the user it belongs to. */
export function lowerRole(a: Role, b: Role): Role {
  return RANK[a] <= RANK[b] ? a : b;
}

/** The highest role among several (a person in two mapped groups gets the higher one). */
export function highestRole(roles: Iterable<Role>): Role | null {
  let best: Role | null = null;
  for (const r of roles) if (best === null || RANK[r] > RANK[best]) best = r;
  return best;
}

export const ROLE_DESCRIPTIONS: Record<Role, string> = {
  viewer: 'sees jobs, their logs and the audit; no actions',
  requester: 'creates jobs and runs, cancels, destroys and clones their own',
  approver: "as a requester, and approves or rejects other people's plans",
  admin: 'everything, on every job; manages users and every API token',
};

/** Someone acting: a user id and the role they act with now. */
export interface Subject {
  userId: string;
  role: Role;
}

export type JobPermission = 'create' | 'run' | 'cancel' | 'destroy' | 'clone' | 'change' | 'approve' | 'reject' | 'see_inputs';

export type RefusalCode = 'role_required' | 'not_owner' | 'own_job';

export type Decision = { allowed: true } | { allowed: false; code: RefusalCode; message: string };

const ALLOWED: Decision = { allowed: true };

function refuse(code: RefusalCode, message: string): Decision {
  return { allowed: false, code, message };
}

/**
 * The rules: requesters act on their own jobs (admins on every job); approvers
 * and admins approve or reject other people's plans, never their own; the
 * users CSV and container environment are for the owner, approvers and admins.
 */
export function decide(who: Subject, permission: JobPermission, job?: { owner_id: string | null }): Decision {
  const owns = job !== undefined && job.owner_id === who.userId;
  switch (permission) {
    case 'create':
      return atLeast(who.role, 'requester')
        ? ALLOWED
        : refuse('role_required', `creating jobs needs the requester role; you are a ${who.role}`);
    case 'run':
    case 'cancel':
    case 'destroy':
    case 'clone':
    case 'change':
      if (!atLeast(who.role, 'requester')) {
        return refuse('role_required', `to ${permission} a job needs the requester role; you are a ${who.role}`);
      }
      if (owns || who.role === 'admin') return ALLOWED;
      return refuse('not_owner', `only the job's owner or an admin can ${permission} it`);
    case 'approve':
    case 'reject':
      if (!atLeast(who.role, 'approver')) {
        return refuse('role_required', `to ${permission} a plan needs the approver role; you are a ${who.role}`);
      }
      if (owns) return refuse('own_job', `you created this job: someone else must ${permission} its plan`);
      return ALLOWED;
    case 'see_inputs':
      return owns || atLeast(who.role, 'approver')
        ? ALLOWED
        : refuse('not_owner', "a job's users and container environment are shown to its owner, approvers and admins");
  }
}

export function allows(who: Subject, permission: JobPermission, job?: { owner_id: string | null }): boolean {
  return decide(who, permission, job).allowed;
}

/**
 * OIDC_ROLE_MAP: `group=role` pairs, comma separated, e.g.
 * `platform-admins=admin,devs=requester`. Throws naming the bad pair.
 */
export function parseRoleMap(text: string): Map<string, Role> {
  const map = new Map<string, Role>();
  for (const pair of text.split(',').map((p) => p.trim())) {
    if (!pair) continue;
    const sep = pair.lastIndexOf('=');
    const group = sep > 0 ? pair.slice(0, sep).trim() : '';
    const role = sep > 0 ? pair.slice(sep + 1).trim() : '';
    if (!group || !isRole(role)) {
      throw new Error(`"${pair}" is not group=role with a role among ${ROLES.join(', ')}`);
    }
    map.set(group, role);
  }
  return map;
}

/** The role a person's groups give: the highest mapped one, else the default (null: no access). */
export function roleFromGroups(groups: readonly string[], map: Map<string, Role>, fallback: Role | null): Role | null {
  return highestRole(groups.flatMap((g) => (map.has(g) ? [map.get(g)!] : []))) ?? fallback;
}

/** A user's role now: an admin's override, else what their groups mapped to at the last sign-in. */
export function effectiveRole(override: string | null, mapped: string | null): Role | null {
  if (isRole(override)) return override;
  return isRole(mapped) ? mapped : null;
}
