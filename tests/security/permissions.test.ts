import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { createJob } from '../../src/api/jobCommands.js';
import type { UserRow } from '../../src/db/schema.js';
import type { Role } from '../../src/domain/permissions.js';
import { createTempDb } from '../support/tempDb.js';
import { sampleSpec } from '../support/jobs.js';
import { makeUser, sessionFor, tokenFor } from '../support/people.js';
import { testClient, TEST_SECRET_KEY } from '../support/worker.js';
import { securityConfig, type App } from './support.js';

/**
 * Every role against every action on a job of their own and on someone
 * else's, through the API (bearer token) and the form routes (session with
 * its CSRF token), and what the job page offers them. The expected table is
 * written out here, not derived from the rules under test.
 */

type Outcome = 'ok' | 'role_required' | 'not_owner' | 'own_job';
type Action = 'run' | 'cancel' | 'destroy' | 'approve' | 'reject' | 'clone' | 'ttl';
const ACTIONS: Action[] = ['run', 'cancel', 'destroy', 'approve', 'reject', 'clone', 'ttl'];

const R = 'role_required' as const;
/** role → [on their own job, on another requester's job], per action; then whether they see the job's inputs. */
const TABLE: Record<Role, Record<Action | 'inputs', [Outcome | boolean, Outcome | boolean]>> = {
  viewer: {
    run: [R, R],
    cancel: [R, R],
    destroy: [R, R],
    approve: [R, R],
    reject: [R, R],
    clone: [R, R],
    ttl: [R, R],
    inputs: [true, false],
  },
  requester: {
    run: ['ok', 'not_owner'],
    cancel: ['ok', 'not_owner'],
    destroy: ['ok', 'not_owner'],
    approve: [R, R],
    reject: [R, R],
    clone: ['ok', 'not_owner'],
    ttl: ['ok', 'not_owner'],
    inputs: [true, false],
  },
  approver: {
    run: ['ok', 'not_owner'],
    cancel: ['ok', 'not_owner'],
    destroy: ['ok', 'not_owner'],
    approve: ['own_job', 'ok'],
    reject: ['own_job', 'ok'],
    clone: ['ok', 'not_owner'],
    ttl: ['ok', 'not_owner'],
    inputs: [true, true],
  },
  admin: {
    run: ['ok', 'ok'],
    cancel: ['ok', 'ok'],
    destroy: ['ok', 'ok'],
    approve: ['own_job', 'ok'],
    reject: ['own_job', 'ok'],
    clone: ['ok', 'ok'],
    ttl: ['ok', 'ok'],
    inputs: [true, true],
  },
};
const ROLES = Object.keys(TABLE) as Role[];

/** The status a job must be in for the action to be valid, so only the permission rules can refuse it. */
const STATUS_FOR: Record<Action, { status: string; hasResources?: number }> = {
  run: { status: 'draft' },
  cancel: { status: 'awaiting_approval' },
  destroy: { status: 'succeeded', hasResources: 1 },
  approve: { status: 'awaiting_approval' },
  reject: { status: 'awaiting_approval' },
  clone: { status: 'succeeded', hasResources: 1 },
  ttl: { status: 'succeeded', hasResources: 1 },
};

let temp: Awaited<ReturnType<typeof createTempDb>>;
let client: Client;
let closeClient: () => Promise<void>;
let app: App;
const users = {} as Record<Role | 'other', UserRow>;
const sessions = {} as Record<Role, { cookie: string; csrf: string }>;
const tokens = {} as Record<Role, string>;

beforeAll(async () => {
  temp = await createTempDb();
  ({ client, close: closeClient } = await testClient());
  // A queue no worker polls: started workflows wait, nothing runs Terraform.
  app = createApp({
    db: temp.db,
    temporal: client,
    config: securityConfig({ DATA_DIR: temp.dir, TEMPORAL_TASK_QUEUE: `permissions-${process.pid}-${Date.now()}` }),
  });
  users.other = await makeUser(temp.db, 'other-requester', 'requester');
  for (const role of ROLES) {
    users[role] = await makeUser(temp.db, `${role}-person`, role);
    sessions[role] = await sessionFor(temp.db, TEST_SECRET_KEY, users[role]);
    tokens[role] = (await tokenFor(temp.db, users[role], role)).secret;
  }
}, 60_000);

afterAll(async () => {
  await closeClient?.();
  await temp?.cleanup();
});

/** A job of `owner`'s in the status `action` needs; its workflow id names no workflow, so signals find none. */
async function jobFor(owner: UserRow, action: Action) {
  const job = await createJob(
    { db: temp.db, temporal: client, taskQueue: 'unused', approvalTimeoutMs: 60_000 },
    sampleSpec({
      name: `perm-${action}-${Math.random().toString(36).slice(2, 8)}`,
      usersCsv: 'username,email\nsecret-user,secret-user@example.com\n',
      containers: [{ name: 'web', image: 'nginx:latest', ports: ['80:80'], environment: { API_KEY: 'sekrit-value' } }],
    }),
    { user: owner.name, userId: owner.id, role: 'admin' },
  );
  const { status, hasResources } = STATUS_FOR[action];
  await temp.db
    .updateTable('jobs')
    .set({ status, has_resources: hasResources ?? 0, workflow_id: status === 'draft' ? null : `job-${job.id}-gone` })
    .where('id', '=', job.id)
    .execute();
  return job;
}

