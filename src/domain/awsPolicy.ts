import { stringify as toYaml } from 'yaml';

/**
 * The IAM role a customer creates in their account for the service: what
 * Terraform (terraform/*.tf) and the activities call AWS for with a job's
 * credentials, a least-privilege policy built from that, the trust policy
 * naming the worker, and the same role as CloudFormation and Terraform text
 * for the customer to deploy. tests/unit/awsPolicy.test.ts keeps the lists
 * true to the module and the activities' source.
 */

/** Every resource the module creates carries this tag; the policy lets the job change or delete only those. */
export const MANAGED_BY_TAG = { key: 'managed_by', value: 'provisioning-service' } as const;
/** The module's instance role and profile are `prov-<job name>-…` (name_prefix in terraform/main.tf). */
export const IAM_NAME_PREFIX = 'prov-';
export const SSM_MANAGED_POLICY = 'AmazonSSMManagedInstanceCore';

/** ec2`A B` is ['ec2:A', 'ec2:B']: long action lists stay readable. */
function service(prefix: string) {
  return (names: TemplateStringsArray, ...values: string[]): string[] =>
    String.raw({ raw: names }, ...values)
      .trim()
      .split(/\s+/)
      .map((name) => `${prefix}:${name}`);
}
const ec2 = service('ec2');
const iam = service('iam');
const s3 = service('s3');
const dynamodb = service('dynamodb');
const ssm = service('ssm');

/** What the AWS provider itself calls when it is configured (account id and partition). */
export const TERRAFORM_PROVIDER_ACTIONS: readonly string[] = ['sts:GetCallerIdentity'];

const TAGS = 'CreateTags DeleteTags';

/**
 * Per resource/data type of the module, what the AWS provider (v5) calls to
 * plan, create, refresh and destroy it. A job's spec never changes after it
 * starts, so update-only calls (moving an instance to other groups, swapping
 * its profile) are left out; tag updates are in.
 */
export const RESOURCE_ACTIONS: Record<string, readonly string[]> = {
  aws_partition: [],
  aws_iam_policy_document: [],
  // DescribeImages: the AMI's root device name. ModifyInstanceAttribute: termination protection is
  // always switched off before terminating.
  aws_instance: [
    ...ec2`RunInstances DescribeInstances DescribeInstanceAttribute DescribeInstanceTypes
      DescribeInstanceCreditSpecifications DescribeImages DescribeVolumes DescribeNetworkInterfaces DescribeTags
      ModifyInstanceAttribute ModifyInstanceMetadataOptions StopInstances StartInstances TerminateInstances ${TAGS}`,
    'iam:PassRole',
  ],
  // The provider revokes a new VPC group's default allow-all egress rule, and before deleting the group
  // looks for network interfaces still holding it.
  aws_security_group: ec2`CreateSecurityGroup DescribeSecurityGroups RevokeSecurityGroupEgress DescribeNetworkInterfaces
    DeleteSecurityGroup ${TAGS}`,
  aws_vpc_security_group_ingress_rule: ec2`AuthorizeSecurityGroupIngress DescribeSecurityGroupRules ModifySecurityGroupRules
    RevokeSecurityGroupIngress ${TAGS}`,
  aws_vpc_security_group_egress_rule: ec2`AuthorizeSecurityGroupEgress DescribeSecurityGroupRules ModifySecurityGroupRules
    RevokeSecurityGroupEgress ${TAGS}`,
  // Refresh reads the role's inline and attached policies; delete first takes the role out of its profiles.
  aws_iam_role: iam`CreateRole GetRole TagRole UntagRole UpdateRole UpdateRoleDescription UpdateAssumeRolePolicy
    ListRolePolicies GetRolePolicy ListAttachedRolePolicies ListInstanceProfilesForRole RemoveRoleFromInstanceProfile
    DeleteRole`,
  aws_iam_role_policy: iam`PutRolePolicy GetRolePolicy DeleteRolePolicy`,
  aws_iam_role_policy_attachment: iam`AttachRolePolicy ListAttachedRolePolicies DetachRolePolicy`,
  // GetRole: refresh checks the profile's role still exists.
  aws_iam_instance_profile: iam`CreateInstanceProfile GetInstanceProfile TagInstanceProfile UntagInstanceProfile
    AddRoleToInstanceProfile RemoveRoleFromInstanceProfile DeleteInstanceProfile GetRole`,
};

