import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeImagesCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';

/**
 * moto's server mode (PyPI `moto[server]`) as a real AWS stand-in for the
 * integration tests: one server per test file, on a free port. The SDK is
 * pointed at it through AWS_ENDPOINT_URL (see `motoEnv`), the same setting a
 * newcomer uses to run the whole service against moto.
 *
 * Which moto (see `motoCommand`): MOTO_SERVER_PATH, then the project's venv
 * that `npm test`'s set-up installs (.venv-moto/, scripts/ensure-test-tools.mjs),
 * then `moto_server` on PATH, then `python3 -m moto.server`.
 */

const ROOT = path.resolve(import.meta.dirname, '..', '..');
/** Where scripts/ensure-test-tools.mjs (MOTO_VENV) puts moto. */
export const MOTO_VENV = path.join(ROOT, '.venv-moto');

export interface Moto {
  endpoint: string;
  stop(): Promise<void>;
}

export const MOTO_ACCESS_KEY_ID = 'testing';
export const MOTO_SECRET_ACCESS_KEY = 'testing';

function onPath(binary: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, binary);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** The command that runs moto's server, and where it came from (for error messages). */
export function motoCommand(env: NodeJS.ProcessEnv = process.env): { command: string; args: string[]; source: string } {
  if (env.MOTO_SERVER_PATH) return { command: env.MOTO_SERVER_PATH, args: [], source: 'MOTO_SERVER_PATH' };
  // bin/python, not bin/moto_server: the set-up builds the venv elsewhere and moves it in, which
  // breaks the scripts' #! lines but not the interpreter.
  const venvPython = path.join(MOTO_VENV, 'bin', 'python');
  if (fs.existsSync(venvPython)) return { command: venvPython, args: ['-m', 'moto.server'], source: '.venv-moto' };
  const bin = onPath('moto_server');
  if (bin) return { command: bin, args: [], source: 'PATH' };
  return { command: onPath('python3') ?? onPath('python') ?? 'python3', args: ['-m', 'moto.server'], source: 'python3' };
}

