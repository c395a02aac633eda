import {
  DescribeImagesCommand,
  DescribeInstanceTypeOfferingsCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
  type EC2ClientConfig,
} from '@aws-sdk/client-ec2';
import { GetParameterCommand, SSMClient, type SSMClientConfig } from '@aws-sdk/client-ssm';
import { AWS_REQUEST_HANDLER, type JobCredentials } from './awsCredentials.js';
import { awsErrorCode, mapAwsError, TypedAwsError } from './awsErrors.js';

/**
 * Pre-flight in the target account and region, before Terraform runs: every
 * mistake a person can make in the form's network and instance fields is
 * caught here with the field named, instead of surfacing minutes later as a
 * Terraform apply error.
 *
 * IAM permissions it needs: ec2:DescribeVpcs, ec2:DescribeSubnets,
 * ec2:DescribeSecurityGroups, ec2:DescribeImages,
 * ec2:DescribeInstanceTypeOfferings and ssm:GetParameter (on the public
 * /aws/service/ami-amazon-linux-latest/* parameters).
 */

export class PreflightFailedError extends TypedAwsError {
  readonly type = 'PreflightFailed' as const;
  declare readonly field: string;

  constructor(field: string, message: string, awsCode?: string) {
    super(message, { field, awsCode });
  }
}

export interface PreflightInput {
  region: string;
  credentials: JobCredentials;
  network?: { vpcId?: string; subnetId?: string; securityGroupIds?: string[] };
  instance: { type: string; amiId?: string };
}

export interface PreflightResult {
  amiId: string;
  /** The subnet's availability zone; null when no subnet was given (the type was checked region-wide). */
  availabilityZone: string | null;
  amiSource: 'given' | 'ssm';
}

export interface PreflightDeps {
  createEc2Client?: (config: EC2ClientConfig) => EC2Client;
  createSsmClient?: (config: SSMClientConfig) => SSMClient;
}

export const AL2023_SSM_PARAMETER = {
  x86_64: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
  arm64: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64',
} as const;

export const PREFLIGHT_PERMISSIONS = [
  'ec2:DescribeVpcs',
  'ec2:DescribeSubnets',
  'ec2:DescribeSecurityGroups',
  'ec2:DescribeImages',
  'ec2:DescribeInstanceTypeOfferings',
  'ssm:GetParameter',
] as const;

/**
 * The CPU architecture of an instance type from its name: Graviton families
 * have a `g` right after the generation digit (t4g, m7g, c6gn, r7gd, x2gd,
 * im4gn, is4gen, g5g) and `a1` is the first Graviton. Mac families are left
 * undecided (null).
 */
export function instanceArchitecture(instanceType: string): 'arm64' | 'x86_64' | null {
  const family = instanceType.split('.')[0] ?? '';
  if (/^mac/.test(family)) return null;
  if (family === 'a1' || /^[a-z]+\d+g/.test(family)) return 'arm64';
  return 'x86_64';
}

