import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { PREFLIGHT_PERMISSIONS } from '../../src/activities/preflight.js';
import {
  ACTIVITY_ACTIONS,
  CONNECTION_CHECKS,
  cloudFormationTemplate,
  IAM_NAME_PREFIX,
  MANAGED_BY_TAG,
  type PolicyDocument,
  permissionsPolicy,
  policyActions,
  RESOURCE_ACTIONS,
  TERRAFORM_PROVIDER_ACTIONS,
  terraformSnippet,
  trustPolicy,
  workerTrustPrincipal,
} from '../../src/domain/awsPolicy.js';

/**
 * The role policy stays true to what a job calls: every resource and data
 * type of the AWS module, and every AWS SDK command the activities send with
 * a job's credentials, has its actions listed and allowed.
 */

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const MODULE = path.join(ROOT, 'terraform');
const ACTIVITIES = path.join(ROOT, 'src', 'activities');

/**
 * Commands sent with the worker's own identity, not a job's, by the one file
 * allowed to send them: anywhere else they would need the job policy.
 */
const WORKER_IDENTITY_COMMANDS: Record<string, { file: string; why: string }> = {
  AssumeRoleCommand: { file: 'awsCredentials.ts', why: "the worker assumes the job's role with its own credentials" },
  PutObjectCommand: { file: 'artifacts.ts', why: "artifacts go to the operator's bucket with the worker's credentials" },
  DeleteObjectCommand: { file: 'artifacts.ts', why: "artifacts go to the operator's bucket with the worker's credentials" },
};