/** Per AWS SDK command the activities send with a job's credentials, its IAM action. */
export const ACTIVITY_ACTIONS: Record<string, readonly string[]> = {
  GetCallerIdentityCommand: ['sts:GetCallerIdentity'],
  DescribeVpcsCommand: ['ec2:DescribeVpcs'],
  DescribeSubnetsCommand: ['ec2:DescribeSubnets'],
  DescribeSecurityGroupsCommand: ['ec2:DescribeSecurityGroups'],
  DescribeImagesCommand: ['ec2:DescribeImages'],
  DescribeInstanceTypeOfferingsCommand: ['ec2:DescribeInstanceTypeOfferings'],
  DescribeInstancesCommand: ['ec2:DescribeInstances'],
  DescribeInstanceStatusCommand: ['ec2:DescribeInstanceStatus'],
  GetConsoleOutputCommand: ['ec2:GetConsoleOutput'],
  GetParameterCommand: ['ssm:GetParameter'],
  SendCommandCommand: ['ssm:SendCommand'],
  GetCommandInvocationCommand: ['ssm:GetCommandInvocation'],
  CancelCommandCommand: ['ssm:CancelCommand'],
};

/**
 * A connection test: read-only calls, in order, each naming what a job needs
 * it for. Writes (RunInstances, iam:CreateRole) cannot be tried without
 * creating something, so a passing test says "reads work", not "a job will".
 */
export const CONNECTION_CHECKS = [
  { action: 'sts:GetCallerIdentity', why: 'which account the role is in (checked against ALLOWED_ACCOUNT_IDS)' },
  { action: 'ec2:DescribeVpcs', why: 'pre-flight checks the VPC, or finds the default one' },
  { action: 'ec2:DescribeSubnets', why: 'pre-flight checks the subnet and its availability zone' },
  { action: 'ec2:DescribeSecurityGroups', why: 'pre-flight checks the extra security groups; Terraform reads its own' },
  { action: 'ec2:DescribeImages', why: 'pre-flight checks the AMI; Terraform reads its root device' },
  { action: 'ec2:DescribeInstanceTypeOfferings', why: 'pre-flight checks the instance type is offered in the zone' },
  { action: 'ec2:DescribeInstances', why: 'Terraform reads the instance it created' },
  { action: 'ec2:DescribeInstanceStatus', why: 'the readiness step watches the status checks' },
  { action: 'ssm:GetParameter', why: 'pre-flight looks up the latest Amazon Linux 2023 AMI' },
] as const satisfies readonly { action: string; why: string }[];

export type ConnectionCheckAction = (typeof CONNECTION_CHECKS)[number]['action'];

type Condition = Record<string, Record<string, string | string[]>>;

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Principal?: { AWS: string | string[] };
  Action: string | string[];
  Resource?: string | string[];
  Condition?: Condition;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

/** Optional S3 state (TF_STATE_*): the backend reads and writes it with the job's credentials. */
export interface StateBackendAccess {
  bucket: string;
  /** TF_STATE_KEY_PREFIX; each job's state is <prefix>/<jobId>/terraform.tfstate. */
  keyPrefix?: string;
  /** TF_STATE_LOCK_TABLE; without one the backend locks with a .tflock object next to the state. */
  lockTable?: string;
  /** TF_STATE_ROLE_ARN: then the job only needs to assume that role, and the bucket is that role's business. */
  roleArn?: string;
}

export interface PermissionsOptions {
  partition?: string;
  stateBackend?: StateBackendAccess;
}

function checkPartition(partition: string): string {
  if (!/^aws(-[a-z]+)*$/.test(partition)) throw new Error(`"${partition}" is not an AWS partition (aws, aws-cn, …)`);
  return partition;
}

function allow(Sid: string, Action: string | string[], Resource: string | string[], Condition?: Condition): PolicyStatement {
  return { Sid, Effect: 'Allow', Action, Resource, ...(Condition ? { Condition } : {}) };
}

const RULE_CHANGES = ec2`AuthorizeSecurityGroupIngress AuthorizeSecurityGroupEgress RevokeSecurityGroupIngress
  RevokeSecurityGroupEgress ModifySecurityGroupRules`;

