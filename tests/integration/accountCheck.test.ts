import { EC2Client, EC2ServiceException, type EC2ClientConfig } from '@aws-sdk/client-ec2';
import { SSMClient, SSMServiceException, type SSMClientConfig } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkAccountAccess, isDenied } from '../../src/activities/accountCheck.js';
import { resolveJobCredentials } from '../../src/activities/awsCredentials.js';
import {
  CONNECTION_CHECKS,
  permissionsPolicy,
  trustPolicy,
  workerTrustPrincipal,
  type PolicyDocument,
} from '../../src/domain/awsPolicy.js';
import { createMotoUser, MOTO_ACCESS_KEY_ID, motoEnv, setEnv, setMotoAuth, startMoto, type Moto } from '../support/moto.js';

/**
 * The connection test against moto with IAM authentication on, through the
 * real path: a worker user assumes a role whose trust policy is trustPolicy()
 * (with an external ID) and whose inline policy is the generated one.
 *
 * What moto 5.x does here:
 * - It enforces a role's policies for its assumed-role credentials
 *   (AssumedRoleAccessKey collects the role's inline and attached policies),
 *   and checks the trust policy on AssumeRole: the principal and a
 *   StringEquals on sts:ExternalId (a missing ExternalId is not refused).
 * - It authorizes EC2 and SSM calls against the resource "*" and knows no
 *   condition keys but sts:ExternalId: a statement whose Resource is an ARN
 *   never matches, and Conditions are ignored. The roles here therefore get
 *   the generated policy with every Resource widened to "*" (same statements,
 *   same actions); the ARNs and conditions are the unit test's to check.
 * - It answers a denied EC2 call with AccessDenied (AWS: UnauthorizedOperation),
 *   a denied SSM call with an XML page the SDK cannot parse (reported as
 *   HTTP403), and allows sts:GetCallerIdentity whatever the policy says, as
 *   AWS does.
 */

const REGION = 'us-east-1';
const ACCOUNT = '123456789012';
const EXTERNAL_IDS = ['tenant-42-2024', 'tenant-42-2025'];
const MISSING = ['ec2:DescribeSubnets', 'ssm:GetParameter'];

let moto: Moto;
let restoreEnv: () => void;
let worker: { accessKeyId: string; secretAccessKey: string; arn: string };

const UNSIGNED = 'SignedHeaders=host, Signature=0';

/** An IAM query call while auth is off (the same trick as createMotoUser: no @aws-sdk/client-iam here). */
async function motoIam(params: Record<string, string>): Promise<string> {
  const res = await fetch(moto.endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `AWS4-HMAC-SHA256 Credential=${MOTO_ACCESS_KEY_ID}/20240101/us-east-1/iam/aws4_request, ${UNSIGNED}`,
    },
    body: new URLSearchParams({ Version: '2010-05-08', ...params }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`moto IAM ${params.Action} answered ${res.status}: ${text}`);
  return text;
}

async function createRole(name: string, policy: PolicyDocument): Promise<string> {
  const trust = trustPolicy({ workerPrincipalArn: workerTrustPrincipal(worker.arn), externalIds: EXTERNAL_IDS });
  await motoIam({ Action: 'CreateRole', RoleName: name, AssumeRolePolicyDocument: JSON.stringify(trust) });
  await motoIam({
    Action: 'PutRolePolicy',
    RoleName: name,
    PolicyName: 'provisioning-service',
    PolicyDocument: JSON.stringify(policy),
  });
  return `arn:aws:iam::${ACCOUNT}:role/${name}`;
}

/** moto matches Resource against "*" for EC2 and SSM: see the file comment. */
function widenedForMoto(policy: PolicyDocument): PolicyDocument {
  return { ...policy, Statement: policy.Statement.map(({ Condition: _c, ...s }) => ({ ...s, Resource: '*' })) };
}

function without(policy: PolicyDocument, actions: string[]): PolicyDocument {
  const keep = (a: string) => !actions.includes(a);
  return {
    ...policy,
    Statement: policy.Statement.map((s) => ({ ...s, Action: [s.Action].flat().filter(keep) })).filter((s) => s.Action.length > 0),
  };
}

/** AssumeRole as the service does it, with the worker user's keys as the worker's own identity. */
function assume(roleArn: string, externalId: string) {
  return resolveJobCredentials(
    { jobId: 'account-check', region: REGION, auth: { method: 'assume_role', roleArn, externalId } },
    { createStsClient: (config) => new STSClient({ ...config, credentials: config.credentials ?? worker }) },
  );
}

let fullRole: string;
let partialRole: string;
let exactRole: string;

beforeAll(async () => {
  moto = await startMoto();
  restoreEnv = setEnv(motoEnv(moto.endpoint, REGION));
  worker = await createMotoUser(moto.endpoint, 'provisioning-worker', {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: `arn:aws:iam::${ACCOUNT}:role/*` }],
  });
  const policy = permissionsPolicy();
  fullRole = await createRole('CustomerProvisioner', widenedForMoto(policy));
  partialRole = await createRole('CustomerProvisionerPartial', widenedForMoto(without(policy, MISSING)));
  exactRole = await createRole('CustomerProvisionerExact', policy);
  await setMotoAuth(moto.endpoint, true);
});

afterAll(async () => {
  if (moto) await setMotoAuth(moto.endpoint, false).catch(() => {});
  restoreEnv?.();
  await moto?.stop();
});