const tmpDirs: string[] = [];
afterAll(() => {
  for (const dir of tmpDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tmpDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aws-policy-'));
  tmpDirs.push(dir);
  return dir;
}

/** `resource "TYPE"` and `data "TYPE"` of every .tf file in the module. */
function moduleTypes(): Set<string> {
  const types = new Set<string>();
  for (const file of fs.readdirSync(MODULE).filter((f) => f.endsWith('.tf'))) {
    const text = fs.readFileSync(path.join(MODULE, file), 'utf8');
    for (const m of text.matchAll(/^\s*(?:resource|data)\s+"([\w-]+)"\s+"[\w-]+"/gm)) types.add(m[1]);
  }
  return types;
}

/** Every `new XCommand(` of src/activities/*.ts, with the files that send it. */
function activityCommands(): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  for (const file of fs.readdirSync(ACTIVITIES).filter((f) => f.endsWith('.ts'))) {
    const text = fs.readFileSync(path.join(ACTIVITIES, file), 'utf8');
    for (const m of text.matchAll(/\bnew\s+(\w+Command)\s*\(/g)) {
      if (!found.has(m[1])) found.set(m[1], new Set());
      found.get(m[1])!.add(file);
    }
  }
  return found;
}

function statement(policy: PolicyDocument, sid: string) {
  const s = policy.Statement.find((st) => st.Sid === sid);
  if (!s) throw new Error(`no statement ${sid}`);
  return s;
}

describe('permissionsPolicy against the Terraform module', () => {
  const allowed = policyActions(permissionsPolicy());

  it('lists and allows the actions of every resource and data type the module uses', () => {
    const types = moduleTypes();
    expect(types.size).toBeGreaterThan(5);
    for (const type of types) {
      expect(RESOURCE_ACTIONS, `RESOURCE_ACTIONS has no entry for ${type}`).toHaveProperty([type]);
      for (const action of RESOURCE_ACTIONS[type]) expect(allowed, `${type} needs ${action}`).toContain(action);
    }
    for (const action of TERRAFORM_PROVIDER_ACTIONS) expect(allowed).toContain(action);
  });

  it('scopes the IAM statements to the names the module gives its role and profile', () => {
    const main = fs.readFileSync(path.join(MODULE, 'main.tf'), 'utf8');
    expect(main).toMatch(new RegExp(`iam_prefix\\s*=\\s*"${IAM_NAME_PREFIX}`));
    expect(main).toMatch(new RegExp(`${MANAGED_BY_TAG.key}\\s*=\\s*"${MANAGED_BY_TAG.value}"`));
    expect(main).toContain('AmazonSSMManagedInstanceCore');

    const policy = permissionsPolicy();
    for (const s of policy.Statement.filter((st) => [st.Action].flat().some((a) => a.startsWith('iam:')))) {
      for (const arn of [s.Resource].flat()) expect(arn, s.Sid).toMatch(/^arn:aws:iam::\*:(role|instance-profile)\/prov-\*$/);
    }
    expect(statement(policy, 'PassInstanceRoleToEc2').Condition).toEqual({
      StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' },
    });
    expect(statement(policy, 'IamInstanceRoleSsmPolicy').Condition).toEqual({
      ArnEquals: { 'iam:PolicyARN': 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore' },
    });
  });

  it('lets a job change or delete only EC2 resources carrying the module tag', () => {
    const policy = permissionsPolicy();
    const changing = /^ec2:(Terminate|Stop|Start|Modify|Delete|Authorize|Revoke|CreateTags)/;
    for (const s of policy.Statement) {
      const actions = [s.Action].flat().filter((a) => changing.test(a));
      if (actions.length === 0) continue;
      const scoped =
        s.Condition !== undefined ||
        // New or default rules carry no tags; the group's own check still applies.
        s.Sid === 'Ec2SecurityGroupRules';
      expect(scoped, `${s.Sid} allows ${actions.join(', ')} unconditionally`).toBe(true);
    }
    expect(statement(policy, 'Ec2ChangeManaged').Condition).toEqual({
      StringEquals: { 'aws:ResourceTag/managed_by': 'provisioning-service' },
    });
  });

  it('uses the partition it is given and refuses a made-up one', () => {
    const cn = JSON.stringify(permissionsPolicy({ partition: 'aws-cn' }));
    expect(cn).not.toMatch(/arn:aws:/);
    expect(cn).toContain('arn:aws-cn:ssm:*::parameter/aws/service/ami-amazon-linux-latest/*');
    expect(JSON.stringify(permissionsPolicy({ partition: 'aws-us-gov' }))).toContain('arn:aws-us-gov:iam::*:role/prov-*');
    expect(() => permissionsPolicy({ partition: 'azure' })).toThrow(/partition/);
  });

  it('fits in a role inline policy (10,240 characters) with room to spare', () => {
    const full = permissionsPolicy({ stateBackend: { bucket: 'tf-state', keyPrefix: 'jobs', lockTable: 'locks' } });
    expect(JSON.stringify(full).length).toBeLessThan(6144);
    const sids = full.Statement.map((s) => s.Sid);
    expect(new Set(sids).size).toBe(sids.length);
  });

  it('adds the S3 state backend when there is one', () => {
    const policy = permissionsPolicy({
      stateBackend: { bucket: 'tf-state', keyPrefix: '/provisioning/jobs/', lockTable: 'locks' },
    });
    expect(statement(policy, 'StateObjects').Resource).toBe('arn:aws:s3:::tf-state/provisioning/jobs/*');
    expect(statement(policy, 'StateLockTable').Resource).toBe('arn:aws:dynamodb:*:*:table/locks');
    const viaRole = permissionsPolicy({ stateBackend: { bucket: 'b', roleArn: 'arn:aws:iam::111122223333:role/State' } });
    expect(statement(viaRole, 'StateBackendRole')).toMatchObject({ Action: 'sts:AssumeRole' });
    expect(policyActions(viaRole).has('s3:GetObject')).toBe(false);
  });
});

describe('permissionsPolicy against the activities', () => {
  const allowed = policyActions(permissionsPolicy());

  it('lists and allows every AWS command the activities send with job credentials', () => {
    const commands = activityCommands();
    expect(commands.size).toBeGreaterThan(5);
    for (const [command, files] of commands) {
      const exempt = WORKER_IDENTITY_COMMANDS[command];
      if (exempt) {
        expect([...files], `${command} is exempt only in ${exempt.file} (${exempt.why})`).toEqual([exempt.file]);
        continue;
      }
      expect(ACTIVITY_ACTIONS, `ACTIVITY_ACTIONS has no entry for ${command} (${[...files].join(', ')})`).toHaveProperty([
        command,
      ]);
      for (const action of ACTIVITY_ACTIONS[command]) expect(allowed, `${command} needs ${action}`).toContain(action);
    }
  });

  it('covers what pre-flight says it needs, and the connection checks are allowed reads', () => {
    for (const action of PREFLIGHT_PERMISSIONS) expect(allowed).toContain(action);
    expect(CONNECTION_CHECKS.length).toBeGreaterThan(5);
    for (const { action, why } of CONNECTION_CHECKS) {
      expect(allowed).toContain(action);
      expect(action).toMatch(/^[a-z0-9]+:(Describe|Get|List)/);
      expect(why.length).toBeGreaterThan(10);
    }
  });
});

describe('trustPolicy and workerTrustPrincipal', () => {
  const worker = 'arn:aws:iam::123456789012:role/ProvisioningWorker';

  it('lets only the worker assume the role, with the external ID', () => {
    expect(trustPolicy({ workerPrincipalArn: worker, externalIds: ['tenant-42'] })).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'ProvisioningServiceWorker',
          Effect: 'Allow',
          Principal: { AWS: worker },
          Action: 'sts:AssumeRole',
          Condition: { StringEquals: { 'sts:ExternalId': 'tenant-42' } },
        },
      ],
    });
  });

  it('accepts two external IDs while one is rotated, and refuses none or bad ones', () => {
    const doc = trustPolicy({ workerPrincipalArn: worker, externalIds: ['old-id', 'new-id', 'old-id'] });
    expect(doc.Statement[0].Condition).toEqual({ StringEquals: { 'sts:ExternalId': ['old-id', 'new-id'] } });
    expect(() => trustPolicy({ workerPrincipalArn: worker, externalIds: [] })).toThrow(/external ID/);
    expect(() => trustPolicy({ workerPrincipalArn: worker, externalIds: ['has space'] })).toThrow(/external ID/);
    expect(() => trustPolicy({ workerPrincipalArn: 'arn:aws:sts::123456789012:assumed-role/R/s', externalIds: ['ab'] })).toThrow(
      /IAM role, user or account root/,
    );
  });

  it.each([
    ['arn:aws:sts::123456789012:assumed-role/WorkerRole/i-0abc123', 'arn:aws:iam::123456789012:role/WorkerRole'],
    ['arn:aws:sts::123456789012:assumed-role/WorkerRole/session@example.com', 'arn:aws:iam::123456789012:role/WorkerRole'],
    ['arn:aws-cn:sts::123456789012:assumed-role/Worker/s', 'arn:aws-cn:iam::123456789012:role/Worker'],
    ['arn:aws-us-gov:sts::123456789012:assumed-role/Worker/s', 'arn:aws-us-gov:iam::123456789012:role/Worker'],
    ['arn:aws:iam::123456789012:user/ci/deployer', 'arn:aws:iam::123456789012:user/ci/deployer'],
    ['arn:aws:iam::123456789012:role/service/Worker', 'arn:aws:iam::123456789012:role/service/Worker'],
    ['arn:aws:iam::123456789012:root', 'arn:aws:iam::123456789012:root'],
    ['arn:aws:sts::123456789012:federated-user/alice', 'arn:aws:iam::123456789012:root'],
    ['arn:aws-us-gov:sts::123456789012:federated-user/alice', 'arn:aws-us-gov:iam::123456789012:root'],
  ])('names %s as %s', (caller, principal) => {
    expect(workerTrustPrincipal(caller)).toBe(principal);
  });

  it.each(['', 'not-an-arn', 'arn:aws:s3:::bucket', 'arn:aws:sts::123456789012:assumed-role/OnlyRole'])(
    'refuses %j',
    (caller) => {
      expect(() => workerTrustPrincipal(caller)).toThrow();
    },
  );
});

