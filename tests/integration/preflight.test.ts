import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CreateSubnetCommand, EC2Client, EC2ServiceException, type EC2ClientConfig } from '@aws-sdk/client-ec2';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { AL2023_SSM_PARAMETER, instanceArchitecture, runPreflight, type PreflightInput } from '../../src/activities/preflight.js';
import {
  createMotoUser,
  motoEnv,
  seedNetwork,
  setEnv,
  setMotoAuth,
  startMoto,
  type Moto,
  type SeededNetwork,
} from '../support/moto.js';

/**
 * Pre-flight against a real moto server with VPCs, subnets and security
 * groups created by the test (seedNetwork) and the AMIs moto ships.
 *
 * What moto does here:
 * - It ships the public SSM parameters /aws/service/ami-amazon-linux-latest/
 *   al2023-ami-kernel-default-{x86_64,arm64} in its region data, so the SSM
 *   test reads the real parameter (no PutParameter seeding needed).
 * - Its instance type offerings are copied from AWS: t3.micro is not offered
 *   in us-east-1e, which gives a real "not offered in the subnet's AZ" case.
 * - It answers missing ids with the AWS codes (InvalidSubnetID.NotFound,
 *   InvalidGroup.NotFound, InvalidAMIID.NotFound / Malformed).
 * - With IAM auth on, a missing EC2 permission comes back as AccessDenied (AWS
 *   says UnauthorizedOperation); the UnauthorizedOperation and throttling
 *   shapes are tested with a stubbed `send`.
 */

const REGION = 'us-east-1';
let moto: Moto;
let net: SeededNetwork;
let restoreEnv: () => void;
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

beforeAll(async () => {
  moto = await startMoto();
  restoreEnv = setEnv(motoEnv(moto.endpoint, REGION));
  net = await seedNetwork(moto.endpoint, REGION);
});

afterAll(async () => {
  restoreEnv?.();
  await moto?.stop();
});

function input(over: Partial<PreflightInput> = {}): PreflightInput {
  return {
    region: REGION,
    credentials,
    network: { vpcId: net.vpcId, subnetId: net.subnetId, securityGroupIds: [net.securityGroupId] },
    instance: { type: 't3.micro', amiId: net.amiId },
    ...over,
  };
}

async function failure(p: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected a failure');
}

async function ssmValue(name: string): Promise<string> {
  const ssm = new SSMClient({ region: REGION, credentials });
  return (await ssm.send(new GetParameterCommand({ Name: name }))).Parameter!.Value!;
}

describe('passing', () => {
  it('accepts a subnet, groups and AMI of the VPC given, and returns the AZ', async () => {
    await expect(runPreflight(input())).resolves.toEqual({
      amiId: net.amiId,
      availabilityZone: net.availabilityZone,
      amiSource: 'given',
    });
  });

  it('checks the instance type region-wide when no network is given', async () => {
    await expect(runPreflight(input({ network: undefined }))).resolves.toEqual({
      amiId: net.amiId,
      availabilityZone: null,
      amiSource: 'given',
    });
  });

  it('resolves the latest Amazon Linux 2023 AMI from SSM when none is given (moto ships the parameter)', async () => {
    const res = await runPreflight(input({ instance: { type: 't3.micro' } }));
    expect(res.amiSource).toBe('ssm');
    expect(res.amiId).toBe(await ssmValue(AL2023_SSM_PARAMETER.x86_64));
    expect(res.amiId).toMatch(/^ami-/);
  });

  it('resolves the arm64 variant for a Graviton type', async () => {
    const res = await runPreflight(input({ instance: { type: 't4g.micro', amiId: '' } }));
    expect(res.amiSource).toBe('ssm');
    expect(res.amiId).toBe(await ssmValue(AL2023_SSM_PARAMETER.arm64));
    expect(res.amiId).not.toBe(await ssmValue(AL2023_SSM_PARAMETER.x86_64));
  });

  it('reads AWS_ENDPOINT_URL_EC2 and AWS_ENDPOINT_URL_SSM from the env', async () => {
    const restore = setEnv({
      ...motoEnv('http://127.0.0.1:9', REGION), // nothing listens there
      AWS_ENDPOINT_URL_EC2: moto.endpoint,
      AWS_ENDPOINT_URL_SSM: moto.endpoint,
    });
    try {
      const res = await runPreflight(input({ instance: { type: 't3.micro' } }));
      expect(res.amiSource).toBe('ssm');
    } finally {
      restore();
    }
  });

  it('knows Graviton instance families', () => {
    for (const t of [
      't4g.micro',
      'm7g.large',
      'c7g.xlarge',
      'c6gn.large',
      'r7gd.large',
      'x2gd.large',
      'im4gn.large',
      'a1.medium',
    ]) {
      expect(instanceArchitecture(t), t).toBe('arm64');
    }
    for (const t of ['t3.micro', 'g4dn.xlarge', 'm7i-flex.large', 'p4d.24xlarge', 'x2iedn.xlarge', 'g5.xlarge']) {
      expect(instanceArchitecture(t), t).toBe('x86_64');
    }
  });
});