/** The role's permissions: every action of RESOURCE_ACTIONS and ACTIVITY_ACTIONS, grouped by purpose. */
export function permissionsPolicy(opts: PermissionsOptions = {}): PolicyDocument {
  const p = checkPartition(opts.partition ?? 'aws');
  const role = `arn:${p}:iam::*:role/${IAM_NAME_PREFIX}*`;
  const profile = `arn:${p}:iam::*:instance-profile/${IAM_NAME_PREFIX}*`;
  const tagged = (kind: 'Resource' | 'Request') => ({
    StringEquals: { [`aws:${kind}Tag/${MANAGED_BY_TAG.key}`]: MANAGED_BY_TAG.value },
  });
  const statements: PolicyStatement[] = [
    // Describe* calls take no resource-level permissions.
    allow(
      'Ec2Read',
      ec2`DescribeVpcs DescribeSubnets DescribeSecurityGroups DescribeSecurityGroupRules DescribeImages
         DescribeInstanceTypeOfferings DescribeInstanceTypes DescribeInstances DescribeInstanceAttribute
         DescribeInstanceCreditSpecifications DescribeInstanceStatus DescribeVolumes DescribeNetworkInterfaces DescribeTags`,
      '*',
    ),
    // A launch touches the AMI, the subnet, the given groups, a new ENI and volume: no useful narrowing.
    allow('Ec2Create', ec2`RunInstances CreateSecurityGroup`, '*'),
    allow('Ec2TagOnCreate', 'ec2:CreateTags', `arn:${p}:ec2:*:*:*/*`, {
      StringEquals: {
        'ec2:CreateAction': [
          'RunInstances',
          'CreateSecurityGroup',
          'AuthorizeSecurityGroupIngress',
          'AuthorizeSecurityGroupEgress',
        ],
      },
    }),
    // The provider tags root_block_device volumes after the launch, with the module's tags.
    allow('Ec2TagNewRootVolume', 'ec2:CreateTags', `arn:${p}:ec2:*:*:volume/*`, tagged('Request')),
    // Changing, deleting (and reading a console) in EC2 only where the module's tag is: never the account's
    // other instances or groups.
    allow(
      'Ec2ChangeManaged',
      [
        ...ec2`TerminateInstances StopInstances StartInstances ModifyInstanceAttribute ModifyInstanceMetadataOptions
           GetConsoleOutput DeleteSecurityGroup ${TAGS}`,
        ...RULE_CHANGES,
      ],
      '*',
      tagged('Resource'),
    ),
    // Rule changes are also authorized on the rule itself, new (untagged) or the group's default one;
    // the statement above still has to allow the group.
    allow('Ec2SecurityGroupRules', RULE_CHANGES, `arn:${p}:ec2:*:*:security-group-rule/*`),
    // PutRolePolicy is the instance's read-its-own-artifacts policy: any inline policy on prov-* roles.
    allow(
      'IamInstanceRole',
      iam`CreateRole GetRole TagRole UntagRole UpdateRole UpdateRoleDescription UpdateAssumeRolePolicy DeleteRole
         ListRolePolicies GetRolePolicy PutRolePolicy DeleteRolePolicy ListAttachedRolePolicies ListInstanceProfilesForRole
         CreateInstanceProfile GetInstanceProfile TagInstanceProfile UntagInstanceProfile AddRoleToInstanceProfile
         RemoveRoleFromInstanceProfile DeleteInstanceProfile`,
      [role, profile],
    ),
    // Only the Session Manager policy: attaching AdministratorAccess to a role it can pass would be an escalation.
    allow('IamInstanceRoleSsmPolicy', iam`AttachRolePolicy DetachRolePolicy`, role, {
      ArnEquals: { 'iam:PolicyARN': `arn:${p}:iam::aws:policy/${SSM_MANAGED_POLICY}` },
    }),
    allow('PassInstanceRoleToEc2', 'iam:PassRole', role, {
      StringEquals: {
        'iam:PassedToService': p === 'aws-cn' ? ['ec2.amazonaws.com', 'ec2.amazonaws.com.cn'] : 'ec2.amazonaws.com',
      },
    }),
    // A revision changes containers and users on the running instance: one AWS document, and only on the
    // module's instances (SendCommand is authorized on both the document and the instance).
    allow('RunCommandDocument', 'ssm:SendCommand', `arn:${p}:ssm:*::document/AWS-RunShellScript`),
    allow('RunCommandOnManagedInstances', 'ssm:SendCommand', `arn:${p}:ec2:*:*:instance/*`, {
      StringEquals: { [`ssm:resourceTag/${MANAGED_BY_TAG.key}`]: MANAGED_BY_TAG.value },
    }),
    // Reading and stopping a command take no resource-level narrowing worth having.
    allow('RunCommandResults', ssm`GetCommandInvocation CancelCommand`, '*'),
    allow('AmazonLinuxAmiParameters', 'ssm:GetParameter', `arn:${p}:ssm:*::parameter/aws/service/ami-amazon-linux-latest/*`),
    // Needs no permission in AWS; listed so the policy says everything a job calls.
    allow('Identity', 'sts:GetCallerIdentity', '*'),
  ];
  if (opts.stateBackend) statements.push(...stateStatements(p, opts.stateBackend));
  return { Version: '2012-10-17', Statement: statements };
}

