import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { createApp, type App } from '../../src/api/app.js';
import { parseConfig, type Config } from '../../src/config.js';
import { insertJob, getJob, startStep, finishStep, updateJob } from '../../src/db/jobs.js';
import { appendLogLines } from '../../src/db/logs.js';
import { recordAudit } from '../../src/db/audit.js';
import { insertNotificationIfAbsent } from '../../src/db/notifications.js';
import type { NewJobRow } from '../../src/db/schema.js';
import { publicSpec } from '../../src/domain/jobSpec.js';
import { fieldForPath } from '../../src/api/jobForm/formFields.js';
import { locateJsonError } from '../../src/api/jobForm/jsonErrorLocator.js';
import { createTempDb } from '../support/tempDb.js';
import { sampleSpec, testPolicy, testActor } from '../support/jobs.js';
import { createJobSpecSchema } from '../../src/domain/jobSpec.js';
import { testClient, uniqueQueue } from '../support/worker.js';

/**
 * The server-rendered pages through app.request(): what they show, what they
 * keep after a failed submit, what they never show (secrets, raw HTML), and
 * which actions each status offers.
 */

const USER = 'admin';
const PASS = 'ui-test-password';
const AUTH = `Basic ${Buffer.from(`${USER}:${PASS}`).toString('base64')}`;
const HOSTILE = '<script>alert(1)</script>';

let temp: Awaited<ReturnType<typeof createTempDb>>;
let client: Client;
let closeClient: () => Promise<void>;
let config: Config;
let app: App;
let keysApp: App;
const taskQueue = uniqueQueue('ui');
const startedWorkflows: string[] = [];

function makeConfig(extra: Record<string, string> = {}): Config {
  return parseConfig({
    APP_ADMIN_USER: USER,
    APP_ADMIN_PASS: PASS,
    SECRET_KEY: 'ui-test-secret-key-0123456789abcdef',
    DATA_DIR: temp.dir,
    ALLOWED_REGIONS: 'us-east-1,eu-west-1',
    ALLOWED_INSTANCE_TYPES: 't3.micro,t3.small',
    TEMPORAL_TASK_QUEUE: taskQueue,
    TEMPORAL_UI_URL: 'http://temporal-ui.test:8233',
    ...extra,
  });
}

beforeAll(async () => {
  temp = await createTempDb();
  ({ client, close: closeClient } = await testClient());
  config = makeConfig();
  app = createApp({ db: temp.db, temporal: client, config });
  keysApp = createApp({ db: temp.db, temporal: client, config: makeConfig({ ALLOW_ACCESS_KEY_AUTH: 'true' }) });
});

afterAll(async () => {
  for (const id of startedWorkflows) {
    await client.workflow
      .getHandle(id)
      .terminate('ui test done')
      .catch(() => undefined);
  }
  await closeClient?.();
  await temp?.cleanup();
});

async function get(path: string, a: App = app) {
  const res = await a.request(path, { headers: { authorization: AUTH, accept: 'text/html' } });
  return { res, html: await res.text() };
}

let csrf = '';
async function csrfToken(): Promise<string> {
  if (csrf) return csrf;
  const { html } = await get('/jobs/new');
  csrf = /name="_csrf" value="([^"]+)"/.exec(html)![1];
  return csrf;
}

async function post(path: string, body: FormData | Record<string, string>, a: App = app) {
  let form: FormData;
  if (body instanceof FormData) form = body;
  else {
    form = new FormData();
    for (const [k, v] of Object.entries(body)) form.append(k, v);
  }
  if (!form.has('_csrf')) form.append('_csrf', await csrfToken());
  const res = await a.request(path, { method: 'POST', body: form, headers: { authorization: AUTH, accept: 'text/html' } });
  return { res, html: await res.text() };
}

let rowCounter = 0;
/** A job row straight into the DB, for states the UI cannot produce without a worker. */
async function seedJob(over: Partial<NewJobRow> = {}) {
  rowCounter += 1;
  const spec = sampleSpec();
  const now = new Date(Date.UTC(2030, 0, 1, 0, 0, rowCounter)).toISOString();
  return insertJob(temp.db, {
    id: `jui${String(rowCounter).padStart(9, '0')}`,
    name: spec.name,
    status: 'draft',
    step: null,
    requester_email: spec.requesterEmail,
    region: spec.region,
    instance_type: spec.instance.type,
    auth_method: 'assume_role',
    spec_json: JSON.stringify(publicSpec(spec)),
    account_id: null,
    assumed_role_arn: null,
    plan_summary_json: null,
    outputs_json: null,
    error: null,
    workflow_id: null,
    created_by: 'seed',
    created_at: now,
    started_at: null,
    finished_at: null,
    destroy_at: null,
    updated_at: now,
    ...over,
  });
}

/** The form fields of a valid job, as the browser would post them. */
function validForm(over: Record<string, string> = {}): FormData {
  const fd = new FormData();
  const fields: Record<string, string> = {
    name: `ui-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6)}`,
    requesterEmail: 'alice@example.com',
    region: 'eu-west-1',
    authMethod: 'assume_role',
    roleArn: 'arn:aws:iam::123456789012:role/Provisioner',
    externalId: 'tenant-42',
    vpcId: '',
    subnetId: '',
    securityGroupIds: '',
    instanceType: 't3.small',
    volumeSizeGb: '30',
    amiId: '',
    ingressCidr: '',
    sshCidr: '',
    containersJson: '[{"name":"webapp","image":"nginx:1.27","ports":["80:80"]}]',
    ttlHours: '',
    usersCsvText: '',
    usersCsvName: '',
    intent: 'create',
    ...over,
  };
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  return fd;
}