describe('failures, each naming the form field', () => {
  it('missing subnet', async () => {
    const err = await failure(runPreflight(input({ network: { vpcId: net.vpcId, subnetId: 'subnet-0123456789abcdef0' } })));
    expect(err).toMatchObject({ type: 'PreflightFailed', field: 'network.subnetId', awsCode: 'InvalidSubnetID.NotFound' });
    expect(err.message).toContain('subnet-0123456789abcdef0');
    expect(err.message).toMatch(/does not exist/);
  });

  it('subnet in another VPC', async () => {
    const err = await failure(runPreflight(input({ network: { vpcId: net.vpcId, subnetId: net.other.subnetId } })));
    expect(err).toMatchObject({ type: 'PreflightFailed', field: 'network.subnetId' });
    expect(err.message).toContain(net.other.vpcId);
    expect(err.message).toContain(net.vpcId);
  });

  it('missing VPC', async () => {
    const err = await failure(runPreflight(input({ network: { vpcId: 'vpc-0123456789abcdef0', subnetId: net.subnetId } })));
    expect(err).toMatchObject({ type: 'PreflightFailed', field: 'network.vpcId' });
    expect(err.message).toContain('vpc-0123456789abcdef0');
  });

  it('missing security group, naming its index', async () => {
    const err = await failure(
      runPreflight(
        input({
          network: { vpcId: net.vpcId, subnetId: net.subnetId, securityGroupIds: [net.securityGroupId, 'sg-0123456789abcdef0'] },
        }),
      ),
    );
    expect(err).toMatchObject({
      type: 'PreflightFailed',
      field: 'network.securityGroupIds[1]',
      awsCode: 'InvalidGroup.NotFound',
    });
    expect(err.message).toContain('sg-0123456789abcdef0');
  });

  it('security group in another VPC', async () => {
    const err = await failure(
      runPreflight(input({ network: { subnetId: net.subnetId, securityGroupIds: [net.other.securityGroupId] } })),
    );
    expect(err).toMatchObject({ type: 'PreflightFailed', field: 'network.securityGroupIds[0]' });
    expect(err.message).toContain(net.other.vpcId);
    expect(err.message).toContain(net.vpcId);
  });

  it('security group outside the default VPC when no subnet is given', async () => {
    const err = await failure(runPreflight(input({ network: { securityGroupIds: [net.securityGroupId] } })));
    expect(err).toMatchObject({ type: 'PreflightFailed', field: 'network.securityGroupIds[0]' });
    expect(err.message).toMatch(/default VPC/);
  });

  it('missing AMI', async () => {
    const err = await failure(runPreflight(input({ instance: { type: 't3.micro', amiId: 'ami-0123456789abcdef0' } })));
    expect(err).toMatchObject({ type: 'PreflightFailed', field: 'instance.amiId', awsCode: 'InvalidAMIID.NotFound' });
    expect(err.message).toContain('ami-0123456789abcdef0');
  });

  it('malformed AMI id', async () => {
    const err = await failure(runPreflight(input({ instance: { type: 't3.micro', amiId: 'image-1' } })));
    expect(err).toMatchObject({ type: 'PreflightFailed', field: 'instance.amiId', awsCode: 'InvalidAMIID.Malformed' });
  });

  it('AMI of the wrong architecture for the instance type', async () => {
    const err = await failure(runPreflight(input({ instance: { type: 't3.micro', amiId: net.armAmiId } })));
    expect(err).toMatchObject({ type: 'PreflightFailed', field: 'instance.amiId' });
    expect(err.message).toMatch(/arm64/);
  });

  it("instance type not offered in the subnet's availability zone (moto: t3.micro is not in us-east-1e)", async () => {
    const ec2 = new EC2Client({ region: REGION, credentials });
    const subnet = await ec2.send(
      new CreateSubnetCommand({ VpcId: net.vpcId, CidrBlock: '10.20.9.0/24', AvailabilityZone: 'us-east-1e' }),
    );
    const subnetId = subnet.Subnet!.SubnetId!;
    const err = await failure(
      runPreflight(input({ network: { vpcId: net.vpcId, subnetId, securityGroupIds: [net.securityGroupId] } })),
    );
    expect(err).toMatchObject({ type: 'PreflightFailed', field: 'instance.type' });
    expect(err.message).toContain('us-east-1e');
    expect(err.message).toMatch(/offered in .*us-east-1a/);
    // The same type passes in an AZ that offers it.
    await expect(runPreflight(input())).resolves.toMatchObject({ availabilityZone: 'us-east-1a' });
  });

  it('instance type not offered in the region', async () => {
    const err = await failure(runPreflight(input({ network: undefined, instance: { type: 'zz9.large', amiId: net.amiId } })));
    expect(err).toMatchObject({ type: 'PreflightFailed', field: 'instance.type' });
    expect(err.message).toContain(REGION);
  });
});

