import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { containerListSchema, type ContainerSpecInput } from '../../src/domain/containers.js';
import { createJobSpecSchema } from '../../src/domain/jobSpec.js';
import { parseUsersCsv, usersToCsv, type AppUser } from '../../src/domain/usersCsv.js';
import { progressOf } from '../../src/domain/instanceEvents.js';
import { renderTfvars } from '../../src/activities/tfvars.js';
import { renderComposeYaml } from '../../src/domain/composeFile.js';
import { artifactsJobPrefix, renderArtifactFiles } from '../../src/domain/instanceArtifacts.js';
import { USER_DATA_LIMIT_BYTES, renderUserData } from '../../src/domain/userDataScript.js';

const containers = (list: ContainerSpecInput[]) => containerListSchema.parse(list);

const WEB = containers([
  {
    name: 'webapp',
    image: 'nginx:1.27',
    ports: ['80:80', '8443:443'],
    environment: { GREETING: 'hi $USER', TRUE: 'no', MULTI: 'line one\nline two' },
    volumes: ['/srv/html:/usr/share/nginx/html:ro'],
    command: ['nginx', '-g', 'daemon off;'],
  },
  { name: 'dns', image: `coredns/coredns@sha256:${'a'.repeat(64)}`, ports: ['53:53/udp'], restart: 'no', command: 'echo $HOME' },
]);

const CSV = usersToCsv([
  { username: 'admin', email: 'admin@example.com', role: 'admin', displayName: 'Administrator' },
  { username: 'jose', email: 'jose@example.com', displayName: 'José "Pepe", Müller' },
]);

function which(bin: string) {
  return spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
}

/** The body of the heredoc that writes `target`. */
function heredoc(script: string, target: string) {
  const m = new RegExp(`cat > ${target.replace(/[.$"]/g, '\\$&')} <<'([A-Z_0-9]+)'\\n([\\s\\S]*?)\\n\\1\\n`).exec(script);
  if (!m) throw new Error(`no heredoc for ${target}`);
  return `${m[2]}\n`;
}

function usersB64(script: string) {
  const m = /^APP_USERS_B64='([A-Za-z0-9+/=]*)'$/m.exec(script);
  if (!m) throw new Error('no APP_USERS_B64 assignment');
  return m[1];
}

/** Many users with incompressible names: big enough to need gzip, or to overflow it. */
function randomUsers(count: number): AppUser[] {
  let seed = 42;
  const next = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed.toString(36);
  };
  return Array.from({ length: count }, (_, i) => ({ username: `u${i}${next()}`, email: `${next()}@${next()}.example.com` }));
}

describe('renderComposeYaml', () => {
  const doc = YAML.parse(renderComposeYaml(WEB));

  it('has one service per container with image, restart, ports and command', () => {
    expect(Object.keys(doc.services)).toEqual(['webapp', 'dns']);
    expect(doc.services.webapp).toMatchObject({
      image: 'nginx:1.27',
      restart: 'unless-stopped',
      ports: ['80:80', '8443:443'],
      command: ['nginx', '-g', 'daemon off;'],
    });
    // "no" must stay a string, not YAML 1.1's false.
    expect(doc.services.dns.restart).toBe('no');
    expect(doc.services.dns.ports).toEqual(['53:53/udp']);
  });

  it('gives every service APP_USERS_B64 (from .env) and the users file read-only', () => {
    for (const service of Object.values<Record<string, any>>(doc.services)) {
      expect(service.environment.APP_USERS_B64).toBe('${APP_USERS_B64?APP_USERS_B64 is missing from /opt/app/.env}');
      expect(service.environment.APP_USERS_FILE).toBe('/opt/app/users.csv');
      expect(service.volumes).toContain('/opt/app/users.csv:/opt/app/users.csv:ro');
    }
    expect(doc.services.webapp.volumes).toEqual([
      '/srv/html:/usr/share/nginx/html:ro',
      '/opt/app/users.csv:/opt/app/users.csv:ro',
    ]);
  });

  it('escapes $ so compose passes user values through unchanged', () => {
    expect(doc.services.webapp.environment.GREETING).toBe('hi $$USER');
    expect(doc.services.dns.command).toBe('echo $$HOME');
    expect(doc.services.webapp.environment.MULTI).toBe('line one\nline two');
  });

  it('quotes every value and environment name, so no YAML reader retypes them', () => {
    const text = renderComposeYaml(WEB);
    expect(text).toContain('"TRUE": "no"');
    expect(text).toContain('- "80:80"');
    // Multi-line values stay on one line (JSON escapes).
    expect(text).toContain('"MULTI": "line one\\nline two"');
    const strict = YAML.parse(text, { version: '1.1' });
    expect(strict.services.webapp.environment.TRUE).toBe('no');
    expect(strict.services.dns.restart).toBe('no');
  });
});