const csvFile = (text: string, name = 'users.csv') => new File([text], name, { type: 'text/csv' });

function decodeEntities(s: string) {
  return s
    .replace(/&#10;/g, '\n')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function hiddenValue(html: string, name: string): string {
  const m = new RegExp(`<input type="hidden" name="${name}" value="([^"]*)"`).exec(html);
  return m ? decodeEntities(m[1]) : '';
}

/** Every <script> has a src: the CSP forbids inline script and the pages need none. */
function expectNoInlineScript(html: string) {
  for (const tag of html.match(/<script\b[^>]*>/g) ?? []) expect(tag).toMatch(/\ssrc="\/static\/[a-z]+\.js"/);
  expect(html).not.toMatch(/\son[a-z]+="/i);
}

describe('dashboard', () => {
  it('lists jobs newest first with every column, escaping hostile text', async () => {
    const older = await seedJob({ name: 'older-job', status: 'succeeded', finished_at: '2030-01-02T00:00:00.000Z' });
    const hostile = await seedJob({
      name: HOSTILE,
      requester_email: `"><img src=x onerror=alert(2)>@example.com`,
      step: 'apply',
      status: 'running',
    });
    const { res, html } = await get('/');
    expect(res.status).toBe(200);
    expect(html).not.toContain(HOSTILE);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toContain('<img src=x');
    expect(html.indexOf(hostile.id)).toBeLessThan(html.indexOf(older.id));
    const row = html.slice(html.indexOf(`data-job-id="${hostile.id}"`));
    expect(row).toMatch(/data-active="1"/);
    expect(row).toContain('badge-running');
    expect(row).toContain('eu-west-1'.length ? hostile.region : '');
    expect(row).toContain(hostile.instance_type);
    expect(row).toContain('2030-01-01');
    expect(html).toContain('<script src="/static/dashboard.js"');
    expect(html).toContain('<link rel="icon" href="/static/favicon.svg" type="image/svg+xml"/>');
    expectNoInlineScript(html);
  });

  it('filters by status, searches name and requester, pages with an Older link', async () => {
    const marker = `needle${Date.now().toString(36)}`;
    const a = await seedJob({ name: `${marker}-a`, status: 'failed' });
    const b = await seedJob({ name: `other-${marker}`, status: 'succeeded' });
    const c = await seedJob({ name: 'unrelated', requester_email: `${marker}@example.com`, status: 'failed' });

    const byStatus = (await get('/?status=failed')).html;
    expect(byStatus).toContain(a.id);
    expect(byStatus).toContain(c.id);
    expect(byStatus).not.toContain(b.id);
    expect(byStatus).toMatch(/<option value="failed" selected="">failed \(\d+\)<\/option>/);

    const bySearch = (await get(`/?q=${marker}`)).html;
    expect(bySearch).toContain(a.id);
    expect(bySearch).toContain(b.id);
    expect(bySearch).toContain(c.id);
    const both = (await get(`/?q=${marker}&status=succeeded`)).html;
    expect(both).toContain(b.id);
    expect(both).not.toContain(a.id);

    const none = (await get('/?q=nothing-matches-this')).html;
    expect(none).toContain('No job matches these filters.');

    for (let i = 0; i < 26; i++) await seedJob({ name: `page-${i}` });
    const first = (await get('/')).html;
    const older = /href="(\/\?cursor=[^"]+)" rel="next"/.exec(first);
    expect(older).not.toBeNull();
    const second = (await get(decodeEntities(older![1]))).html;
    expect(second).toContain('« Newest');
    const firstIds = [...first.matchAll(/data-job-id="([^"]+)"/g)].map((m) => m[1]);
    const secondIds = [...second.matchAll(/data-job-id="([^"]+)"/g)].map((m) => m[1]);
    expect(firstIds).toHaveLength(25);
    expect(secondIds.some((id) => firstIds.includes(id))).toBe(false);
  });

  it('serves fresh rows of given jobs for the live refresh', async () => {
    const job = await seedJob({ status: 'running', step: 'plan' });
    const before = (await get(`/jobs/rows?ids=${job.id},bogus,<x>`)).html;
    expect(before).toContain('badge-running');
    await updateJob(temp.db, job.id, { status: 'succeeded', step: 'notify' });
    const after = (await get(`/jobs/rows?ids=${job.id}`)).html;
    expect(after).toContain('badge-succeeded');
    expect(after).not.toContain('data-active');
  });
});

