import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { serve, type ServerType } from '@hono/node-server';
import { createApp } from '../../src/api/app.js';
import { csrfTokenFor } from '../../src/api/auth.js';
import { parseConfig, type Config } from '../../src/config.js';
import { appendLogLines, type LogLineInput } from '../../src/db/logs.js';
import { finishStep, startStep, updateJob } from '../../src/db/jobs.js';
import { insertRevision, updateRevision } from '../../src/db/revisions.js';
import { SSE } from '../../src/api/routes/apiLogs.js';
import { TEST_SECRET_KEY, testClient } from '../support/worker.js';
import { startSandboxStack, type SandboxStack } from '../support/stack.js';
import { SANDBOX_MODULE, waitForStatus, waitForStep } from '../support/jobs.js';
import { ROOT, waitFor } from '../support/processes.js';

/**
 * Contract tests of the REST API through the whole app (auth, CSRF, body
 * limit, security headers), with a real Temporal dev server and worker, real
 * terraform on the sandbox module, moto for AWS and a real SQLite file.
 */

let stack: SandboxStack;
let temp: SandboxStack['temp'];
let worker: SandboxStack['worker'];
let client: Client;
let jobsWorkdir: string;
let knobs: SandboxStack['knobs'];
let config: Config;
let app: ReturnType<typeof createApp>;

const BEARER = { authorization: 'Bearer tok-1' };
const APPROVER_BEARER = { authorization: 'Bearer tok-approver' };
const BASIC = { authorization: `Basic ${Buffer.from('admin:secret-pass').toString('base64')}` };
const CSV = 'username,email,role,display_name\nadmin,admin@example.com,admin,Administrator\n';

