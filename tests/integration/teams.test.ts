import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { parseConfig } from '../../src/config.js';
import { resolveJobCredentials } from '../../src/activities/awsCredentials.js';
import { authOf } from '../../src/activities/teamAccountAuth.js';
import { getAccount, getTeam } from '../../src/db/teams.js';
import type { UserRow } from '../../src/db/schema.js';
import { createMotoUser, MOTO_ACCESS_KEY_ID, setEnv, setMotoAuth } from '../support/moto.js';
import { makeUser, sessionFor } from '../support/people.js';
import { ROOT } from '../support/processes.js';
import { sampleSpec, SANDBOX_MODULE, waitForStatus } from '../support/jobs.js';
import { startSandboxStack, type SandboxStack } from '../support/stack.js';
import { TEST_SECRET_KEY } from '../support/worker.js';

/**
 * Teams and their AWS accounts, on moto with IAM authentication on: an admin
 * onboards an account through the pages (the set-up page's own trust and
 * permissions policies create the role), the connection test runs on a real
 * worker and lists what the role is denied, another team's account cannot be
 * used, a rotated external ID keeps working for its overlap, and a team's
 * rules refuse what they do not allow with the field named, on the API and
 * the form.
 */

const ACCOUNT = '123456789012';
let stack: SandboxStack;
let app: ReturnType<typeof createApp>;
let restoreEnv: () => void;
let admin: UserRow;
let alice: UserRow;
let bob: UserRow;
let adminSession: { cookie: string; csrf: string };

const decode = (html: string) =>
  html
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
const pre = (html: string, id: string) =>
  JSON.parse(decode(new RegExp(`<pre class="code" id="${id}">([\\s\\S]*?)</pre>`).exec(html)![1]));

