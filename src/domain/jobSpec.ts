import { z } from 'zod';
import { containerListSchema, type ContainerSpec } from './containers.js';
import { renderUserData, USER_DATA_LIMIT_BYTES, UserDataTooLargeError } from './userDataScript.js';
import { formatCsvError, parseUsersCsv, usersToCsv } from './usersCsv.js';
import { MAX_TTL_HOURS } from './lifecycle.js';
import { documented, orNotGiven, toJsonSchema } from './documentedSchema.js';
import { blankMeansNoUsers, documentAuth, networkJsonSchema, USERS_CSV_DESCRIPTION } from './jobSpecDocs.js';
import { emailPatterns, ipv4NetworkPattern, textFrom, USERS_CSV } from './specPatterns.js';
import { formatIssuePath, textProblems } from './specText.js';

export { formatIssuePath, MAX_SPEC_DEPTH, textProblems } from './specText.js';

/**
 * The job spec: what a requester asks for. One schema for the form, the API
 * and the worker, so a spec the API accepted is one the worker can run.
 * Everything the operator restricts (regions, instance types, access keys,
 * accounts) comes in as a policy, so the same code serves every deployment.
 * Messages always name the field (dotted path), because the API returns
 * them as they are and not every client shows the path.
 */

export interface JobSpecPolicy {
  allowedRegions: string[];
  allowedInstanceTypes: string[];
  allowAccessKeys: boolean;
  /** Empty or absent: any account. */
  allowedAccountIds?: string[];
  /** ARTIFACTS_BUCKET set: the compose file and users CSV travel through S3, not in the user data. */
  artifactsInS3?: boolean;
}

export const ACCESS_KEYS_DISABLED_MESSAGE =
  'access key authentication is disabled on this service (ALLOW_ACCESS_KEY_AUTH=false); use an IAM role to assume';

const JOB_NAME = /^[a-z0-9][a-z0-9-]{1,62}$/;
const ROLE_ARN = /^arn:aws(-cn|-us-gov)?:iam::(\d{12}):role\/[\w+=,.@/-]{1,512}$/;
const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;
const ACCESS_KEY_ID = /^(AKIA|ASIA)[A-Z0-9]{16}$/;
const SECRET_ACCESS_KEY = /^[A-Za-z0-9/+=]{40}$/;
const VPC_ID = /^vpc-[0-9a-f]{8,17}$/;
const SUBNET_ID = /^subnet-[0-9a-f]{8,17}$/;
const SG_ID = /^sg-[0-9a-f]{8,17}$/;
const AMI_ID = /^ami-[0-9a-f]{8,17}$/;
const IPV4_CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
// EC2 attaches at most 5 groups to an instance's interface by default, and the job's own group is one of them.
const MAX_SECURITY_GROUPS = 4;
export { MAX_TTL_HOURS };

/** A string field whose missing/wrong-type messages name it. */
export function text(field: string) {
  return z.string({ error: (iss) => (iss.input === undefined ? `${field} is required` : `${field} must be a string`) });
}

/** Form posts send "" for an untouched optional input; that means "not given", and so does null. */
export function optionalText<T extends z.ZodType>(schema: T) {
  const optional = z.preprocess((v) => (v === '' || v === null ? undefined : v), schema.optional());
  return documented(optional, orNotGiven(toJsonSchema(schema))) as unknown as z.ZodOptional<T>;
}

export function strictObject<T extends z.core.$ZodLooseShape>(field: string, shape: T) {
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === 'unrecognized_keys'
        ? `${field ? `${field}: ` : ''}unknown field "${iss.keys.join('", "')}"`
        : `${field || 'the job spec'} must be an object`,
  });
}

/** The network address of an IPv4 CIDR, or a message naming the field. */
function cidrProblem(field: string, value: string): string | null {
  const m = IPV4_CIDR.exec(value);
  if (!m) return `${field} "${value}" is not an IPv4 CIDR such as 203.0.113.0/24`;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix > 32) return `${field} "${value}" is not an IPv4 CIDR such as 203.0.113.0/24`;
  const address = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  const network = Math.floor(address / size) * size;
  if (network !== address) {
    const n = [24, 16, 8, 0].map((shift) => Math.floor(network / 2 ** shift) % 256).join('.');
    // AWS refuses host bits in security group rules; say what was meant.
    return `${field} "${value}" has host bits set; use ${n}/${prefix}`;
  }
  return null;
}

const IPV4_NETWORK = ipv4NetworkPattern();