async function viaApi(role: Role, jobId: string, action: Action): Promise<{ status: number; code?: string }> {
  const auth = { authorization: `Bearer ${tokens[role]}` };
  if (action === 'clone') {
    // The API has no clone: reading the spec and posting it is the way, so what matters is what the read shows.
    return { status: 0 };
  }
  const body = action === 'reject' ? { reason: 'no' } : action === 'ttl' ? { ttlHours: 5 } : {};
  const res = await app.request(`/api/jobs/${jobId}/${action}`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { error?: { code: string } };
  return { status: res.status, code: json.error?.code };
}

async function viaForm(role: Role, jobId: string, action: Action): Promise<number> {
  const { cookie, csrf } = sessions[role];
  if (action === 'clone') {
    return (await app.request(`/jobs/new?clone=${jobId}`, { headers: { cookie, accept: 'text/html' } })).status;
  }
  const res = await app.request(`/jobs/${jobId}/${action}`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
    body: new URLSearchParams({
      _csrf: csrf,
      confirmed: 'yes',
      reason: 'no',
      comment: 'ok',
      ...(action === 'ttl' ? { ttlHours: '5' } : {}),
    }),
  });
  return res.status;
}

async function jobPage(role: Role, jobId: string): Promise<string> {
  const res = await app.request(`/jobs/${jobId}`, { headers: { cookie: sessions[role].cookie, accept: 'text/html' } });
  expect(res.status).toBe(200);
  return res.text();
}

const offered = (html: string, action: Action) =>
  action === 'clone' ? html.includes('/jobs/new?clone=') : html.includes(`data-action="${action}"`);

describe.each(ROLES)('a %s', (role) => {
  it.each([
    ['their own job', 0],
    ["another requester's job", 1],
  ] as const)(
    'on %s: each action allowed or refused with its code, through the API and the forms, and offered only when allowed',
    async (_label, which) => {
      const owner = which === 0 ? users[role] : users.other;
      const problems: string[] = [];
      for (const action of ACTIONS) {
        const expected = TABLE[role][action][which] as Outcome;
        // A fresh job for each channel: an allowed action changes the job.
        const page = await jobPage(role, (await jobFor(owner, action)).id);
        if (offered(page, action) !== (expected === 'ok')) problems.push(`page ${action}: offered=${offered(page, action)}`);

        const api = await viaApi(role, (await jobFor(owner, action)).id, action);
        if (action !== 'clone') {
          if (expected === 'ok' && api.status === 403) problems.push(`API ${action}: 403 ${api.code}`);
          if (expected !== 'ok' && (api.status !== 403 || api.code !== expected)) {
            problems.push(`API ${action}: ${api.status} ${api.code}, expected 403 ${expected}`);
          }
        }
        const form = await viaForm(role, (await jobFor(owner, action)).id, action);
        if ((form === 403) !== (expected !== 'ok')) problems.push(`form ${action}: ${form}`);
      }
      expect(problems).toEqual([]);
    },
  );

  it.each([
    ['their own job', 0],
    ["another requester's job", 1],
  ] as const)('on %s: the users CSV and environment values shown only as the table says', async (_label, which) => {
    const owner = which === 0 ? users[role] : users.other;
    const job = await jobFor(owner, 'destroy');
    const sees = TABLE[role].inputs[which] as boolean;
    const res = await app.request(`/api/jobs/${job.id}`, { headers: { authorization: `Bearer ${tokens[role]}` } });
    const json = (await res.json()) as { spec: { usersCsv?: string; containers: { environment: Record<string, string> }[] } };
    expect(json.spec.usersCsv !== undefined).toBe(sees);
    expect(json.spec.containers[0].environment).toEqual({ API_KEY: sees ? 'sekrit-value' : '(hidden)' });
    const page = await jobPage(role, job.id);
    expect(page.includes('secret-user@example.com')).toBe(sees);
    expect(page.includes('sekrit-value')).toBe(sees);
  });

  it('creates jobs only from requester up, through the API and the form; the form is offered as allowed', async () => {
    const allowed = role !== 'viewer';
    const api = await app.request('/api/jobs', {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens[role]}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...sampleSpec({ name: `perm-create-${role}` }) }),
    });
    if (allowed) expect(api.status).toBe(201);
    else expect(await api.json()).toEqual({ error: { code: 'role_required', message: expect.stringContaining('requester') } });
    const form = await app.request('/jobs/new', { headers: { cookie: sessions[role].cookie, accept: 'text/html' } });
    expect(form.status).toBe(allowed ? 200 : 403);
    const dashboard = await (await app.request('/', { headers: { cookie: sessions[role].cookie, accept: 'text/html' } })).text();
    expect(dashboard.includes('href="/jobs/new"')).toBe(allowed);
    expect(dashboard.includes('href="/admin/users"')).toBe(role === 'admin');
  });
});