describe('checkAccountAccess on moto with IAM authentication', () => {
  it('reports every check allowed for a role with the generated policy', async () => {
    const { credentials, arn } = await assume(fullRole, EXTERNAL_IDS[1]);
    expect(arn).toBe(`arn:aws:sts::${ACCOUNT}:assumed-role/CustomerProvisioner/job-account-check`);

    const results = await checkAccountAccess({ region: REGION, credentials });
    expect(results.map((r) => r.action)).toEqual(CONNECTION_CHECKS.map((c) => c.action));
    expect(results.filter((r) => !r.ok)).toEqual([]);
  });

  it('reports exactly the missing permissions as denied', async () => {
    const { credentials } = await assume(partialRole, EXTERNAL_IDS[0]);
    const results = await checkAccountAccess({ region: REGION, credentials });

    const failed = Object.fromEntries(results.filter((r) => !r.ok).map((r) => [r.action, r]));
    expect(Object.keys(failed).sort()).toEqual([...MISSING].sort());
    expect(failed['ec2:DescribeSubnets']).toMatchObject({ code: 'AccessDenied' });
    expect(isDenied(failed['ec2:DescribeSubnets'])).toBe(true);
    // moto refuses a JSON-protocol call (SSM) with an XML error page the SDK cannot read; AWS says AccessDeniedException.
    expect(failed['ssm:GetParameter']).toMatchObject({ code: 'HTTP403' });
    expect(results.filter((r) => r.ok)).toHaveLength(CONNECTION_CHECKS.length - MISSING.length);
  });

  it('finds the unwidened policy short in moto only where a statement names resources', async () => {
    // Documents the moto limitation the other tests work around: the SSM statement is scoped to the
    // public AL2023 parameters' ARN, which moto compares with "*". AWS allows this call.
    const { credentials } = await assume(exactRole, EXTERNAL_IDS[0]);
    const results = await checkAccountAccess({ region: REGION, credentials });
    expect(results.filter((r) => !r.ok).map((r) => r.action)).toEqual(['ssm:GetParameter']);
  });

  it('lets the worker assume the role with either external ID, and not with another', async () => {
    for (const id of EXTERNAL_IDS) await expect(assume(fullRole, id)).resolves.toMatchObject({ accountId: ACCOUNT });
    await expect(assume(fullRole, 'tenant-43-2025')).rejects.toMatchObject({ type: 'AccessDenied' });
  });

  it('reports unknown credentials as failures that are not missing permissions', async () => {
    const results = await checkAccountAccess({
      region: REGION,
      credentials: { accessKeyId: 'AKIAUNKNOWNUNKNOWN00', secretAccessKey: 'x' },
    });
    expect(results.every((r) => !r.ok && !isDenied(r))).toBe(true);
    expect(results.find((r) => r.action === 'ec2:DescribeVpcs')?.code).toBe('AuthFailure');
    expect(results.find((r) => r.action === 'sts:GetCallerIdentity')?.code).toBe('InvalidClientTokenId');
  });
});

describe('checkAccountAccess with AWS error shapes moto does not produce', () => {
  const credentials = { accessKeyId: 'AKIAEXAMPLEEXAMPLE00', secretAccessKey: 'secret' };

  function failing<C extends { send: unknown }>(client: C, err: unknown): C {
    (client as { send: unknown }).send = async () => {
      throw err;
    };
    return client;
  }

  it('counts UnauthorizedOperation as denied and a missing parameter as allowed', async () => {
    const unauthorized = Object.assign(
      new EC2ServiceException({
        name: 'UnauthorizedOperation',
        $fault: 'client',
        $metadata: { httpStatusCode: 403 },
        message: `You are not authorized to perform this operation. Encoded authorization failure message: ${'x'.repeat(1000)}`,
      }),
      { Code: 'UnauthorizedOperation' },
    );
    const notFound = new SSMServiceException({
      name: 'ParameterNotFound',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
      message: 'Parameter not found',
    });
    const results = await checkAccountAccess(
      { region: REGION, credentials },
      {
        createEc2Client: (config: EC2ClientConfig) => failing(new EC2Client(config), unauthorized),
        createSsmClient: (config: SSMClientConfig) => failing(new SSMClient(config), notFound),
        createStsClient: (config) =>
          failing(new STSClient(config), Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })),
      },
    );
    const byAction = Object.fromEntries(results.map((r) => [r.action, r]));
    expect(byAction['ec2:DescribeSubnets']).toMatchObject({ ok: false, code: 'UnauthorizedOperation' });
    expect(isDenied(byAction['ec2:DescribeSubnets'])).toBe(true);
    expect(byAction['ec2:DescribeSubnets'].message!.length).toBeLessThanOrEqual(300);
    expect(byAction['ssm:GetParameter']).toEqual({ action: 'ssm:GetParameter', ok: true, code: 'ParameterNotFound' });
    expect(byAction['sts:GetCallerIdentity']).toMatchObject({ ok: false, code: 'ECONNRESET' });
    expect(isDenied(byAction['sts:GetCallerIdentity'])).toBe(false);
  });

  it('passes the credentials, region and request bounds to every client', async () => {
    const configs: Array<{ region?: unknown; credentials?: unknown; requestHandler?: unknown }> = [];
    const stop = new Error('stop');
    const recorded = <C extends { send: unknown }>(config: (typeof configs)[number], client: C): C => {
      configs.push(config);
      return failing(client, stop);
    };
    await checkAccountAccess(
      { region: 'eu-west-1', credentials },
      {
        createEc2Client: (config) => recorded(config, new EC2Client(config)),
        createSsmClient: (config) => recorded(config, new SSMClient(config)),
        createStsClient: (config) => recorded(config, new STSClient(config)),
      },
    );
    expect(configs).toHaveLength(3);
    for (const c of configs) {
      expect(c).toMatchObject({ region: 'eu-west-1', credentials });
      expect(c.requestHandler).toMatchObject({ requestTimeout: expect.any(Number) });
    }
  });
});