beforeAll(async () => {
  stack = await startSandboxStack({ workdirPrefix: 'prov-api-jobs-' });
  ({ temp, worker, client, jobsWorkdir, knobs } = stack);
  config = parseConfig(
    {
      APP_ADMIN_PASS: 'secret-pass',
      SECRET_KEY: TEST_SECRET_KEY,
      API_TOKENS: 'tok-1, tok-2, approver:tok-approver',
      TEMPORAL_TASK_QUEUE: worker.taskQueue,
      TERRAFORM_MODULE_DIR: SANDBOX_MODULE,
      ALLOWED_INSTANCE_TYPES: 't3.micro,t3.small',
      ALLOWED_REGIONS: 'us-east-1,eu-west-1',
      DATA_DIR: temp.dir,
      JOBS_WORKDIR: jobsWorkdir,
      PUBLIC_BASE_URL: 'http://prov.test',
    },
    ROOT,
  );
  app = createApp({ db: temp.db, temporal: client, config });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

let counter = 0;
/** A valid job spec as a client sends it (input, not parsed). */
function specBody(overrides: Record<string, unknown> = {}) {
  counter += 1;
  return {
    name: `api-job-${process.pid}-${counter}`,
    requesterEmail: 'alice@example.com',
    region: 'us-east-1',
    auth: { method: 'assume_role', roleArn: 'arn:aws:iam::123456789012:role/Provisioner', externalId: 'tenant-42' },
    instance: { type: 't3.micro', volumeSizeGb: 20 },
    containers: [{ name: 'webapp', image: 'nginx:latest', ports: ['8080:80'], environment: { GREETING: 'hi' } }],
    usersCsv: CSV,
    options: { requireApproval: false },
    ...overrides,
  };
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed JSON body (undefined when not JSON); loosely typed, the tests check its shape. */
  body: any;
}

async function call(
  method: string,
  path: string,
  opts: { json?: unknown; body?: BodyInit; headers?: Record<string, string>; auth?: Record<string, string> | null } = {},
  target: { request: (p: string, init: RequestInit) => Response | Promise<Response> } = app,
): Promise<Answer> {
  const headers: Record<string, string> = { ...(opts.auth === null ? {} : (opts.auth ?? BEARER)), ...opts.headers };
  let body = opts.body;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['content-type'] ??= 'application/json';
  }
  const res = await target.request(path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, headers: res.headers, text, body: parsed };
}

async function createDraft(overrides: Record<string, unknown> = {}) {
  const res = await call('POST', '/api/jobs', { json: specBody(overrides) });
  expect(res.status, res.text).toBe(201);
  return res.body as { id: string; name: string; status: string };
}

function expectError(res: Answer, status: number, code: string) {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  expect(res.body.error.code).toBe(code);
  expect(typeof res.body.error.message).toBe('string');
}

describe('POST /api/jobs', () => {
  it('answers 201 with the job as JSON (no secrets, actions, links)', async () => {
    const spec = specBody();
    const res = await call('POST', '/api/jobs', { json: spec });
    expect(res.status, res.text).toBe(201);
    const job = res.body;
    expect(Object.keys(job).sort()).toEqual(
      [
        'id',
        'name',
        'status',
        'step',
        'spec',
        'createdBy',
        'ownerId',
        'accountId',
        'planSummary',
        'outputs',
        'error',
        'workflowId',
        'hasResources',
        'destroyAt',
        'drift',
        'actions',
        'createdAt',
        'startedAt',
        'finishedAt',
        'links',
        'warnings',
      ].sort(),
    );
    expect(job.warnings).toEqual([]);
    expect(job.drift).toBeNull();
    expect(job).toMatchObject({
      name: spec.name,
      status: 'draft',
      step: null,
      workflowId: null,
      actions: ['run'],
      hasResources: false,
    });
    expect(job.spec.instance).toMatchObject({ type: 't3.micro', volumeSizeGb: 20 });
    expect(job.spec.usersCsv).toBe(CSV);
    expect(job.links).toEqual({
      self: `http://prov.test/api/jobs/${job.id}`,
      ui: `http://prov.test/jobs/${job.id}`,
      temporal: null,
    });
    // Security headers on API responses too.
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  });

  it('accepts multipart/form-data with the spec as a JSON field and the CSV as a file', async () => {
    const { usersCsv: _omit, ...spec } = specBody();
    const form = new FormData();
    form.set('spec', JSON.stringify(spec));
    const csv = `${CSV}bob,bob@example.com,user,Bob\n`;
    form.set('usersCsv', new Blob([csv], { type: 'text/csv' }), 'users.csv');
    const res = await call('POST', '/api/jobs', { body: form });
    expect(res.status, res.text).toBe(201);
    expect(res.body.spec.usersCsv).toBe(csv);
    expect(res.body.name).toBe(spec.name);
  });

  it('refuses, when it is created, a job whose users CSV would not fit in the user data: 422 naming usersCsv, the size and the limit', async () => {
    const rows = Array.from(
      { length: 1500 },
      (_, i) => `user${i}x${(i * 7919).toString(36)},${(i * 104729).toString(36)}q${i}@e${i}.example.com,,N ${i}`,
    );
    const form = new FormData();
    const { usersCsv: _omit, ...spec } = specBody();
    form.set('spec', JSON.stringify(spec));
    form.set('usersCsv', new Blob([`username,email,role,display_name\n${rows.join('\n')}\n`], { type: 'text/csv' }), 'users.csv');
    const res = await call('POST', '/api/jobs', { body: form });
    expectError(res, 422, 'validation_failed');
    const fields = (res.body as { error: { fields: { path: string; message: string }[] } }).error.fields;
    expect(fields.map((f) => f.path)).toEqual(['usersCsv']);
    expect(fields[0].message).toMatch(/user data would be \d+ bytes gzipped .* EC2 allows 16384/);
  });

  it('accepts a users CSV with extra columns: 201 with a warning, the stored CSV without them', async () => {
    const csv = 'username,email,Phone,role,Department\nadmin,admin@example.com,555-0100,admin,IT\n';
    const res = await call('POST', '/api/jobs', { json: specBody({ usersCsv: csv }) });
    expect(res.status, res.text).toBe(201);
    const dropped = (column: string) =>
      `usersCsv line 1: column "${column}" was dropped: only username, email, role, display_name are used`;
    expect(res.body.warnings).toEqual([
      { path: 'usersCsv', message: dropped('Phone') },
      { path: 'usersCsv', message: dropped('Department') },
    ]);
    expect(res.body.spec.usersCsv).toBe('username,email,role,display_name\nadmin,admin@example.com,admin,\n');
    // The job as read later is the stored one: no extra columns, no warnings.
    const got = await call('GET', `/api/jobs/${res.body.id}`);
    expect(got.body.spec.usersCsv).toBe(res.body.spec.usersCsv);
    expect(got.body).not.toHaveProperty('warnings');

    // The same as a multipart file, and a replay with the same Idempotency-Key gives the same warnings.
    const { usersCsv: _omit, ...spec } = specBody();
    const form = () => {
      const fd = new FormData();
      fd.set('spec', JSON.stringify(spec));
      fd.set('usersCsv', new Blob([csv], { type: 'text/csv' }), 'users.csv');
      return fd;
    };
    const key = { 'idempotency-key': `csv-warnings-${process.pid}` };
    const first = await call('POST', '/api/jobs', { body: form(), headers: key });
    expect(first.status, first.text).toBe(201);
    expect(first.body.warnings).toEqual(res.body.warnings);
    const replay = await call('POST', '/api/jobs', { body: form(), headers: key });
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body).toEqual(first.body);

    // Required columns are still required, whatever else the file has.
    const noEmail = await call('POST', '/api/jobs', { json: specBody({ usersCsv: 'username,phone\nadmin,1\n' }) });
    expectError(noEmail, 422, 'validation_failed');
    expect(noEmail.body.error.fields).toEqual([
      { path: 'usersCsv', message: 'usersCsv line 1: required column "email" is missing from the header' },
    ]);
  });

  it('multipart problems: both CSVs, no spec, spec not JSON, CSV not UTF-8, unknown field', async () => {
    const both = new FormData();
    both.set('spec', JSON.stringify(specBody()));
    both.set('usersCsv', new Blob([CSV]), 'users.csv');
    let res = await call('POST', '/api/jobs', { body: both });
    expectError(res, 422, 'validation_failed');
    expect(res.body.error.fields).toEqual([{ path: 'usersCsv', message: expect.stringContaining('not both') }]);

    const noSpec = new FormData();
    noSpec.set('usersCsv', new Blob([CSV]), 'users.csv');
    res = await call('POST', '/api/jobs', { body: noSpec });
    expectError(res, 422, 'validation_failed');
    expect(res.body.error.fields[0].path).toBe('spec');

    const badJson = new FormData();
    badJson.set('spec', '{"name": ');
    res = await call('POST', '/api/jobs', { body: badJson });
    expectError(res, 400, 'bad_request');

    const { usersCsv: _omit, ...spec } = specBody();
    const badUtf8 = new FormData();
    badUtf8.set('spec', JSON.stringify(spec));
    badUtf8.set('usersCsv', new Blob([new Uint8Array([0x75, 0x73, 0xff, 0xfe, 0x0a])]), 'users.csv');
    res = await call('POST', '/api/jobs', { body: badUtf8 });
    expectError(res, 422, 'validation_failed');
    expect(res.body.error.fields[0].path).toBe('usersCsv');

    const extra = new FormData();
    extra.set('spec', JSON.stringify(spec));
    extra.set('evil', 'x');
    res = await call('POST', '/api/jobs', { body: extra });
    expectError(res, 422, 'validation_failed');
    expect(res.body.error.fields[0].path).toBe('evil');
  });

  it('422 names each invalid field by its path', async () => {
    const res = await call('POST', '/api/jobs', {
      json: specBody({
        name: 'Bad Name!',
        region: 'mars-1',
        instance: { type: 'x9.huge' },
        containers: [{ name: 'web', image: 'nginx', ports: ['not-a-port'] }],
        surprise: true,
      }),
    });
    expectError(res, 422, 'validation_failed');
    const paths = res.body.error.fields.map((f: { path: string }) => f.path);
    expect(paths).toEqual(expect.arrayContaining(['name', 'region', 'instance.type', 'surprise']));
    expect(paths.some((p: string) => p.startsWith('containers[0]'))).toBe(true);
    for (const f of res.body.error.fields) expect(f.message).toBeTruthy();
  });

  it('refuses access keys when ALLOW_ACCESS_KEY_AUTH is off (422 on auth.method)', async () => {
    const res = await call('POST', '/api/jobs', {
      json: specBody({
        auth: {
          method: 'access_keys',
          accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
          secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
        },
      }),
    });
    expectError(res, 422, 'validation_failed');
    expect(res.body.error.fields).toEqual([{ path: 'auth.method', message: expect.stringContaining('ALLOW_ACCESS_KEY_AUTH') }]);
    expect(res.text).not.toContain('wJalrXUtnFEMI');
  });

  it('400 on malformed JSON, 415 on other content types, 413 on a body over 2 MB', async () => {
    expectError(
      await call('POST', '/api/jobs', { body: '{"name": "x",', headers: { 'content-type': 'application/json' } }),
      400,
      'bad_request',
    );
    expectError(
      await call('POST', '/api/jobs', { body: '', headers: { 'content-type': 'application/json' } }),
      400,
      'bad_request',
    );
    expectError(
      await call('POST', '/api/jobs', { body: 'name=x', headers: { 'content-type': 'text/plain' } }),
      415,
      'unsupported_media_type',
    );
    expectError(
      await call('POST', '/api/jobs', { body: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
      415,
      'unsupported_media_type',
    );
    expectError(await call('POST', '/api/jobs', { body: JSON.stringify(specBody()) }), 415, 'unsupported_media_type');
    const huge = JSON.stringify(specBody({ usersCsv: `${CSV}${'x'.repeat(3 * 1024 * 1024)}` }));
    expectError(
      await call('POST', '/api/jobs', { body: huge, headers: { 'content-type': 'application/json' } }),
      413,
      'too_large',
    );
    // A JSON array or a deeply nested document is refused cleanly, not with a 500.
    expectError(await call('POST', '/api/jobs', { json: [specBody()] }), 422, 'validation_failed');
    const deep = `${'['.repeat(50_000)}${']'.repeat(50_000)}`;
    const res = await call('POST', '/api/jobs', { body: deep, headers: { 'content-type': 'application/json' } });
    expect([400, 422]).toContain(res.status);
  });
});

describe('authentication and CSRF', () => {
  it('401 without credentials or with a wrong token, as JSON', async () => {
    let res = await call('GET', '/api/jobs', { auth: null });
    expectError(res, 401, 'unauthorized');
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic/);
    res = await call('GET', '/api/jobs', { auth: { authorization: 'Bearer nope' } });
    expectError(res, 401, 'unauthorized');
    res = await call('POST', '/api/jobs', { json: specBody(), auth: { authorization: 'Bearer nope' } });
    expectError(res, 401, 'unauthorized');
    res = await call('GET', '/api/jobs', { auth: { authorization: `Basic ${Buffer.from('admin:wrong').toString('base64')}` } });
    expectError(res, 401, 'unauthorized');
    // The second configured token works too.
    expect((await call('GET', '/api/jobs', { auth: { authorization: 'Bearer tok-2' } })).status).toBe(200);
  });

  it('basic auth: GET works; a POST needs the CSRF token from /api/me (403 without, 201 with); bearer needs none', async () => {
    const get = await call('GET', '/api/jobs', { auth: BASIC });
    expect(get.status).toBe(200);
    // Not on every answer, where proxies and logs would copy it: only where a script asks for it.
    expect(get.headers.get('x-csrf-token')).toBeNull();
    const me = await call('GET', '/api/me', { auth: BASIC });
    const token = me.body.csrfToken as string;
    expect(token).toMatch(/^\d+\.[A-Za-z0-9_-]{43}$/);
    // It lasts twelve hours (to the next whole hour), then a new one is needed.
    const expiresIn = Number(token.split('.')[0]) - Date.now() / 1000;
    expect(expiresIn).toBeGreaterThan(12 * 3600 - 60);
    expect(expiresIn).toBeLessThanOrEqual(13 * 3600);
    expect(Number(token.split('.')[0]) % 3600).toBe(0);
    const past = Math.floor(Date.now() / 1000) - 1;
    const expired = `${past}.${csrfTokenFor(TEST_SECRET_KEY, `basic:admin|${past}`)}`;

    expectError(await call('POST', '/api/jobs', { json: specBody(), auth: BASIC }), 403, 'csrf');
    expectError(
      await call('POST', '/api/jobs', { json: specBody(), auth: BASIC, headers: { 'x-csrf-token': 'forged' } }),
      403,
      'csrf',
    );
    expectError(
      await call('POST', '/api/jobs', { json: specBody(), auth: BASIC, headers: { 'x-csrf-token': expired } }),
      403,
      'csrf',
    );
    const ok = await call('POST', '/api/jobs', { json: specBody(), auth: BASIC, headers: { 'x-csrf-token': token } });
    expect(ok.status, ok.text).toBe(201);

    const bearer = await call('POST', '/api/jobs', { json: specBody() });
    expect(bearer.status).toBe(201);
    expect(bearer.headers.get('x-csrf-token')).toBeNull();
  });

  it('a bearer request never falls back to a cookie: valid session + bad token is a 401', async () => {
    const page = await app.request('/login');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())?.[1] ?? '';
    const login = await app.request('/login', {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: (page.headers.get('set-cookie') ?? '').split(';')[0]!,
      },
      body: new URLSearchParams({ username: 'admin', password: 'secret-pass', next: '/', _csrf: csrf }),
    });
    expect(login.status).toBe(303);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0];
    expect(cookie).toMatch(/^prov_session=/);

    expect((await call('GET', '/api/jobs', { auth: { cookie } })).status).toBe(200);
    expectError(await call('GET', '/api/jobs', { auth: { cookie, authorization: 'Bearer wrong-token' } }), 401, 'unauthorized');
    expectError(
      await call('POST', '/api/jobs', { json: specBody(), auth: { cookie, authorization: 'Bearer wrong-token' } }),
      401,
      'unauthorized',
    );
    // The cookie alone is a browser session: a POST without the CSRF token is refused.
    expectError(await call('POST', '/api/jobs', { json: specBody(), auth: { cookie } }), 403, 'csrf');
  });
});

