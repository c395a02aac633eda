import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerListSchema } from '../../src/domain/containers.js';
import { createJobSpecSchema } from '../../src/domain/jobSpec.js';
import { renderTfvars, type AwsModuleTfvars } from '../../src/activities/tfvars.js';
import { renderUserData } from '../../src/domain/userDataScript.js';

/**
 * The AWS provider cannot be installed here (no registry access), so the
 * module is checked in the ways that need no provider: fmt, the declared
 * names, and the variables and locals run in provider-free copies, which is
 * where the validation rules and the security-group logic live.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');
const MODULE = path.join(ROOT, 'terraform');
const read = (file: string) => fs.readFileSync(path.join(MODULE, file), 'utf8');

const OUTPUTS = ['instance_id', 'public_ip', 'private_ip', 'public_dns', 'ami_id', 'security_group_id'];

function terraform(args: string[], cwd: string) {
  const r = spawnSync('terraform', [`-chdir=${cwd}`, ...args], {
    env: { ...process.env, TF_IN_AUTOMATION: '1', TF_INPUT: '0', CHECKPOINT_DISABLE: '1' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

function blockNames(text: string, kind: string) {
  return [...text.matchAll(new RegExp(`^${kind} "([\\w-]+)"`, 'gm'))].map((m) => m[1]);
}

/** One top-level block (`locals {` ... `}`), relying on fmt's layout: it ends at the first unindented `}`. */
function topLevelBlock(text: string, header: string) {
  const start = text.indexOf(`\n${header} {\n`);
  if (start === -1) throw new Error(`no ${header} block`);
  const end = text.indexOf('\n}\n', start);
  return text.slice(start + 1, end + 3);
}

function sampleTfvars(overrides: Partial<AwsModuleTfvars> = {}): AwsModuleTfvars {
  const spec = createJobSpecSchema({
    allowedRegions: ['us-east-1'],
    allowedInstanceTypes: ['t3.micro'],
    allowAccessKeys: false,
  }).parse({
    name: 'demo-web',
    requesterEmail: 'alice@example.com',
    region: 'us-east-1',
    auth: { method: 'assume_role', roleArn: 'arn:aws:iam::123456789012:role/Provisioner' },
    network: { vpcId: 'vpc-0abc1234', subnetId: 'subnet-0abc1234' },
    instance: { type: 't3.micro', sshCidr: '198.51.100.0/24' },
    containers: [
      { name: 'web', image: 'nginx', ports: ['80:80', '443:443'] },
      { name: 'dns', image: 'coredns/coredns', ports: ['53:53/udp'] },
    ],
    usersCsv: 'username,email\nadmin,admin@example.com\n',
  });
  const userData = renderUserData({ jobId: 'job-1', containers: spec.containers, usersCsv: spec.usersCsv });
  return {
    ...renderTfvars({ jobId: 'job-1', spec, amiId: 'ami-0123456789abcdef0', userData, createdBy: 'admin' }),
    ...overrides,
  };
}

