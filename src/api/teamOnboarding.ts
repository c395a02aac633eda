import type { Db } from '../db/database.js';
import type { TeamAccountRow } from '../db/schema.js';
import { getFact, WORKER_PRINCIPAL_FACT } from '../db/teams.js';
import {
  cloudFormationTemplate,
  permissionsPolicy,
  type StateBackendAccess,
  terraformSnippet,
  trustPolicy,
  workerTrustPrincipal,
} from '../domain/awsPolicy.js';
import { previousExternalId } from '../domain/teamPolicy.js';
import type { AccountPageProps } from './views/teams/AccountPage.js';

/** Stands in for the worker's principal until a worker has said who it is. */
const UNKNOWN_PRINCIPAL = 'arn:aws:iam::000000000000:role/THE-SERVICE-WORKER-ROLE';

/** What the set-up page of an account shows: the role's documents, made for this account and this service. */
export async function teamAccountOnboarding(
  db: Db,
  account: TeamAccountRow,
  teamName: string,
  stateBackend?: StateBackendAccess,
  now = new Date(),
): Promise<Omit<AccountPageProps, 'csrfToken' | 'check' | 'flash'>> {
  const recorded = await getFact(db, WORKER_PRINCIPAL_FACT);
  let principal: string | null = null;
  try {
    principal = recorded ? workerTrustPrincipal(recorded) : null;
  } catch {
    principal = null;
  }
  const previousId = previousExternalId(account, now);
  const previousValid = previousId ? { externalId: previousId, validUntil: account.previous_valid_until! } : null;
  const externalIds = [account.external_id, ...(previousValid ? [previousValid.externalId] : [])];
  const roleName = account.role_arn.split('/').pop()!;
  const opts = { roleName, workerPrincipalArn: principal ?? UNKNOWN_PRINCIPAL, externalIds, stateBackend };
  const partition = account.role_arn.split(':')[1];
  return {
    account: {
      id: account.id,
      label: account.label,
      accountId: account.account_id,
      roleArn: account.role_arn,
      roleName,
      teamName,
    },
    externalId: account.external_id,
    previous: previousValid,
    workerPrincipal: principal,
    trustPolicy: JSON.stringify(trustPolicy(opts), null, 2),
    permissionsPolicy: JSON.stringify(permissionsPolicy({ partition, stateBackend }), null, 2),
    cloudFormation: cloudFormationTemplate(opts),
    terraform: terraformSnippet(opts),
  };
}