export function cidr(field: string) {
  const checked = text(field).superRefine((v, ctx) => {
    const problem = cidrProblem(field, v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
  return documented(checked, { type: 'string', pattern: IPV4_NETWORK });
}

function pattern(field: string, re: RegExp, expected: string) {
  return text(field).regex(re, { error: (iss) => `${field} "${String(iss.input)}" is not ${expected}` });
}

/** A team account's id (db/teams.ts newAccountId). */
export const TEAM_ACCOUNT_ID = /^acct[0-9a-f]{12}$/;

const assumeRoleShape = {
  method: z.literal('assume_role'),
  // Without a team account the role is typed; with one the service fills it in from the account.
  roleArn: optionalText(
    text('auth.roleArn').regex(ROLE_ARN, {
      error: (iss) =>
        `auth.roleArn "${String(iss.input)}" is not an IAM role ARN (expected arn:aws:iam::<12-digit account id>:role/<role name>)`,
    }),
  ),
  /** One of the team's AWS accounts: its role, and an external ID only the service knows. */
  teamAccountId: optionalText(
    text('auth.teamAccountId').regex(TEAM_ACCOUNT_ID, { error: 'auth.teamAccountId is not the id of a team account' }),
  ),
  // The external ID is not secret in AWS's model, but it is not echoed in messages either.
  externalId: optionalText(
    text('auth.externalId').regex(EXTERNAL_ID, {
      error: 'auth.externalId must be 2-1224 characters of letters, digits and + = , . @ : / - _',
    }),
  ),
};

// Key material is never echoed back in a message.
const accessKeysShape = {
  method: z.literal('access_keys'),
  accessKeyId: text('auth.accessKeyId').regex(ACCESS_KEY_ID, {
    error: 'auth.accessKeyId must be 20 characters starting with AKIA (long-term) or ASIA (temporary)',
  }),
  secretAccessKey: text('auth.secretAccessKey').regex(SECRET_ACCESS_KEY, {
    error: 'auth.secretAccessKey must be the 40-character secret that belongs to the access key',
  }),
  sessionToken: optionalText(
    documented(text('auth.sessionToken').min(16, { error: 'auth.sessionToken is too short to be a session token' }), {
      type: 'string',
      pattern: textFrom(16),
    }),
  ),
};

/** The instance type, one of those the operator allows. */
export function instanceTypeField(policy: Pick<JobSpecPolicy, 'allowedInstanceTypes'>) {
  const allowed = text('instance.type').refine((t) => policy.allowedInstanceTypes.includes(t), {
    error: (iss) =>
      `instance.type "${String(iss.input)}" is not allowed; allowed types: ${policy.allowedInstanceTypes.join(', ')}`,
  });
  return documented(allowed, { type: 'string', enum: policy.allowedInstanceTypes });
}

export function volumeSizeField() {
  return z
    .number({ error: 'instance.volumeSizeGb must be a number of GiB' })
    .int({ error: 'instance.volumeSizeGb must be a whole number of GiB' })
    .min(8, { error: 'instance.volumeSizeGb must be at least 8 GiB' })
    .max(1024, { error: 'instance.volumeSizeGb must be at most 1024 GiB' });
}

/**
 * The users CSV, stored canonical (fixed header, no BOM, LF), which is what the instance receives.
 * Warnings (columns other than the four, dropped) do not refuse the file; rewriting it from the
 * users leaves those columns out of what is stored and sent to the instance.
 */
export function usersCsvField() {
  const parsed = text('usersCsv').transform((csv, ctx) => {
    const { users, errors } = parseUsersCsv(csv);
    if (errors.length === 0) return usersToCsv(users);
    for (const e of errors) {
      ctx.issues.push({ code: 'custom', input: csv, message: `usersCsv ${formatCsvError(e)}` });
    }
    return z.NEVER;
  });
  return documented(parsed, { type: 'string', pattern: USERS_CSV, description: USERS_CSV_DESCRIPTION });
}

export function createJobSpecSchema(policy: JobSpecPolicy) {
  const allowedAccounts = policy.allowedAccountIds ?? [];

  const assumeRole = strictObject('auth', assumeRoleShape).superRefine((auth, ctx) => {
    if (!auth.roleArn && !auth.teamAccountId) {
      ctx.addIssue({
        code: 'custom',
        path: ['roleArn'],
        message: 'auth.roleArn is required, or auth.teamAccountId: one of your team’s AWS accounts',
      });
      return;
    }
    const account = auth.roleArn ? ROLE_ARN.exec(auth.roleArn)?.[2] : undefined;
    if (account && allowedAccounts.length > 0 && !allowedAccounts.includes(account)) {
      ctx.addIssue({
        code: 'custom',
        path: ['roleArn'],
        message: `auth.roleArn: account ${account} is not one this service may provision into; ask the operator to add it to ALLOWED_ACCOUNT_IDS`,
      });
    }
  });

  const accessKeysAllowed = strictObject('auth', accessKeysShape).superRefine((auth, ctx) => {
    // Temporary keys are useless without their token; better to say so now than at AssumeRole time.
    if (auth.accessKeyId.startsWith('ASIA') && !auth.sessionToken) {
      ctx.addIssue({
        code: 'custom',
        path: ['sessionToken'],
        message: 'auth.sessionToken is required with temporary (ASIA…) access keys',
      });
    }
  });
  // When disabled, the branch accepts any body and refuses it with one clear
  // message, instead of first complaining about the key's format. The cast
  // keeps JobSpec one type whatever the policy.
  const accessKeysRefused = z
    .object({ method: z.literal('access_keys') })
    .loose()
    .superRefine((_auth, ctx) => {
      ctx.addIssue({ code: 'custom', path: ['method'], message: ACCESS_KEYS_DISABLED_MESSAGE });
    }) as unknown as typeof accessKeysAllowed;

  const auth = z.discriminatedUnion('method', [assumeRole, policy.allowAccessKeys ? accessKeysAllowed : accessKeysRefused], {
    error: (iss) =>
      iss.code === 'invalid_union'
        ? 'auth.method must be "assume_role" or "access_keys"'
        : 'auth must be an object with a method ("assume_role" or "access_keys")',
  });
  documentAuth({ auth, assumeRole, accessKeysAllowed }, policy, ROLE_ARN);

  const network = strictObject('network', {
    vpcId: optionalText(pattern('network.vpcId', VPC_ID, 'a VPC id (vpc- and 8 or 17 hex digits)')),
    subnetId: optionalText(pattern('network.subnetId', SUBNET_ID, 'a subnet id (subnet- and 8 or 17 hex digits)')),
    securityGroupIds: z
      .array(pattern('network.securityGroupIds', SG_ID, 'a security group id (sg- and 8 or 17 hex digits)'), {
        error: 'network.securityGroupIds must be a list of security group ids',
      })
      .max(MAX_SECURITY_GROUPS, {
        error: `network.securityGroupIds: at most ${MAX_SECURITY_GROUPS} security groups (the job's own group makes five, EC2's default limit)`,
      })
      .optional(),
  });
  const checkedNetwork = network.superRefine((net, ctx) => {
    // The subnet decides the VPC the instance lands in; a VPC alone would
    // put a created security group in one VPC and the instance in the default one.
    if (net.subnetId && !net.vpcId) {
      ctx.addIssue({ code: 'custom', path: ['vpcId'], message: 'network.vpcId is required when network.subnetId is given' });
    }
    if (net.vpcId && !net.subnetId) {
      ctx.addIssue({ code: 'custom', path: ['subnetId'], message: 'network.subnetId is required when network.vpcId is given' });
    }
    const groups = net.securityGroupIds ?? [];
    if (groups.length > 0 && !net.vpcId) {
      ctx.addIssue({
        code: 'custom',
        path: ['securityGroupIds'],
        message: 'network.securityGroupIds need network.vpcId and network.subnetId (security groups belong to a VPC)',
      });
    }
    groups.forEach((id, i) => {
      if (groups.indexOf(id) !== i) {
        ctx.addIssue({ code: 'custom', path: ['securityGroupIds', i], message: `network.securityGroupIds lists ${id} twice` });
      }
    });
  });
  documented(checkedNetwork, networkJsonSchema(toJsonSchema(network)));

  const instance = strictObject('instance', {
    type: instanceTypeField(policy),
    volumeSizeGb: volumeSizeField().default(20),
    amiId: optionalText(pattern('instance.amiId', AMI_ID, 'an AMI id (ami- and 8 or 17 hex digits)')),
    metadataHopLimit2: z.boolean({ error: 'instance.metadataHopLimit2 must be true or false' }).optional(),
    sshCidr: optionalText(cidr('instance.sshCidr')),
    ingressCidr: cidr('instance.ingressCidr').default('0.0.0.0/0'),
  });

  const options = strictObject('options', {
    requireApproval: z.boolean({ error: 'options.requireApproval must be true or false' }).default(false),
    /** Set by a team's approval policy: approval only when the plan replaces or destroys something. */
    approveWhen: z.enum(['replace_or_destroy'], { error: 'options.approveWhen must be "replace_or_destroy"' }).optional(),
    ttlHours: z
      .number({ error: 'options.ttlHours must be a number of hours' })
      .positive({ error: 'options.ttlHours must be more than 0' })
      .max(MAX_TTL_HOURS, { error: `options.ttlHours must be at most ${MAX_TTL_HOURS} (30 days)` })
      .optional(),
  });

  const usersCsv = usersCsvField();

  const spec = strictObject('', {
    name: text('name').regex(JOB_NAME, {
      error: (iss) =>
        `name "${String(iss.input)}" must be 2-63 lowercase letters, digits or hyphens, starting with a letter or digit`,
    }),
    requesterEmail: documented(
      text('requesterEmail')
        .trim()
        // RFC 5321's longest address: longer text is no address, and is not echoed back.
        .max(254, { error: 'requesterEmail must be at most 254 characters' })
        .pipe(z.email({ error: (iss) => `requesterEmail "${String(iss.input)}" is not a valid email address` })),
      { type: 'string', allOf: emailPatterns(z.regexes.email) },
    ),
    region: documented(
      text('region').refine((r) => policy.allowedRegions.includes(r), {
        error: (iss) => `region "${String(iss.input)}" is not allowed; allowed regions: ${policy.allowedRegions.join(', ')}`,
      }),
      { type: 'string', enum: policy.allowedRegions },
    ),
    auth,
    network: checkedNetwork.optional(),
    instance,
    containers: containerListSchema,
    // Stored canonical (fixed header, no BOM, LF), which is what the instance receives.
    usersCsv: blankMeansNoUsers(
      z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), usersCsv.optional()),
      false,
    ) as unknown as z.ZodOptional<typeof usersCsv>,
    options: options.default({ requireApproval: false }),
  });
  // The first-boot script carries the compose file and the users list: it must fit EC2's user data
  // limit, which is known now, not at the render step an hour later. With an artifacts bucket both
  // travel through S3 instead, and only the CSV's own limit applies.
  const sized = policy.artifactsInS3
    ? spec
    : spec.superRefine((value, ctx) => {
        const problem = userDataSizeProblem(value.containers, value.usersCsv);
        if (problem) ctx.addIssue({ code: 'custom', path: [problem.field], message: problem.message });
      });
  // Text that is not Unicode, and nesting no spec needs, are refused before anything else looks at them.
  return z.preprocess((input, ctx) => {
    for (const problem of textProblems(input)) {
      ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message, input });
    }
    return input;
  }, sized) as unknown as typeof spec;
}