describe('the role as CloudFormation and Terraform', () => {
  const opts = {
    roleName: 'ProvisioningService',
    workerPrincipalArn: 'arn:aws:iam::123456789012:role/ProvisioningWorker',
    externalIds: ['tenant-42', 'tenant-42-next'],
  };

  it('makes a CloudFormation template with the same two documents', () => {
    const template = parseYaml(cloudFormationTemplate(opts));
    const role = template.Resources.ProvisioningServiceRole;
    expect(template.AWSTemplateFormatVersion).toBe('2010-09-09');
    expect(role.Type).toBe('AWS::IAM::Role');
    expect(role.Properties.RoleName).toBe('ProvisioningService');
    expect(role.Properties.AssumeRolePolicyDocument).toEqual(trustPolicy(opts));
    expect(role.Properties.Policies).toEqual([{ PolicyName: 'provisioning-service', PolicyDocument: permissionsPolicy() }]);
    expect(template.Outputs.RoleArn.Value).toEqual({ 'Fn::GetAtt': ['ProvisioningServiceRole', 'Arn'] });
    // Quoted, so a YAML 1.1 reader (CloudFormation's) cannot take the versions for dates.
    expect(cloudFormationTemplate(opts)).toContain('Version: "2012-10-17"');
  });

  it('takes the partition from the worker ARN and refuses a bad role name', () => {
    const gov = parseYaml(cloudFormationTemplate({ ...opts, workerPrincipalArn: 'arn:aws-us-gov:iam::123456789012:role/W' }));
    expect(gov.Resources.ProvisioningServiceRole.Properties.Policies[0].PolicyDocument).toEqual(
      permissionsPolicy({ partition: 'aws-us-gov' }),
    );
    expect(() => cloudFormationTemplate({ ...opts, roleName: 'has space' })).toThrow(/role name/);
    expect(() => terraformSnippet({ ...opts, roleName: 'x'.repeat(65) })).toThrow(/role name/);
  });

  it('makes a Terraform snippet that terraform fmt leaves alone and that evaluates to the same documents', () => {
    const snippet = terraformSnippet(opts);
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'role.tf'), snippet);
    const fmt = spawnSync('terraform', ['fmt', '-check', '-diff', dir], { encoding: 'utf8' });
    expect(fmt.stdout, 'terraform fmt -check -diff').toBe('');
    expect(fmt.status, fmt.stderr).toBe(0);

    // The jsonencode() expressions in a config of locals alone, which terraform console evaluates offline.
    const expr = (attr: string) => {
      const m = new RegExp(`^  ${attr} = (jsonencode\\(\\{\\n[\\s\\S]*?\\n  \\}\\))$`, 'm').exec(snippet);
      if (!m) throw new Error(`no ${attr} in the snippet`);
      return m[1];
    };
    const evalDir = tmpDir();
    fs.writeFileSync(
      path.join(evalDir, 'main.tf'),
      `locals {\n  trust = ${expr('assume_role_policy')}\n  policy = ${expr('policy')}\n}\n`,
    );
    const out = spawnSync('terraform', [`-chdir=${evalDir}`, 'console'], {
      // One expression: console reading several lines from a pipe printed only the last.
      input: 'jsonencode([local.trust, local.policy])\n',
      encoding: 'utf8',
      env: { ...process.env, TF_IN_AUTOMATION: '1', CHECKPOINT_DISABLE: '1' },
    });
    expect(out.status, out.stderr).toBe(0);
    const [trust, policy] = (JSON.parse(JSON.parse(out.stdout.trim())) as string[]).map((doc) => JSON.parse(doc));
    expect(trust).toEqual(trustPolicy(opts));
    expect(policy).toEqual(permissionsPolicy());
  });
});

describe('the README', () => {
  it('shows the permissions policy as generated', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Setting up an account'));
    const block = /```json\n([\s\S]*?)\n```/.exec(section)?.[1];
    expect(block, 'a json block in the README’s set-up section').toBeDefined();
    expect(JSON.parse(block!)).toEqual(permissionsPolicy());
  });
});