describe('new job form', () => {
  it('renders every section with labels tied to inputs, allowlists in the selects, no access keys when disabled', async () => {
    const { res, html } = await get('/jobs/new');
    expect(res.status).toBe(200);
    for (const legend of ['Basic info', 'AWS', 'Network', 'EC2', 'Docker', 'Users', 'Options']) {
      expect(html).toContain(`<legend>${legend}</legend>`);
    }
    for (const m of html.matchAll(/<label for="([^"]+)"/g)) expect(html).toContain(`id="${m[1]}"`);
    for (const m of html.matchAll(/<(?:input|select|textarea) id="([^"]+)"/g)) expect(html).toContain(`for="${m[1]}"`);
    expect(html).toContain('<option value="us-east-1" selected="">us-east-1</option>');
    expect(html).toContain('<option value="eu-west-1">eu-west-1</option>');
    expect(html).not.toContain('us-west-2');
    expect(html).toContain('<option value="t3.small">t3.small</option>');
    expect(html).not.toContain('name="secretAccessKey"');
    expect(html).toContain('enctype="multipart/form-data"');
    expect(html).toContain('&quot;image&quot;: &quot;nginx:1.27&quot;');
    expect(html).toMatch(/Environment values travel in the instance(?:'|&#39;)s user data.*not a\s+place for secrets/s);
    // Published ports open to anyone unless a CIDR is given: the form says so beside the field.
    expect(html).toMatch(
      /id="f-ingressCidr-hint"[^>]*>[\s\S]*?Empty opens every published port to the whole internet \(0\.0\.0\.0\/0\)/,
    );
    expectNoInlineScript(html);

    const withKeys = (await get('/jobs/new', keysApp)).html;
    expect(withKeys).toContain('name="secretAccessKey"');
    expect(withKeys).toContain('id="f-authMethod-access_keys"');
  });

  it('re-renders a bad submit with 422, every value kept, each error beside its field and a summary', async () => {
    const fd = validForm({
      name: 'Bad Name!',
      requesterEmail: 'not-an-email',
      roleArn: 'arn:aws:iam::12:role/x',
      vpcId: 'vpc-0abc1234',
      securityGroupIds: 'sg-0abc1234, sg-zzz',
      volumeSizeGb: 'lots',
      containersJson: '[\n  {\n    "name": "webapp",\n    "image": "nginx:1.27",\n  }\n]',
      ttlHours: '9999',
    });
    fd.append('requireApproval', 'on');
    fd.append(
      'usersCsvFile',
      csvFile('username,email\nalice,alice@example.com\nbob,not-an-email\n=cmd,carol@example.com\n', 'team.csv'),
    );
    const { res, html } = await post('/jobs', fd);
    expect(res.status).toBe(422);
    expectNoInlineScript(html);

    // Every value as typed.
    expect(html).toContain('value="Bad Name!"');
    expect(html).toContain('value="not-an-email"');
    expect(html).toContain('value="arn:aws:iam::12:role/x"');
    expect(html).toContain('value="sg-0abc1234, sg-zzz"');
    expect(html).toContain('value="lots"');
    expect(html).toContain('value="9999"');
    expect(html).toContain('<option value="eu-west-1" selected="">');
    expect(html).toContain('<option value="t3.small" selected="">');
    expect(html).toMatch(/id="f-requireApproval" name="requireApproval" type="checkbox" value="on" checked=""/);
    expect(html).toContain('&quot;image&quot;: &quot;nginx:1.27&quot;,\n  }');
    // The uploaded file is kept, so nobody uploads it again.
    expect(hiddenValue(html, 'usersCsvText')).toBe(
      'username,email\nalice,alice@example.com\nbob,not-an-email\n=cmd,carol@example.com\n',
    );
    expect(hiddenValue(html, 'usersCsvName')).toBe('team.csv');
    expect(html).toContain('Using <strong>team.csv</strong>');

    // Each error beside its field, tied with aria-describedby, and linked from the summary.
    const expectFieldError = (id: string, text: RegExp) => {
      const block = new RegExp(`<div class="field-error" id="${id}-error">([\\s\\S]*?)</div>`).exec(html);
      expect(block, id).not.toBeNull();
      expect(block![1]).toMatch(text);
      expect(html).toMatch(new RegExp(`id="${id}"[^>]*aria-invalid="true"[^>]*aria-describedby="[^"]*${id}-error`));
      expect(html).toContain(`href="#${id}"`);
    };
    expectFieldError('f-name', /Job name &quot;Bad Name!&quot; must be 2-63 lowercase/);
    expectFieldError('f-requesterEmail', /not a valid email address/);
    expectFieldError('f-roleArn', /is not an IAM role ARN/);
    expectFieldError('f-subnetId', /Subnet is required when VPC is given/);
    expectFieldError('f-securityGroupIds', /sg-zzz/);
    expectFieldError('f-volumeSizeGb', /must be a number/);
    expectFieldError('f-ttlHours', /at most 720/);
    expectFieldError('f-containersJson', /line 5, column 3: a trailing comma before &quot;}&quot;/);
    expectFieldError('f-usersCsvFile', /Users CSV has 2 problems/);
    expect(html).toContain('class="error-summary" role="alert"');
    expect(html).toMatch(/There are \d+ problems/);
    // The CSV preview: the good row and each bad row with its line.
    expect(html).toContain('Problems in the file (2)');
    expect(html).toMatch(/<td>3<\/td><td>email<\/td><td>email &quot;not-an-email&quot; is not a valid email address<\/td>/);
    expect(html).toMatch(/<td>4<\/td><td>username<\/td><td>username starts with &quot;=&quot;/);
    expect(html).toContain('Preview: 1 valid user');
    expect(html).toContain('<td>alice@example.com</td>');
  });

  it('keeps the CSV from the hidden field across a second submit, then creates the job and lands on its page', async () => {
    const csv = 'username,email,role,display_name\nalice,alice@example.com,admin,Alice A\nbob,bob@example.com,,Bob\n';
    const first = validForm({ name: 'Bad Name' });
    first.append('usersCsvFile', csvFile(csv));
    const bad = await post('/jobs', first);
    expect(bad.res.status).toBe(422);
    const kept = hiddenValue(bad.html, 'usersCsvText');
    expect(kept).toBe(csv);

    const name = `kept-csv-${Date.now().toString(36)}`;
    const second = validForm({ name, usersCsvText: kept, usersCsvName: 'users.csv' });
    second.append('usersCsvFile', new File([], '', { type: 'application/octet-stream' }));
    const ok = await post('/jobs', second);
    expect(ok.res.status).toBe(303);
    const location = ok.res.headers.get('location')!;
    expect(location).toMatch(/^\/jobs\/j[0-9a-v]+$/);
    const id = location.split('/').pop()!;
    const job = (await getJob(temp.db, id))!;
    expect(job.name).toBe(name);
    expect(job.status).toBe('draft');
    expect(JSON.parse(job.spec_json).usersCsv).toBe(
      'username,email,role,display_name\nalice,alice@example.com,admin,Alice A\nbob,bob@example.com,,Bob\n',
    );
    expect(JSON.parse(job.spec_json).instance.volumeSizeGb).toBe(30);

    // "Remove the users file" drops the kept CSV.
    const removed = validForm({ usersCsvText: kept, usersCsvName: 'users.csv' });
    removed.append('usersCsvClear', 'on');
    const r = await post('/jobs', removed);
    expect(r.res.status).toBe(303);
    const removedJob = (await getJob(temp.db, r.res.headers.get('location')!.split('/').pop()!))!;
    expect(JSON.parse(removedJob.spec_json).usersCsv).toBeUndefined();

    // The flash cookie carries the notice to the job page, once.
    const cookie = ok.res.headers.get('set-cookie')!.split(';')[0];
    const page = await app.request(location, { headers: { authorization: AUTH, cookie } });
    const html = await page.text();
    expect(html).toContain('Job created. Start it when you are ready.');
    expect(html).toContain('<td>Alice A</td>');
    expect(html).toContain('Users (2)');
  });

  it('"Check form" validates without creating, and the JSON locator points at the right place', async () => {
    const before = await temp.db
      .selectFrom('jobs')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst();
    const { res, html } = await post('/jobs', validForm({ intent: 'check' }));
    expect(res.status).toBe(200);
    expect(html).toContain('No problems found');
    const after = await temp.db
      .selectFrom('jobs')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst();
    expect(Number(after!.n)).toBe(Number(before!.n));

    expect(locateJsonError('[1, 2]')).toBeNull();
    expect(locateJsonError('[\n  {"a": 1,}\n]')).toMatchObject({
      line: 2,
      column: 11,
      message: expect.stringMatching(/trailing comma/),
    });
    expect(locateJsonError("[{'a': 1}]")).toMatchObject({ line: 1, column: 3, message: expect.stringMatching(/double quotes/) });
    expect(locateJsonError('[{"a": "x\n"}]')).toMatchObject({ line: 1, column: 10 });
    expect(locateJsonError('[{"a": 1}')).toMatchObject({ message: expect.stringMatching(/expected "," or "\]"/) });
    expect(locateJsonError('[{"a" 1}]')).toMatchObject({ line: 1, column: 7, message: expect.stringMatching(/expected ":"/) });
    expect(fieldForPath('containers[0].ports[1]')).toBe('containersJson');
    expect(fieldForPath('network.securityGroupIds[1]')).toBe('securityGroupIds');
    expect(fieldForPath('auth.roleArn')).toBe('roleArn');
    expect(fieldForPath('')).toBeNull();
  });

  it('points container problems at the container and field', async () => {
    const { res, html } = await post(
      '/jobs',
      validForm({
        containersJson: '[{"name":"web","image":"nginx:1.27","ports":["99999:80"]},{"name":"web","image":"Bad Image"}]',
      }),
    );
    expect(res.status).toBe(422);
    const block = /<div class="field-error" id="f-containersJson-error">([\s\S]*?)<\/div>/.exec(html)![1];
    expect(block).toContain('container &quot;web&quot;: port &quot;99999:80&quot; is out of range');
    expect(block).toMatch(/container &quot;web&quot;: image &quot;Bad Image&quot;/);
    expect(block).toContain('already used by container #1');
  });

  it('accepts a CSV with columns beyond the four, shows which were dropped, and stores it without them', async () => {
    const csv = 'username,email,Phone,role\nalice,alice@example.com,555-0100,admin\n';
    const fd = validForm({ intent: 'check' });
    fd.append('usersCsvFile', csvFile(csv, 'hr-export.csv'));
    const { res, html } = await post('/jobs', fd);
    expect(res.status).toBe(200);
    expect(html).toContain('No problems found');
    expect(html).not.toContain('Problems in the file');
    // The warning, in the CSV preview, tied to the file input.
    const block = /<div class="csv-warnings" id="f-usersCsvFile-warnings">([\s\S]*?)<\/div>/.exec(html);
    expect(block).not.toBeNull();
    expect(block![1]).toContain('Left out of the file (1)');
    expect(block![1]).toContain(
      'Line 1: column &quot;Phone&quot; was dropped: only username, email, role, display_name are used',
    );
    expect(html).toMatch(/id="f-usersCsvFile"[^>]*aria-describedby="[^"]*f-usersCsvFile-warnings/);
    expect(html).toContain('Preview: 1 valid user');
    // The form keeps the file as uploaded; the job stores only the four columns.
    expect(hiddenValue(html, 'usersCsvText')).toBe(csv);
    const created = await post('/jobs', validForm({ usersCsvText: csv, usersCsvName: 'hr-export.csv' }));
    expect(created.res.status).toBe(303);
    const job = (await getJob(temp.db, created.res.headers.get('location')!.split('/').pop()!))!;
    expect(JSON.parse(job.spec_json).usersCsv).toBe('username,email,role,display_name\nalice,alice@example.com,admin,\n');

    // A file with only the known columns shows no such section.
    const plain = validForm({ intent: 'check' });
    plain.append('usersCsvFile', csvFile('username,email\nalice,alice@example.com\n'));
    expect((await post('/jobs', plain)).html).not.toContain('csv-warnings');
  });

  it('refuses an unreadable CSV upload with a clear message and keeps nothing of it', async () => {
    const fd = validForm();
    fd.append('usersCsvFile', new File([Buffer.from('\xff\xfeu\0s\0', 'latin1')], 'excel.csv'));
    const { res, html } = await post('/jobs', fd);
    expect(res.status).toBe(422);
    expect(html).toMatch(/UTF-16/);
    expect(hiddenValue(html, 'usersCsvText')).toBe('');
  });

  it('never echoes secret keys back, and refuses access keys when they are disabled', async () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    const withKeys = validForm({
      authMethod: 'access_keys',
      accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      secretAccessKey: secret,
      name: 'Bad Name',
    });
    const r1 = await post('/jobs', withKeys, keysApp);
    expect(r1.res.status).toBe(422);
    expect(r1.html).not.toContain(secret);
    expect(r1.html).toContain('value="AKIAIOSFODNN7EXAMPLE"');
    expect(r1.html).toContain('id="f-authMethod-access_keys" name="authMethod" value="access_keys" checked=""');

    const refused = validForm({ authMethod: 'access_keys', accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: secret });
    const r2 = await post('/jobs', refused);
    expect(r2.res.status).toBe(422);
    expect(r2.html).toContain('access key authentication is disabled');
    expect(r2.html).not.toContain(secret);
  });

  it('prefills a clone from the job, without secrets', async () => {
    const spec = sampleSpec({
      network: { vpcId: 'vpc-0abc1234', subnetId: 'subnet-0abc1234', securityGroupIds: ['sg-0abc1234'] },
      options: { requireApproval: true, ttlHours: 12 },
    });
    const source = await seedJob({ name: spec.name, spec_json: JSON.stringify(publicSpec(spec)) });
    const { res, html } = await get(`/jobs/new?clone=${source.id}`);
    expect(res.status).toBe(200);
    expect(html).toContain(`value="${spec.name}-copy"`);
    expect(html).toContain('value="arn:aws:iam::123456789012:role/Provisioner"');
    expect(html).toContain('value="tenant-42"');
    expect(html).toContain('value="vpc-0abc1234"');
    expect(html).toContain('value="sg-0abc1234"');
    expect(html).toContain('value="12"');
    expect(html).toMatch(/name="requireApproval" type="checkbox" value="on" checked=""/);
    expect(html).toContain('&quot;GREETING&quot;: &quot;hi&quot;');
    expect(hiddenValue(html, 'usersCsvText')).toContain('admin,admin@example.com,admin,Administrator');
    expect(html).toContain('Prefilled from job');

    // An access-key job: the stored spec holds a masked key id only, and the clone asks for the keys again.
    const keySpec = sampleSpec({
      auth: {
        method: 'access_keys',
        accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
        secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      },
    });
    const keyJob = await seedJob({ auth_method: 'access_keys', spec_json: JSON.stringify(publicSpec(keySpec)) });
    const clone = (await get(`/jobs/new?clone=${keyJob.id}`, keysApp)).html;
    expect(clone).not.toContain('EXAMPLEKEY');
    expect(clone).not.toContain('AKIA…MPLE');
    expect(clone).toMatch(/id="f-accessKeyId" name="accessKeyId" type="text" value=""/);
    expect(clone).toMatch(/id="f-secretAccessKey" name="secretAccessKey" type="password" value=""/);

    expect((await get('/jobs/new?clone=jnope')).res.status).toBe(404);
  });
});