function stateStatements(p: string, s: StateBackendAccess): PolicyStatement[] {
  if (s.roleArn) return [allow('StateBackendRole', 'sts:AssumeRole', s.roleArn)];
  const prefix = (s.keyPrefix ?? 'provisioning/jobs').replace(/^\/+|\/+$/g, '');
  const out = [
    allow('StateBucketList', 's3:ListBucket', `arn:${p}:s3:::${s.bucket}`),
    // DeleteObject: the .tflock file the backend locks with.
    allow('StateObjects', s3`GetObject PutObject DeleteObject`, `arn:${p}:s3:::${s.bucket}/${prefix ? `${prefix}/` : ''}*`),
  ];
  if (s.lockTable) {
    const table = `arn:${p}:dynamodb:*:*:table/${s.lockTable}`;
    out.push(allow('StateLockTable', dynamodb`DescribeTable GetItem PutItem DeleteItem`, table));
  }
  return out;
}

/** Every action a policy document allows or denies. */
export function policyActions(policy: { Statement: readonly { Action?: string | readonly string[] }[] }): Set<string> {
  const out = new Set<string>();
  for (const statement of policy.Statement) {
    for (const action of [statement.Action ?? []].flat()) out.add(action);
  }
  return out;
}

const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;
const PRINCIPAL = /^arn:aws(-[a-z]+)*:iam::\d{12}:(root|role\/[\w+=,.@/-]+|user\/[\w+=,.@/-]+)$/;

/**
 * Lets the worker's principal assume the role only with one of the external
 * IDs: two while a new one is rolled out and the old one still in use.
 */
export function trustPolicy(opts: { workerPrincipalArn: string; externalIds: string[] }): PolicyDocument {
  if (!PRINCIPAL.test(opts.workerPrincipalArn)) {
    throw new Error(`"${opts.workerPrincipalArn}" is not an IAM role, user or account root ARN`);
  }
  const ids = [...new Set(opts.externalIds)];
  if (ids.length === 0)
    throw new Error('At least one external ID is required: without one any customer could point the service at this role');
  const bad = ids.find((id) => !EXTERNAL_ID.test(id));
  if (bad !== undefined) throw new Error(`"${bad}" is not a valid external ID (2 to 1224 of letters, digits and +=,.@:/-_)`);
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'ProvisioningServiceWorker',
        Effect: 'Allow',
        Principal: { AWS: opts.workerPrincipalArn },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'sts:ExternalId': ids.length === 1 ? ids[0] : ids } },
      },
    ],
  };
}

/**
 * The principal a trust policy names for the identity STS reports for the
 * worker. An assumed-role ARN carries the role's name but not its path, so a
 * worker role with a path (SSO roles live under /aws-reserved/…) must be given
 * as its IAM ARN instead. Federated users have no IAM principal of their own:
 * the account root stands for them (and for every principal the account allows).
 */
export function workerTrustPrincipal(callerArn: string): string {
  const m = /^arn:(aws(?:-[a-z]+)*):(sts|iam)::(\d{12}):(.+)$/.exec(callerArn.trim());
  if (!m) throw new Error(`"${callerArn}" is not an STS caller identity ARN`);
  const [, partition, service, account, resource] = m;
  if (service === 'iam' && /^(root|user\/.+|role\/.+)$/.test(resource)) return callerArn.trim();
  if (service === 'sts') {
    const assumed = /^assumed-role\/([\w+=,.@-]+)\/[^/]+$/.exec(resource);
    if (assumed) return `arn:${partition}:iam::${account}:role/${assumed[1]}`;
    if (resource.startsWith('federated-user/')) return `arn:${partition}:iam::${account}:root`;
  }
  throw new Error(`Cannot tell which IAM principal "${callerArn}" is`);
}

export interface RoleTemplateOptions extends Omit<PermissionsOptions, 'partition'> {
  roleName: string;
  workerPrincipalArn: string;
  externalIds: string[];
}

