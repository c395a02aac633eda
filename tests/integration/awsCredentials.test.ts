import net from 'node:net';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { STSClient, STSServiceException, type STSClientConfig } from '@aws-sdk/client-sts';
import {
  AWS_REQUEST_HANDLER,
  resolveJobCredentials,
  terraformEnv,
  parseRoleArn,
  roleSessionName,
  type ResolveCredentialsInput,
} from '../../src/activities/awsCredentials.js';
import { createMotoUser, motoEnv, setEnv, setMotoAuth, startMoto, type Moto } from '../support/moto.js';

/**
 * Credentials against a real moto server. moto accepts any credentials until
 * its IAM authentication is switched on (POST /moto-api/reset-auth), then it
 * answers unknown keys with InvalidClientTokenId, a wrong secret with
 * SignatureDoesNotMatch, and a user without sts:AssumeRole with AccessDenied:
 * the "bad credentials" tests use that. moto does not evaluate role trust
 * policies or external IDs, and never reports ExpiredToken or Throttling:
 * those are tested with a stubbed `send` throwing the SDK's real error shapes.
 */

const REGION = 'us-east-1';
const ROLE = 'arn:aws:iam::111122223333:role/Provisioner';

let moto: Moto;
let restoreEnv: () => void;

beforeAll(async () => {
  moto = await startMoto();
  restoreEnv = setEnv(motoEnv(moto.endpoint, REGION));
});

afterAll(async () => {
  restoreEnv?.();
  await moto?.stop();
});

async function failure(p: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected a failure');
}

/** Real STS clients that record every command input they send. */
function recordingSts() {
  const sent: Array<{ command: string; input: Record<string, unknown> }> = [];
  const configs: STSClientConfig[] = [];
  const createStsClient = vi.fn((config: STSClientConfig) => {
    configs.push(config);
    const client = new STSClient(config);
    client.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push({ command: String(context.commandName), input: args.input as Record<string, unknown> });
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
    return client;
  });
  return { sent, configs, createStsClient };
}

