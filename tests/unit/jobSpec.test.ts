import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  ACCESS_KEYS_DISABLED_MESSAGE,
  createJobSpecSchema,
  formatIssuePath,
  publicSpec,
  zodIssuesToFields,
  type JobSpecInput,
  type JobSpecPolicy,
} from '../../src/domain/jobSpec.js';

const policy: JobSpecPolicy = {
  allowedRegions: ['us-east-1', 'eu-west-1'],
  allowedInstanceTypes: ['t3.micro', 't3.small'],
  allowAccessKeys: false,
};

const ACCESS_KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

function valid(): JobSpecInput {
  return {
    name: 'demo-web',
    requesterEmail: 'alice@example.com',
    region: 'us-east-1',
    auth: { method: 'assume_role', roleArn: 'arn:aws:iam::123456789012:role/Provisioner', externalId: 'tenant-42' },
    network: { vpcId: 'vpc-0abc1234', subnetId: 'subnet-0abc1234', securityGroupIds: ['sg-0abc1234'] },
    instance: { type: 't3.micro', volumeSizeGb: 20, amiId: 'ami-0abc1234def567890' },
    containers: [
      {
        name: 'webapp',
        image: 'nginx:latest',
        ports: ['80:80'],
        environment: { GREETING: 'hi' },
        volumes: ['/opt/app/html:/usr/share/nginx/html'],
        restart: 'unless-stopped',
      },
    ],
    usersCsv: 'username,email,role,display_name\nadmin,admin@example.com,admin,Administrator\n',
    options: { requireApproval: false, ttlHours: 24 },
  };
}

function errors(input: unknown, p: JobSpecPolicy = policy) {
  const result = createJobSpecSchema(p).safeParse(input);
  return result.success ? [] : zodIssuesToFields(result.error);
}