/** As long as the ids the service gives jobs ("j" and 12 characters): the script holds it a few times. */
const JOB_ID_OF_SIZE = 'jsizesizesize';

/** The user data's size over EC2's limit, blamed on the users CSV unless the containers alone are too big. */
export function userDataSizeProblem(
  containers: ContainerSpec[],
  usersCsv: string | undefined,
): { field: 'usersCsv' | 'containers'; message: string } | null {
  try {
    renderUserData({ jobId: JOB_ID_OF_SIZE, containers, usersCsv });
    return null;
  } catch (err) {
    if (!(err instanceof UserDataTooLargeError)) throw err;
    let containersAlone = false;
    try {
      renderUserData({ jobId: JOB_ID_OF_SIZE, containers });
    } catch {
      containersAlone = true;
    }
    const size = `the instance's user data would be ${err.bytes} bytes gzipped (${err.uncompressedBytes} bytes plain); EC2 allows ${USER_DATA_LIMIT_BYTES}`;
    return containersAlone || !usersCsv
      ? { field: 'containers', message: `containers are too large: ${size}; make the environment values or commands shorter` }
      : { field: 'usersCsv', message: `usersCsv is too large: ${size}; give fewer users or shorter names` };
  }
}

export type JobSpecSchema = ReturnType<typeof createJobSpecSchema>;
export type JobSpec = z.output<JobSpecSchema>;
export type JobSpecInput = z.input<JobSpecSchema>;
export type JobAuth = JobSpec['auth'];