describe('AssumeRole', () => {
  it('assumes the role with the external ID and session name, and records account and assumed-role ARN', async () => {
    const rec = recordingSts();
    const res = await resolveJobCredentials(
      { jobId: 'abc123', region: REGION, auth: { method: 'assume_role', roleArn: ROLE, externalId: 'tenant-42' } },
      { createStsClient: rec.createStsClient },
    );
    expect(res.accountId).toBe('111122223333');
    expect(res.arn).toBe('arn:aws:sts::111122223333:assumed-role/Provisioner/job-abc123');
    expect(res.credentials.accessKeyId).toMatch(/^ASIA/);
    expect(res.credentials.secretAccessKey).toBeTruthy();
    expect(res.credentials.sessionToken).toBeTruthy();
    expect(res.credentials.expiration).toBeInstanceOf(Date);

    expect(rec.sent.map((s) => s.command)).toEqual(['AssumeRoleCommand', 'GetCallerIdentityCommand']);
    expect(rec.sent[0].input).toEqual({
      RoleArn: ROLE,
      RoleSessionName: 'job-abc123',
      DurationSeconds: 3600,
      ExternalId: 'tenant-42',
    });
    // AssumeRole uses the worker's own chain (no explicit credentials); GetCallerIdentity the assumed ones.
    expect(rec.configs[0].credentials).toBeUndefined();
    expect(rec.configs[1].credentials).toMatchObject({ accessKeyId: res.credentials.accessKeyId });
    expect(rec.configs.every((c) => c.region === REGION)).toBe(true);
  });

  it('never shows the secret parts of the credentials in JSON or inspect output', async () => {
    const res = await resolveJobCredentials({
      jobId: 'j1',
      region: REGION,
      auth: { method: 'assume_role', roleArn: ROLE },
    });
    const json = JSON.stringify(res);
    const shown = inspect(res, { depth: 5 });
    for (const text of [json, shown]) {
      expect(text).not.toContain(res.credentials.secretAccessKey);
      expect(text).not.toContain(res.credentials.sessionToken!);
      expect(text).not.toContain(res.credentials.accessKeyId);
      expect(text).toContain('111122223333');
    }
  });

  it('bounds the session duration to 900..43200 seconds', async () => {
    for (const [asked, used] of [
      [60, 900],
      [100_000, 43200],
      [7200, 7200],
    ] as const) {
      const rec = recordingSts();
      const before = Date.now();
      const res = await resolveJobCredentials(
        { jobId: 'd', region: REGION, auth: { method: 'assume_role', roleArn: ROLE }, durationSeconds: asked },
        { createStsClient: rec.createStsClient },
      );
      expect(rec.sent[0].input.DurationSeconds).toBe(used);
      const lifetime = (res.credentials.expiration!.getTime() - before) / 1000;
      expect(Math.abs(lifetime - used)).toBeLessThan(30);
    }
  });

  it('leaves ExternalId out when none is given and keeps the session name within STS limits', async () => {
    const rec = recordingSts();
    await resolveJobCredentials(
      { jobId: `${'x'.repeat(80)} weird/id`, region: REGION, auth: { method: 'assume_role', roleArn: ROLE } },
      { createStsClient: rec.createStsClient },
    );
    expect(rec.sent[0].input).not.toHaveProperty('ExternalId');
    const name = rec.sent[0].input.RoleSessionName as string;
    expect(name).toMatch(/^job-x+$/);
    expect(name.length).toBe(64);
    expect(roleSessionName('a b/c')).toBe('job-a-b-c');
  });

  it.each([
    ['not-an-arn'],
    ['arn:aws:iam::12345:role/Short'],
    ['arn:aws:iam::111122223333:user/alice'],
    ['arn:aws:sts::111122223333:assumed-role/Provisioner/session'],
    ['arn:aws:iam::111122223333:role/'],
    [''],
  ])('refuses the malformed role ARN %j before any AWS call', async (roleArn) => {
    const rec = recordingSts();
    const err = await failure(
      resolveJobCredentials(
        { jobId: 'm', region: REGION, auth: { method: 'assume_role', roleArn } },
        { createStsClient: rec.createStsClient },
      ),
    );
    expect(err).toBeInstanceOf(Error);
    expect(err.type).toBe('InvalidInput');
    expect(err.field).toBe('auth.roleArn');
    expect(err.message).toMatch(/not a valid IAM role ARN/);
    expect(rec.createStsClient).not.toHaveBeenCalled();
  });

  it('accepts role paths and other partitions', () => {
    expect(parseRoleArn('arn:aws:iam::111122223333:role/team/ops/Provisioner')).toMatchObject({
      accountId: '111122223333',
      roleName: 'Provisioner',
      path: 'team/ops/',
    });
    expect(parseRoleArn('arn:aws-us-gov:iam::111122223333:role/P').partition).toBe('aws-us-gov');
  });

  it('refuses a malformed external ID before any AWS call', async () => {
    const rec = recordingSts();
    const err = await failure(
      resolveJobCredentials(
        { jobId: 'm', region: REGION, auth: { method: 'assume_role', roleArn: ROLE, externalId: 'has spaces' } },
        { createStsClient: rec.createStsClient },
      ),
    );
    expect(err).toMatchObject({ type: 'InvalidInput', field: 'auth.externalId' });
    expect(err.message).not.toContain('has spaces');
    expect(rec.createStsClient).not.toHaveBeenCalled();
  });
});

describe('ALLOWED_ACCOUNT_IDS', () => {
  it('refuses a role in an account that is not allowed, naming it, without calling AWS', async () => {
    const rec = recordingSts();
    const err = await failure(
      resolveJobCredentials(
        {
          jobId: 'a',
          region: REGION,
          auth: { method: 'assume_role', roleArn: ROLE },
          allowedAccountIds: ['444455556666'],
        },
        { createStsClient: rec.createStsClient },
      ),
    );
    expect(err).toMatchObject({ type: 'AccessDenied', field: 'auth.roleArn' });
    expect(err.message).toContain('111122223333');
    expect(err.message).toContain('ALLOWED_ACCOUNT_IDS');
    expect(rec.createStsClient).not.toHaveBeenCalled();
    expect(rec.sent).toEqual([]);
  });

  it('lets a role in an allowed account through', async () => {
    const res = await resolveJobCredentials({
      jobId: 'a2',
      region: REGION,
      auth: { method: 'assume_role', roleArn: ROLE },
      allowedAccountIds: ['444455556666', '111122223333'],
    });
    expect(res.accountId).toBe('111122223333');
  });

  it("checks the caller identity's account too (access keys have no ARN to check beforehand)", async () => {
    const err = await failure(
      resolveJobCredentials({
        jobId: 'a3',
        region: REGION,
        auth: {
          method: 'access_keys',
          accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
          secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
        },
        allowedAccountIds: ['111122223333'],
      }),
    );
    expect(err.type).toBe('AccessDenied');
    expect(err.message).toContain('123456789012'); // moto's default account
    expect(err.message).not.toContain('wJalrXUtnFEMI');
  });
});