async function motoIam(params: Record<string, string>): Promise<string> {
  const res = await fetch(stack.moto!.endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `AWS4-HMAC-SHA256 Credential=${MOTO_ACCESS_KEY_ID}/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: new URLSearchParams({ Version: '2010-05-08', ...params }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`moto IAM ${params.Action}: ${res.status} ${text}`);
  return text;
}

/** A role made from the documents the set-up page shows (moto matches Resource "*" only: see accountCheck.test.ts). */
async function createRole(
  name: string,
  trust: object,
  permissions: { Statement: Record<string, unknown>[] },
  drop: string[] = [],
) {
  await setMotoAuth(stack.moto!.endpoint, false);
  const statements = permissions.Statement.map(({ Condition: _c, ...s }) => ({
    ...s,
    Resource: '*',
    Action: ([] as string[]).concat(s.Action as string[]).filter((a) => !drop.includes(a)),
  })).filter((s) => s.Action.length > 0);
  await motoIam({ Action: 'CreateRole', RoleName: name, AssumeRolePolicyDocument: JSON.stringify(trust) });
  await motoIam({
    Action: 'PutRolePolicy',
    RoleName: name,
    PolicyName: 'provisioning-service',
    PolicyDocument: JSON.stringify({ ...permissions, Statement: statements }),
  });
  await setMotoAuth(stack.moto!.endpoint, true);
}

function form(session: { cookie: string; csrf: string }, fields: Record<string, string>) {
  return {
    method: 'POST',
    headers: { cookie: session.cookie, 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
    body: new URLSearchParams({ _csrf: session.csrf, ...fields }),
  };
}

async function addAccount(teamId: string, label: string, roleName: string): Promise<string> {
  const res = await app.request(
    `/admin/teams/${teamId}/accounts`,
    form(adminSession, { label, roleArn: `arn:aws:iam::${ACCOUNT}:role/${roleName}` }),
  );
  expect(res.status).toBe(303);
  return res.headers.get('location')!.split('/').pop()!;
}

async function check(accountId: string): Promise<string> {
  const res = await app.request(`/accounts/${accountId}/check`, form(adminSession, {}));
  expect(res.status).toBe(200);
  return decode(await res.text());
}

let teamId: string;
let otherTeamId: string;
let accountId: string;

beforeAll(async () => {
  stack = await startSandboxStack({ workdirPrefix: 'prov-teams-' });
  // The worker's own identity: an IAM user that may assume roles, as a real worker's would be.
  const worker = await createMotoUser(stack.moto!.endpoint, 'provisioning-worker', {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: ['sts:AssumeRole', 'sts:GetCallerIdentity'], Resource: '*' }],
  });
  restoreEnv = setEnv({ AWS_ACCESS_KEY_ID: worker.accessKeyId, AWS_SECRET_ACCESS_KEY: worker.secretAccessKey });
  await setMotoAuth(stack.moto!.endpoint, true);
  const config = parseConfig(
    {
      SECRET_KEY: TEST_SECRET_KEY,
      DATA_DIR: stack.temp.dir,
      TEMPORAL_TASK_QUEUE: stack.worker.taskQueue,
      TERRAFORM_MODULE_DIR: SANDBOX_MODULE,
      ALLOWED_REGIONS: 'us-east-1,eu-west-1',
      ALLOWED_INSTANCE_TYPES: 't3.micro,t3.small',
      PUBLIC_BASE_URL: 'http://prov.test',
    },
    ROOT,
  );
  app = createApp({ db: stack.temp.db, temporal: stack.client, config });
  admin = await makeUser(stack.temp.db, 'ada-admin', 'admin');
  alice = await makeUser(stack.temp.db, 'alice', 'requester');
  bob = await makeUser(stack.temp.db, 'bob', 'requester');
  adminSession = await sessionFor(stack.temp.db, TEST_SECRET_KEY, admin);

  const made = await app.request(
    '/admin/teams',
    form(adminSession, {
      name: 'payments',
      regions: 'us-east-1',
      instanceTypes: 't3.micro',
      maxTtlHours: '48',
      maxLiveJobs: '1',
      approvalPolicy: 'always',
    }),
  );
  expect(made.status).toBe(303);
  teamId = made.headers.get('location')!.split('/').pop()!;
  const other = await app.request('/admin/teams', form(adminSession, { name: 'search', approvalPolicy: 'never' }));
  otherTeamId = other.headers.get('location')!.split('/').pop()!;
  expect((await app.request(`/admin/teams/${teamId}/members`, form(adminSession, { userId: alice.id }))).status).toBe(303);
  expect((await app.request(`/admin/teams/${otherTeamId}/members`, form(adminSession, { userId: bob.id }))).status).toBe(303);
}, 180_000);

afterAll(async () => {
  if (stack?.moto) await setMotoAuth(stack.moto.endpoint, false).catch(() => undefined);
  restoreEnv?.();
  await stack?.stop();
});

describe('onboarding a team account', () => {
  it('from an empty account list to a role that passes the connection test, with the set-up page’s own documents', async () => {
    accountId = await addAccount(teamId, 'payments dev', 'prov-payments');
    // Before the role has its permissions: the test lists what it is denied (moto lets any role be
    // assumed; AWS would refuse a role that does not exist), and the worker has said who it is.
    expect(await check(accountId)).toMatch(/The role is denied \d+ of the calls a job needs: ec2:DescribeVpcs/);
    const page = decode(await (await app.request(`/accounts/${accountId}`, { headers: { cookie: adminSession.cookie } })).text());
    const account = (await getAccount(stack.temp.db, accountId))!;
    expect(account.external_id).toMatch(/^prov-[\w-]{32}$/);
    expect(page).toContain(`id="worker-principal">arn:aws:iam::${ACCOUNT}:user/provisioning-worker<`);
    const trust = pre(page, 'trust-policy');
    expect(JSON.stringify(trust)).toContain(account.external_id);
    expect(page).toContain('AWS::IAM::Role');
    expect(page).toContain('resource "aws_iam_role" "provisioning_service"');

    await createRole('prov-payments', trust, pre(page, 'permissions-policy'));
    const ok = await check(accountId);
    expect(ok).toContain('The role works: every call a job needs was allowed.');
    expect(ok).not.toContain('data-ok="0"');
  });

  it('then a team member runs a job in it from the form, picking nothing but the account the form offers', async () => {
    const s = await sessionFor(stack.temp.db, TEST_SECRET_KEY, alice);
    const formPage = decode(await (await app.request('/jobs/new', { headers: { cookie: s.cookie } })).text());
    expect(formPage).toMatch(new RegExp(`<option value="${accountId}" selected="">payments · payments dev \\(${ACCOUNT}\\)`));
    const created = await app.request('/jobs', {
      method: 'POST',
      headers: { cookie: s.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        _csrf: s.csrf,
        intent: 'start',
        name: 'first-payments-env',
        requesterEmail: 'alice@example.com',
        region: 'us-east-1',
        authMethod: 'assume_role',
        teamAccountId: accountId,
        instanceType: 't3.micro',
        volumeSizeGb: '20',
        containersJson: '[{"name":"web","image":"nginx:latest","ports":["80:80"]}]',
      }),
    });
    expect(created.status).toBe(303);
    const jobId = created.headers.get('location')!.split('/').pop()!;
    // The team's policy asks for approval, from someone else: the admin.
    await waitForStatus(stack.temp.db, jobId, ['awaiting_approval', 'failed']);
    const approved = await app.request(`/jobs/${jobId}/approve`, form(adminSession, { comment: 'ok' }));
    expect(approved.status).toBe(303);
    const done = await waitForStatus(stack.temp.db, jobId, ['succeeded', 'failed']);
    expect(done.status, done.error ?? '').toBe('succeeded');
    expect(done.assumed_role_arn).toContain('assumed-role/prov-payments/');
    await stack.temp.db.updateTable('jobs').set({ status: 'destroyed', has_resources: 0 }).where('id', '=', jobId).execute();
  });

  it('lists the calls a role is denied', async () => {
    const partial = await addAccount(teamId, 'payments partial', 'prov-payments-partial');
    const page = decode(await (await app.request(`/accounts/${partial}`, { headers: { cookie: adminSession.cookie } })).text());
    await createRole('prov-payments-partial', pre(page, 'trust-policy'), pre(page, 'permissions-policy'), [
      'ec2:DescribeSubnets',
    ]);
    const result = await check(partial);
    expect(result).toContain('The role is denied 1 of the calls a job needs: ec2:DescribeSubnets.');
    expect(result).toContain('data-check="ec2:DescribeSubnets" data-ok="0"');
    // People outside the team do not see the account at all.
    const b = await sessionFor(stack.temp.db, TEST_SECRET_KEY, bob);
    expect((await app.request(`/accounts/${partial}`, { headers: { cookie: b.cookie } })).status).toBe(404);
  });
});

describe('jobs in team accounts', () => {
  const post = (user: UserRow, body: unknown) =>
    sessionFor(stack.temp.db, TEST_SECRET_KEY, user).then((s) =>
      app.request('/api/jobs', {
        method: 'POST',
        headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }),
    );

  it("refuse another team's account, picked or typed (403), and store no external ID", async () => {
    const picked = await post(bob, {
      ...sampleSpec({ name: 'bob-in-payments' }),
      auth: { method: 'assume_role', teamAccountId: accountId },
    });
    expect(picked.status).toBe(403);
    expect(((await picked.json()) as { error: { code: string } }).error.code).toBe('account_not_in_team');
    const typed = await post(bob, {
      ...sampleSpec({ name: 'bob-typed' }),
      auth: { method: 'assume_role', roleArn: `arn:aws:iam::${ACCOUNT}:role/prov-payments`, externalId: 'guessed' },
    });
    expect(typed.status).toBe(403);

    // Scripts find the account to name in the API.
    const teams = (await (
      await app.request('/api/teams', { headers: { cookie: (await sessionFor(stack.temp.db, TEST_SECRET_KEY, alice)).cookie } })
    ).json()) as { teams: { name: string; accounts: { id: string }[] }[] };
    expect(teams.teams.map((t) => t.name)).toEqual(['payments']);
    expect(teams.teams[0].accounts.map((a) => a.id)).toContain(accountId);

    const mine = await post(alice, {
      ...sampleSpec({ name: 'alice-job' }),
      auth: { method: 'assume_role', teamAccountId: accountId },
    });
    expect(mine.status).toBe(201);
    const job = (await mine.json()) as { spec: { auth: Record<string, unknown>; options: Record<string, unknown> } };
    expect(job.spec.auth).toEqual({
      method: 'assume_role',
      roleArn: `arn:aws:iam::${ACCOUNT}:role/prov-payments`,
      teamAccountId: accountId,
    });
    // The team's rules shaped it: approval always, the team's longest life.
    expect(job.spec.options).toMatchObject({ requireApproval: true, ttlHours: 48 });
    // And the worker assumes the role with the account's own external ID.
    const auth = await authOf(stack.temp.db, { auth: job.spec.auth } as never);
    const resolved = await resolveJobCredentials({ jobId: 'alice-job', region: 'us-east-1', auth });
    expect(resolved.arn).toContain('assumed-role/prov-payments/');
  });

  it("refuse what the team's rules do not allow, naming the field, on the API and the form; the live limit too", async () => {
    const base = { auth: { method: 'assume_role', teamAccountId: accountId } };
    const res = await post(alice, {
      ...sampleSpec({ name: 'too-much' }),
      ...base,
      region: 'eu-west-1',
      instance: { type: 't3.small' },
      options: { ttlHours: 100 },
    });
    expect(res.status).toBe(422);
    const body = (await res.json()) as { error: { fields: { path: string; message: string }[] } };
    expect(body.error.fields.map((f) => f.path).sort()).toEqual(['instance.type', 'options.ttlHours', 'region']);
    expect(body.error.fields.find((f) => f.path === 'region')?.message).toContain('team payments');

    const s = await sessionFor(stack.temp.db, TEST_SECRET_KEY, alice);
    const page = await app.request('/jobs', {
      method: 'POST',
      headers: { cookie: s.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        _csrf: s.csrf,
        intent: 'create',
        name: 'form-too-much',
        requesterEmail: 'alice@example.com',
        region: 'eu-west-1',
        authMethod: 'assume_role',
        teamAccountId: accountId,
        instanceType: 't3.micro',
        volumeSizeGb: '20',
        containersJson: '[{"name":"web","image":"nginx:latest","ports":["80:80"]}]',
      }),
    });
    expect(page.status).toBe(422);
    const html = decode(await page.text());
    expect(html).toMatch(/id="f-region-error"[^>]*>[\s\S]*?is not one team payments may use/);

    // The one live environment the team may have: the next is refused until it is gone.
    await stack.temp.db
      .updateTable('jobs')
      .set({ status: 'succeeded', has_resources: 1 })
      .where('name', '=', 'alice-job')
      .execute();
    const full = await post(alice, { ...sampleSpec({ name: 'one-too-many' }), ...base });
    expect(full.status).toBe(422);
    expect(JSON.stringify(await full.json())).toContain('live environments');
  });
});

describe('TEAM_ACCOUNTS_ONLY', () => {
  it('refuses a typed role of no team, and the form offers no role field', async () => {
    const strict = createApp({
      db: stack.temp.db,
      temporal: stack.client,
      config: parseConfig(
        {
          SECRET_KEY: TEST_SECRET_KEY,
          DATA_DIR: stack.temp.dir,
          TEMPORAL_TASK_QUEUE: stack.worker.taskQueue,
          TERRAFORM_MODULE_DIR: SANDBOX_MODULE,
          ALLOWED_REGIONS: 'us-east-1',
          ALLOWED_INSTANCE_TYPES: 't3.micro',
          TEAM_ACCOUNTS_ONLY: 'true',
        },
        ROOT,
      ),
    });
    const s = await sessionFor(stack.temp.db, TEST_SECRET_KEY, bob);
    const res = await strict.request('/api/jobs', {
      method: 'POST',
      headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, 'content-type': 'application/json' },
      body: JSON.stringify({
        ...sampleSpec({ name: 'typed-role' }),
        auth: { method: 'assume_role', roleArn: `arn:aws:iam::${ACCOUNT}:role/mine` },
      }),
    });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: { fields: { path: string }[] } }).error.fields.map((f) => f.path)).toEqual([
      'auth.roleArn',
    ]);
    const page = await (await strict.request('/jobs/new', { headers: { cookie: s.cookie } })).text();
    expect(page).not.toContain('name="roleArn"');
    expect(page).toContain('You are in no team with an AWS account yet');
  });
});

describe('rotating an external ID', () => {
  it('keeps the previous one working for the overlap, then only the new one', async () => {
    const before = (await getAccount(stack.temp.db, accountId))!;
    const rotated = await app.request(`/accounts/${accountId}/rotate`, form(adminSession, { overlapHours: '24' }));
    expect(rotated.status).toBe(303);
    const after = (await getAccount(stack.temp.db, accountId))!;
    expect(after.external_id).not.toBe(before.external_id);
    expect(after.previous_external_id).toBe(before.external_id);
    // The role still trusts only the old ID (nobody updated it yet). moto does not check trust
    // policies, so STS here is a stand-in that holds the trust policy's external ID condition.
    const trusted = new Set([before.external_id]);
    const tried: string[] = [];
    const sts = {
      createStsClient: () =>
        ({
          send: async (command: { input: { ExternalId?: string }; constructor: { name: string } }) => {
            if (command.constructor.name === 'GetCallerIdentityCommand') {
              return { Account: ACCOUNT, Arn: `arn:aws:sts::${ACCOUNT}:assumed-role/prov-payments/job-rot` };
            }
            tried.push(command.input.ExternalId ?? '');
            if (!command.input.ExternalId || !trusted.has(command.input.ExternalId)) {
              throw Object.assign(new Error('not authorized to perform sts:AssumeRole'), { name: 'AccessDenied' });
            }
            return {
              Credentials: {
                AccessKeyId: 'ASIAEXAMPLE',
                SecretAccessKey: 'x'.repeat(40),
                SessionToken: 't',
                Expiration: new Date(Date.now() + 3_600_000),
              },
              AssumedRoleUser: { Arn: `arn:aws:sts::${ACCOUNT}:assumed-role/prov-payments/job-rot` },
            };
          },
        }) as never,
    };
    const spec = { auth: { method: 'assume_role', roleArn: after.role_arn, teamAccountId: accountId } } as never;
    const assume = async (jobId: string) =>
      resolveJobCredentials({ jobId, region: 'us-east-1', auth: await authOf(stack.temp.db, spec) }, sts);
    // Within the overlap, jobs go on: the new ID first, then the previous one.
    await expect(assume('rot-1')).resolves.toBeDefined();
    expect(tried).toEqual([after.external_id, before.external_id]);
    // The set-up page's trust policy names both until then.
    const page = decode(await (await app.request(`/accounts/${accountId}`, { headers: { cookie: adminSession.cookie } })).text());
    expect(JSON.stringify(pre(page, 'trust-policy'))).toContain(before.external_id);
    expect(JSON.stringify(pre(page, 'trust-policy'))).toContain(after.external_id);

    // After the overlap only the new one is tried: a role not yet updated is refused.
    await stack.temp.db
      .updateTable('team_accounts')
      .set({ previous_valid_until: new Date(Date.now() - 1000).toISOString() })
      .where('id', '=', accountId)
      .execute();
    tried.length = 0;
    await expect(assume('rot-2')).rejects.toThrow(/AccessDenied/);
    expect(tried).toEqual([after.external_id]);
    trusted.add(after.external_id);
    await expect(assume('rot-3')).resolves.toBeDefined();
    expect((await getTeam(stack.temp.db, teamId))?.name).toBe('payments');
  });
});