describe('renderUserData', () => {
  const rendered = renderUserData({ jobId: 'job_01HZX', containers: WEB, usersCsv: CSV });
  const script = rendered.script;

  it('is a plain bash script when it fits', () => {
    expect(rendered.encoding).toBe('plain');
    expect(rendered.bytes).toBe(Buffer.byteLength(script));
    expect(script.startsWith('#!/bin/bash\n')).toBe(true);
    expect(script).toContain('\nset -euo pipefail\n');
    expect(script).toContain("trap 'on_error $LINENO' ERR");
  });

  it('installs Docker with dnf, falling back to apt, and the compose plugin', () => {
    expect(script).toContain('dnf install -y docker');
    expect(script).toContain('apt-get install -y docker.io');
    expect(script).toContain('/usr/local/lib/docker/cli-plugins');
    expect(script).toContain('systemctl enable --now docker');
  });

  it('writes the compose file through a quoted heredoc, byte for byte', () => {
    expect(heredoc(script, '"$APP/docker-compose.yml"')).toBe(renderComposeYaml(WEB));
    // A quoted delimiter: bash expands nothing inside, so ${APP_USERS_B64...} reaches compose as written.
    expect(script).toContain(`cat > "$APP/docker-compose.yml" <<'COMPOSE_EOF'\n`);
    // On EC2 the files land in /opt/app (PROVISIONING_ROOT is only set by a test harness).
    expect(script).toContain('\nAPP="$ROOT/opt/app"\n');
  });

  it('round-trips the users CSV through APP_USERS_B64', () => {
    const decoded = Buffer.from(usersB64(script), 'base64').toString('utf8');
    expect(decoded).toBe(CSV);
    expect(parseUsersCsv(decoded)).toEqual(parseUsersCsv(CSV));
    expect(script).toContain('base64 -d > "$APP/users.csv"');
    expect(script).toContain('chmod 0600 "$APP/users.csv" "$APP/.env"');
  });

  it('writes a header-only users file when the job has no users', () => {
    for (const usersCsv of [undefined, '']) {
      const s = renderUserData({ jobId: 'j1', containers: WEB, usersCsv }).script;
      expect(Buffer.from(usersB64(s), 'base64').toString('utf8')).toBe('username,email,role,display_name\n');
    }
  });

  it('pulls each image, starts compose, watches the containers and reports every phase', () => {
    expect(script).toContain('docker compose --project-directory "$APP" -f "$APP/docker-compose.yml" "$@"');
    expect(script).toContain('compose up -d');
    expect(script).toContain("CONTAINERS=('webapp' 'dns')");
    expect(script).toContain(`IMAGES=('nginx:1.27' 'coredns/coredns@sha256:${'a'.repeat(64)}')`);
    expect(script).toContain("HEALTHCHECKED=('0' '0')");
    for (const phase of ['docker', 'compose', 'pull', 'up', 'container', 'health']) expect(script).toContain(`PHASE=${phase}\n`);
    expect(script).toContain('report PROVISIONING-SUCCESS containers');
    expect(script).toContain('report PROVISIONING-FAILED phase "$PHASE"');
    expect(script).toContain("JOB_ID='job_01HZX'");
    expect(script).toContain('CONSOLE="${PROVISIONING_CONSOLE:-/dev/console}"');
  });

  it('refuses a job id that could break out of the script', () => {
    expect(() => renderUserData({ jobId: "x'; rm -rf /", containers: WEB })).toThrow(/jobId/);
  });

  it('is accepted by bash -n', () => {
    const r = spawnSync('bash', ['-n'], { input: script });
    expect(r.stderr.toString()).toBe('');
    expect(r.status).toBe(0);
  });

  it.skipIf(!which('shellcheck'))('passes shellcheck (skipped only when the shellcheck binary is absent)', () => {
    const r = spawnSync('shellcheck', ['--shell=bash', '--severity=style', '-'], { input: script });
    expect(r.stdout.toString()).toBe('');
    expect(r.status).toBe(0);
  });

  it('gzips and base64-encodes user data over 16 KB', () => {
    const usersCsv = usersToCsv(randomUsers(300));
    const big = renderUserData({ jobId: 'job-big', containers: WEB, usersCsv });
    expect(big.encoding).toBe('gzip+base64');
    const gz = Buffer.from(big.script, 'base64');
    expect(gz.length).toBe(big.bytes);
    expect(big.bytes).toBeLessThanOrEqual(USER_DATA_LIMIT_BYTES);
    expect([...gz.subarray(0, 2)]).toEqual([0x1f, 0x8b]);
    const plain = gunzipSync(gz).toString('utf8');
    expect(Buffer.byteLength(plain)).toBeGreaterThan(USER_DATA_LIMIT_BYTES);
    expect(plain.startsWith('#!/bin/bash\n')).toBe(true);
    expect(Buffer.from(usersB64(plain), 'base64').toString('utf8')).toBe(usersCsv);
    expect(YAML.parse(heredoc(plain, '"$APP/docker-compose.yml"'))).toEqual(YAML.parse(renderComposeYaml(WEB)));
    // Same input, same bytes: a re-render must not make Terraform replace the instance.
    expect(renderUserData({ jobId: 'job-big', containers: WEB, usersCsv }).script).toBe(big.script);
  });

  it.skipIf(!which('shellcheck'))('the decompressed large script passes shellcheck too', () => {
    const big = renderUserData({ jobId: 'job-big', containers: WEB, usersCsv: usersToCsv(randomUsers(300)) });
    const plain = gunzipSync(Buffer.from(big.script, 'base64'));
    const r = spawnSync('shellcheck', ['--shell=bash', '-'], { input: plain });
    expect(r.stdout.toString()).toBe('');
    expect(r.status).toBe(0);
  });

  it('refuses user data that does not fit even gzipped, saying how big it is', () => {
    const usersCsv = usersToCsv(randomUsers(2000));
    expect(() => renderUserData({ jobId: 'job-huge', containers: WEB, usersCsv })).toThrow(
      /^user data is too large: \d+ bytes even after gzip \(\d+ bytes uncompressed\); EC2 allows 16384 bytes/,
    );
  });
});