const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;
const ROLE_DESCRIPTION = 'Lets the provisioning service run Terraform for its jobs in this account';

/** The worker and the role are in one partition: AssumeRole does not cross partitions. */
function documents(opts: RoleTemplateOptions): { trust: PolicyDocument; permissions: PolicyDocument } {
  if (!ROLE_NAME.test(opts.roleName)) throw new Error(`"${opts.roleName}" is not a valid IAM role name`);
  const trust = trustPolicy(opts);
  const partition = opts.workerPrincipalArn.split(':')[1];
  return { trust, permissions: permissionsPolicy({ partition, stateBackend: opts.stateBackend }) };
}

/** A CloudFormation template (YAML) creating the role with both documents inline; outputs RoleArn. */
export function cloudFormationTemplate(opts: RoleTemplateOptions): string {
  const { trust, permissions } = documents(opts);
  const template = {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: `IAM role ${opts.roleName} for the provisioning service`,
    Resources: {
      ProvisioningServiceRole: {
        Type: 'AWS::IAM::Role',
        Properties: {
          RoleName: opts.roleName,
          Description: ROLE_DESCRIPTION,
          AssumeRolePolicyDocument: trust,
          // Inline: the role is self-contained, and goes away with the stack.
          Policies: [{ PolicyName: 'provisioning-service', PolicyDocument: permissions }],
        },
      },
    },
    Outputs: { RoleArn: { Value: { 'Fn::GetAtt': ['ProvisioningServiceRole', 'Arn'] } } },
  };
  // Every value quoted: CloudFormation's YAML would read 2012-10-17 unquoted as a date.
  return toYaml(template, { defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN', lineWidth: 0 });
}

/** The same role as Terraform (aws_iam_role + aws_iam_role_policy), formatted as `terraform fmt` leaves it. */
export function terraformSnippet(opts: RoleTemplateOptions): string {
  const { trust, permissions } = documents(opts);
  const block = (header: string, attributes: [string, string][]) => [`${header} {`, ...hclAttributes(attributes, 1), '}', ''];
  return [
    ...block('resource "aws_iam_role" "provisioning_service"', [
      ['name', hclString(opts.roleName)],
      ['description', hclString(ROLE_DESCRIPTION)],
      ['assume_role_policy', `jsonencode(${hclValue(trust, 1)})`],
    ]),
    ...block('resource "aws_iam_role_policy" "provisioning_service"', [
      ['name', '"provisioning-service"'],
      ['role', 'aws_iam_role.provisioning_service.id'],
      ['policy', `jsonencode(${hclValue(permissions, 1)})`],
    ]),
    ...block('output "provisioning_service_role_arn"', [['value', 'aws_iam_role.provisioning_service.arn']]),
  ].join('\n');
}

function hclString(s: string): string {
  return JSON.stringify(s).replace(/\$\{/g, '$${').replace(/%\{/g, '%%{');
}

function hclKey(key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) && !['true', 'false', 'null'].includes(key) ? key : hclString(key);
}

/**
 * `key = value` lines as terraform fmt aligns them: the `=` of consecutive
 * single-line attributes line up; one whose value spans lines ends the run.
 */
function hclAttributes(entries: [string, string][], depth: number): string[] {
  const pad = '  '.repeat(depth);
  const out: string[] = [];
  let run: [string, string][] = [];
  const flush = () => {
    const width = Math.max(0, ...run.map(([k]) => k.length));
    for (const [k, v] of run) out.push(`${pad}${k.padEnd(width)} = ${v}`);
    run = [];
  };
  for (const [key, value] of entries) {
    if (value.includes('\n')) {
      flush();
      out.push(`${pad}${key} = ${value}`);
    } else {
      run.push([key, value]);
    }
  }
  flush();
  return out;
}

/** A JSON value as an HCL expression; `depth` is the indent level of the line it starts on. */
function hclValue(value: unknown, depth: number): string {
  const pad = '  '.repeat(depth);
  if (typeof value === 'string') return hclString(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return JSON.stringify(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    if (value.every((v) => typeof v === 'string') && value.length === 1) return `[${hclString(value[0])}]`;
    return `[\n${value.map((v) => `${pad}  ${hclValue(v, depth + 1)},`).join('\n')}\n${pad}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return '{}';
  const lines = hclAttributes(
    entries.map(([k, v]) => [hclKey(k), hclValue(v, depth + 1)]),
    depth + 1,
  );
  return `{\n${lines.join('\n')}\n${pad}}`;
}
