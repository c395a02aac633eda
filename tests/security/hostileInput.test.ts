import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { updateJob } from '../../src/db/jobs.js';
import { jobWorkspaceDir } from '../../src/activities/workspace.js';
import { startSandboxStack, type SandboxStack } from '../support/stack.js';
import { waitForStatus } from '../support/jobs.js';
import { ROOT } from '../support/processes.js';
import { bearer, login, securityConfig, type App } from './support.js';

/**
 * The hostile-input corpus (tests/fixtures/hostile/*.json) sent through the
 * new-job form and the REST API of the whole app, with a real worker,
 * Temporal, terraform on the sandbox module and moto behind it. Every case
 * names where it goes, what it sends and what must happen; a refused case
 * must create nothing, an accepted one must come back escaped wherever a
 * page shows it.
 */

const HOSTILE = path.join(ROOT, 'tests', 'fixtures', 'hostile');
const corpus = <T>(name: string): T => JSON.parse(fs.readFileSync(path.join(HOSTILE, name), 'utf8')) as T;

interface Expect {
  status?: number;
  message?: string;
  field?: string;
  line?: number;
  outcome?: 'refused' | 'accepted';
  shownOn?: string[];
  link?: string | null;
  keptAs?: string;
}
interface Payload {
  id: string;
  value: string;
}
interface MarkupField {
  where: string;
  form?: string;
  api?: string;
  action?: 'reject' | 'approve';
  formField?: string;
  expect: Expect;
}

const ROLE = 'arn:aws:iam::123456789012:role/Provisioner';
const CSV_HEADER = 'username,email,role,display_name\n';
const CSV = `${CSV_HEADER}admin,admin@example.com,admin,Administrator\n`;

let stack: SandboxStack;
let temp: SandboxStack['temp'];
let client: Client;
let jobsWorkdir: string;
let app: App;
let session: { cookie: string; csrf: string };

beforeAll(async () => {
  stack = await startSandboxStack({ workdirPrefix: 'prov-hostile-jobs-' });
  ({ temp, client, jobsWorkdir } = stack);
  app = createApp({
    db: temp.db,
    temporal: client,
    config: securityConfig({ TEMPORAL_TASK_QUEUE: stack.worker.taskQueue, DATA_DIR: temp.dir, JOBS_WORKDIR: jobsWorkdir }),
  });
  session = await login(app);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

const unique = (prefix: string) => `${prefix}-${crypto.randomBytes(4).toString('hex')}`;

/** What hono/jsx writes for text and attribute values. */
function htmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);
}

/**
 * The payload never appears as markup; when `shown`, it appears escaped (as
 * text, or inside JSON shown as text, or in a URL-encoded link).
 */
function escapingProblems(label: string, html: string, payload: string, shown: boolean): string[] {
  const problems: string[] = [];
  if (html.includes(payload)) problems.push(`${label}: contains ${JSON.stringify(payload)} unescaped`);
  if (shown) {
    const forms = [htmlEscape(payload), htmlEscape(JSON.stringify(payload).slice(1, -1))];
    if (!forms.some((f) => html.includes(f)))
      problems.push(`${label}: does not show ${JSON.stringify(payload)} (escaped) at all`);
  }
  return problems;
}

function csvCell(v: string): string {
  return `"${v.replace(/"/g, '""')}"`;
}

function baseContainers(): Record<string, unknown>[] {
  return [{ name: 'webapp', image: 'nginx:latest', ports: ['8080:80'], environment: { GREETING: 'hi' } }];
}

function baseSpec(name = unique('hostile')): Record<string, unknown> {
  return {
    name,
    requesterEmail: 'alice@example.com',
    region: 'us-east-1',
    auth: { method: 'assume_role', roleArn: ROLE, externalId: 'tenant-42' },
    instance: { type: 't3.micro', volumeSizeGb: 20 },
    containers: baseContainers(),
    usersCsv: CSV,
  };
}