describe('the user data script, run with the sandbox stand-ins for docker, systemctl and the package managers', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'userdata-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const STANDINS = path.resolve(import.meta.dirname, '..', 'fixtures', 'sandbox-module', 'standins');

  /** Runs the real script with its files under a scratch root, as the sandbox module does. */
  function run(name: string, list = WEB) {
    const root = path.join(tmp, name);
    fs.mkdirSync(root, { recursive: true });
    const { script } = renderUserData({ jobId: 'job-run', containers: list, usersCsv: CSV });
    const file = path.join(root, 'user-data.sh');
    fs.writeFileSync(file, script, { mode: 0o755 });
    const r = spawnSync('bash', [file], {
      env: {
        PATH: `${STANDINS}:/usr/bin:/bin`,
        HOME: root,
        PROVISIONING_ROOT: root,
        PROVISIONING_CONSOLE: path.join(root, 'console'),
        PROVISIONING_RETRY_DELAY: '0',
        PROVISIONING_SETTLE_SECONDS: '0',
        PROVISIONING_HEALTH_WAIT_SECONDS: '5',
      },
      timeout: 30_000,
    });
    const read = (p: string) => (fs.existsSync(path.join(root, p)) ? fs.readFileSync(path.join(root, p), 'utf8') : '');
    return { root, status: r.status, read, progress: progressOf('job-run', read('console').split('\n')) };
  }

  it('writes the files, pulls, starts and watches the containers, and reports success', () => {
    const r = run('ok');
    expect(r.status).toBe(0);
    expect(r.read('opt/app/docker-compose.yml')).toBe(renderComposeYaml(WEB));
    expect(r.read('opt/app/users.csv')).toBe(CSV);
    expect(r.read('opt/app/.env')).toBe(`APP_USERS_B64=${Buffer.from(CSV).toString('base64')}\n`);
    expect(fs.statSync(path.join(r.root, 'opt/app/users.csv')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(r.root, 'opt/app/.env')).mode & 0o777).toBe(0o600);
    expect(r.progress).toMatchObject({ outcome: 'succeeded', phase: 'done' });
    expect(r.progress.containers.map((c) => [c.name, c.state])).toEqual([
      ['webapp', 'running'],
      ['dns', 'running'],
    ]);
    expect(r.progress.facts.docker).toMatch(/^Docker version/);
    // Every line the service reads is also in the instance's own log, and no environment value is printed.
    const log = r.read('var/log/provisioning.log');
    expect(log).toContain('PROVISIONING-SUCCESS job=job-run {"containers":"2"}');
    expect(log).not.toContain('hi $USER');
    expect(r.read('console')).not.toContain('line one');
  });

  it.each([
    ['sandbox-fail-pull', 'pull', 'the image could not be pulled', 'manifest unknown'],
    [
      'sandbox-exit-1',
      'container',
      'the container is restarting (exit code 1, restarted 3 times)',
      'fatal: sandbox container exited (code 1)',
    ],
    [
      'sandbox-unhealthy',
      'health',
      'the container is unhealthy (its healthcheck failed)',
      'healthcheck failing: sandbox unhealthy',
    ],
  ])('reports a failure for an image tagged %s: phase %s, the container, its output', (tag, phase, reason, output) => {
    const list = containers([
      { name: 'web', image: 'nginx:1.27', healthcheck: { test: ['CMD', 'true'] } },
      { name: 'api', image: `example/api:${tag}`, healthcheck: { test: 'curl -f http://localhost/' } },
    ]);
    const r = run(tag, list);
    expect(r.status).toBe(1);
    expect(r.progress.outcome).toBe('failed');
    expect(r.progress.failure).toMatchObject({ phase, container: 'api', image: `example/api:${tag}`, reason });
    expect(r.progress.failure!.output.join('\n')).toContain(output);
    expect(r.read('console')).not.toContain('PROVISIONING-SUCCESS');
  });

  it('reports where it stopped when a step fails unexpectedly', () => {
    // A file where the app folder should be: creating it fails inside the files phase.
    const root = path.join(tmp, 'readonly');
    fs.mkdirSync(path.join(root, 'opt'), { recursive: true });
    fs.writeFileSync(path.join(root, 'opt', 'app'), 'not a directory');
    const file = path.join(root, 'user-data.sh');
    fs.writeFileSync(file, renderUserData({ jobId: 'job-run', containers: WEB, usersCsv: CSV }).script);
    const res = spawnSync('bash', [file], {
      env: { PATH: `${STANDINS}:/usr/bin:/bin`, PROVISIONING_ROOT: root, PROVISIONING_CONSOLE: path.join(root, 'console') },
      timeout: 30_000,
    });
    expect(res.status).not.toBe(0);
    const progress = progressOf('job-run', fs.readFileSync(path.join(root, 'console'), 'utf8').split('\n'));
    expect(progress.failure?.phase).toBe('files');
    expect(progress.failure?.reason).toMatch(/^the first-boot script stopped at line \d+ \(exit \d+\); see .*provisioning\.log$/);
  });
});