describe('createJobSpecSchema', () => {
  it('accepts the design example (with real-length ids) and fills defaults', () => {
    const spec = createJobSpecSchema(policy).parse(valid());
    expect(spec.instance.ingressCidr).toBe('0.0.0.0/0');
    expect(spec.containers[0].restart).toBe('unless-stopped');
    expect(spec.options).toEqual({ requireApproval: false, ttlHours: 24 });
  });

  it('fills instance and option defaults for a minimal spec', () => {
    const spec = createJobSpecSchema(policy).parse({
      name: 'mini',
      requesterEmail: 'bob@example.com',
      region: 'eu-west-1',
      auth: { method: 'assume_role', roleArn: 'arn:aws:iam::123456789012:role/P' },
      instance: { type: 't3.small' },
      containers: [{ name: 'web', image: 'nginx' }],
    });
    expect(spec.instance).toEqual({ type: 't3.small', volumeSizeGb: 20, ingressCidr: '0.0.0.0/0' });
    expect(spec.options).toEqual({ requireApproval: false });
    expect(spec.network).toBeUndefined();
    expect(spec.usersCsv).toBeUndefined();
  });

  it('treats empty form strings as not given', () => {
    const input = valid();
    input.instance.amiId = '';
    input.instance.sshCidr = '';
    input.usersCsv = '  ';
    (input.auth as { externalId?: string }).externalId = '';
    const spec = createJobSpecSchema(policy).parse(input);
    expect(spec.instance.amiId).toBeUndefined();
    expect(spec.instance.sshCidr).toBeUndefined();
    expect(spec.usersCsv).toBeUndefined();
    expect(spec.auth).toEqual({ method: 'assume_role', roleArn: 'arn:aws:iam::123456789012:role/Provisioner' });
  });

  it('stores the users CSV in canonical form', () => {
    const spec = createJobSpecSchema(policy).parse({ ...valid(), usersCsv: '\uFEFFEmail,Username\r\na@example.com,a\r\n' });
    expect(spec.usersCsv).toBe('username,email,role,display_name\na,a@example.com,,\n');
  });

  it.each([
    ['a', 'name "a" must be 2-63 lowercase letters, digits or hyphens, starting with a letter or digit'],
    ['../etc', 'name "../etc" must be 2-63 lowercase letters, digits or hyphens, starting with a letter or digit'],
    ['-web', 'name "-web" must be 2-63 lowercase letters, digits or hyphens, starting with a letter or digit'],
    ['Web', 'name "Web" must be 2-63 lowercase letters, digits or hyphens, starting with a letter or digit'],
    [
      'a'.repeat(64),
      `name "${'a'.repeat(64)}" must be 2-63 lowercase letters, digits or hyphens, starting with a letter or digit`,
    ],
  ])('refuses the job name %j', (name, message) => {
    expect(errors({ ...valid(), name })).toEqual([{ path: 'name', message }]);
  });

  it('names every missing required field', () => {
    expect(errors({})).toEqual([
      { path: 'name', message: 'name is required' },
      { path: 'requesterEmail', message: 'requesterEmail is required' },
      { path: 'region', message: 'region is required' },
      { path: 'auth', message: 'auth must be an object with a method ("assume_role" or "access_keys")' },
      { path: 'instance', message: 'instance must be an object' },
      { path: 'containers', message: 'containers must be a list of containers' },
    ]);
  });

  it('bounds the requester email before reading it as an address, and does not echo a long one', () => {
    const long = `${'a'.repeat(300)}@example.com`;
    expect(errors({ ...valid(), requesterEmail: long })).toEqual([
      { path: 'requesterEmail', message: 'requesterEmail must be at most 254 characters' },
    ]);
  });

  it('refuses a region outside the allowlist, listing the allowed ones', () => {
    expect(errors({ ...valid(), region: 'ap-south-1' })).toEqual([
      { path: 'region', message: 'region "ap-south-1" is not allowed; allowed regions: us-east-1, eu-west-1' },
    ]);
  });

  it('refuses an instance type outside the allowlist', () => {
    expect(errors({ ...valid(), instance: { type: 'm5.24xlarge' } })).toEqual([
      { path: 'instance.type', message: 'instance.type "m5.24xlarge" is not allowed; allowed types: t3.micro, t3.small' },
    ]);
  });

  it('refuses a bad requester email', () => {
    expect(errors({ ...valid(), requesterEmail: 'alice' })).toEqual([
      { path: 'requesterEmail', message: 'requesterEmail "alice" is not a valid email address' },
    ]);
  });

  describe('auth', () => {
    it.each([
      'arn:aws:iam::12345678901:role/P',
      'arn:aws:iam::123456789012:user/P',
      'arn:aws:sts::123456789012:assumed-role/P/s',
      'arn:aws:iam::123456789012:role/',
      'not an arn',
    ])('refuses the malformed role ARN %j', (roleArn) => {
      expect(errors({ ...valid(), auth: { method: 'assume_role', roleArn } })).toEqual([
        {
          path: 'auth.roleArn',
          message: `auth.roleArn "${roleArn}" is not an IAM role ARN (expected arn:aws:iam::<12-digit account id>:role/<role name>)`,
        },
      ]);
    });

    it('accepts role paths and the China and GovCloud partitions', () => {
      for (const roleArn of [
        'arn:aws:iam::123456789012:role/team/ops/Provisioner',
        'arn:aws-cn:iam::123456789012:role/P',
        'arn:aws-us-gov:iam::123456789012:role/P+x=y,z.a@b-c_d',
      ]) {
        expect(errors({ ...valid(), auth: { method: 'assume_role', roleArn } }), roleArn).toEqual([]);
      }
    });

    it('refuses a malformed external ID without echoing it', () => {
      const [error] = errors({ ...valid(), auth: { ...valid().auth, externalId: 'x' } });
      expect(error).toEqual({
        path: 'auth.externalId',
        message: 'auth.externalId must be 2-1224 characters of letters, digits and + = , . @ : / - _',
      });
    });

    it('refuses a role in an account outside ALLOWED_ACCOUNT_IDS, naming the account', () => {
      const p = { ...policy, allowedAccountIds: ['111111111111'] };
      expect(errors(valid(), p)).toEqual([
        {
          path: 'auth.roleArn',
          message:
            'auth.roleArn: account 123456789012 is not one this service may provision into; ask the operator to add it to ALLOWED_ACCOUNT_IDS',
        },
      ]);
      expect(errors(valid(), { ...policy, allowedAccountIds: ['123456789012'] })).toEqual([]);
      expect(errors(valid(), { ...policy, allowedAccountIds: [] })).toEqual([]);
    });

    it('refuses access keys when the service disables them, with the reason and nothing else', () => {
      const auth = { method: 'access_keys', accessKeyId: 'bad', secretAccessKey: 'also bad' };
      expect(errors({ ...valid(), auth })).toEqual([{ path: 'auth.method', message: ACCESS_KEYS_DISABLED_MESSAGE }]);
      expect(ACCESS_KEYS_DISABLED_MESSAGE).toBe(
        'access key authentication is disabled on this service (ALLOW_ACCESS_KEY_AUTH=false); use an IAM role to assume',
      );
    });

    it('accepts access keys when enabled and checks them without echoing them', () => {
      const p = { ...policy, allowAccessKeys: true };
      expect(
        errors({ ...valid(), auth: { method: 'access_keys', accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET } }, p),
      ).toEqual([]);
      const bad = errors(
        { ...valid(), auth: { method: 'access_keys', accessKeyId: 'AKIAshort', secretAccessKey: 'tooShortSecret' } },
        p,
      );
      expect(bad.map((e) => e.path)).toEqual(['auth.accessKeyId', 'auth.secretAccessKey']);
      for (const e of bad) {
        expect(e.message).not.toContain('AKIAshort');
        expect(e.message).not.toContain('tooShortSecret');
      }
    });

    it('requires a session token with temporary (ASIA) keys', () => {
      const p = { ...policy, allowAccessKeys: true };
      const auth = { method: 'access_keys', accessKeyId: 'ASIAIOSFODNN7EXAMPLE', secretAccessKey: SECRET };
      expect(errors({ ...valid(), auth }, p)).toEqual([
        { path: 'auth.sessionToken', message: 'auth.sessionToken is required with temporary (ASIA…) access keys' },
      ]);
      expect(errors({ ...valid(), auth: { ...auth, sessionToken: 'IQoJb3JpZ2luX2VjEXAMPLETOKEN' } }, p)).toEqual([]);
    });

    it('refuses an unknown method', () => {
      expect(errors({ ...valid(), auth: { method: 'password' } })).toEqual([
        { path: 'auth.method', message: 'auth.method must be "assume_role" or "access_keys"' },
      ]);
    });
  });

  describe('network', () => {
    it('requires the VPC with a subnet and the subnet with a VPC', () => {
      expect(errors({ ...valid(), network: { subnetId: 'subnet-0abc1234' } })).toEqual([
        { path: 'network.vpcId', message: 'network.vpcId is required when network.subnetId is given' },
      ]);
      expect(errors({ ...valid(), network: { vpcId: 'vpc-0abc1234' } })).toEqual([
        { path: 'network.subnetId', message: 'network.subnetId is required when network.vpcId is given' },
      ]);
    });

    it('checks id formats', () => {
      expect(
        errors({ ...valid(), network: { vpcId: 'vpc-0abc', subnetId: 'subnet-0abc1234', securityGroupIds: ['sg-x'] } }),
      ).toEqual([
        { path: 'network.vpcId', message: 'network.vpcId "vpc-0abc" is not a VPC id (vpc- and 8 or 17 hex digits)' },
        {
          path: 'network.securityGroupIds[0]',
          message: 'network.securityGroupIds "sg-x" is not a security group id (sg- and 8 or 17 hex digits)',
        },
      ]);
    });

    it('needs a VPC for security groups and refuses duplicates', () => {
      expect(errors({ ...valid(), network: { securityGroupIds: ['sg-0abc1234'] } })).toEqual([
        {
          path: 'network.securityGroupIds',
          message: 'network.securityGroupIds need network.vpcId and network.subnetId (security groups belong to a VPC)',
        },
      ]);
      const network = { vpcId: 'vpc-0abc1234', subnetId: 'subnet-0abc1234', securityGroupIds: ['sg-0abc1234', 'sg-0abc1234'] };
      expect(errors({ ...valid(), network })).toEqual([
        { path: 'network.securityGroupIds[1]', message: 'network.securityGroupIds lists sg-0abc1234 twice' },
      ]);
    });
  });

  describe('instance', () => {
    it.each([
      [7, 'instance.volumeSizeGb must be at least 8 GiB'],
      [1025, 'instance.volumeSizeGb must be at most 1024 GiB'],
      [20.5, 'instance.volumeSizeGb must be a whole number of GiB'],
      ['20', 'instance.volumeSizeGb must be a number of GiB'],
    ])('refuses volumeSizeGb %j', (volumeSizeGb, message) => {
      expect(errors({ ...valid(), instance: { type: 't3.micro', volumeSizeGb } })).toEqual([
        { path: 'instance.volumeSizeGb', message },
      ]);
    });

    it('checks CIDRs, including host bits AWS would refuse', () => {
      const instance = { type: 't3.micro', sshCidr: '203.0.113.7/24', ingressCidr: '10.0.0.0/33' };
      expect(errors({ ...valid(), instance })).toEqual([
        { path: 'instance.sshCidr', message: 'instance.sshCidr "203.0.113.7/24" has host bits set; use 203.0.113.0/24' },
        {
          path: 'instance.ingressCidr',
          message: 'instance.ingressCidr "10.0.0.0/33" is not an IPv4 CIDR such as 203.0.113.0/24',
        },
      ]);
      expect(errors({ ...valid(), instance: { type: 't3.micro', sshCidr: '198.51.100.7/32' } })).toEqual([]);
    });

    it('refuses an AMI id of the wrong shape', () => {
      expect(errors({ ...valid(), instance: { type: 't3.micro', amiId: 'ami-xyz' } })).toEqual([
        { path: 'instance.amiId', message: 'instance.amiId "ami-xyz" is not an AMI id (ami- and 8 or 17 hex digits)' },
      ]);
    });
  });

  describe('containers and users', () => {
    it('passes container errors through with full paths', () => {
      const containers = [{ name: 'webapp', image: 'nginx:latest', ports: ['80:80', '99999:80'] }];
      expect(errors({ ...valid(), containers })).toEqual([
        { path: 'containers[0].ports[1]', message: 'container "webapp": port "99999:80" is out of range (1-65535)' },
      ]);
    });

    it('needs at least one container and at most 20', () => {
      expect(errors({ ...valid(), containers: [] })).toEqual([
        { path: 'containers', message: 'containers: at least one container is required' },
      ]);
      const many = Array.from({ length: 21 }, (_, i) => ({ name: `c${i}`, image: 'busybox' }));
      expect(errors({ ...valid(), containers: many })).toEqual([
        { path: 'containers', message: 'containers: at most 20 containers are allowed (got 21)' },
      ]);
    });

    it('turns each CSV row error into an issue on usersCsv with its line', () => {
      const usersCsv = 'username,email\nalice,alice@example\nbob,=cmd\n';
      expect(errors({ ...valid(), usersCsv })).toEqual([
        { path: 'usersCsv', message: 'usersCsv line 2: email "alice@example" is not a valid email address' },
        {
          path: 'usersCsv',
          message: 'usersCsv line 3: email starts with "=", which spreadsheets run as a formula; remove the leading character',
        },
      ]);
    });
  });

  describe('options', () => {
    it('accepts fractional TTLs up to 720 hours', () => {
      expect(errors({ ...valid(), options: { ttlHours: 0.001 } })).toEqual([]);
      expect(errors({ ...valid(), options: { ttlHours: 720 } })).toEqual([]);
    });

    it.each([
      [0, 'options.ttlHours must be more than 0'],
      [-1, 'options.ttlHours must be more than 0'],
      [721, 'options.ttlHours must be at most 720 (30 days)'],
    ])('refuses ttlHours %j', (ttlHours, message) => {
      expect(errors({ ...valid(), options: { ttlHours } })).toEqual([{ path: 'options.ttlHours', message }]);
    });
  });

  it('refuses unknown fields at any level, one entry per key', () => {
    expect(errors({ ...valid(), instanceType: 't3.micro', instance: { type: 't3.micro', size: 1 } })).toEqual([
      { path: 'instance.size', message: 'instance: unknown field "size"' },
      { path: 'instanceType', message: 'unknown field "instanceType"' },
    ]);
  });
});