/** Sets `a.b[0].c` in a plain object, creating what is missing. */
function setPath(obj: Record<string, unknown>, dotted: string, value: unknown): void {
  const keys = dotted.match(/[^.[\]]+/g)!.map((k) => (/^\d+$/.test(k) ? Number(k) : k));
  let cur: Record<string | number, unknown> = obj;
  keys.slice(0, -1).forEach((k, i) => {
    if (cur[k] === undefined || cur[k] === null) cur[k] = typeof keys[i + 1] === 'number' ? [] : {};
    cur = cur[k] as Record<string | number, unknown>;
  });
  cur[keys.at(-1)!] = value;
}

interface FormOptions {
  fields?: Record<string, string>;
  containers?: unknown;
  csv?: string | Buffer;
  csvName?: string;
  intent?: 'create' | 'check';
}

function jobForm(opts: FormOptions = {}): FormData {
  const fd = new FormData();
  const fields: Record<string, string> = {
    _csrf: session.csrf,
    name: unique('hostile-form'),
    requesterEmail: 'alice@example.com',
    region: 'us-east-1',
    authMethod: 'assume_role',
    roleArn: ROLE,
    externalId: 'tenant-42',
    vpcId: '',
    subnetId: '',
    securityGroupIds: '',
    instanceType: 't3.micro',
    volumeSizeGb: '20',
    amiId: '',
    ingressCidr: '0.0.0.0/0',
    sshCidr: '',
    containersJson: JSON.stringify(opts.containers ?? baseContainers(), null, 2),
    ttlHours: '',
    intent: opts.intent ?? 'create',
    ...opts.fields,
  };
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  fd.append('usersCsvFile', new File([asBody(opts.csv ?? CSV)], opts.csvName ?? 'users.csv', { type: 'text/csv' }));
  return fd;
}

/** Bytes as a fetch body (a copy in a plain ArrayBuffer, which is what BodyInit wants). */
function asBody(b: string | Buffer | Uint8Array): string | Uint8Array<ArrayBuffer> {
  return typeof b === 'string' ? b : new Uint8Array(b);
}

async function postForm(body: FormData | Buffer, headers: Record<string, string> = {}) {
  const res = await app.request('/jobs', {
    method: 'POST',
    headers: { cookie: session.cookie, accept: 'text/html', ...headers },
    body: body instanceof FormData ? body : asBody(body),
  });
  return { res, html: await res.text() };
}

async function postApi(body: string | Buffer | FormData | ReadableStream, contentType: string | null = 'application/json') {
  const headers: Record<string, string> = { ...bearer() };
  if (contentType) headers['content-type'] = contentType;
  const init: RequestInit & { duplex?: string } = {
    method: 'POST',
    headers,
    body: body instanceof FormData || body instanceof ReadableStream ? body : asBody(body),
  };
  if (body instanceof ReadableStream) init.duplex = 'half';
  const res = await app.request('/api/jobs', init);
  const text = await res.text();
  let json: { id?: string; error?: { code: string; message: string; fields?: { path: string; message: string }[] } } = {};
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { res, text, json };
}

async function page(p: string) {
  const res = await app.request(p, { headers: { cookie: session.cookie, accept: 'text/html' } });
  return { res, html: await res.text() };
}