export type PublicAuth = Extract<JobAuth, { method: 'assume_role' }> | { method: 'access_keys'; accessKeyId: string };
export type PublicJobSpec = Omit<JobSpec, 'auth'> & { auth: PublicAuth };

/** AKIAIOSFODNN7EXAMPLE → AKIA…MPLE: enough to recognise a key, not to use it. */
export function maskAccessKeyId(id: string): string {
  return id.length <= 8 ? '…' : `${id.slice(0, 4)}…${id.slice(-4)}`;
}

/** The spec as stored in SQLite and shown in the UI: no secret key, no session token. */
export function publicSpec(spec: JobSpec): PublicJobSpec {
  if (spec.auth.method === 'assume_role') return { ...spec, auth: { ...spec.auth } };
  return { ...spec, auth: { method: 'access_keys', accessKeyId: maskAccessKeyId(spec.auth.accessKeyId) } };
}

export function zodIssuesToFields(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.flatMap((issue) =>
    // One field per unknown key, at the key, so a client can point at it.
    issue.code === 'unrecognized_keys' && issue.keys.length > 0
      ? issue.keys.map((key) => ({
          path: formatIssuePath([...issue.path, key]),
          message: `${issue.path.length ? `${formatIssuePath(issue.path)}: ` : ''}unknown field "${key}"`,
        }))
      : [{ path: formatIssuePath(issue.path), message: issue.message }],
  );
}
