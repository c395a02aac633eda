import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeInstanceStatusCommand,
  DescribeInstanceTypeOfferingsCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
  type EC2ClientConfig,
} from '@aws-sdk/client-ec2';
import { GetParameterCommand, SSMClient, type SSMClientConfig } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient, type STSClientConfig } from '@aws-sdk/client-sts';
import { CONNECTION_CHECKS, type ConnectionCheckAction } from '../domain/awsPolicy.js';
import { AWS_REQUEST_HANDLER, type JobCredentials } from './awsCredentials.js';
import { awsErrorCode } from './awsErrors.js';

/**
 * A connection test of a customer's role: the read-only calls of
 * CONNECTION_CHECKS with the role's credentials, each reported on its own so
 * the person setting the role up sees every missing permission at once
 * rather than the first one a job would trip over.
 */

export interface AccountCheckInput {
  region: string;
  credentials: JobCredentials;
}

export interface AccountCheckDeps {
  createEc2Client?: (config: EC2ClientConfig) => EC2Client;
  createSsmClient?: (config: SSMClientConfig) => SSMClient;
  createStsClient?: (config: STSClientConfig) => STSClient;
}

export interface AccountCheckResult {
  action: string;
  ok: boolean;
  /** The AWS error code: why it failed, or the "not found" that still proved the permission. */
  code?: string;
  message?: string;
}

const DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation', 'UnauthorizedAccess']);
/** AWS authorizes before it looks: a missing thing means the call was allowed. */
const NOT_FOUND = /NotFound$|^NoSuchEntity$/;

/** The smallest pages the APIs take: enough to prove the call, nothing to page through. */
const FEW = 5;

/** The public parameter pre-flight reads (AL2023_SSM_PARAMETER in preflight.ts). */
const AL2023_PARAMETER = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64';

interface Clients {
  ec2: EC2Client;
  ssm: SSMClient;
  sts: STSClient;
}

const CALLS: Record<ConnectionCheckAction, (c: Clients, signal?: AbortSignal) => Promise<unknown>> = {
  'sts:GetCallerIdentity': (c, s) => c.sts.send(new GetCallerIdentityCommand({}), { abortSignal: s }),
  'ec2:DescribeVpcs': (c, s) => c.ec2.send(new DescribeVpcsCommand({ MaxResults: FEW }), { abortSignal: s }),
  'ec2:DescribeSubnets': (c, s) => c.ec2.send(new DescribeSubnetsCommand({ MaxResults: FEW }), { abortSignal: s }),
  'ec2:DescribeSecurityGroups': (c, s) => c.ec2.send(new DescribeSecurityGroupsCommand({ MaxResults: FEW }), { abortSignal: s }),
  // Owners self: the public catalogue is huge and slow to filter.
  'ec2:DescribeImages': (c, s) =>
    c.ec2.send(new DescribeImagesCommand({ Owners: ['self'], MaxResults: FEW }), { abortSignal: s }),
  'ec2:DescribeInstanceTypeOfferings': (c, s) =>
    c.ec2.send(new DescribeInstanceTypeOfferingsCommand({ MaxResults: FEW }), { abortSignal: s }),
  'ec2:DescribeInstances': (c, s) => c.ec2.send(new DescribeInstancesCommand({ MaxResults: FEW }), { abortSignal: s }),
  'ec2:DescribeInstanceStatus': (c, s) => c.ec2.send(new DescribeInstanceStatusCommand({ MaxResults: FEW }), { abortSignal: s }),
  'ssm:GetParameter': (c, s) => c.ssm.send(new GetParameterCommand({ Name: AL2023_PARAMETER }), { abortSignal: s }),
};

/** Runs every check in order; never throws for an AWS answer, which becomes that check's result. */
export async function checkAccountAccess(
  input: AccountCheckInput,
  deps: AccountCheckDeps = {},
  opts: { signal?: AbortSignal } = {},
): Promise<AccountCheckResult[]> {
  const base = { region: input.region, credentials: { ...input.credentials }, requestHandler: AWS_REQUEST_HANDLER };
  const clients: Clients = {
    ec2: deps.createEc2Client ? deps.createEc2Client(base) : new EC2Client(base),
    ssm: deps.createSsmClient ? deps.createSsmClient(base) : new SSMClient(base),
    sts: deps.createStsClient ? deps.createStsClient(base) : new STSClient(base),
  };
  const results: AccountCheckResult[] = [];
  for (const { action } of CONNECTION_CHECKS) {
    opts.signal?.throwIfAborted();
    try {
      await CALLS[action](clients, opts.signal);
      results.push({ action, ok: true });
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      results.push(outcome(action, err));
    }
  }
  return results;
}

function outcome(action: string, err: unknown): AccountCheckResult {
  const e = (err ?? {}) as { code?: unknown; message?: unknown; $metadata?: { httpStatusCode?: number } };
  const raw = typeof e.message === 'string' ? e.message : '';
  const status = e.$metadata?.httpStatusCode;
  let code = awsErrorCode(err);
  if (status && (code === 'SyntaxError' || raw.includes('Deserialization error'))) {
    // An answer the SDK could not read (a proxy's page; moto's XML error to a JSON API): its status is all there is.
    code = `HTTP${status}`;
  } else if ((!code || code === 'Error') && typeof e.code === 'string') {
    // A network failure is a plain Error whose errno code says more than its name.
    code = e.code;
  }
  code ??= 'Error';
  if (NOT_FOUND.test(code)) return { action, ok: true, code };
  // EC2's UnauthorizedOperation carries a long encoded explanation: the start says enough.
  const message = raw ? raw.slice(0, 300) : undefined;
  return { action, ok: false, code, ...(message ? { message } : {}) };
}

/** Whether a failed check was a missing permission (rather than bad credentials or trouble reaching AWS). */
export function isDenied(result: AccountCheckResult): boolean {
  return !result.ok && result.code !== undefined && DENIED.has(result.code);
}