describe('renderTfvars', () => {
  const schema = createJobSpecSchema({
    allowedRegions: ['eu-west-1'],
    allowedInstanceTypes: ['t3.small'],
    allowAccessKeys: false,
  });
  const spec = schema.parse({
    name: 'demo-web',
    requesterEmail: 'alice@example.com',
    region: 'eu-west-1',
    auth: { method: 'assume_role', roleArn: 'arn:aws:iam::123456789012:role/P' },
    network: { vpcId: 'vpc-0abc1234', subnetId: 'subnet-0abc1234' },
    instance: { type: 't3.small', volumeSizeGb: 30, metadataHopLimit2: true, sshCidr: '198.51.100.0/24' },
    containers: [
      { name: 'web', image: 'nginx', ports: ['80:80'] },
      { name: 'dns', image: 'coredns/coredns', ports: ['53:53/udp'] },
    ],
  });

  it('maps the spec onto the module variables', () => {
    const userData = renderUserData({ jobId: 'j1', containers: spec.containers, usersCsv: spec.usersCsv });
    expect(renderTfvars({ jobId: 'j1', spec, amiId: 'ami-0123456789abcdef0', userData, createdBy: 'admin' })).toEqual({
      job_id: 'j1',
      job_name: 'demo-web',
      requester: 'alice@example.com',
      region: 'eu-west-1',
      instance_type: 't3.small',
      volume_size_gb: 30,
      ami_id: 'ami-0123456789abcdef0',
      vpc_id: 'vpc-0abc1234',
      subnet_id: 'subnet-0abc1234',
      security_group_ids: [],
      ingress_cidr: '0.0.0.0/0',
      ssh_cidr: '198.51.100.0/24',
      published_ports: [
        { port: 80, protocol: 'tcp', container: 'web' },
        { port: 53, protocol: 'udp', container: 'dns' },
      ],
      metadata_hop_limit: 2,
      user_data: userData.script,
      user_data_base64: '',
      created_by: 'admin',
      artifacts_bucket: '',
      artifacts_prefix: '',
    });
  });

  it("names the artifacts bucket and the job's own prefix (with its slash) when the files travel through S3", () => {
    const artifacts = {
      bucket: 'prov-artifacts',
      keyPrefix: artifactsJobPrefix('/provisioning/artifacts/', 'j1'),
      region: 'eu-west-1',
    };
    const userData = renderUserData({ jobId: 'j1', containers: spec.containers, usersCsv: spec.usersCsv, artifacts });
    const vars = renderTfvars({ jobId: 'j1', spec, amiId: 'ami-0123456789abcdef0', userData, artifacts });
    expect(vars.artifacts_bucket).toBe('prov-artifacts');
    expect(vars.artifacts_prefix).toBe('provisioning/artifacts/j1/');
    expect(vars.user_data).toBe(userData.script);
  });

  it('uses user_data_base64 for gzipped user data, and hop limit 1 by default', () => {
    const userData = renderUserData({ jobId: 'j1', containers: spec.containers, usersCsv: usersToCsv(randomUsers(300)) });
    const vars = renderTfvars({
      jobId: 'j1',
      spec: { ...spec, instance: { ...spec.instance, metadataHopLimit2: undefined } },
      amiId: 'ami-0123456789abcdef0',
      userData,
    });
    expect(vars.user_data).toBe('');
    expect(vars.user_data_base64).toBe(userData.script);
    expect(vars.metadata_hop_limit).toBe(1);
    expect(vars.created_by).toBe('');
  });
});