describe('publicSpec', () => {
  it('masks the access key id and drops the secret and the token', () => {
    const spec = createJobSpecSchema({ ...policy, allowAccessKeys: true }).parse({
      ...valid(),
      auth: {
        method: 'access_keys',
        accessKeyId: ACCESS_KEY_ID,
        secretAccessKey: SECRET,
        sessionToken: 'FwoGZXIvYXdzEXAMPLETOKEN',
      },
    });
    const pub = publicSpec(spec);
    expect(pub.auth).toEqual({ method: 'access_keys', accessKeyId: 'AKIA…MPLE' });
    const stored = JSON.stringify(pub);
    expect(stored).not.toContain(SECRET);
    expect(stored).not.toContain(ACCESS_KEY_ID);
    expect(stored).not.toContain('FwoGZXIvYXdzEXAMPLETOKEN');
    // The input object is not touched: the worker still needs the keys.
    expect(spec.auth).toMatchObject({ secretAccessKey: SECRET });
  });

  it('keeps role auth as it is', () => {
    const spec = createJobSpecSchema(policy).parse(valid());
    expect(publicSpec(spec)).toEqual(spec);
  });
});

describe('formatIssuePath', () => {
  it('writes indexes in brackets and keys with dots', () => {
    expect(formatIssuePath(['containers', 0, 'ports', 1])).toBe('containers[0].ports[1]');
    expect(formatIssuePath(['containers', 2, 'environment', 'MY-VAR'])).toBe('containers[2].environment.MY-VAR');
    expect(formatIssuePath([])).toBe('');
  });
});

