import type { Db } from '../db/database.js';
import { getAccount } from '../db/teams.js';
import type { JobSpec } from '../domain/jobSpec.js';
import type { TeamAccountRow } from '../db/schema.js';
import { previousExternalId } from '../domain/teamPolicy.js';
import type { AuthInput } from './awsCredentials.js';
import { InvalidInputError } from './awsErrors.js';

/**
 * The AssumeRole input of a job. A job in a team account takes the role and
 * the external ID from the account as it is now (the spec names the account,
 * and never carries its external ID), so a rotation reaches running jobs; the
 * ID before the rotation stays usable while its overlap lasts. Other jobs use
 * what their spec says.
 */
export async function authOf(db: Db, spec: JobSpec, now = new Date()): Promise<AuthInput> {
  const auth = spec.auth;
  if (auth.method !== 'assume_role') return auth;
  if (!auth.teamAccountId) {
    if (!auth.roleArn) throw new InvalidInputError('The job names no role to assume.', { field: 'auth.roleArn' });
    return { method: 'assume_role', roleArn: auth.roleArn, externalId: auth.externalId };
  }
  const account = await getAccount(db, auth.teamAccountId);
  if (!account) {
    throw new InvalidInputError(`The team account ${auth.teamAccountId} no longer exists; an admin removed it.`, {
      field: 'auth.teamAccountId',
    });
  }
  return accountAuth(account, now);
}

/** AssumeRole of a team account as it is now: its role, its external ID, and the previous one while it overlaps. */
export function accountAuth(account: TeamAccountRow, now = new Date()): AuthInput {
  const previous = previousExternalId(account, now);
  return {
    method: 'assume_role',
    roleArn: account.role_arn,
    externalId: account.external_id,
    ...(previous ? { previousExternalId: previous } : {}),
  };
}