describe('access keys', () => {
  it('verifies the keys with GetCallerIdentity and hands them back unchanged', async () => {
    const rec = recordingSts();
    const keys = {
      method: 'access_keys' as const,
      accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    };
    const res = await resolveJobCredentials({ jobId: 'k', region: REGION, auth: keys }, { createStsClient: rec.createStsClient });
    expect(res.accountId).toBe('123456789012');
    expect(res.arn).toBe('arn:aws:sts::123456789012:user/moto');
    expect(res.credentials.accessKeyId).toBe(keys.accessKeyId);
    expect(res.credentials.secretAccessKey).toBe(keys.secretAccessKey);
    expect(rec.sent.map((s) => s.command)).toEqual(['GetCallerIdentityCommand']);
    expect(rec.configs[0].credentials).toMatchObject({ accessKeyId: keys.accessKeyId });
  });
});

describe('with moto IAM authentication on', () => {
  const input = (auth: ResolveCredentialsInput['auth']): ResolveCredentialsInput => ({ jobId: 'auth', region: REGION, auth });

  it('maps unknown keys, a wrong secret and a missing sts:AssumeRole permission', async () => {
    const limited = await createMotoUser(moto.endpoint, 'limited');
    const assumer = await createMotoUser(moto.endpoint, 'assumer', {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: ['sts:AssumeRole', 'sts:GetCallerIdentity'], Resource: '*' }],
    });
    await setMotoAuth(moto.endpoint, true);
    try {
      // Unknown access key id.
      const unknown = await failure(
        resolveJobCredentials(
          input({
            method: 'access_keys',
            accessKeyId: 'AKIAUNKNOWNUNKNOWN00',
            secretAccessKey: 'S3cr3t/NotReal+Value0000000000000000000',
          }),
        ),
      );
      expect(unknown).toMatchObject({ type: 'InvalidCredentials', awsCode: 'InvalidClientTokenId', field: 'auth.accessKeyId' });
      expect(unknown.message).toMatch(/did not accept the credentials/);
      expect(unknown.message).not.toContain('S3cr3t');

      // Known key, wrong secret.
      const wrong = await failure(
        resolveJobCredentials(
          input({
            method: 'access_keys',
            accessKeyId: limited.accessKeyId,
            secretAccessKey: 'Wr0ngSecretWr0ngSecretWr0ngSecretWr0ng00',
          }),
        ),
      );
      expect(wrong).toMatchObject({ type: 'InvalidCredentials', awsCode: 'SignatureDoesNotMatch' });
      expect(wrong.message).not.toContain('Wr0ngSecret');

      // Right keys: GetCallerIdentity needs no permission.
      const ok = await resolveJobCredentials(
        input({ method: 'access_keys', accessKeyId: limited.accessKeyId, secretAccessKey: limited.secretAccessKey }),
      );
      expect(ok.arn).toBe(limited.arn);

      // The worker's own identity may not assume roles: AccessDenied on AssumeRole, with the usual causes.
      const restore = setEnv({
        ...motoEnv(moto.endpoint, REGION),
        AWS_ACCESS_KEY_ID: limited.accessKeyId,
        AWS_SECRET_ACCESS_KEY: limited.secretAccessKey,
      });
      try {
        const denied = await failure(
          resolveJobCredentials(input({ method: 'assume_role', roleArn: ROLE, externalId: 'tenant-42' })),
        );
        expect(denied).toMatchObject({ type: 'AccessDenied', awsCode: 'AccessDenied', field: 'auth.roleArn' });
        expect(denied.message).toContain(ROLE);
        expect(denied.message).toMatch(/trust policy/);
        expect(denied.message).toMatch(/external ID/);
        expect(denied.message).not.toContain(limited.secretAccessKey);
      } finally {
        restore();
      }

      // A worker identity that may assume roles gets through, auth still on.
      const restore2 = setEnv({
        ...motoEnv(moto.endpoint, REGION),
        AWS_ACCESS_KEY_ID: assumer.accessKeyId,
        AWS_SECRET_ACCESS_KEY: assumer.secretAccessKey,
      });
      try {
        const res = await resolveJobCredentials(input({ method: 'assume_role', roleArn: ROLE }));
        expect(res.arn).toBe('arn:aws:sts::111122223333:assumed-role/Provisioner/job-auth');
      } finally {
        restore2();
      }
    } finally {
      await setMotoAuth(moto.endpoint, false);
    }
  });
});