describe('user data size', () => {
  /** Users with names that do not compress: what makes a users CSV big after gzip. */
  function users(count: number): string {
    let seed = 7;
    const word = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed.toString(36);
    };
    const rows = Array.from({ length: count }, (_, i) => `u${i}${word()},${word()}@${word()}.example.com,,${word()} ${word()}`);
    return `username,email,role,display_name\n${rows.join('\n')}\n`;
  }

  it('refuses a users CSV that would not fit in the user data, naming it, the size and the limit', () => {
    const result = createJobSpecSchema(policy).safeParse({ ...valid(), usersCsv: users(1500) });
    expect(result.success).toBe(false);
    const issues = result.error!.issues.map((i) => ({ path: formatIssuePath(i.path), message: i.message }));
    expect(issues).toHaveLength(1);
    expect(issues[0].path).toBe('usersCsv');
    expect(issues[0].message).toMatch(
      /^usersCsv is too large: the instance's user data would be \d+ bytes gzipped \(\d+ bytes plain\); EC2 allows 16384; give fewer users/,
    );
  });

  it('blames the containers when they alone do not fit', () => {
    const environment = Object.fromEntries(Array.from({ length: 190 }, (_, i) => [`V${i}`, randomBytes(120).toString('base64')]));
    const result = createJobSpecSchema(policy).safeParse({
      ...valid(),
      containers: [{ name: 'web', image: 'nginx', environment }],
    });
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => formatIssuePath(i.path))).toEqual(['containers']);
    expect(result.error!.issues[0].message).toMatch(
      /^containers are too large: .* EC2 allows 16384; make the environment values/,
    );
  });

  it('lets a CSV as big as the form allows through when the files travel through S3 (ARTIFACTS_BUCKET)', () => {
    expect(createJobSpecSchema({ ...policy, artifactsInS3: true }).safeParse({ ...valid(), usersCsv: users(1500) }).success).toBe(
      true,
    );
  });
});