describe('job page', () => {
  it('shows status, steps, plan, outputs, configuration, users, audit, notifications, logs and the Temporal link', async () => {
    const job = await seedJob({
      name: 'full-page',
      status: 'succeeded',
      step: 'notify',
      workflow_id: 'job-jfull',
      account_id: '123456789012',
      started_at: '2030-01-01T00:00:00.000Z',
      finished_at: '2030-01-01T00:03:00.000Z',
      plan_summary_json: JSON.stringify({
        add: 3,
        change: 0,
        destroy: 0,
        resources: [{ address: 'terraform_data.instance', actions: ['create'] }],
      }),
      outputs_json: JSON.stringify({
        instance_id: 'i-0123456789abcdef0',
        public_ip: '203.0.113.10',
        private_ip: '10.0.1.2',
        public_dns: 'ec2-203-0-113-10.compute-1.amazonaws.com',
        ami_id: 'ami-0abc1234',
        security_group_id: 'sg-0abc1234',
        console: 'https://console.aws.amazon.com/ec2',
        trap: 'javascript:alert(1)',
      }),
      has_resources: 1,
    });
    await startStep(temp.db, job.id, 'verify', 1);
    await finishStep(temp.db, job.id, 'verify', 1, 'succeeded');
    await startStep(temp.db, job.id, 'apply', 1);
    await finishStep(temp.db, job.id, 'apply', 1, 'failed', { error: 'throttled, retrying' });
    await startStep(temp.db, job.id, 'apply', 2);
    await finishStep(temp.db, job.id, 'apply', 2, 'interrupted', { error: 'interrupted: the worker stopped responding' });
    await startStep(temp.db, job.id, 'apply', 3);
    await finishStep(temp.db, job.id, 'apply', 3, 'succeeded');
    await appendLogLines(temp.db, job.id, [
      {
        step: 'apply',
        attempt: 1,
        stream: 'stdout',
        lineNo: 1,
        line: `Apply ${HOSTILE} complete`,
        ts: '2030-01-01T00:01:00.000Z',
      },
      { step: 'apply', attempt: 1, stream: 'stderr', lineNo: 1, line: 'warning: something', ts: '2030-01-01T00:01:01.000Z' },
    ]);
    await recordAudit(temp.db, { actor: testActor('carol', { ip: '10.9.8.7' }), action: 'start', jobId: job.id });
    await insertNotificationIfAbsent(temp.db, {
      job_id: job.id,
      event: 'succeeded',
      recipient: 'alice@example.com',
      subject: 'Your environment full-page is ready',
      html: '<p>ready</p>',
      text: 'ready',
      provider: 'outbox',
      created_at: '2030-01-01T00:03:00.000Z',
    });

    const { res, html } = await get(`/jobs/${job.id}`);
    expect(res.status).toBe(200);
    expectNoInlineScript(html);
    expect(html).toContain('<script src="/static/logs.js"');
    expect(html).toContain('badge-succeeded');
    // Timeline: attempts, the retried error, and the attempt lost with its worker told apart from it.
    expect(html).toMatch(
      /data-step="apply"[\s\S]*?attempt 3[\s\S]*?1 earlier attempt failed, 1 interrupted \(worker or database lost\)[\s\S]*?throttled, retrying[\s\S]*?the worker stopped responding/,
    );
    expect(html).toContain('3 to add');
    expect(html).toContain('terraform_data.instance');
    // Outputs: text, links only for http(s).
    expect(html).toContain('<code>i-0123456789abcdef0</code>');
    expect(html).toContain('<a href="https://console.aws.amazon.com/ec2" rel="noopener noreferrer" target="_blank">');
    expect(html).not.toContain('href="javascript:');
    expect(html).toContain('<code>javascript:alert(1)</code>');
    expect(html).toContain('href="http://ec2-203-0-113-10.compute-1.amazonaws.com:8080/"');
    // Configuration and users.
    expect(html).toContain('arn:aws:iam::123456789012:role/Provisioner');
    expect(html).toContain('<td>Administrator</td>');
    // Audit and notifications.
    expect(html).toContain('10.9.8.7');
    expect(html).toMatch(/<a href="\/outbox\/\d+">Your environment full-page is ready<\/a>/);
    // Logs: escaped, the tail rendered, the stream's starting point.
    expect(html).toContain(`Apply &lt;script&gt;alert(1)&lt;/script&gt; complete`);
    expect(html).not.toContain(HOSTILE);
    expect(html).toMatch(/id="log-box"[^>]*data-first-seq="1" data-last-seq="2" data-live="1"/);
    expect(html).toContain('class="ll err"');
    expect(html).toContain('href="http://temporal-ui.test:8233/namespaces/default/workflows/job-jfull"');
    expect(html).toContain(`href="/jobs/new?clone=${job.id}"`);
  });

  it('escapes a hostile job name everywhere on the page', async () => {
    const job = await seedJob({ name: HOSTILE, error: `<img src=x onerror=alert(3)>`, status: 'failed', has_resources: 0 });
    const { html } = await get(`/jobs/${job.id}`);
    expect(html).not.toContain(HOSTILE);
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('<title>&lt;script&gt;alert(1)&lt;/script&gt; · Provisioning</title>');
    expect(html).toContain('<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>');
  });

  it('offers exactly the actions the status allows, each a POST form with the CSRF token', async () => {
    const cases: [Partial<NewJobRow>, string[]][] = [
      [{ status: 'draft' }, ['run']],
      [{ status: 'running' }, ['cancel']],
      [{ status: 'awaiting_approval' }, ['approve', 'reject', 'cancel']],
      // A live environment's time to live can change too.
      [{ status: 'succeeded', has_resources: 1 }, ['destroy', 'ttl']],
      [{ status: 'failed', has_resources: 1 }, ['destroy']],
      [{ status: 'failed', has_resources: 0 }, []],
      [{ status: 'cancelling' }, []],
      [{ status: 'cancelled' }, []],
      [{ status: 'rejected' }, []],
      [{ status: 'destroying' }, []],
      [{ status: 'destroyed' }, []],
    ];
    const token = await csrfToken();
    for (const [over, expected] of cases) {
      const job = await seedJob(over);
      const { html } = await get(`/jobs/${job.id}`);
      const shown = [...html.matchAll(/data-action="([a-z]+)"/g)].map((m) => m[1]).sort();
      expect(shown, over.status).toEqual([...expected].sort());
      for (const action of expected) {
        const form = new RegExp(
          `<form method="post" action="/jobs/${job.id}/${action}"[^>]*>\\s*<input type="hidden" name="_csrf" value="${token}"`,
        );
        expect(html, `${over.status} ${action}`).toMatch(form);
      }
      if (expected.includes('cancel') || expected.includes('destroy')) expect(html).toContain('data-confirm="');
      if (expected.includes('reject'))
        expect(html).toMatch(/<label for="reject-reason">[\s\S]*?<input id="reject-reason" name="reason" required=""/);
    }
  });

  it('asks for confirmation without JavaScript, and flashes refused actions', async () => {
    const job = await seedJob({ status: 'succeeded', has_resources: 1 });
    const ask = await post(`/jobs/${job.id}/destroy`, {});
    expect(ask.res.status).toBe(200);
    expect(ask.html).toContain(`Destroy job ${job.name}?`);
    expect(ask.html).toContain('name="confirmed" value="yes"');

    const draft = await seedJob({ status: 'draft' });
    const refused = await post(`/jobs/${draft.id}/cancel`, { confirmed: 'yes' });
    expect(refused.res.status).toBe(303);
    const cookie = refused.res.headers.get('set-cookie')!.split(';')[0];
    const page = await (await app.request(`/jobs/${draft.id}`, { headers: { authorization: AUTH, cookie } })).text();
    expect(page).toContain('class="flash flash-error" role="alert"');
    expect(page).toContain(`cannot cancel job ${draft.id}: it is draft`);

    const noReason = await seedJob({ status: 'awaiting_approval', workflow_id: 'job-none' });
    const r = await post(`/jobs/${noReason.id}/reject`, { reason: '  ' });
    const flash = r.res.headers.get('set-cookie')!.split(';')[0];
    const page2 = await (await app.request(`/jobs/${noReason.id}`, { headers: { authorization: AUTH, cookie: flash } })).text();
    expect(page2).toContain('a rejection needs a reason');

    expect((await post('/jobs/jmissing/run', {})).res.status).toBe(404);
    expect((await get('/jobs/jmissing')).res.status).toBe(404);
  });

  it('refuses a form POST without the CSRF token', async () => {
    const job = await seedJob({ status: 'draft' });
    const fd = new FormData();
    fd.append('_csrf', 'forged');
    const res = await app.request(`/jobs/${job.id}/run`, { method: 'POST', body: fd, headers: { authorization: AUTH } });
    expect(res.status).toBe(403);
    expect((await getJob(temp.db, job.id))!.status).toBe('draft');
  });

  it('creates and starts through "Create and start", then cancels through the form (real Temporal, no worker)', async () => {
    const fd = validForm({ intent: 'start' });
    const { res } = await post('/jobs', fd);
    expect(res.status).toBe(303);
    const id = res.headers.get('location')!.split('/').pop()!;
    startedWorkflows.push(`job-${id}`);
    const job = (await getJob(temp.db, id))!;
    expect(job.status).toBe('running');
    expect(job.workflow_id).toBe(`job-${id}`);
    const desc = await client.workflow.getHandle(`job-${id}`).describe();
    expect(desc.taskQueue).toBe(taskQueue);

    const page = (await get(`/jobs/${id}`)).html;
    expect(page).toContain('data-action="cancel"');
    expect(page).not.toContain('data-action="run"');

    const cancel = await post(`/jobs/${id}/cancel`, { confirmed: 'yes' });
    expect(cancel.res.status).toBe(303);
    expect((await getJob(temp.db, id))!.status).toBe('cancelling');
    const audit = await temp.db
      .selectFrom('audit_log')
      .select(['action', 'actor'])
      .where('job_id', '=', id)
      .orderBy('id')
      .execute();
    expect(audit).toEqual([
      { action: 'create', actor: USER },
      { action: 'start', actor: USER },
      { action: 'cancel', actor: USER },
    ]);
    // Starting again is refused with the command's message.
    const again = await post(`/jobs/${id}/run`, {});
    const cookie = again.res.headers.get('set-cookie')!.split(';')[0];
    const shown = await (await app.request(`/jobs/${id}`, { headers: { authorization: AUTH, cookie } })).text();
    expect(shown).toContain('a job runs once');
  });

  it('serves the live part with a version, 204 while unchanged', async () => {
    const job = await seedJob({ status: 'running', step: 'plan' });
    const first = await app.request(`/jobs/${job.id}/parts`, { headers: { authorization: AUTH } });
    expect(first.status).toBe(200);
    const version = first.headers.get('x-live-version')!;
    expect(first.headers.get('x-live-active')).toBe('1');
    expect(await first.text()).toContain('badge-running');
    const same = await app.request(`/jobs/${job.id}/parts?v=${version}`, { headers: { authorization: AUTH } });
    expect(same.status).toBe(204);
    await updateJob(temp.db, job.id, { status: 'succeeded', has_resources: 1 });
    const changed = await app.request(`/jobs/${job.id}/parts?v=${version}`, { headers: { authorization: AUTH } });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('x-job-status')).toBe('succeeded');
    expect(await changed.text()).toContain('data-action="destroy"');
  });

  it('stays under 100 KB with a long log and many users', async () => {
    const users = ['username,email,role,display_name'];
    for (let i = 0; i < 2000; i++) users.push(`user${i},user${i}@example.com,member,User Number ${i}`);
    // Too many users for EC2's user data: such a job is possible with an artifacts bucket.
    const spec = createJobSpecSchema({ ...testPolicy, artifactsInS3: true }).parse({
      ...publicSpec(sampleSpec()),
      auth: { method: 'assume_role', roleArn: 'arn:aws:iam::123456789012:role/Provisioner' },
      usersCsv: `${users.join('\n')}\n`,
    });
    const job = await seedJob({ status: 'running', spec_json: JSON.stringify(publicSpec(spec)) });
    const lines = Array.from({ length: 5000 }, (_, i) => ({
      step: 'apply',
      attempt: 1,
      stream: 'stdout',
      lineNo: i + 1,
      line: `terraform_data.instance: Still creating... [${i}s elapsed] ${'x'.repeat(60)}`,
      ts: new Date().toISOString(),
    }));
    await appendLogLines(temp.db, job.id, lines);
    // Very long lines: the rendered tail shrinks to fit, the viewer pages in the rest.
    const long = await seedJob({ status: 'running' });
    await appendLogLines(
      temp.db,
      long.id,
      Array.from({ length: 300 }, (_, i) => ({
        step: 'apply',
        attempt: 1,
        stream: 'stdout',
        lineNo: i + 1,
        line: 'y'.repeat(4000),
        ts: new Date().toISOString(),
      })),
    );
    const longPage = (await get(`/jobs/${long.id}`)).html;
    expect(Buffer.byteLength(longPage)).toBeLessThan(60 * 1024);
    expect(longPage).toMatch(/data-last-seq="300"/);
    const { html } = await get(`/jobs/${job.id}`);
    expect(Buffer.byteLength(html)).toBeLessThan(100 * 1024);
    expect(html).toContain('Showing the first 200 of 2000.');
    const first = Number(/data-first-seq="(\d+)" data-last-seq="5000"/.exec(html)?.[1]);
    expect(first).toBeGreaterThanOrEqual(4801);
    expect(first).toBeLessThan(4900);
    expect(Buffer.byteLength((await get('/')).html)).toBeLessThan(100 * 1024);
    expect(Buffer.byteLength((await get('/jobs/new')).html)).toBeLessThan(100 * 1024);
  });
});