describe('GET /api/jobs and /api/jobs/:id', () => {
  it('filters by status and search, and pages with a cursor', async () => {
    const tag = `pg${process.pid}x`;
    const made = [];
    for (let i = 0; i < 3; i++) made.push(await createDraft({ name: `${tag}-${i}` }));
    const first = await call('GET', `/api/jobs?q=${tag}&limit=2`);
    expect(first.status).toBe(200);
    expect(first.body.jobs.map((j: { name: string }) => j.name)).toEqual([`${tag}-2`, `${tag}-1`]);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await call('GET', `/api/jobs?q=${tag}&limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body.jobs.map((j: { name: string }) => j.name)).toEqual([`${tag}-0`]);
    expect(second.body.nextCursor).toBeNull();

    const drafts = await call('GET', `/api/jobs?status=draft&q=${tag}`);
    expect(drafts.body.jobs).toHaveLength(3);
    const none = await call('GET', `/api/jobs?status=succeeded&q=${tag}`);
    expect(none.body.jobs).toEqual([]);

    const one = await call('GET', `/api/jobs/${made[0].id}`);
    expect(one.status).toBe(200);
    expect(one.body.id).toBe(made[0].id);
  });

  it('400 on a bad query, naming the parameter', async () => {
    let res = await call('GET', '/api/jobs?status=bogus');
    expectError(res, 400, 'bad_request');
    expect(res.body.error.fields[0].path).toBe('status');
    res = await call('GET', '/api/jobs?limit=0');
    expectError(res, 400, 'bad_request');
    expect(res.body.error.fields[0].path).toBe('limit');
    expectError(await call('GET', '/api/jobs?limit=abc'), 400, 'bad_request');
    expectError(await call('GET', '/api/jobs?cursor=%27%20or%201%3D1'), 400, 'bad_request');
    res = await call('GET', '/api/jobs?search=x');
    expectError(res, 400, 'bad_request');
    expect(res.body.error.message).toContain('search');
  });

  it('404 for an unknown job and an unknown /api route, as JSON', async () => {
    expectError(await call('GET', '/api/jobs/jdoesnotexist'), 404, 'not_found');
    for (const action of ['run', 'cancel', 'destroy', 'approve']) {
      expectError(await call('POST', `/api/jobs/jdoesnotexist/${action}`), 404, 'not_found');
    }
    expectError(await call('POST', '/api/jobs/jdoesnotexist/reject', { json: { reason: 'no' } }), 404, 'not_found');
    for (const sub of ['logs', 'logs/stream', 'steps', 'audit']) {
      expectError(await call('GET', `/api/jobs/jdoesnotexist/${sub}`), 404, 'not_found');
    }
    expectError(await call('GET', '/api/nope'), 404, 'not_found');
    // A path that is served, with a method it is not: 405 and the methods it is (RFC 9110).
    const wrongMethod = await call('DELETE', '/api/jobs');
    expectError(wrongMethod, 405, 'method_not_allowed');
    expect(wrongMethod.headers.get('allow')).toBe('GET, POST, HEAD, OPTIONS');
    expect((await call('PUT', '/api/jobs/jdoesnotexist')).headers.get('allow')).toBe('GET, HEAD, OPTIONS');
  });
});

describe('job lifecycle through the API (real workflow)', () => {
  it('run → 202 and succeeded; second run 409; steps, logs, audit; destroy; wrong-state actions 409', async () => {
    const job = await createDraft();
    const run = await call('POST', `/api/jobs/${job.id}/run`);
    expect(run.status, run.text).toBe(202);
    expect(run.body).toMatchObject({ status: 'running', workflowId: `job-${job.id}` });
    expect(run.body.links.temporal).toContain(`/workflows/job-${job.id}`);

    const again = await call('POST', `/api/jobs/${job.id}/run`, { json: {} });
    expectError(again, 409, 'conflict');

    await waitForStatus(temp.db, job.id, ['succeeded']);
    const done = await call('GET', `/api/jobs/${job.id}`);
    expect(done.body).toMatchObject({ status: 'succeeded', hasResources: true, actions: ['destroy'] });
    expect(done.body.outputs.instance_id).toMatch(/^i-/);
    expect(done.body.planSummary.add).toBeGreaterThan(0);

    const steps = await call('GET', `/api/jobs/${job.id}/steps`);
    expect(steps.status).toBe(200);
    const names = steps.body.steps.map((s: { step: string }) => s.step);
    for (const s of ['verify', 'init', 'plan', 'apply', 'output']) expect(names).toContain(s);
    expect(steps.body.steps[0]).toMatchObject({ attempt: 1, state: 'succeeded', startedAt: expect.any(String) });

    const logs = await call('GET', `/api/jobs/${job.id}/logs?limit=5`);
    expect(logs.status).toBe(200);
    expect(logs.body.lines.map((l: { seq: number }) => l.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(logs.body).toMatchObject({ nextAfter: 5, hasMore: true });
    const rest = await call('GET', `/api/jobs/${job.id}/logs?after=5&limit=5000`);
    expect(rest.body.lines[0].seq).toBe(6);
    expect(rest.body.hasMore).toBe(false);
    expect(rest.body.lines.some((l: { line: string }) => /Apply complete/.test(l.line))).toBe(true);
    expectError(await call('GET', `/api/jobs/${job.id}/logs?limit=5001`), 400, 'bad_request');
    expectError(await call('GET', `/api/jobs/${job.id}/logs?after=-1`), 400, 'bad_request');

    // Actions the status does not allow: 409 with the job's state in the message (approvals by someone else:
    // the creator's own approval is refused before any state check).
    expectError(await call('POST', `/api/jobs/${job.id}/approve`), 403, 'own_job');
    for (const [action, auth] of [
      ['cancel', BEARER],
      ['approve', APPROVER_BEARER],
    ] as const) {
      const res = await call('POST', `/api/jobs/${job.id}/${action}`, { auth });
      expectError(res, 409, 'conflict');
      expect(res.body.error.message).toContain('succeeded');
    }
    expectError(
      await call('POST', `/api/jobs/${job.id}/reject`, { json: { reason: 'too big' }, auth: APPROVER_BEARER }),
      409,
      'conflict',
    );
    // A rejection without a reason is a validation error before any state check.
    const noReason = await call('POST', `/api/jobs/${job.id}/reject`, { json: {} });
    expectError(noReason, 422, 'validation_failed');
    expect(noReason.body.error.fields).toEqual([{ path: 'reason', message: expect.stringContaining('reason is required') }]);
    expectError(await call('POST', `/api/jobs/${job.id}/destroy`, { json: { force: true } }), 422, 'validation_failed');
    expectError(
      await call('POST', `/api/jobs/${job.id}/destroy`, { body: 'now', headers: { 'content-type': 'text/plain' } }),
      415,
      'unsupported_media_type',
    );
    expectError(
      await call('POST', `/api/jobs/${job.id}/destroy`, { body: '{', headers: { 'content-type': 'application/json' } }),
      400,
      'bad_request',
    );

    const destroy = await call('POST', `/api/jobs/${job.id}/destroy`, { headers: { 'content-type': 'application/json' } });
    expect(destroy.status, destroy.text).toBe(202);
    expect(destroy.body.status).toBe('destroying');
    await waitForStatus(temp.db, job.id, ['destroyed']);
    expectError(await call('POST', `/api/jobs/${job.id}/destroy`), 409, 'conflict');

    const audit = await call('GET', `/api/jobs/${job.id}/audit`);
    expect(audit.status).toBe(200);
    expect(audit.body.entries.map((e: { action: string }) => e.action)).toEqual(['destroy', 'start', 'create']);
    expect(audit.body.entries[0].actor).toBe('api-token');
    expectError(await call('GET', `/api/jobs/${job.id}/audit?limit=9999`), 400, 'bad_request');
  });

  it('approve (with a comment) and reject (reason required) a plan awaiting approval', async () => {
    const a = await createDraft({ options: { requireApproval: true } });
    const r = await createDraft({ options: { requireApproval: true } });
    expect((await call('POST', `/api/jobs/${a.id}/run`)).status).toBe(202);
    expect((await call('POST', `/api/jobs/${r.id}/run`)).status).toBe(202);
    await Promise.all([waitForStatus(temp.db, a.id, ['awaiting_approval']), waitForStatus(temp.db, r.id, ['awaiting_approval'])]);

    // The creator may cancel but not approve their own plan; someone else (an admin token here) may do all three.
    expect((await call('GET', `/api/jobs/${a.id}`)).body.actions).toEqual(['cancel']);
    const waiting = await call('GET', `/api/jobs/${a.id}`, { auth: APPROVER_BEARER });
    expect(waiting.body.actions).toEqual(['cancel', 'approve', 'reject']);
    expectError(await call('POST', `/api/jobs/${a.id}/approve`, { json: { comment: 'mine' } }), 403, 'own_job');
    expectError(
      await call('POST', `/api/jobs/${r.id}/reject`, { json: { reason: '   ' }, auth: APPROVER_BEARER }),
      422,
      'validation_failed',
    );

    const approve = await call('POST', `/api/jobs/${a.id}/approve`, { json: { comment: 'looks fine' }, auth: APPROVER_BEARER });
    expect(approve.status, approve.text).toBe(202);
    const reject = await call('POST', `/api/jobs/${r.id}/reject`, { json: { reason: 'wrong region' }, auth: APPROVER_BEARER });
    expect(reject.status, reject.text).toBe(202);

    const [approved, rejected] = await Promise.all([
      waitForStatus(temp.db, a.id, ['succeeded', 'failed']),
      waitForStatus(temp.db, r.id, ['rejected', 'failed']),
    ]);
    expect(approved.status).toBe('succeeded');
    expect(rejected.status).toBe('rejected');
    const audit = await call('GET', `/api/jobs/${a.id}/audit`);
    expect(audit.body.entries[0]).toMatchObject({
      action: 'approve',
      detail: 'looks fine',
      actor: 'approver',
      tokenName: 'approver',
    });
    // Leave nothing running: destroy the approved environment.
    expect((await call('POST', `/api/jobs/${a.id}/destroy`)).status).toBe(202);
    await waitForStatus(temp.db, a.id, ['destroyed']);
  });

  it('cancel a running job (202, then cancelled)', async () => {
    const body = specBody();
    knobs.set(body.name, { sandbox_sleep_seconds: { apply: 30 } });
    const created = await call('POST', '/api/jobs', { json: body });
    const id = created.body.id;
    expect((await call('POST', `/api/jobs/${id}/run`)).status).toBe(202);
    await waitForStep(temp.db, id, 'apply', 'running');
    const cancel = await call('POST', `/api/jobs/${id}/cancel`, { json: { reason: 'changed my mind' } });
    expect(cancel.status, cancel.text).toBe(202);
    expect(cancel.body.status).toBe('cancelling');
    expectError(await call('POST', `/api/jobs/${id}/cancel`), 409, 'conflict');
    expect((await waitForStatus(temp.db, id, ['cancelled', 'failed'])).status).toBe('cancelled');
  });

  it('503 when Temporal cannot be reached, and the job stays a draft', async () => {
    const { client: deadClient, close } = await testClient();
    await close();
    const deadApp = createApp({ db: temp.db, temporal: deadClient, config });
    const created = await call('POST', '/api/jobs', { json: specBody() }, deadApp);
    expect(created.status).toBe(201);
    const res = await call('POST', `/api/jobs/${created.body.id}/run`, {}, deadApp);
    expectError(res, 503, 'unavailable');
    expect((await call('GET', `/api/jobs/${created.body.id}`)).body.status).toBe('draft');
  });
});

describe('Idempotency-Key', () => {
  async function jobsNamed(name: string) {
    return temp.db.selectFrom('jobs').select('id').where('name', '=', name).execute();
  }

  it('same key and body: the first result again (status and body); another body: 422', async () => {
    const body = specBody();
    const key = `create-${Date.now()}`;
    const first = await call('POST', '/api/jobs', { json: body, headers: { 'idempotency-key': key } });
    expect(first.status).toBe(201);
    // Same body, keys in another order: the same request.
    const reordered = Object.fromEntries(Object.entries(body).reverse());
    const second = await call('POST', '/api/jobs', { json: reordered, headers: { 'idempotency-key': key } });
    expect(second.status).toBe(201);
    expect(second.text).toBe(first.text);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(await jobsNamed(body.name)).toHaveLength(1);

    const other = await call('POST', '/api/jobs', {
      json: { ...body, region: 'eu-west-1' },
      headers: { 'idempotency-key': key },
    });
    expectError(other, 422, 'idempotency_key_reused');
    expect(other.body.error.message).toContain('different request body');

    // A different key is a different request.
    const fresh = await call('POST', '/api/jobs', { json: body, headers: { 'idempotency-key': `${key}-2` } });
    expect(fresh.status).toBe(201);
    expect(fresh.body.id).not.toBe(first.body.id);

    expectError(
      await call('POST', '/api/jobs', { json: specBody(), headers: { 'idempotency-key': 'x'.repeat(300) } }),
      400,
      'bad_request',
    );
  });

  it('concurrent identical requests create one job', async () => {
    const body = specBody();
    const key = `concurrent-${Date.now()}`;
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => call('POST', '/api/jobs', { json: body, headers: { 'idempotency-key': key } })),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(6).fill(201));
    expect(new Set(answers.map((a) => a.text)).size).toBe(1);
    expect(await jobsNamed(body.name)).toHaveLength(1);
  });

  it('run: scoped by job; a replay returns the first 202, without a key the second run is a 409', async () => {
    const job = await createDraft();
    const key = `run-${Date.now()}`;
    const [a, b] = await Promise.all([
      call('POST', `/api/jobs/${job.id}/run`, { headers: { 'idempotency-key': key } }),
      call('POST', `/api/jobs/${job.id}/run`, { headers: { 'idempotency-key': key } }),
    ]);
    expect(a.status, a.text).toBe(202);
    expect(b.status).toBe(202);
    expect(b.text).toBe(a.text);
    expectError(await call('POST', `/api/jobs/${job.id}/run`), 409, 'conflict');
    expectError(
      await call('POST', `/api/jobs/${job.id}/run`, { json: { extra: 1 }, headers: { 'idempotency-key': key } }),
      422,
      'validation_failed',
    );

    // The same key on another job's run is another scope: it runs that job.
    const other = await createDraft();
    const otherRun = await call('POST', `/api/jobs/${other.id}/run`, { headers: { 'idempotency-key': key } });
    expect(otherRun.status).toBe(202);
    expect(otherRun.body.id).toBe(other.id);

    await Promise.all([waitForStatus(temp.db, job.id, ['succeeded']), waitForStatus(temp.db, other.id, ['succeeded'])]);
    for (const id of [job.id, other.id]) expect((await call('POST', `/api/jobs/${id}/destroy`)).status).toBe(202);
    await Promise.all([waitForStatus(temp.db, job.id, ['destroyed']), waitForStatus(temp.db, other.id, ['destroyed'])]);
  });

  it("a failure that is the server's (503) frees the key for a retry", async () => {
    const { client: deadClient, close } = await testClient();
    await close();
    const deadApp = createApp({ db: temp.db, temporal: deadClient, config });
    const job = await createDraft();
    const key = `retry-${Date.now()}`;
    expectError(
      await call('POST', `/api/jobs/${job.id}/run`, { headers: { 'idempotency-key': key } }, deadApp),
      503,
      'unavailable',
    );
    const retry = await call('POST', `/api/jobs/${job.id}/run`, { headers: { 'idempotency-key': key } });
    expect(retry.status, retry.text).toBe(202);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    await waitForStatus(temp.db, job.id, ['succeeded']);
    expect((await call('POST', `/api/jobs/${job.id}/destroy`)).status).toBe(202);
    await waitForStatus(temp.db, job.id, ['destroyed']);
  });
});

describe('GET /api/jobs/:id/logs/stream (SSE over real HTTP)', () => {
  let server: ServerType;
  let base: string;

  beforeAll(async () => {
    await new Promise<void>((resolve) => {
      server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve());
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    (server as http.Server).closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const line = (n: number): LogLineInput => ({
    step: 'apply',
    attempt: 1,
    stream: 'stdout',
    lineNo: n,
    line: `line ${n}`,
    ts: new Date().toISOString(),
  });

  interface SseEvent {
    event: string;
    id?: string;
    data: string;
  }
  let comments: string[] = [];

  /** Reads events until `until` says stop or the server ends the stream. */
  async function readEvents(
    res: Response,
    until: (events: SseEvent[]) => boolean,
  ): Promise<{ events: SseEvent[]; ended: boolean }> {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    const events: SseEvent[] = [];
    let buffer = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { events, ended: true };
      buffer += decoder.decode(value, { stream: true });
      for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const ev: SseEvent = { event: 'message', data: '' };
        let comment = true;
        for (const row of block.split('\n')) {
          if (row.startsWith(':')) {
            comments.push(row);
            continue;
          }
          comment = false;
          const [field, ...rest] = row.split(':');
          const value = rest.join(':').replace(/^ /, '');
          if (field === 'event') ev.event = value;
          else if (field === 'id') ev.id = value;
          else if (field === 'data') ev.data += value;
        }
        if (!comment) events.push(ev);
      }
      if (until(events)) {
        await reader.cancel();
        return { events, ended: false };
      }
    }
  }

  it('resumes after Last-Event-ID, streams new lines live, ends when the job is final', async () => {
    const job = await createDraft();
    await appendLogLines(temp.db, job.id, [1, 2, 3, 4, 5].map(line));

    const res = await fetch(`${base}/api/jobs/${job.id}/logs/stream`, { headers: { ...BEARER, 'last-event-id': '3' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);

    const readAll = readEvents(res, () => false);
    // New lines appear in the stream while it is open; then the job becomes final.
    setTimeout(async () => {
      await appendLogLines(temp.db, job.id, [6, 7].map(line));
      setTimeout(() => void updateJob(temp.db, job.id, { status: 'destroyed' }), 400);
    }, 400);
    const { events, ended } = await readAll;
    expect(ended).toBe(true);
    const lines = events.filter((e) => e.event === 'message');
    expect(lines.map((e) => e.id)).toEqual(['4', '5', '6', '7']);
    expect(JSON.parse(lines[0].data)).toMatchObject({ seq: 4, line: 'line 4', step: 'apply', stream: 'stdout' });
    const statuses = events.filter((e) => e.event === 'status').map((e) => JSON.parse(e.data).status);
    expect(statuses).toEqual(['draft', 'destroyed']);
    expect(events[events.length - 1]).toMatchObject({ event: 'end' });

    // ?after= works the same; Last-Event-ID wins over it.
    const viaQuery = await fetch(`${base}/api/jobs/${job.id}/logs/stream?after=6`, { headers: BEARER });
    const q = await readEvents(viaQuery, () => false);
    expect(q.events.filter((e) => e.event === 'message').map((e) => e.id)).toEqual(['7']);
    const both = await fetch(`${base}/api/jobs/${job.id}/logs/stream?after=1`, { headers: { ...BEARER, 'last-event-id': '5' } });
    const b = await readEvents(both, () => false);
    expect(b.events.filter((e) => e.event === 'message').map((e) => e.id)).toEqual(['6', '7']);
  });

  it('follows a live environment while anything runs on it, then ends; a failed job with nothing to destroy ends too', async () => {
    const job = await createDraft();
    await updateJob(temp.db, job.id, { status: 'succeeded', has_resources: 1 });
    await appendLogLines(temp.db, job.id, [line(1)]);
    // The email step runs just after the status: its lines still reach the stream.
    await startStep(temp.db, job.id, 'notify', 1);
    const reading = readEvents(await fetch(`${base}/api/jobs/${job.id}/logs/stream`, { headers: BEARER }), () => false);
    await new Promise((r) => setTimeout(r, SSE.settleMs + 4 * SSE.pollMs));
    await appendLogLines(temp.db, job.id, [{ ...line(2), step: 'notify' }]);
    // Then a revision: planning, still nothing settled.
    const number = await insertRevision(temp.db, {
      id: `rev-${job.id}`,
      jobId: job.id,
      kind: 'change',
      requestedBy: 'tester',
      requestedById: null,
      reason: null,
      differencesJson: '[]',
      specJson: '{}',
    });
    await finishStep(temp.db, job.id, 'notify', 1, 'succeeded');
    await new Promise((r) => setTimeout(r, SSE.settleMs + 4 * SSE.pollMs));
    await appendLogLines(temp.db, job.id, [{ ...line(3), step: 'plan' }]);
    const endsAfter = Date.now();
    await updateRevision(temp.db, job.id, number, { state: 'applied' });
    const { events, ended } = await reading;
    expect(ended).toBe(true);
    expect(Date.now() - endsAfter).toBeGreaterThanOrEqual(SSE.settleMs - SSE.pollMs);
    expect(events.filter((e) => e.event === 'message').map((e) => e.id)).toEqual(['1', '2', '3']);
    expect(events.filter((e) => e.event === 'status').map((e) => JSON.parse(e.data).status)).toEqual(['succeeded']);
    expect(JSON.parse(events[events.length - 1].data)).toEqual({ status: 'succeeded', lastSeq: 3, final: false });

    const failed = await createDraft();
    await updateJob(temp.db, failed.id, { status: 'failed', has_resources: 0 });
    const f = await readEvents(await fetch(`${base}/api/jobs/${failed.id}/logs/stream`, { headers: BEARER }), () => false);
    expect(f.ended).toBe(true);
    expect(f.events.map((e) => e.event)).toEqual(['status', 'end']);
    expect(JSON.parse(f.events[1].data)).toMatchObject({ status: 'failed', final: true });
  });

  it('holds at most LOG_STREAMS_PER_PRINCIPAL streams per caller and LOG_STREAMS_TOTAL in all: 503 with Retry-After past them', async () => {
    const capped = createApp({
      db: temp.db,
      temporal: client,
      config: { ...config, LOG_STREAMS_PER_PRINCIPAL: 2, LOG_STREAMS_TOTAL: 3 },
    });
    let server!: ServerType;
    await new Promise<void>((resolve) => {
      server = serve({ fetch: capped.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve());
    });
    const open: AbortController[] = [];
    try {
      const job = await createDraft();
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/jobs/${job.id}/logs/stream`;
      const stream = async (auth: Record<string, string>) => {
        const controller = new AbortController();
        const res = await fetch(url, { headers: auth, signal: controller.signal });
        if (res.status === 200) open.push(controller);
        return res;
      };
      const refusal = async (res: Response) => {
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).toBe(String(SSE.retryAfterSeconds));
        return ((await res.json()) as { error: { code: string; message: string } }).error;
      };
      expect((await stream(BEARER)).status).toBe(200);
      expect((await stream(BEARER)).status).toBe(200);
      const mine = await refusal(await stream(BEARER));
      expect(mine.code).toBe('unavailable');
      expect(mine.message).toMatch(/you have 2 live log streams open/);
      // Another caller is not held back by the first one's streams, until the process is full.
      const other = APPROVER_BEARER;
      expect((await stream(other)).status).toBe(200);
      expect((await refusal(await stream(other))).message).toMatch(/holds 3 live log streams/);
      // A stream that ends gives its place back.
      open.shift()!.abort();
      await waitFor('the freed place', async () => (await stream(BEARER)).status === 200, 5_000);
    } finally {
      for (const c of open) c.abort();
      (server as http.Server).closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('a client that goes away is let go: polling stops; bad Last-Event-ID is a 400; auth applies', async () => {
    // The same app over a db handle that counts the queries it runs.
    let queries = 0;
    const countingDb = temp.db.withPlugin({
      transformQuery: (args) => {
        queries += 1;
        return args.node;
      },
      transformResult: async (args) => args.result,
    });
    const countingApp = createApp({ db: countingDb, temporal: client, config });
    let counted!: ServerType;
    await new Promise<void>((resolve) => {
      counted = serve({ fetch: countingApp.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve());
    });
    try {
      const job = await createDraft();
      await appendLogLines(temp.db, job.id, [1, 2].map(line));
      const url = `http://127.0.0.1:${(counted.address() as AddressInfo).port}/api/jobs/${job.id}/logs/stream`;
      const controller = new AbortController();
      const res = await fetch(url, { headers: BEARER, signal: controller.signal });
      const reader = res.body!.getReader();
      let text = '';
      while (!text.includes('id: 2\n')) text += new TextDecoder().decode((await reader.read()).value);
      // While the client is there, the stream polls (a draft job is not final) ...
      const before = queries;
      await new Promise((r) => setTimeout(r, 4 * SSE.pollMs));
      expect(queries).toBeGreaterThan(before);
      // ... and once it hangs up, after at most one more round, nothing.
      controller.abort();
      await reader.cancel().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 2 * SSE.pollMs));
      const settled = queries;
      await new Promise((r) => setTimeout(r, 4 * SSE.pollMs));
      expect(queries).toBe(settled);
    } finally {
      (counted as http.Server).closeAllConnections();
      await new Promise<void>((resolve) => counted.close(() => resolve()));
    }

    const job = await createDraft();
    const bad = await fetch(`${base}/api/jobs/${job.id}/logs/stream`, { headers: { ...BEARER, 'last-event-id': 'abc' } });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.code).toBe('bad_request');
    const anon = await fetch(`${base}/api/jobs/${job.id}/logs/stream`);
    expect(anon.status).toBe(401);
    await anon.body?.cancel();
  });

  it('sends a heartbeat comment while nothing happens', async () => {
    const saved = SSE.heartbeatMs;
    SSE.heartbeatMs = 300;
    try {
      const job = await createDraft();
      comments = [];
      const res = await fetch(`${base}/api/jobs/${job.id}/logs/stream`, { headers: BEARER });
      const started = Date.now();
      const { events } = await readEvents(res, () => comments.length >= 2 || Date.now() - started > 5_000);
      expect(comments.filter((c) => c.startsWith(': heartbeat')).length).toBeGreaterThanOrEqual(2);
      expect(events.map((e) => e.event)).toEqual(['status']);
    } finally {
      SSE.heartbeatMs = saved;
    }
  });
});