export async function runPreflight(input: PreflightInput, deps: PreflightDeps = {}): Promise<PreflightResult> {
  const { region, network = {}, instance } = input;
  const clientConfig = { region, credentials: { ...input.credentials }, requestHandler: AWS_REQUEST_HANDLER };
  const ec2 = deps.createEc2Client ? deps.createEc2Client(clientConfig) : new EC2Client(clientConfig);

  const vpcId = blankToUndefined(network.vpcId);
  const subnetId = blankToUndefined(network.subnetId);
  const groupIds = (network.securityGroupIds ?? []).map((g) => g.trim());

  // --- VPC --------------------------------------------------------------
  if (vpcId) {
    const vpcs = await call('ec2:DescribeVpcs', () => ec2.send(new DescribeVpcsCommand({ VpcIds: [vpcId] })), {
      notFound: ['InvalidVpcID.NotFound', 'InvalidVpcID.Malformed', 'InvalidVpcId.Malformed'],
      field: 'network.vpcId',
      message: (code) =>
        code.endsWith('Malformed')
          ? `"${vpcId}" is not a VPC id (they look like vpc-0123456789abcdef0).`
          : `VPC ${vpcId} does not exist in ${region} for this account.`,
    });
    if (!vpcs.Vpcs?.some((v) => v.VpcId === vpcId)) {
      throw new PreflightFailedError('network.vpcId', `VPC ${vpcId} does not exist in ${region} for this account.`);
    }
  }

  // --- Subnet -----------------------------------------------------------
  let availabilityZone: string | null = null;
  let effectiveVpcId = vpcId;
  if (subnetId) {
    const subnets = await call('ec2:DescribeSubnets', () => ec2.send(new DescribeSubnetsCommand({ SubnetIds: [subnetId] })), {
      notFound: ['InvalidSubnetID.NotFound', 'InvalidSubnetID.Malformed', 'InvalidSubnetId.Malformed'],
      field: 'network.subnetId',
      message: (code) =>
        code.endsWith('Malformed')
          ? `"${subnetId}" is not a subnet id (they look like subnet-0123456789abcdef0).`
          : `Subnet ${subnetId} does not exist in ${region} for this account.`,
    });
    const subnet = subnets.Subnets?.find((s) => s.SubnetId === subnetId);
    if (!subnet) {
      throw new PreflightFailedError('network.subnetId', `Subnet ${subnetId} does not exist in ${region} for this account.`);
    }
    if (vpcId && subnet.VpcId !== vpcId) {
      throw new PreflightFailedError(
        'network.subnetId',
        `Subnet ${subnetId} belongs to VPC ${subnet.VpcId}, not to the VPC given (${vpcId}). ` +
          `Pick a subnet of ${vpcId}, or change the VPC.`,
      );
    }
    effectiveVpcId = subnet.VpcId;
    availabilityZone = subnet.AvailabilityZone ?? null;
  }

  // --- Security groups --------------------------------------------------
  if (groupIds.length > 0 && !effectiveVpcId) {
    // No subnet and no VPC: the instance lands in the default VPC, so the groups must be there.
    const defaults = await call('ec2:DescribeVpcs', () =>
      ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] })),
    );
    effectiveVpcId = defaults.Vpcs?.[0]?.VpcId;
  }
  for (const [i, groupId] of groupIds.entries()) {
    const field = `network.securityGroupIds[${i}]`;
    if (!groupId) throw new PreflightFailedError(field, 'The security group id is empty.');
    const groups = await call(
      'ec2:DescribeSecurityGroups',
      () => ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] })),
      {
        notFound: ['InvalidGroup.NotFound', 'InvalidGroupId.Malformed', 'InvalidGroupID.Malformed'],
        field,
        message: (code) =>
          code.endsWith('Malformed')
            ? `"${groupId}" is not a security group id (they look like sg-0123456789abcdef0).`
            : `Security group ${groupId} does not exist in ${region} for this account.`,
      },
    );
    const group = groups.SecurityGroups?.find((g) => g.GroupId === groupId);
    if (!group) {
      throw new PreflightFailedError(field, `Security group ${groupId} does not exist in ${region} for this account.`);
    }
    if (effectiveVpcId && group.VpcId !== effectiveVpcId) {
      const where = subnetId
        ? `the VPC of subnet ${subnetId} (${effectiveVpcId})`
        : vpcId
          ? `the VPC given (${effectiveVpcId})`
          : `the default VPC (${effectiveVpcId}), where the instance goes when no subnet is given`;
      throw new PreflightFailedError(
        field,
        `Security group ${groupId} belongs to VPC ${group.VpcId ?? '(none)'}, not to ${where}. ` +
          `An instance can only use security groups of its own VPC.`,
      );
    }
  }

  // --- AMI --------------------------------------------------------------
  const arch = instanceArchitecture(instance.type);
  const givenAmi = blankToUndefined(instance.amiId);
  let amiId: string;
  let amiSource: 'given' | 'ssm';
  if (givenAmi) {
    const images = await call('ec2:DescribeImages', () => ec2.send(new DescribeImagesCommand({ ImageIds: [givenAmi] })), {
      notFound: ['InvalidAMIID.NotFound', 'InvalidAMIID.Malformed', 'InvalidAMIID.Unavailable'],
      field: 'instance.amiId',
      message: (code) =>
        code.endsWith('Malformed')
          ? `"${givenAmi}" is not an AMI id (they look like ami-0123456789abcdef0).`
          : amiMissing(givenAmi, region),
    });
    const image = images.Images?.find((img) => img.ImageId === givenAmi);
    if (!image) throw new PreflightFailedError('instance.amiId', amiMissing(givenAmi, region));
    if (image.State && image.State !== 'available') {
      throw new PreflightFailedError(
        'instance.amiId',
        `AMI ${givenAmi} is ${image.State}, not available; only available images can be launched.`,
      );
    }
    if (arch && (image.Architecture === 'arm64' || image.Architecture === 'x86_64') && image.Architecture !== arch) {
      throw new PreflightFailedError(
        'instance.amiId',
        `AMI ${givenAmi} is built for ${image.Architecture}, but ${instance.type} is an ${arch} instance type. ` +
          `Pick an ${arch} AMI or an ${image.Architecture} instance type.`,
      );
    }
    amiId = givenAmi;
    amiSource = 'given';
  } else {
    const name = AL2023_SSM_PARAMETER[arch ?? 'x86_64'];
    const ssmConfig = { region, credentials: { ...input.credentials }, requestHandler: AWS_REQUEST_HANDLER };
    const ssm = deps.createSsmClient ? deps.createSsmClient(ssmConfig) : new SSMClient(ssmConfig);
    const param = await call('ssm:GetParameter', () => ssm.send(new GetParameterCommand({ Name: name })), {
      notFound: ['ParameterNotFound'],
      field: 'instance.amiId',
      message: () =>
        `No AMI was given and the latest Amazon Linux 2023 AMI could not be looked up in ${region} ` +
        `(SSM parameter ${name} not found). Enter an AMI id.`,
    });
    const value = param.Parameter?.Value;
    if (!value || !/^ami-[0-9a-f]+$/.test(value)) {
      throw new PreflightFailedError(
        'instance.amiId',
        `No AMI was given and SSM parameter ${name} in ${region} holds no AMI id. Enter an AMI id.`,
      );
    }
    amiId = value;
    amiSource = 'ssm';
  }

  // --- Instance type offering --------------------------------------------
  const offerings = await call('ec2:DescribeInstanceTypeOfferings', () =>
    ec2.send(
      new DescribeInstanceTypeOfferingsCommand(
        availabilityZone
          ? {
              LocationType: 'availability-zone',
              Filters: [
                { Name: 'instance-type', Values: [instance.type] },
                { Name: 'location', Values: [availabilityZone] },
              ],
            }
          : {
              LocationType: 'region',
              Filters: [
                { Name: 'instance-type', Values: [instance.type] },
                { Name: 'location', Values: [region] },
              ],
            },
      ),
    ),
  );
  const offered = (offerings.InstanceTypeOfferings ?? []).some((o) => o.InstanceType === instance.type);
  if (!offered) {
    if (!availabilityZone) {
      throw new PreflightFailedError('instance.type', `Instance type ${instance.type} is not offered in ${region}.`);
    }
    // Say where it is offered, so the person can pick a subnet there.
    const elsewhere = await call('ec2:DescribeInstanceTypeOfferings', () =>
      ec2.send(
        new DescribeInstanceTypeOfferingsCommand({
          LocationType: 'availability-zone',
          Filters: [{ Name: 'instance-type', Values: [instance.type] }],
        }),
      ),
    ).catch(() => undefined);
    const zones = [...new Set((elsewhere?.InstanceTypeOfferings ?? []).map((o) => o.Location).filter(Boolean))].sort();
    throw new PreflightFailedError(
      'instance.type',
      `Instance type ${instance.type} is not offered in ${availabilityZone}, the availability zone of subnet ${subnetId}. ` +
        (zones.length
          ? `It is offered in ${zones.join(', ')}: pick a subnet there or another instance type.`
          : `It is not offered anywhere in ${region}: pick another instance type.`),
    );
  }

  return { amiId, availabilityZone, amiSource };
}

function amiMissing(amiId: string, region: string): string {
  return (
    `AMI ${amiId} does not exist in ${region}, or this account may not use it ` +
    `(AMIs are regional: an AMI id from another region does not work here).`
  );
}

function blankToUndefined(value: string | undefined | null): string | undefined {
  const v = typeof value === 'string' ? value.trim() : '';
  return v === '' ? undefined : v;
}

/** One AWS call: its "not found" codes become PreflightFailed on the field, the rest go through mapAwsError. */
async function call<T>(
  operation: string,
  run: () => Promise<T>,
  notFound?: { notFound: string[]; field: string; message: (code: string) => string },
): Promise<T> {
  try {
    return await run();
  } catch (err) {
    const code = awsErrorCode(err) ?? '';
    if (notFound?.notFound.includes(code)) {
      throw new PreflightFailedError(notFound.field, notFound.message(code), code);
    }
    throw mapAwsError(err, { operation });
  }
}