describe('outbox and audit', () => {
  it('lists notifications newest first and shows one in a sandboxed frame and as text', async () => {
    const job = await seedJob({ name: 'mail-job' });
    for (const event of ['started', 'succeeded']) {
      await insertNotificationIfAbsent(temp.db, {
        job_id: job.id,
        event,
        recipient: 'alice@example.com',
        subject: `${event} ${HOSTILE}`,
        html: `<p style="color:red">Hello "${event}"</p><script>alert(1)</script>`,
        text: `Hello ${event}\n<b>not bold</b>`,
        provider: 'outbox',
        created_at: new Date().toISOString(),
      });
    }
    const list = (await get('/outbox')).html;
    expect(list).not.toContain(HOSTILE);
    expect(list.indexOf('succeeded &lt;script&gt;')).toBeLessThan(list.indexOf('started &lt;script&gt;'));
    expect(list).toContain('>mail-job</a>');
    const id = /href="\/outbox\/(\d+)">succeeded/.exec(list)![1];
    const { res, html } = await get(`/outbox/${id}`);
    expect(res.status).toBe(200);
    expect(html).toContain(
      '<iframe class="mail-frame" sandbox="" srcdoc="&lt;p style=&quot;color:red&quot;&gt;Hello &quot;succeeded&quot;&lt;/p&gt;&lt;script&gt;alert(1)&lt;/script&gt;"',
    );
    expect(html).toContain('<pre class="mail-text">Hello succeeded\n&lt;b&gt;not bold&lt;/b&gt;</pre>');
    expectNoInlineScript(html.replace(/srcdoc="[^"]*"/, ''));
    // The page allows exactly the email's inline styles, by hash; every other page allows none.
    const csp = res.headers.get('content-security-policy')!;
    const hash = crypto.createHash('sha256').update('color:red').digest('base64');
    expect(csp).toContain(`style-src 'self' 'unsafe-hashes' 'sha256-${hash}'`);
    expect(csp).toMatch(/script-src 'self' 'nonce-[^']+'(;|$)/);
    expect((await get('/outbox')).res.headers.get('content-security-policy')).toContain("style-src 'self';");
    expect((await get('/outbox/999999')).res.status).toBe(404);
  });

  it('shows the audit log with job links', async () => {
    const job = await seedJob({ name: 'audited-job' });
    await recordAudit(temp.db, {
      actor: testActor('dave', { ip: '192.0.2.1' }),
      action: 'destroy',
      jobId: job.id,
      detail: HOSTILE,
    });
    const { res, html } = await get('/audit');
    expect(res.status).toBe(200);
    expect(html).toContain(`<a href="/jobs/${job.id}">audited-job</a>`);
    expect(html).toContain('192.0.2.1');
    expect(html).not.toContain(HOSTILE);
  });

  it('redirects an anonymous browser to the login form', async () => {
    const res = await app.request('/jobs/new', { headers: { accept: 'text/html' } });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/login?next=%2Fjobs%2Fnew');
  });
});