export async function startMoto(opts: { timeoutMs?: number } = {}): Promise<Moto> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const found = motoCommand();
  const [command, argv] = [found.command, [...found.args, '-H', '127.0.0.1', '-p', String(port)]];

  const child: ChildProcess = spawn(command, argv, {
    // Its own process group, so stop() also reaches a wrapper's child (pyenv shims).
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exitedPromise = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    }),
  );
  child.once('error', (err) => {
    keep(Buffer.from(String(err)));
  });
  // A detached child outlives a test process that dies without afterAll: kill it on exit.
  const killOnExit = () => {
    try {
      if (!exited && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', killOnExit);
  void exitedPromise.then(() => process.removeListener('exit', killOnExit));

  const stop = async () => {
    if (exited || child.pid === undefined) return;
    const kill = (sig: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        try {
          child.kill(sig);
        } catch {
          // already gone
        }
      }
    };
    kill('SIGTERM');
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 3_000).unref());
    if ((await Promise.race([exitedPromise.then(() => 'exited' as const), timer])) === 'timeout') {
      kill('SIGKILL');
      await exitedPromise;
    }
  };

  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    if (exited) {
      const hint =
        found.source === 'python3'
          ? '\n(no moto in .venv-moto/ nor on PATH: `npm test`, or `npm run setup -- --test`, installs it)'
          : '';
      throw new Error(`moto_server (${command}) exited before answering (${JSON.stringify(exited)}):\n${output}${hint}`);
    }
    try {
      const res = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1_000) });
      if (res.status < 500) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`moto_server did not answer on ${endpoint} within ${opts.timeoutMs ?? 30_000} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return { endpoint, stop };
}

/** The environment a test sets so every SDK client (and terraformEnv) talks to moto. */
export function motoEnv(endpoint: string, region: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: MOTO_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: MOTO_SECRET_ACCESS_KEY,
    AWS_REGION: region,
  };
}

/**
 * Sets env vars and returns a function that restores what was there before.
 * Also clears the variables that would make the SDK pick other credentials
 * or endpoints than the test intends.
 */
export function setEnv(vars: Record<string, string | undefined>): () => void {
  const names = [
    ...Object.keys(vars),
    'AWS_PROFILE',
    'AWS_SESSION_TOKEN',
    'AWS_ENDPOINT_URL_STS',
    'AWS_ENDPOINT_URL_EC2',
    'AWS_ENDPOINT_URL_SSM',
    'AWS_ENDPOINT_URL_SESV2',
  ];
  const before = new Map(names.map((n) => [n, process.env[n]]));
  for (const n of names) {
    if (!(n in vars)) delete process.env[n];
  }
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  return () => {
    for (const [k, v] of before) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

export interface SeededNetwork {
  region: string;
  availabilityZone: string;
  vpcId: string;
  subnetId: string;
  securityGroupId: string;
  /** An x86_64 Amazon Linux AMI that moto lists in the region. */
  amiId: string;
  /** An arm64 AMI moto lists, for the architecture check. */
  armAmiId: string;
  /** A second VPC with its own subnet and group, for the "belongs to another VPC" cases. */
  other: { vpcId: string; subnetId: string; securityGroupId: string };
}

function ec2For(endpoint: string, region: string): EC2Client {
  return new EC2Client({
    region,
    endpoint,
    credentials: { accessKeyId: MOTO_ACCESS_KEY_ID, secretAccessKey: MOTO_SECRET_ACCESS_KEY },
  });
}

/** Creates two VPCs with a subnet and a security group each, and picks AMIs moto ships. */
export async function seedNetwork(endpoint: string, region: string, az = `${region}a`): Promise<SeededNetwork> {
  const ec2 = ec2For(endpoint, region);
  const makeVpc = async (cidr: string, subnetCidr: string, name: string) => {
    const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: cidr }));
    const vpcId = vpc.Vpc!.VpcId!;
    const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: subnetCidr, AvailabilityZone: az }));
    const sg = await ec2.send(
      new CreateSecurityGroupCommand({ GroupName: `${name}-sg`, Description: `${name} test group`, VpcId: vpcId }),
    );
    await ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: sg.GroupId!,
        IpPermissions: [{ IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
      }),
    );
    return { vpcId, subnetId: subnet.Subnet!.SubnetId!, securityGroupId: sg.GroupId! };
  };
  const main = await makeVpc('10.20.0.0/16', '10.20.1.0/24', 'main');
  const other = await makeVpc('10.30.0.0/16', '10.30.1.0/24', 'other');

  const images = await ec2.send(
    new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'state', Values: ['available'] }] }),
  );
  const all = images.Images ?? [];
  const amazonLinux = (arch: string) =>
    all.find((i) => i.Architecture === arch && /^(al2023|amzn2)-ami/.test(i.Name ?? '')) ??
    all.find((i) => i.Architecture === arch);
  const x86 = amazonLinux('x86_64');
  const arm = amazonLinux('arm64');
  if (!x86?.ImageId || !arm?.ImageId) {
    throw new Error(`moto lists no x86_64/arm64 AMIs in ${region} (found ${all.length} images)`);
  }
  return { region, availabilityZone: az, ...main, amiId: x86.ImageId, armAmiId: arm.ImageId, other };
}

/**
 * Turns moto's IAM authentication on or off for the whole server
 * (POST /moto-api/reset-auth). With it on, moto checks signatures against the
 * IAM users it knows and their policies, so it answers unknown keys with
 * InvalidClientTokenId (AuthFailure for EC2) and missing permissions with
 * AccessDenied, as AWS does. Off (the default) it accepts any credentials.
 */
export async function setMotoAuth(endpoint: string, enabled: boolean): Promise<void> {
  const res = await fetch(`${endpoint}/moto-api/reset-auth`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain' },
    body: enabled ? '0' : 'inf',
  });
  if (!res.ok) throw new Error(`moto reset-auth answered ${res.status}: ${await res.text()}`);
}

/**
 * An IAM call on moto while authentication is off: a query-protocol POST whose
 * Authorization header only tells moto which service it is for (moto does not
 * check the signature then). Used to create users without adding
 * @aws-sdk/client-iam to the project.
 */
async function motoIam(endpoint: string, params: Record<string, string>): Promise<string> {
  const body = new URLSearchParams({ Version: '2010-05-08', ...params });
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `AWS4-HMAC-SHA256 Credential=${MOTO_ACCESS_KEY_ID}/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`moto IAM ${params.Action} answered ${res.status}: ${text}`);
  return text;
}

/** Creates an IAM user with an access key (and optionally an inline policy) in moto's default account. */
export async function createMotoUser(
  endpoint: string,
  userName: string,
  policy?: object,
): Promise<{ accessKeyId: string; secretAccessKey: string; arn: string }> {
  const user = await motoIam(endpoint, { Action: 'CreateUser', UserName: userName });
  if (policy) {
    await motoIam(endpoint, {
      Action: 'PutUserPolicy',
      UserName: userName,
      PolicyName: `${userName}-policy`,
      PolicyDocument: JSON.stringify(policy),
    });
  }
  const key = await motoIam(endpoint, { Action: 'CreateAccessKey', UserName: userName });
  const tag = (xml: string, name: string) => new RegExp(`<${name}>([^<]+)</${name}>`).exec(xml)?.[1] ?? '';
  return { accessKeyId: tag(key, 'AccessKeyId'), secretAccessKey: tag(key, 'SecretAccessKey'), arn: tag(user, 'Arn') };
}