const ARTIFACTS = { bucket: 'prov-artifacts', keyPrefix: 'provisioning/artifacts/job-s3', region: 'us-east-1' };

/** A users list of about `bytes` bytes in at most 10,000 rows (the CSV's own limit), canonical as the spec stores it. */
function csvOfSize(bytes: number) {
  const rows = 9_000;
  const pad = Math.max(0, Math.floor(bytes / rows) - 48);
  const users = randomUsers(rows).map((u, i) => ({ ...u, displayName: `User ${i} ${'x'.repeat(pad)}`.slice(0, 128) }));
  return usersToCsv(users);
}

describe('renderUserData with an artifacts bucket (ARTIFACTS_BUCKET)', () => {
  const rendered = renderUserData({ jobId: 'job-s3', containers: WEB, usersCsv: CSV, artifacts: ARTIFACTS });
  const script = rendered.script;
  const embedded = renderUserData({ jobId: 'job-s3', containers: WEB, usersCsv: CSV }).script;

  it("fetches both files from the job's own prefix with the AWS CLI, retried, and reports an artifacts phase", () => {
    expect(rendered.encoding).toBe('plain');
    expect(script).toContain("\nARTIFACTS_BUCKET='prov-artifacts'\n");
    expect(script).toContain("\nARTIFACTS_PREFIX='provisioning/artifacts/job-s3'\n");
    expect(script).toContain("\nARTIFACTS_REGION='us-east-1'\n");
    expect(script).toContain(
      'aws s3 cp --only-show-errors --region "$ARTIFACTS_REGION" "s3://${ARTIFACTS_BUCKET}/${ARTIFACTS_PREFIX}/$1" "$APP/$1"',
    );
    expect(script).toContain('for file in docker-compose.yml users.csv; do');
    expect(script).toContain('retry fetch_artifact "$file"');
    expect(script).toContain('\nPHASE=artifacts\n');
    expect(script).toContain('\nreport PROVISIONING-EVENT phase artifacts status ok\n');
    // APP_USERS_B64 is made on the instance, from the file it fetched.
    expect(script).toContain('users_b64=$(base64 -w0 < "$APP/users.csv")');
    expect(script).toContain(`printf 'APP_USERS_B64=%s\\n' "$users_b64" > "$APP/.env"`);
    // A list too long for one environment variable reaches the containers as the file only.
    expect(script).toContain('if [ "${#users_b64}" -gt 120000 ]; then');
    expect(script).toContain('chmod 0600 "$APP/users.csv" "$APP/.env"');
  });

  it('embeds neither file: no heredoc, no users list, no compose file', () => {
    expect(script).not.toMatch(/<<-?'?[A-Z_]/);
    expect(script).not.toMatch(/^APP_USERS_B64=/m);
    expect(script).not.toContain('base64 -d');
    expect(script).not.toContain(Buffer.from(CSV).toString('base64'));
    expect(script).not.toContain('admin@example.com');
    expect(script).not.toContain('daemon off;');
    expect(script).not.toContain('services:');
  });

  it('does not grow with the users list: with a 900 KB list it is the same small script', () => {
    const usersCsv = csvOfSize(900_000);
    expect(Buffer.byteLength(usersCsv)).toBeGreaterThan(880_000);
    const big = renderUserData({ jobId: 'job-s3', containers: WEB, usersCsv, artifacts: ARTIFACTS });
    expect(big.encoding).toBe('plain');
    expect(big.script).toBe(script);
    expect(big.bytes).toBeLessThan(USER_DATA_LIMIT_BYTES);
  });

  it('is otherwise the embedded script: the same installs, and the same pull, up, container and health phases', () => {
    const head = (s: string) => s.slice(s.indexOf('\nset -euo pipefail\n'), s.indexOf('\nPHASE=files\n'));
    const tail = (s: string) => s.slice(s.indexOf('\nPHASE=pull\n'));
    expect(head(script).length).toBeGreaterThan(1000);
    expect(head(script)).toBe(head(embedded));
    expect(tail(script)).toBe(tail(embedded));
  });

  it('uploads byte for byte what the embedded script writes', () => {
    expect(renderArtifactFiles({ containers: WEB, usersCsv: CSV })).toEqual({
      'docker-compose.yml': renderComposeYaml(WEB),
      'users.csv': CSV,
    });
    // No users: a header-only file, as embedded.
    expect(renderArtifactFiles({ containers: WEB, usersCsv: '' })['users.csv']).toBe('username,email,role,display_name\n');
  });

  it("puts each job's files under its own prefix", () => {
    expect(artifactsJobPrefix('provisioning/artifacts', 'j1')).toBe('provisioning/artifacts/j1');
    expect(artifactsJobPrefix('/provisioning/artifacts/', 'j1')).toBe('provisioning/artifacts/j1');
    expect(artifactsJobPrefix('', 'j1')).toBe('j1');
    expect(() => artifactsJobPrefix('p', '../j1')).toThrow(/jobId/);
  });

  it('refuses a bucket, prefix or region that could leave its quotes', () => {
    const render = (artifacts: Partial<typeof ARTIFACTS>) =>
      renderUserData({ jobId: 'job-s3', containers: WEB, artifacts: { ...ARTIFACTS, ...artifacts } });
    expect(() => render({ bucket: "b'; rm -rf /" })).toThrow(/not an S3 bucket name/);
    expect(() => render({ keyPrefix: "p/'$(id)'" })).toThrow(/key prefix/);
    expect(() => render({ keyPrefix: 'p/../other' })).toThrow(/key prefix/);
    expect(() => render({ keyPrefix: 'p//j' })).toThrow(/key prefix/);
    expect(() => render({ region: 'us-east-1; id' })).toThrow(/not an AWS region/);
  });

  it('is accepted by bash -n', () => {
    const r = spawnSync('bash', ['-n'], { input: script });
    expect(r.stderr.toString()).toBe('');
    expect(r.status).toBe(0);
  });

  it.skipIf(!which('shellcheck'))('passes shellcheck (skipped only when the shellcheck binary is absent)', () => {
    const r = spawnSync('shellcheck', ['--shell=bash', '--severity=style', '-'], { input: script });
    expect(r.stdout.toString()).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('the job spec size rule with and without an artifacts bucket', () => {
  const policy = { allowedRegions: ['us-east-1'], allowedInstanceTypes: ['t3.micro'], allowAccessKeys: false };
  const usersCsv = csvOfSize(900_000);
  const input = {
    name: 'big-list',
    requesterEmail: 'alice@example.com',
    region: 'us-east-1',
    auth: { method: 'assume_role', roleArn: 'arn:aws:iam::123456789012:role/Provisioner' },
    instance: { type: 't3.micro' },
    containers: [{ name: 'web', image: 'nginx:1.27', ports: ['80:80'] }],
    usersCsv,
  };

  it('refuses a 900 KB users list that cannot fit in user data, naming usersCsv', () => {
    const r = createJobSpecSchema(policy).safeParse(input);
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => [i.path.join('.'), i.message.split(':')[0]])).toEqual([
      ['usersCsv', 'usersCsv is too large'],
    ]);
  });

  it('accepts it when the files travel through S3 (artifactsInS3), as the spec stores it', () => {
    const spec = createJobSpecSchema({ ...policy, artifactsInS3: true }).parse(input);
    expect(spec.usersCsv).toBe(usersCsv);
  });

  it("still holds the users CSV to the form's 1 MB with a bucket", () => {
    const tooBig = `${usersCsv}${csvOfSize(200_000).split('\n').slice(1).join('\n')}`;
    expect(Buffer.byteLength(tooBig)).toBeGreaterThan(1024 * 1024);
    const r = createJobSpecSchema({ ...policy, artifactsInS3: true }).safeParse({ ...input, usersCsv: tooBig });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toMatch(/usersCsv .*the limit is 1 MB/);
  });
});

describe('the artifacts script, run with the stand-in aws against a stand-in S3', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'userdata-s3-'));
  const STANDINS = path.resolve(import.meta.dirname, '..', 'fixtures', 'sandbox-module', 'standins');
  const objects = new Map<string, string>();
  const requests: { url: string; authorization?: string }[] = [];
  let server: http.Server;
  let endpoint: string;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      requests.push({ url: req.url ?? '', authorization: req.headers.authorization });
      const body = req.method === 'GET' ? objects.get(req.url ?? '') : undefined;
      if (body === undefined) {
        res.writeHead(404, { 'content-type': 'application/xml' }).end('<Error><Code>NoSuchKey</Code></Error>');
      } else {
        res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const PREFIX = `/${ARTIFACTS.bucket}/${ARTIFACTS.keyPrefix}`;

  /** Runs the real script (asynchronously: the stand-in S3 answers from this process). */
  async function run(name: string, readable = `${ARTIFACTS.bucket}/${ARTIFACTS.keyPrefix}/`) {
    const root = path.join(tmp, name);
    fs.mkdirSync(root, { recursive: true });
    const file = path.join(root, 'user-data.sh');
    fs.writeFileSync(file, renderUserData({ jobId: 'job-s3', containers: WEB, artifacts: ARTIFACTS }).script);
    const child = spawn('bash', [file], {
      env: {
        PATH: `${STANDINS}:/usr/bin:/bin`,
        HOME: root,
        PROVISIONING_ROOT: root,
        PROVISIONING_CONSOLE: path.join(root, 'console'),
        PROVISIONING_RETRY_DELAY: '0',
        PROVISIONING_SETTLE_SECONDS: '0',
        PROVISIONING_HEALTH_WAIT_SECONDS: '5',
        SANDBOX_S3_ENDPOINT: endpoint,
        SANDBOX_S3_READABLE: readable,
      },
      stdio: 'ignore',
    });
    const status = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    const read = (p: string) => (fs.existsSync(path.join(root, p)) ? fs.readFileSync(path.join(root, p), 'utf8') : '');
    return { root, status, read, progress: progressOf('job-s3', read('console').split('\n')) };
  }

  it('fetches the files, derives APP_USERS_B64 from users.csv, and runs the containers', async () => {
    objects.set(`${PREFIX}/docker-compose.yml`, renderComposeYaml(WEB));
    objects.set(`${PREFIX}/users.csv`, CSV);
    requests.length = 0;
    const r = await run('ok');
    expect(r.status, r.read('console')).toBe(0);
    expect(r.read('opt/app/docker-compose.yml')).toBe(renderComposeYaml(WEB));
    expect(r.read('opt/app/users.csv')).toBe(CSV);
    expect(r.read('opt/app/.env')).toBe(`APP_USERS_B64=${Buffer.from(CSV).toString('base64')}\n`);
    expect(fs.statSync(path.join(r.root, 'opt/app/users.csv')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(r.root, 'opt/app/.env')).mode & 0o777).toBe(0o600);
    expect(r.read('console')).toContain('PROVISIONING-EVENT job=job-s3 {"phase":"artifacts","status":"ok"}');
    expect(r.progress).toMatchObject({ outcome: 'succeeded', phase: 'done' });
    expect(requests.map((q) => q.url)).toEqual([`${PREFIX}/docker-compose.yml`, `${PREFIX}/users.csv`]);
    expect(requests.every((q) => q.authorization?.includes('/s3/aws4_request'))).toBe(true);
  });

  it('reports the artifacts phase failed, with S3 answer, when a file is missing (after retries)', async () => {
    objects.set(`${PREFIX}/docker-compose.yml`, renderComposeYaml(WEB));
    objects.delete(`${PREFIX}/users.csv`);
    requests.length = 0;
    const r = await run('missing');
    expect(r.status).toBe(1);
    expect(r.progress.outcome).toBe('failed');
    expect(r.progress.failure).toMatchObject({
      phase: 'artifacts',
      reason: `s3://${ARTIFACTS.bucket}/${ARTIFACTS.keyPrefix}/users.csv could not be fetched`,
    });
    expect(r.progress.failure!.output.join('\n')).toContain('An error occurred (404) when calling the HeadObject operation');
    expect(requests.filter((q) => q.url === `${PREFIX}/users.csv`)).toHaveLength(5);
    expect(r.read('console')).not.toContain('"phase":"pull"');
  });

  it("cannot read outside the job's own prefix (the instance role's policy)", async () => {
    requests.length = 0;
    const r = await run('forbidden', `${ARTIFACTS.bucket}/provisioning/artifacts/another-job/`);
    expect(r.status).toBe(1);
    expect(r.progress.failure?.phase).toBe('artifacts');
    expect(r.progress.failure!.output.join('\n')).toContain('(403) when calling the HeadObject operation: Forbidden');
    expect(requests).toEqual([]);
  });
});