async function jobCount(): Promise<number> {
  const row = await temp.db
    .selectFrom('jobs')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Spec JSON with `marker` (a JSON string value) replaced by raw text or bytes. */
function specWith(at: string, raw: string | Buffer, spec = baseSpec()): Buffer {
  const marker = `__HOSTILE_${crypto.randomBytes(4).toString('hex')}__`;
  setPath(spec, at, marker);
  const [before, after] = JSON.stringify(spec).split(JSON.stringify(marker));
  return Buffer.concat([Buffer.from(before), typeof raw === 'string' ? Buffer.from(raw) : Buffer.from(raw), Buffer.from(after)]);
}

// ---------------------------------------------------------------------------
// Script and attribute-breaking text
// ---------------------------------------------------------------------------

const markup = corpus<{
  payloads: Payload[];
  fields: MarkupField[];
  reflected: { where: string; path: string; expect: Expect }[];
}>('markup.json');

/** The form or API input that puts `value` into the field a corpus entry names. */
function placeInForm(field: MarkupField, value: string): FormOptions {
  const containers = baseContainers();
  const c = containers[0] as Record<string, unknown>;
  switch (field.api) {
    case 'containers[0].name':
      c.name = value;
      return { containers };
    case 'containers[0].image':
      c.image = value;
      return { containers };
    case 'containers[0].volumes[0]':
      c.volumes = [value];
      return { containers };
    case 'containers[0].environment.<payload>':
      c.environment = { [value]: 'v' };
      return { containers };
    case 'network.vpcId':
      return { fields: { vpcId: value, subnetId: 'subnet-0abc1234' } };
    default:
      return { fields: { [field.form!]: value } };
  }
}

function placeInSpec(field: MarkupField, value: string): Record<string, unknown> {
  const spec = baseSpec();
  if (field.api === 'containers[0].environment.<payload>') {
    (spec.containers as Record<string, unknown>[])[0].environment = { [value]: 'v' };
  } else if (field.api === 'network.vpcId') {
    spec.network = { vpcId: value, subnetId: 'subnet-0abc1234' };
  } else {
    setPath(spec, field.api!, value);
  }
  return spec;
}

describe('markup payloads in every text field', () => {
  const refused = markup.fields.filter((f) => f.expect.outcome === 'refused');

  it('the corpus is what the tests below send', () => {
    expect(markup.payloads.length).toBeGreaterThanOrEqual(10);
    for (const p of markup.payloads) expect(p.value, p.id).toMatch(/[<>"'&]/);
    expect(refused.length).toBeGreaterThanOrEqual(10);
  });

  it('refused fields: 422, the form keeps the typed value and shows the error escaped, nothing is created', async () => {
    const before = await jobCount();
    const problems: string[] = [];
    for (const field of refused) {
      for (const p of markup.payloads) {
        const label = `${field.where} ← ${p.id}`;
        const form = await postForm(jobForm(placeInForm(field, p.value)));
        if (form.res.status !== field.expect.status) problems.push(`form ${label}: ${form.res.status}`);
        // The value is kept in the form (input value, or the containers JSON), so it must be there, escaped.
        problems.push(...escapingProblems(`form ${label}`, form.html, p.value, true));
        if (!/class="[^"]*error/.test(form.html)) problems.push(`form ${label}: no error shown`);

        const api = await postApi(JSON.stringify(placeInSpec(field, p.value)));
        if (api.res.status !== field.expect.status) problems.push(`api ${label}: ${api.res.status} ${api.text.slice(0, 120)}`);
        const want = field.api!.replace('.<payload>', '');
        if (!api.json.error?.fields?.some((f) => f.path.startsWith(want))) {
          problems.push(`api ${label}: no field error at ${want}: ${api.text.slice(0, 160)}`);
        }
        if (!(api.res.headers.get('content-type') ?? '').startsWith('application/json')) problems.push(`api ${label}: not JSON`);
      }
    }
    expect(problems).toEqual([]);
    expect(await jobCount()).toBe(before);
  });

  /** Every accepted creation-time field at once: env values, the command and CSV display names hold all payloads. */
  function acceptedContainers() {
    const environment = Object.fromEntries(markup.payloads.map((p, i) => [`GREETING_${i}`, p.value]));
    return [{ ...baseContainers()[0], environment, command: ['sh', '-c', markup.payloads.map((p) => p.value).join(' ')] }];
  }
  const acceptedCsv = () =>
    `${CSV_HEADER + markup.payloads.map((p, i) => `user${i},user${i}@example.com,user,${csvCell(p.value)}`).join('\n')}\n`;

  it('accepted fields through the form: escaped on the check page, the job page, the clone form and the dashboard', async () => {
    expect(markup.fields.filter((f) => f.expect.outcome === 'accepted' && f.form).map((f) => f.where)).toEqual([
      'container env value',
      'container command',
      'users CSV display_name',
    ]);
    const problems: string[] = [];
    const name = unique('hostile-ok');
    const opts = { fields: { name }, containers: acceptedContainers(), csv: acceptedCsv() };

    const check = await postForm(jobForm({ ...opts, intent: 'check' }));
    expect(check.res.status, check.html.slice(0, 300)).toBe(200);
    const created = await postForm(jobForm(opts));
    expect(created.res.status, created.html.slice(0, 500)).toBe(303);
    const jobPath = created.res.headers.get('location')!;
    expect(jobPath).toMatch(/^\/jobs\/j[0-9a-v]+$/);
    const jobId = jobPath.split('/').at(-1)!;

    const views: [string, string][] = [
      ['form check', check.html],
      ['job page', (await page(jobPath)).html],
      ['clone form', (await page(`/jobs/new?clone=${jobId}`)).html],
      ['dashboard', (await page('/')).html],
    ];
    for (const [label, html] of views) {
      for (const p of markup.payloads)
        problems.push(...escapingProblems(`${label} ← ${p.id}`, html, p.value, label !== 'dashboard'));
    }
    expect(problems).toEqual([]);
  });

  it('accepted fields through the API: stored as sent, escaped on the job page', async () => {
    const spec = baseSpec();
    spec.containers = acceptedContainers();
    spec.usersCsv = acceptedCsv();
    const created = await postApi(JSON.stringify(spec));
    expect(created.res.status, created.text.slice(0, 300)).toBe(201);
    // Kept exactly: escaping is the page's job, not the storage's.
    const stored = (await (await app.request(`/api/jobs/${created.json.id}`, { headers: bearer() })).json()) as {
      spec: { containers: { environment: Record<string, string> }[] };
    };
    expect(Object.values(stored.spec.containers[0].environment)).toEqual(markup.payloads.map((p) => p.value));
    const { html } = await page(`/jobs/${created.json.id}`);
    const problems = markup.payloads.flatMap((p) => escapingProblems(`job page ← ${p.id}`, html, p.value, true));
    expect(problems).toEqual([]);
  });

  it('reject reasons and approval comments: escaped on the job page, the audit log and the outbox', {
    timeout: 180_000,
  }, async () => {
    const text = markup.payloads.map((p) => p.value).join(' | ');
    expect(text.length).toBeLessThanOrEqual(500); // the form keeps 500 characters
    const launch = async () => {
      const spec = baseSpec(unique('hostile-approval'));
      spec.options = { requireApproval: true };
      const created = await postApi(JSON.stringify(spec));
      expect(created.res.status).toBe(201);
      const id = created.json.id!;
      const run = await app.request(`/api/jobs/${id}/run`, { method: 'POST', headers: bearer() });
      expect(run.status).toBe(202);
      return id;
    };
    const [rejectId, approveId] = await Promise.all([launch(), launch()]);
    await Promise.all([
      waitForStatus(temp.db, rejectId, ['awaiting_approval'], 120_000),
      waitForStatus(temp.db, approveId, ['awaiting_approval'], 120_000),
    ]);
    for (const field of markup.fields.filter((f) => f.action)) {
      const id = field.action === 'reject' ? rejectId : approveId;
      const res = await app.request(`/jobs/${id}/${field.action}`, {
        method: 'POST',
        headers: { cookie: session.cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: session.csrf, [field.formField!]: text }),
      });
      expect(res.status, field.where).toBe(303);
    }
    await waitForStatus(temp.db, rejectId, ['rejected']);
    await waitForStatus(temp.db, approveId, ['succeeded', 'failed']);

    const rejectedMail = await temp.db
      .selectFrom('notifications')
      .select('id')
      .where('job_id', '=', rejectId)
      .where('event', '=', 'rejected')
      .executeTakeFirst();
    const problems: string[] = [];
    const views: [string, string, boolean][] = [
      ['rejected job page', (await page(`/jobs/${rejectId}`)).html, true],
      ['approved job page', (await page(`/jobs/${approveId}`)).html, true],
      ['audit page', (await page('/audit')).html, true],
      ['dashboard', (await page('/')).html, false],
      ['outbox', (await page('/outbox')).html, false],
      ...(rejectedMail
        ? ([['rejection email', (await page(`/outbox/${rejectedMail.id}`)).html, false]] as [string, string, boolean][])
        : []),
    ];
    for (const [label, html, shown] of views) {
      for (const p of markup.payloads) problems.push(...escapingProblems(`${label} ← ${p.id}`, html, p.value, shown));
    }
    expect(problems).toEqual([]);
    // The API gives the same text back as data, never as markup.
    const audit = await app.request(`/api/jobs/${rejectId}/audit`, { headers: bearer() });
    expect(audit.headers.get('content-type')).toMatch(/^application\/json/);
  });

  it('reflected query and path values come back escaped', async () => {
    const problems: string[] = [];
    for (const r of markup.reflected) {
      for (const p of markup.payloads) {
        const target = r.path.replace('<payload>', encodeURIComponent(p.value));
        const { res, html } = await page(target);
        if (res.status !== r.expect.status) problems.push(`${r.where} ← ${p.id}: ${res.status}`);
        problems.push(...escapingProblems(`${r.where} ← ${p.id}`, html, p.value, false));
      }
    }
    expect(problems).toEqual([]);
  });
});

// ---------------------------------------------------------------------------
// Formula injection in the users CSV
// ---------------------------------------------------------------------------

describe('formula-injection CSV', () => {
  const cases = corpus<{ cases: { id: string; csv: string; expect: Expect }[] }>('csv.json').cases;

  it('is refused through the form upload, the API field and the API file, naming line and column', async () => {
    const before = await jobCount();
    const problems: string[] = [];
    for (const c of cases) {
      const where = `line ${c.expect.line}`;
      const form = await postForm(jobForm({ csv: c.csv }));
      if (form.res.status !== c.expect.status) problems.push(`form ${c.id}: ${form.res.status}`);
      if (!form.html.includes(htmlEscape(c.expect.message!)) || !form.html.includes(where))
        problems.push(`form ${c.id}: message not shown`);

      const spec = baseSpec();
      spec.usersCsv = c.csv;
      const api = await postApi(JSON.stringify(spec));
      const fieldMsg = api.json.error?.fields?.find((f) => f.path === 'usersCsv')?.message ?? '';
      if (api.res.status !== c.expect.status || !fieldMsg.includes(c.expect.message!) || !fieldMsg.includes(where)) {
        problems.push(`api ${c.id}: ${api.res.status} ${api.text.slice(0, 200)}`);
      }

      const fd = new FormData();
      const fileSpec = baseSpec();
      delete fileSpec.usersCsv;
      fd.append('spec', JSON.stringify(fileSpec));
      fd.append('usersCsv', new File([c.csv], 'users.csv', { type: 'text/csv' }));
      const multipart = await postApi(fd, null);
      if (multipart.res.status !== c.expect.status || !multipart.text.includes(JSON.stringify(c.expect.message).slice(1, -1))) {
        problems.push(`api multipart ${c.id}: ${multipart.res.status} ${multipart.text.slice(0, 200)}`);
      }
    }
    expect(problems).toEqual([]);
    expect(await jobCount()).toBe(before);
  });
});

// ---------------------------------------------------------------------------
// Invalid Unicode
// ---------------------------------------------------------------------------

describe('invalid unicode', () => {
  const cases = corpus<{
    cases: {
      id: string;
      via: string;
      path?: string;
      json?: string;
      template?: string;
      field?: string;
      bytesBase64?: string;
      rawBase64?: string;
      expect: Expect;
    }[];
  }>('unicode.json').cases;

  it.each(cases.map((c) => [c.id, c] as const))('%s', async (_id, c) => {
    const before = await jobCount();
    const e = c.expect;
    if (c.via === 'csv-bytes') {
      const bytes = Buffer.from(c.bytesBase64!, 'base64');
      const form = await postForm(jobForm({ csv: bytes }));
      expect(form.res.status).toBe(e.status);
      expect(form.html).toContain(htmlEscape(e.message!));
      const fd = new FormData();
      const spec = baseSpec();
      delete spec.usersCsv;
      fd.append('spec', JSON.stringify(spec));
      fd.append('usersCsv', new File([asBody(bytes)], 'users.csv'));
      const api = await postApi(fd, null);
      expect(api.res.status, api.text).toBe(e.status);
      expect(api.json.error?.message).toContain(e.message);
    } else if (c.via === 'api-json' || c.via === 'api-raw') {
      // api-raw: bytes inside a JSON string, as a client with a broken encoder would send them.
      const body = c.via === 'api-json' ? specWith(c.path!, c.json!) : specWith(c.template!, quoted(c.rawBase64!));
      const api = await postApi(body);
      expect(api.res.status, api.text).toBe(e.status);
      if (e.status === 422) {
        const field = api.json.error?.fields?.find((f) => f.path.startsWith(e.field!));
        expect(field, api.text).toBeDefined();
        if (e.message) expect(field!.message).toContain(e.message);
      }
    } else if (c.via === 'form-raw') {
      // A browser-shaped multipart body whose containersJson field carries bytes that are not UTF-8.
      const boundary = `----hostile${crypto.randomBytes(6).toString('hex')}`;
      const fd = jobForm();
      const parts: Buffer[] = [];
      const entries: [string, string][] = [];
      fd.forEach((v, k) => {
        if (typeof v === 'string') entries.push([k, v]);
      });
      for (const [k, v] of entries) {
        const value =
          k === c.field
            ? Buffer.from(specWith(c.template!, quoted(c.rawBase64!), { containers: baseContainers() }))
                .toString('latin1')
                .replace(/^\{"containers":/, '')
                .replace(/\}$/, '')
            : Buffer.from(v).toString('latin1');
        parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${value}\r\n`, 'latin1'));
      }
      parts.push(Buffer.from(`--${boundary}--\r\n`));
      const form = await postForm(Buffer.concat(parts), { 'content-type': `multipart/form-data; boundary=${boundary}` });
      expect(form.res.status, form.html.slice(0, 400)).toBe(e.status);
      expect(form.html).toContain(e.message);
    } else {
      throw new Error(`unknown via ${c.via}`);
    }
    if (e.status !== 201) expect(await jobCount()).toBe(before);
  });
});

function quoted(base64: string): Buffer {
  return Buffer.concat([Buffer.from('"'), Buffer.from(base64, 'base64'), Buffer.from('"')]);
}

// ---------------------------------------------------------------------------
// Sizes
// ---------------------------------------------------------------------------

/** A valid users CSV of about `bytes` bytes, or of `rows` rows. */
function bigCsv(opts: { bytes?: number; rows?: number }): string {
  const lines = [CSV_HEADER.trimEnd()];
  let size = CSV_HEADER.length;
  for (let i = 0; opts.rows ? i < opts.rows : size < opts.bytes!; i++) {
    const line = `user${i},user${i}@example.com,user,User number ${i} with a longer display name`;
    lines.push(line);
    size += line.length + 1;
  }
  return `${lines.join('\n')}\n`;
}

describe('oversized uploads', () => {
  const cases = corpus<{ cases: { id: string; via: string; bytes?: number; rows?: number; expect: Expect }[] }>(
    'sizes.json',
  ).cases;

  it.each(cases.map((c) => [c.id, c] as const))('%s', async (_id, c) => {
    const before = await jobCount();
    const csv = bigCsv({ bytes: c.bytes, rows: c.rows });
    let status: number;
    let text: string;
    let type: string;
    if (c.via === 'form-file') {
      const { res, html } = await postForm(jobForm({ csv }));
      [status, text, type] = [res.status, html, res.headers.get('content-type') ?? ''];
    } else {
      let body: string | FormData | ReadableStream;
      let contentType: string | null = 'application/json';
      const spec = baseSpec();
      if (c.via === 'api-multipart') {
        delete spec.usersCsv;
        const fd = new FormData();
        fd.append('spec', JSON.stringify(spec));
        fd.append('usersCsv', new File([csv], 'users.csv'));
        body = fd;
        contentType = null;
      } else {
        spec.usersCsv = csv;
        const json = JSON.stringify(spec);
        body =
          c.via === 'api-chunked'
            ? new ReadableStream({
                start(ctl) {
                  // In 64 KiB chunks and without a Content-Length: the limit is enforced while reading.
                  for (let i = 0; i < json.length; i += 65_536) ctl.enqueue(new TextEncoder().encode(json.slice(i, i + 65_536)));
                  ctl.close();
                },
              })
            : json;
      }
      const api = await postApi(body, contentType);
      [status, text, type] = [api.res.status, api.text, api.res.headers.get('content-type') ?? ''];
      if (status >= 400) expect(type).toMatch(/^application\/json/);
    }
    expect(status, text.slice(0, 300)).toBe(c.expect.status);
    expect(text).toContain(
      c.expect.status === 413 ? c.expect.message : c.via === 'form-file' ? htmlEscape(c.expect.message!) : c.expect.message,
    );
    if (c.expect.status === 413 && c.via === 'form-file') expect(type).toMatch(/^text\/plain/);
    expect(await jobCount()).toBe(before);
  });
});

// ---------------------------------------------------------------------------
// Path traversal and unsafe names
// ---------------------------------------------------------------------------

describe('path traversal', () => {
  const names = corpus<{
    names: string[];
    urlPaths: { path: string; expect: Expect }[];
    csvFileName: { name: string; expect: Expect };
    volumes: string[];
  }>('names.json');

  it('job names: refused (422) through the form and the API, nothing created, no workspace outside JOBS_WORKDIR', async () => {
    const before = await jobCount();
    const problems: string[] = [];
    for (const name of names.names) {
      const form = await postForm(jobForm({ fields: { name } }));
      if (form.res.status !== 422) problems.push(`form ${JSON.stringify(name)}: ${form.res.status}`);
      const api = await postApi(JSON.stringify(baseSpec(name)));
      if (api.res.status !== 422 || !api.json.error?.fields?.some((f) => f.path === 'name')) {
        problems.push(`api ${JSON.stringify(name)}: ${api.res.status}`);
      }
      // Workspaces are named by job id only, and an id with anything but [a-z0-9-] is refused outright.
      if (/[^a-z0-9-]/.test(name)) expect(() => jobWorkspaceDir(jobsWorkdir, name)).toThrow(/cannot name a workspace/);
    }
    expect(problems).toEqual([]);
    expect(await jobCount()).toBe(before);
    expect(fs.readdirSync(path.dirname(jobsWorkdir)).filter((n) => /passwd|pwned|windows/.test(n))).toEqual([]);
  });

  it('container volumes that climb out of their directory are refused', async () => {
    for (const volume of names.volumes) {
      const spec = baseSpec();
      setPath(spec, 'containers[0].volumes[0]', volume);
      const api = await postApi(JSON.stringify(spec));
      expect(api.res.status, volume).toBe(422);
      expect(
        api.json.error?.fields?.some((f) => f.path === 'containers[0].volumes[0]'),
        volume,
      ).toBe(true);
    }
  });

  it('paths in URLs never reach outside their route', async () => {
    for (const u of names.urlPaths) {
      const { res, html } = await page(u.path);
      expect(res.status, u.path).toBe(u.expect.status);
      expect(html).not.toMatch(/root:x:0:0|import \{|"dependencies"/);
    }
  });

  it('an uploaded file name keeps its last segment only', async () => {
    const { res, html } = await postForm(jobForm({ intent: 'check', csvName: names.csvFileName.name }));
    expect(res.status).toBe(200);
    expect(html).toContain(names.csvFileName.expect.keptAs);
    expect(html).not.toContain('../');
    expect(html).not.toContain('etc/passwd');
  });
});

// ---------------------------------------------------------------------------
// Malformed and deeply nested JSON, wrong content types
// ---------------------------------------------------------------------------

function generate(g: { kind: string; depth?: number; count?: number }): string {
  if (g.kind === 'arrays') return '['.repeat(g.depth!) + ']'.repeat(g.depth!);
  if (g.kind === 'objects') return `${'{"a":'.repeat(g.depth!)}{}${'}'.repeat(g.depth!)}`;
  if (g.kind === 'wide') return `[${Array.from({ length: g.count! }, () => '{}').join(',')}]`;
  throw new Error(`unknown generator ${g.kind}`);
}

describe('malformed and deeply nested JSON', () => {
  const cases = corpus<{
    cases: {
      id: string;
      body?: string;
      via?: string;
      generate?: { kind: string; depth?: number; count?: number; at?: string };
      expect: Expect;
    }[];
  }>('json.json').cases;

  it.each(cases.map((c) => [c.id, c] as const))('%s', async (_id, c) => {
    const before = await jobCount();
    if (c.via === 'form') {
      const { res, html } = await postForm(jobForm({ fields: { containersJson: generate(c.generate!) } }));
      expect(res.status).toBe(c.expect.status);
      expect(html).toMatch(/class="[^"]*error/);
    } else {
      const body = c.generate ? (c.generate.at ? specWith(c.generate.at, generate(c.generate)) : generate(c.generate)) : c.body!;
      const api = await postApi(body);
      expect(api.res.status, api.text.slice(0, 300)).toBe(c.expect.status);
      expect(api.json.error?.code).toBe(c.expect.status === 400 ? 'bad_request' : 'validation_failed');
      expect(api.text.length).toBeLessThan(20_000); // an error about a huge input is not huge itself
    }
    expect(await jobCount()).toBe(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    // Still serving.
    expect((await app.request('/api/jobs?limit=1', { headers: bearer() })).status).toBe(200);
  });
});

describe('wrong content types', () => {
  const cases = corpus<{ cases: { method: string; path: string; contentType: string; body: string; expect: Expect }[] }>(
    'content-types.json',
  ).cases;
  let draftId: string;

  beforeAll(async () => {
    const created = await postApi(JSON.stringify(baseSpec()));
    draftId = created.json.id!;
  });

  it.each(cases.map((c) => [`${c.method} ${c.path} as ${c.contentType || '(none)'}`, c] as const))('%s', async (_label, c) => {
    const before = await jobCount();
    const headers: Record<string, string> =
      c.path.startsWith('/api/') || c.path.startsWith('/codec/')
        ? { ...bearer() }
        : { cookie: session.cookie, 'x-csrf-token': session.csrf };
    if (c.contentType) headers['content-type'] = c.contentType;
    // A byte body, so that "no content type" really sends none.
    const res = await app.request(c.path.replace('<id>', draftId), {
      method: c.method,
      headers,
      body: asBody(Buffer.from(c.body)),
    });
    const text = await res.text();
    expect(res.status, text.slice(0, 200)).toBe(c.expect.status);
    expect(text).toMatch(/application\/json|form-data|urlencoded|content type/i);
    expect(await jobCount()).toBe(before);
  });
});

// ---------------------------------------------------------------------------
// URLs rendered as links only when http(s)
// ---------------------------------------------------------------------------

describe('links', () => {
  const cases = corpus<{ cases: { output: string; value: string; expect: Expect }[] }>('urls.json').cases;

  it('only absolute http(s) URLs become links; nothing else does, whatever its case or spacing', async () => {
    const created = await postApi(JSON.stringify(baseSpec()));
    const id = created.json.id!;
    const problems: string[] = [];
    for (const c of cases) {
      const outputs: Record<string, string> = {
        instance_id: 'i-0123456789abcdef0',
        public_ip: '203.0.113.10',
        public_dns: 'ec2-203-0-113-10.compute-1.amazonaws.com',
      };
      outputs[c.output] = c.value;
      await updateJob(temp.db, id, { outputs_json: JSON.stringify(outputs) });
      const { html } = await page(`/jobs/${id}`);
      const label = `${c.output}=${JSON.stringify(c.value)}`;
      // Every link on the page goes to our own paths or to http(s).
      for (const [, href] of html.matchAll(/<a\b[^>]*\shref="([^"]*)"/g)) {
        const decoded = href
          .replace(/&amp;/g, '&')
          .replace(/&#39;/g, "'")
          .replace(/&quot;/g, '"');
        if (!/^(\/|#|https?:\/\/)/i.test(decoded)) problems.push(`${label}: link to ${href}`);
        if (/^https?:\/\/[^/]*[<>"'\s]/.test(decoded)) problems.push(`${label}: malformed link ${href}`);
      }
      const cell = new RegExp(`<dd data-output="${c.output}">([\\s\\S]*?)</dd>`).exec(html)?.[1];
      if (c.output !== 'public_dns') {
        if (cell === undefined) {
          problems.push(`${label}: output not shown`);
        } else if (c.expect.link) {
          if (!cell.includes(`href="${htmlEscape(c.expect.link)}"`))
            problems.push(`${label}: expected a link to ${c.expect.link}: ${cell}`);
        } else if (/<a\b/.test(cell)) {
          problems.push(`${label}: rendered as a link: ${cell}`);
        } else if (!cell.includes(htmlEscape(c.value).trim())) {
          problems.push(`${label}: value not shown as text: ${cell}`);
        }
      }
      problems.push(...escapingProblems(label, html, c.value, false).filter(() => /[<>"']/.test(c.value)));
    }
    expect(problems).toEqual([]);
  });
});