describe('error mapping for what moto cannot produce (stubbed send, real SDK error shapes)', () => {
  /** The shape the SDK's deserializer builds for an STS error response. */
  function stsError(name: string, message: string, status: number, fault: 'client' | 'server' = 'client') {
    const err = new STSServiceException({
      name,
      $fault: fault,
      $metadata: { httpStatusCode: status, requestId: 'req-1' },
      message,
    });
    Object.assign(err, { Code: name, Type: fault === 'client' ? 'Sender' : 'Receiver' });
    return err;
  }

  function failingSts(err: unknown) {
    return vi.fn((config: STSClientConfig) => {
      const client = new STSClient(config);
      vi.spyOn(client, 'send').mockImplementation(async () => {
        throw err;
      });
      return client;
    });
  }

  const keys = {
    method: 'access_keys' as const,
    accessKeyId: 'ASIAIOSFODNN7EXAMPLE',
    secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    sessionToken: 'FwoGZXIvYXdzEXAMPLETOKENEXAMPLETOKEN',
  };

  it.each([
    ['ExpiredToken', 'The security token included in the request is expired', 400, 'InvalidCredentials', /expired/],
    [
      'InvalidClientTokenId',
      'The security token included in the request is invalid.',
      403,
      'InvalidCredentials',
      /did not accept/,
    ],
    ['SignatureDoesNotMatch', 'The request signature we calculated does not match', 403, 'InvalidCredentials', /did not accept/],
    ['Throttling', 'Rate exceeded', 400, 'AwsTransient', /temporarily.*retried/],
    ['InternalFailure', 'Internal failure', 500, 'AwsTransient', /temporarily/],
  ] as const)('GetCallerIdentity %s → %s', async (code, message, status, type, text) => {
    const fault = status >= 500 ? 'server' : 'client';
    const err = await failure(
      resolveJobCredentials(
        { jobId: 's', region: REGION, auth: keys },
        { createStsClient: failingSts(stsError(code, message, status, fault)) },
      ),
    );
    expect(err).toMatchObject({ type, awsCode: code });
    expect(err.message).toMatch(text);
    for (const secret of [keys.secretAccessKey, keys.sessionToken]) expect(err.message).not.toContain(secret);
  });

  it('AccessDenied on AssumeRole explains the trust policy and a missing external ID', async () => {
    const err = await failure(
      resolveJobCredentials(
        { jobId: 's', region: REGION, auth: { method: 'assume_role', roleArn: ROLE } },
        {
          createStsClient: failingSts(
            stsError(
              'AccessDenied',
              'User: arn:aws:iam::999999999999:user/worker is not authorized to perform: sts:AssumeRole',
              403,
            ),
          ),
        },
      ),
    );
    expect(err).toMatchObject({ type: 'AccessDenied', field: 'auth.roleArn' });
    expect(err.message).toMatch(/trust policy/);
    expect(err.message).toMatch(/requires an external ID and none was given/);
  });

  it('an expired worker token on AssumeRole is InvalidCredentials', async () => {
    const err = await failure(
      resolveJobCredentials(
        { jobId: 's', region: REGION, auth: { method: 'assume_role', roleArn: ROLE } },
        { createStsClient: failingSts(stsError('ExpiredToken', 'The security token included in the request is expired', 400)) },
      ),
    );
    expect(err).toMatchObject({ type: 'InvalidCredentials', awsCode: 'ExpiredToken' });
  });

  it('a network failure is AwsTransient', async () => {
    const net = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), {
      code: 'ECONNREFUSED',
      $metadata: { attempts: 3 },
    });
    const err = await failure(
      resolveJobCredentials({ jobId: 's', region: REGION, auth: keys }, { createStsClient: failingSts(net) }),
    );
    expect(err).toMatchObject({ type: 'AwsTransient' });
    expect(err.message).toContain('ECONNREFUSED');
  });
});