describe('terraform/ (the AWS module)', () => {
  it('is terraform fmt clean', () => {
    // Run from the repository root, as CI does: `terraform fmt -check -recursive terraform`.
    const r = spawnSync('terraform', ['fmt', '-check', '-recursive', '-diff', 'terraform'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  });

  it('declares exactly the variables renderTfvars writes, each with a type and a description', () => {
    const text = read('variables.tf');
    expect(blockNames(text, 'variable').sort()).toEqual(Object.keys(sampleTfvars()).sort());
    for (const block of text.split(/^variable /m).slice(1)) {
      expect(block, block.split('\n')[0]).toMatch(/^\s+type\s+=/m);
      expect(block, block.split('\n')[0]).toMatch(/^\s+description\s+=/m);
    }
  });

  it('declares the six outputs the service records', () => {
    expect(blockNames(read('outputs.tf'), 'output').sort()).toEqual([...OUTPUTS].sort());
  });

  it('pins the AWS provider and Terraform', () => {
    const text = read('versions.tf');
    expect(text).toMatch(/required_version\s*=\s*">= 1\.5"/);
    expect(text).toMatch(/source\s*=\s*"hashicorp\/aws"/);
    expect(text).toMatch(/version\s*=\s*"~> 5\.\d+"/);
  });

  it('requires IMDSv2, encrypts a gp3 root volume, attaches SSM and tags the job', () => {
    const text = read('main.tf');
    expect(text).toMatch(/http_tokens\s*=\s*"required"/);
    expect(text).toMatch(/http_put_response_hop_limit\s*=\s*var\.metadata_hop_limit/);
    expect(text).toMatch(/volume_type\s*=\s*"gp3"/);
    expect(text).toMatch(/encrypted\s*=\s*true/);
    expect(text).toMatch(/volume_size\s*=\s*var\.volume_size_gb/);
    expect(text).toContain('policy/AmazonSSMManagedInstanceCore');
    expect(text).toMatch(/resource "aws_iam_instance_profile"/);
    expect(text).toMatch(/user_data_base64\s*=\s*var\.user_data_base64/);
  });

  it("lets the instance role read its own job's artifacts and nothing else, and only with a bucket", () => {
    const text = read('main.tf');
    const policy = topLevelBlock(text, 'data "aws_iam_policy_document" "artifacts"');
    expect(policy).toMatch(/^\s+count\s*=\s*local\.artifacts \? 1 : 0$/m);
    // One statement, one action, one resource: the objects below the job's prefix.
    expect(policy.match(/statement \{/g)).toHaveLength(1);
    expect(policy).toMatch(/^\s+actions\s*=\s*\["s3:GetObject"\]$/m);
    expect(policy).toMatch(
      /^\s+resources\s*=\s*\["arn:\$\{data\.aws_partition\.current\.partition\}:s3:::\$\{local\.artifacts_objects\}"\]$/m,
    );
    const attached = topLevelBlock(text, 'resource "aws_iam_role_policy" "artifacts"');
    expect(attached).toMatch(/^\s+count\s*=\s*local\.artifacts \? 1 : 0$/m);
    expect(attached).toMatch(/^\s+role\s*=\s*aws_iam_role\.instance\.id$/m);
    expect(attached).toMatch(/^\s+policy\s*=\s*data\.aws_iam_policy_document\.artifacts\[0\]\.json$/m);
    // The first-boot script fetches the files: the policy is in place before the instance starts.
    expect(topLevelBlock(text, 'resource "aws_instance" "this"')).toMatch(
      /^\s+depends_on\s*=\s*\[aws_iam_role_policy_attachment\.ssm, aws_iam_role_policy\.artifacts\]$/m,
    );
  });

  it("always creates the job's own security group and attaches the given ones in addition to it", () => {
    const text = read('main.tf');
    // The own group and its egress rule are unconditional; its ingress rules follow the published ports alone.
    for (const header of ['resource "aws_security_group" "instance"', 'resource "aws_vpc_security_group_egress_rule" "all"']) {
      expect(topLevelBlock(text, header), header).not.toMatch(/^\s+(count|for_each)\s*=/m);
    }
    expect(topLevelBlock(text, 'resource "aws_vpc_security_group_ingress_rule" "published"')).toMatch(
      /^\s+for_each\s*=\s*local\.ingress$/m,
    );
    expect(text).not.toContain('create_security_group');
    expect(text).not.toContain('aws_security_group.instance[0]');
    expect(topLevelBlock(text, 'resource "aws_instance" "this"')).toMatch(
      /^\s+vpc_security_group_ids\s*=\s*concat\(\[aws_security_group\.instance\.id\], var\.security_group_ids\)$/m,
    );
    expect(topLevelBlock(read('outputs.tf'), 'output "security_group_id"')).toMatch(
      /^\s+value\s*=\s*aws_security_group\.instance\.id$/m,
    );
  });
});

describe('terraform/ variables and locals, run without the provider', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tfmodule-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  function moduleDir(name: string, extra: string) {
    const dir = path.join(tmp, name);
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(MODULE, 'variables.tf'), path.join(dir, 'variables.tf'));
    fs.writeFileSync(path.join(dir, 'extra.tf'), extra);
    const init = terraform(['init', '-input=false', '-no-color'], dir);
    if (init.status !== 0) throw new Error(init.out);
    return dir;
  }

  let varsDir: string;
  beforeAll(() => {
    varsDir = moduleDir('vars', '');
  });

  function plan(vars: unknown) {
    fs.writeFileSync(path.join(varsDir, 'terraform.tfvars.json'), JSON.stringify(vars));
    return terraform(['plan', '-input=false', '-no-color', '-lock=false'], varsDir);
  }

  it('accepts what renderTfvars produces, with no undeclared or missing variable', () => {
    const r = plan(sampleTfvars());
    expect(r.out).not.toContain('undeclared variable');
    expect(r.out).not.toContain('No value for required variable');
    expect(r.status, r.out).toBe(0);
  });

  it('accepts what renderTfvars produces with an artifacts bucket', () => {
    const r = plan(sampleTfvars({ artifacts_bucket: 'prov-artifacts', artifacts_prefix: 'provisioning/artifacts/job-1/' }));
    expect(r.status, r.out).toBe(0);
  });

  it('refuses an artifacts bucket or prefix that is not one', () => {
    for (const [vars, message] of [
      [{ artifacts_bucket: 'Not_A_Bucket' }, 'artifacts_bucket must be "" or an S3 bucket name.'],
      [{ artifacts_prefix: 'provisioning/artifacts/job-1' }, 'artifacts_prefix must be "" or key prefix names'],
      [{ artifacts_prefix: '/provisioning/job-1/' }, 'artifacts_prefix must be "" or key prefix names'],
      [{ artifacts_prefix: 'provisioning/../job-1/' }, 'artifacts_prefix must be "" or key prefix names'],
      [{ artifacts_prefix: 'provisioning/*/' }, 'artifacts_prefix must be "" or key prefix names'],
    ] as const) {
      const r = plan(sampleTfvars(vars));
      expect(r.status, JSON.stringify(vars)).not.toBe(0);
      expect(r.out.replace(/\s+/g, ' '), JSON.stringify(vars)).toContain(message);
    }
  });

  it('accepts gzipped user data in user_data_base64', () => {
    const r = plan(sampleTfvars({ user_data: '', user_data_base64: Buffer.from('x'.repeat(100)).toString('base64') }));
    expect(r.status, r.out).toBe(0);
  });

  it('refuses values the zod rules refuse, with the validation messages', () => {
    const r = plan(
      sampleTfvars({
        job_name: '../escape',
        ami_id: 'ami-xyz',
        volume_size_gb: 4,
        ingress_cidr: '10.0.0.1/8',
        ssh_cidr: 'anywhere',
        metadata_hop_limit: 3,
        security_group_ids: ['sg-nope'],
        published_ports: [
          { port: 70000, protocol: 'tcp', container: 'web' },
          { port: 80, protocol: 'sctp' as 'tcp', container: 'web' },
        ],
      }),
    );
    expect(r.status).not.toBe(0);
    const out = r.out.replace(/\s+/g, ' ');
    for (const message of [
      'job_name must be 2-63 lowercase letters',
      'ami_id must be an AMI id',
      'volume_size_gb must be a whole number from 8 to 1024.',
      'ingress_cidr must be an IPv4 network in CIDR form with no host bits set',
      'ssh_cidr must be "" or an IPv4 network',
      'metadata_hop_limit must be 1 or 2.',
      'security_group_ids must hold at most 4 security group ids',
      'published_ports: every port must be a whole number from 1 to 65535.',
      'published_ports: protocol must be tcp or udp.',
    ]) {
      expect(out).toContain(message);
    }
  });

  it('opens exactly the published ports, SSH only when a CIDR is given, and attaches the given groups after its own', () => {
    const main = read('main.tf');
    const locals = topLevelBlock(main, 'locals');
    // The instance's vpc_security_group_ids as written, with the own group's id (known only after apply) stood in for.
    const attachment = /^\s+vpc_security_group_ids\s*=\s*(.+)$/m.exec(topLevelBlock(main, 'resource "aws_instance" "this"'));
    if (!attachment) throw new Error('aws_instance.this sets no vpc_security_group_ids');
    const attachedGroups = attachment[1].replaceAll('aws_security_group.instance.id', '"sg-own"');
    expect(attachedGroups).not.toMatch(/aws_/);
    // The artifacts policy's precondition, as written: only the job's own prefix.
    const prefixCheck = /^\s+condition\s*=\s*(.+)$/m.exec(topLevelBlock(main, 'resource "aws_iam_role_policy" "artifacts"'));
    if (!prefixCheck) throw new Error('aws_iam_role_policy.artifacts has no precondition');
    const dir = moduleDir(
      'locals',
      `${locals}
output "tags" { value = local.tags }
output "ingress" { value = local.ingress }
output "open_ssh" { value = local.open_ssh }
output "attached_security_groups" { value = ${attachedGroups} }
output "artifacts" { value = local.artifacts }
output "artifacts_objects" { value = local.artifacts_objects }
output "artifacts_prefix_is_the_jobs" { value = ${prefixCheck[1]} }
`,
    );
    const apply = (vars: unknown) => {
      fs.writeFileSync(path.join(dir, 'terraform.tfvars.json'), JSON.stringify(vars));
      const r = terraform(['apply', '-auto-approve', '-input=false', '-no-color', '-lock=false'], dir);
      if (r.status !== 0) throw new Error(r.out);
      const out = terraform(['output', '-json'], dir);
      const parsed = JSON.parse(out.out.slice(out.out.indexOf('{'), out.out.lastIndexOf('}') + 1));
      return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, (v as { value: unknown }).value]));
    };

    const base = apply(sampleTfvars());
    expect(base.tags).toEqual({
      job_id: 'job-1',
      job_name: 'demo-web',
      requester: 'alice@example.com',
      created_by: 'admin',
      managed_by: 'provisioning-service',
    });
    expect(base.ingress).toEqual({
      'tcp-80': { port: 80, protocol: 'tcp', container: 'web' },
      'tcp-443': { port: 443, protocol: 'tcp', container: 'web' },
      'udp-53': { port: 53, protocol: 'udp', container: 'dns' },
    });
    expect(base.open_ssh).toBe(true);
    expect(base.attached_security_groups).toEqual(['sg-own']);

    expect(apply(sampleTfvars({ ssh_cidr: '' })).open_ssh).toBe(false);
    // Given groups come on top of the job's own: its ports and SSH stay open through it.
    const given = apply(sampleTfvars({ security_group_ids: ['sg-0abc1234', 'sg-0def5678'], created_by: '' }));
    expect(given.attached_security_groups).toEqual(['sg-own', 'sg-0abc1234', 'sg-0def5678']);
    expect(given.open_ssh).toBe(true);
    expect(given.ingress).toEqual(base.ingress);
    expect(given.tags).not.toHaveProperty('created_by');
    // SSH published by a container to the same CIDR is not opened twice.
    const ssh22 = apply(
      sampleTfvars({ ssh_cidr: '0.0.0.0/0', published_ports: [{ port: 22, protocol: 'tcp', container: 'web' }] }),
    );
    expect(ssh22.open_ssh).toBe(false);

    expect(base.artifacts).toBe(false);
    const artifacts = apply(
      sampleTfvars({ artifacts_bucket: 'prov-artifacts', artifacts_prefix: 'provisioning/artifacts/job-1/' }),
    );
    expect(artifacts.artifacts).toBe(true);
    expect(artifacts.artifacts_objects).toBe('prov-artifacts/provisioning/artifacts/job-1/*');
    expect(artifacts.artifacts_prefix_is_the_jobs).toBe(true);
    expect(apply(sampleTfvars({ artifacts_bucket: 'b-1', artifacts_prefix: 'job-1/' })).artifacts_prefix_is_the_jobs).toBe(true);
    // Another job's prefix, a parent of it, or none at all (the whole bucket) is refused at plan time.
    for (const prefix of ['provisioning/artifacts/job-2/', 'provisioning/artifacts/', 'provisioning/xjob-1/', '']) {
      expect(
        apply(sampleTfvars({ artifacts_bucket: 'b-1', artifacts_prefix: prefix })).artifacts_prefix_is_the_jobs,
        prefix,
      ).toBe(false);
    }
  });
});

describe('renderTfvars against the container schema', () => {
  it('lists one published port per host port and protocol', () => {
    const containers = containerListSchema.parse([{ name: 'dns', image: 'coredns/coredns', ports: ['53:53/udp', '53:53/tcp'] }]);
    const vars = sampleTfvars();
    const spec = {
      name: 'x1',
      requesterEmail: 'a@b.co',
      region: 'us-east-1',
      instance: { type: 't3.micro', volumeSizeGb: 20, ingressCidr: '0.0.0.0/0' },
      containers,
    };
    const out = renderTfvars({
      jobId: 'j',
      spec,
      amiId: vars.ami_id,
      userData: { script: '#!/bin/bash\n', encoding: 'plain', bytes: 12 },
    });
    expect(out.published_ports).toEqual([
      { port: 53, protocol: 'udp', container: 'dns' },
      { port: 53, protocol: 'tcp', container: 'dns' },
    ]);
  });
});