describe('GET /api/openapi.json', () => {
  it('documents every /api route the app serves, and nothing it does not', async () => {
    const res = await call('GET', '/api/openapi.json');
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toBe('3.1.0');

    const served = new Set(
      app.routes
        .filter((r) => r.method !== 'ALL' && (r.path.startsWith('/api/') || r.path === '/health'))
        .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`),
    );
    const documented = new Set(
      Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
        Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
      ),
    );
    expect([...served].sort()).toEqual([...documented].sort());
    expect(served.size).toBeGreaterThanOrEqual(14);

    // Each documented route answers something other than the API's 404 for unknown routes.
    for (const key of documented) {
      const [method, path] = key.split(' ');
      if (path.endsWith('/stream')) continue; // covered above over real HTTP
      const concrete = path.replace('{id}', 'jdoesnotexist');
      const answer = await call(method, concrete);
      if (answer.status === 404) expect(answer.body.error.message, key).toMatch(/(job|token|user) .* not found/);
    }
  });

  it('is generated from the zod schemas, with bearer and basic auth', async () => {
    const doc = (await call('GET', '/api/openapi.json')).body;
    expect(doc.components.securitySchemes).toMatchObject({
      bearerAuth: { type: 'http', scheme: 'bearer' },
      basicAuth: { type: 'http', scheme: 'basic' },
    });
    expect(doc.security).toEqual([{ bearerAuth: [] }, { basicAuth: [] }]);
    const spec = doc.components.schemas.JobSpec;
    expect(spec.required).toEqual(expect.arrayContaining(['name', 'requesterEmail', 'region', 'auth', 'instance', 'containers']));
    expect(spec.properties.name.pattern).toBeTruthy();
    expect(spec.additionalProperties).toBe(false);
    expect(spec.properties.region.enum).toEqual(['us-east-1', 'eu-west-1']);
    expect(spec.properties.instance.properties.type.enum).toEqual(['t3.micro', 't3.small']);
    const create = doc.paths['/api/jobs'].post;
    expect(Object.keys(create.requestBody.content).sort()).toEqual(['application/json', 'multipart/form-data']);
    // The created job is the Job with the warnings about what its spec left out.
    const created = create.responses['201'].content['application/json'].schema;
    expect(Object.keys(created.properties).sort()).toEqual(
      [...Object.keys(doc.components.schemas.Job.properties), 'warnings'].sort(),
    );
    expect(created.required).toContain('warnings');
    expect(created.properties.warnings).toMatchObject({
      type: 'array',
      items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } },
    });
    expect(doc.paths['/api/jobs/{id}'].get.responses['200'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/Job',
    });
    expect(create.parameters.map((p: { name: string }) => p.name)).toContain('Idempotency-Key');
    const logs = doc.paths['/api/jobs/{id}/logs'].get;
    expect(logs.parameters.find((p: { name: string }) => p.name === 'limit').schema.maximum).toBe(5000);
    expect(doc.paths['/health'].get.security).toEqual([]);
    // Embedded schemas must not point at $defs of a document that is not theirs.
    expect(JSON.stringify(doc)).not.toContain('"#/$defs');
  });
});