describe('AWS error mapping', () => {
  it('a missing permission (moto IAM auth on) is AccessDenied naming it', async () => {
    const user = await createMotoUser(moto.endpoint, 'half-allowed', {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: ['ec2:DescribeVpcs', 'ec2:DescribeSubnets'], Resource: '*' }],
    });
    await setMotoAuth(moto.endpoint, true);
    try {
      const err = await failure(
        runPreflight(input({ credentials: { accessKeyId: user.accessKeyId, secretAccessKey: user.secretAccessKey } })),
      );
      expect(err).toMatchObject({ type: 'AccessDenied' });
      expect(err.message).toContain('ec2:DescribeSecurityGroups');

      const bad = await failure(
        runPreflight(input({ credentials: { accessKeyId: 'AKIAUNKNOWNUNKNOWN00', secretAccessKey: 'x' } })),
      );
      // EC2 answers unknown keys with AuthFailure.
      expect(bad).toMatchObject({ type: 'InvalidCredentials', awsCode: 'AuthFailure' });
    } finally {
      await setMotoAuth(moto.endpoint, false);
    }
  });

  function ec2Error(name: string, message: string, status: number) {
    const err = new EC2ServiceException({
      name,
      $fault: status >= 500 ? 'server' : 'client',
      $metadata: { httpStatusCode: status, requestId: 'req-1' },
      message,
    });
    return Object.assign(err, { Code: name });
  }

  /** Real EC2 clients whose one named command fails with `err`; every other call goes to moto. */
  function failingOn(commandName: string, err: unknown) {
    return vi.fn((config: EC2ClientConfig) => {
      const client = new EC2Client(config);
      client.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === commandName) throw err;
          return next(args);
        },
        { step: 'initialize', name: 'failOne' },
      );
      return client;
    });
  }

  it('UnauthorizedOperation is AccessDenied naming the permission', async () => {
    const err = await failure(
      runPreflight(input(), {
        createEc2Client: failingOn(
          'DescribeImagesCommand',
          ec2Error(
            'UnauthorizedOperation',
            'You are not authorized to perform this operation. Encoded authorization failure message: abc',
            403,
          ),
        ),
      }),
    );
    expect(err).toMatchObject({ type: 'AccessDenied', awsCode: 'UnauthorizedOperation' });
    expect(err.message).toContain('ec2:DescribeImages');
    expect(err.message).not.toContain('Encoded authorization');
  });

  it.each([
    ['RequestLimitExceeded', 'Request limit exceeded.', 503],
    ['Throttling', 'Rate exceeded', 400],
  ])('%s is AwsTransient (retryable)', async (code, message, status) => {
    const err = await failure(
      runPreflight(input(), { createEc2Client: failingOn('DescribeSubnetsCommand', ec2Error(code, message, status)) }),
    );
    expect(err).toMatchObject({ type: 'AwsTransient', awsCode: code });
  });
});