describe('endpoints and terraform env', () => {
  it('honours AWS_ENDPOINT_URL_STS over AWS_ENDPOINT_URL (the SDK reads both from the env)', async () => {
    const restore = setEnv({
      ...motoEnv('http://127.0.0.1:9', REGION), // nothing listens there
      AWS_ENDPOINT_URL_STS: moto.endpoint,
    });
    try {
      const res = await resolveJobCredentials({ jobId: 'e', region: REGION, auth: { method: 'assume_role', roleArn: ROLE } });
      expect(res.accountId).toBe('111122223333');
    } finally {
      restore();
    }
  });

  it('an unreachable STS endpoint is AwsTransient', async () => {
    const restore = setEnv({ ...motoEnv(moto.endpoint, REGION), AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:9' });
    try {
      const err = await failure(
        resolveJobCredentials({ jobId: 'e', region: REGION, auth: { method: 'assume_role', roleArn: ROLE } }),
      );
      expect(err.type).toBe('AwsTransient');
    } finally {
      restore();
    }
  }, 30_000);

  it('an STS endpoint that accepts and never answers fails the call as AwsTransient instead of holding it', async () => {
    // A server that takes the connection and never says a word (what a wedged endpoint looks like).
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    const restore = setEnv({ ...motoEnv(moto.endpoint, REGION), AWS_ENDPOINT_URL_STS: `http://127.0.0.1:${port}` });
    const configs: STSClientConfig[] = [];
    try {
      const started = Date.now();
      const err = await failure(
        resolveJobCredentials(
          { jobId: 'silent', region: REGION, auth: { method: 'assume_role', roleArn: ROLE } },
          {
            // The clients get the service's bounds; only the time is shortened, so the test stays quick.
            createStsClient: (config) => {
              configs.push(config);
              const handler = config.requestHandler as typeof AWS_REQUEST_HANDLER;
              return new STSClient({ ...config, maxAttempts: 2, requestHandler: { ...handler, requestTimeout: 300 } });
            },
          },
        ),
      );
      expect(err.type).toBe('AwsTransient');
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(configs[0].requestHandler).toEqual(AWS_REQUEST_HANDLER);
      expect(AWS_REQUEST_HANDLER).toMatchObject({ throwOnRequestTimeout: true });
      expect(AWS_REQUEST_HANDLER.connectionTimeout).toBeGreaterThan(0);
      expect(AWS_REQUEST_HANDLER.requestTimeout).toBeGreaterThan(0);
    } finally {
      restore();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  }, 30_000);

  it('terraformEnv carries the credentials, the region and the endpoint settings, nothing else', () => {
    const env = terraformEnv({ accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'secret', sessionToken: 'token' }, 'eu-west-1', {
      AWS_ENDPOINT_URL: 'http://127.0.0.1:5000',
      AWS_ENDPOINT_URL_EC2: 'http://127.0.0.1:5001',
      AWS_PROFILE: 'worker-profile',
      AWS_ACCESS_KEY_ID: 'worker-key',
      HOME: '/root',
    });
    expect(env).toEqual({
      AWS_ACCESS_KEY_ID: 'ASIAEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'secret',
      AWS_SESSION_TOKEN: 'token',
      AWS_REGION: 'eu-west-1',
      AWS_DEFAULT_REGION: 'eu-west-1',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:5000',
      AWS_ENDPOINT_URL_EC2: 'http://127.0.0.1:5001',
    });
    const noToken = terraformEnv({ accessKeyId: 'AKIA', secretAccessKey: 's' }, 'us-east-1', {});
    expect(noToken).not.toHaveProperty('AWS_SESSION_TOKEN');
  });
});
