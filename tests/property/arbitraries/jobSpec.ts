import fc from 'fast-check';
import type { JobSpec, JobSpecInput, JobSpecPolicy } from '../../../src/domain/jobSpec.js';
import { MAX_TTL_HOURS } from '../../../src/domain/lifecycle.js';
import { usersToCsv } from '../../../src/domain/usersCsv.js';
import { containerListInput, withContainerDefaults } from './containers.js';
import { appUsers } from './users.js';

/** Valid job specs for a policy, as a client would post them, and what the schema promises to return. */

export const POLICY: JobSpecPolicy = {
  allowedRegions: ['us-east-1', 'eu-west-1', 'ap-southeast-2'],
  allowedInstanceTypes: ['t3.micro', 't3.small', 'm7g.large'],
  allowAccessKeys: true,
};

const hex = (min: number, max: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${min},${max}}$`));
const awsId = (prefix: string) => hex(8, 17).map((h) => `${prefix}-${h}`);

/** A network address with its prefix: AWS refuses host bits, so the address is masked to the prefix. */
const cidr = fc.tuple(fc.nat(2 ** 32 - 1), fc.integer({ min: 0, max: 32 })).map(([address, prefix]) => {
  const size = 2 ** (32 - prefix);
  const network = Math.floor(address / size) * size;
  return `${[24, 16, 8, 0].map((shift) => Math.floor(network / 2 ** shift) % 256).join('.')}/${prefix}`;
});

const requesterEmail = fc
  .tuple(
    fc.stringMatching(/^[a-z0-9_+-]{1,12}$/),
    fc.array(fc.stringMatching(/^[a-z0-9]{1,8}$/), { minLength: 1, maxLength: 2 }),
    fc.stringMatching(/^[a-z]{2,6}$/),
    fc.constantFrom('', ' ', '\t', '  '),
  )
  // Whitespace around the address is trimmed (pasted addresses carry it).
  .map(([local, labels, tld, pad]) => `${pad}${local}@${labels.join('.')}.${tld}${pad}`);

const externalId = fc.stringMatching(/^[\w+=,.@:/-]{2,40}$/);

const assumeRole = fc
  .record({
    partition: fc.constantFrom('aws', 'aws-cn', 'aws-us-gov'),
    account: fc.stringMatching(/^\d{12}$/),
    role: fc.stringMatching(/^[\w+=,.@/-]{1,40}$/),
    teamAccountId: fc.option(
      hex(12, 12).map((h) => `acct${h}`),
      { nil: undefined },
    ),
    externalId: fc.option(externalId, { nil: undefined }),
    typedRole: fc.boolean(),
  })
  .map(({ partition, account, role, teamAccountId, externalId, typedRole }) => ({
    method: 'assume_role' as const,
    // One of the two at least: a typed role, or a team account whose role the service fills in.
    ...(typedRole || !teamAccountId ? { roleArn: `arn:${partition}:iam::${account}:role/${role}` } : {}),
    ...(teamAccountId ? { teamAccountId } : {}),
    ...(externalId ? { externalId } : {}),
  }));

const accessKeys = fc
  .record({
    temporary: fc.boolean(),
    id: fc.stringMatching(/^[A-Z0-9]{16}$/),
    secret: fc.stringMatching(/^[A-Za-z0-9/+=]{40}$/),
    token: fc.stringMatching(/^[A-Za-z0-9/+=]{16,80}$/),
    tokenWithLongTerm: fc.boolean(),
  })
  .map(({ temporary, id, secret, token, tokenWithLongTerm }) => ({
    method: 'access_keys' as const,
    accessKeyId: `${temporary ? 'ASIA' : 'AKIA'}${id}`,
    secretAccessKey: secret,
    ...(temporary || tokenWithLongTerm ? { sessionToken: token } : {}),
  }));

const network = fc.record(
  {
    vpcId: awsId('vpc'),
    subnetId: awsId('subnet'),
    securityGroupIds: fc.uniqueArray(awsId('sg'), { maxLength: 4 }),
  },
  { requiredKeys: ['vpcId', 'subnetId'] },
);

const instance = fc.record(
  {
    type: fc.constantFrom(...POLICY.allowedInstanceTypes),
    volumeSizeGb: fc.integer({ min: 8, max: 1024 }),
    amiId: awsId('ami'),
    metadataHopLimit2: fc.boolean(),
    sshCidr: cidr,
    ingressCidr: cidr,
  },
  { requiredKeys: ['type'] },
);

const options = fc.record(
  {
    requireApproval: fc.boolean(),
    approveWhen: fc.constant('replace_or_destroy' as const),
    ttlHours: fc.double({ min: Number.MIN_VALUE, max: MAX_TTL_HOURS, noNaN: true }),
  },
  { requiredKeys: [] },
);

export const jobSpecInput: fc.Arbitrary<JobSpecInput> = fc.record(
  {
    name: fc.stringMatching(/^[a-z0-9][a-z0-9-]{1,62}$/),
    requesterEmail,
    region: fc.constantFrom(...POLICY.allowedRegions),
    auth: fc.oneof(assumeRole, accessKeys),
    network,
    instance,
    containers: containerListInput({ maxLength: 2, maxEnv: 3 }),
    usersCsv: appUsers(4).map(usersToCsv),
    options,
  },
  { requiredKeys: ['name', 'requesterEmail', 'region', 'auth', 'instance', 'containers'] },
) as fc.Arbitrary<JobSpecInput>;

/** The spec the schema promises for a valid input: defaults filled in, the e-mail address trimmed. */
export function withSpecDefaults(input: JobSpecInput): JobSpec {
  const { instance, options } = input;
  return {
    ...input,
    requesterEmail: input.requesterEmail.trim(),
    instance: { ...instance, volumeSizeGb: instance.volumeSizeGb ?? 20, ingressCidr: instance.ingressCidr ?? '0.0.0.0/0' },
    containers: input.containers.map(withContainerDefaults),
    options: { ...options, requireApproval: options?.requireApproval ?? false },
  } as JobSpec;
}
