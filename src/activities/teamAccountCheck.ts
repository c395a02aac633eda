import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { Db } from '../db/database.js';
import { getAccount, setFact, WORKER_PRINCIPAL_FACT } from '../db/teams.js';
import { checkAccountAccess, type AccountCheckResult } from './accountCheck.js';
import { AWS_REQUEST_HANDLER, resolveJobCredentials } from './awsCredentials.js';
import { accountAuth } from './teamAccountAuth.js';

/**
 * The "Test connection" of a team account, run on a worker: who the worker
 * is (the principal the role's trust policy must name, remembered for the
 * onboarding page), whether it may assume the role with the account's
 * external ID, and which read-only calls a job needs the role is denied.
 */

export interface TeamAccountCheck {
  workerPrincipalArn: string | null;
  assumed: boolean;
  /** Why the role could not be assumed. */
  error?: string;
  checks: AccountCheckResult[];
}

/** The worker's own identity, recorded where the web can show it; null when AWS cannot say. */
export async function recordWorkerPrincipal(db: Db, region = process.env.AWS_REGION ?? 'us-east-1'): Promise<string | null> {
  try {
    const sts = new STSClient({ region, requestHandler: AWS_REQUEST_HANDLER, maxAttempts: 2 });
    const me = await sts.send(new GetCallerIdentityCommand({}));
    if (!me.Arn) return null;
    await setFact(db, WORKER_PRINCIPAL_FACT, me.Arn);
    return me.Arn;
  } catch {
    return null;
  }
}

export function createTeamAccountActivities(deps: { db: Db; resolveCreds?: typeof resolveJobCredentials }) {
  const resolveCreds = deps.resolveCreds ?? resolveJobCredentials;
  return {
    async checkTeamAccount(input: { teamAccountId: string; region: string }): Promise<TeamAccountCheck> {
      const workerPrincipalArn = await recordWorkerPrincipal(deps.db, input.region);
      const account = await getAccount(deps.db, input.teamAccountId);
      if (!account) return { workerPrincipalArn, assumed: false, error: 'the account no longer exists', checks: [] };
      let credentials: Awaited<ReturnType<typeof resolveJobCredentials>>['credentials'];
      try {
        const auth = accountAuth(account);
        ({ credentials } = await resolveCreds({
          jobId: `check-${account.id}`,
          region: input.region,
          auth,
          durationSeconds: 900,
        }));
      } catch (err) {
        return { workerPrincipalArn, assumed: false, error: (err as Error).message, checks: [] };
      }
      return { workerPrincipalArn, assumed: true, checks: await checkAccountAccess({ region: input.region, credentials }) };
    },
  };
}
