import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve, type ServerType } from '@hono/node-server';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { parseConfig } from '../../src/config.js';
import { getJob, insertJob } from '../../src/db/jobs.js';
import { startJob } from '../../src/api/jobCommands.js';
import { appendLogLines } from '../../src/db/logs.js';
import { freePort } from '../support/moto.js';
import { startSandboxStack, type SandboxStack } from '../support/stack.js';
import { waitForStep, testActor } from '../support/jobs.js';
import { ROOT } from '../support/processes.js';
import { makeUser, sessionFor } from '../support/people.js';
import { SESSION_COOKIE } from '../../src/api/auth.js';
import { launchChromium } from '../support/chromium.js';

/**
 * The UI in a real browser (Debian's chromium through playwright-core)
 * against the real app on a free port, a real worker on the test Temporal
 * server, real terraform on the sandbox module and moto for AWS. A screenshot
 * of every page lands in test-output/screenshots on every run.
 */

const SHOTS = path.join(ROOT, 'test-output', 'screenshots');
const USER = 'admin';
const PASS = 'e2e-password-123';
const SECRET_KEY = 'e2e-secret-key-0123456789abcdef0123';
const USERS_CSV = 'username,email,role,display_name\nalice,alice@example.com,admin,Alice Admin\nbob,bob@example.com,viewer,Bob\n';

let stack: SandboxStack;
let temp: SandboxStack['temp'];
let client: Client;
let server: ServerType;
let base: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let knobs: SandboxStack['knobs'];
const consoleErrors: string[] = [];

async function shot(name: string, p: Page = page) {
  await p.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;

beforeAll(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  stack = await startSandboxStack({ workdirPrefix: 'prov-e2e-jobs-', notifier: { publicBaseUrl: 'http://127.0.0.1' } });
  ({ temp, client, knobs } = stack);

  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const config = parseConfig({
    APP_ADMIN_USER: USER,
    APP_ADMIN_PASS: PASS,
    SECRET_KEY,
    DATA_DIR: temp.dir,
    PUBLIC_BASE_URL: base,
    TEMPORAL_TASK_QUEUE: stack.worker.taskQueue,
    ALLOWED_REGIONS: 'us-east-1,eu-west-1',
    ALLOWED_INSTANCE_TYPES: 't3.micro,t3.small',
    APPROVAL_TIMEOUT_HOURS: '1',
  });
  const app = createApp({ db: temp.db, temporal: client, config });
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => resolve(s));
  });

  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on('console', (m) => {
    // Failed documents (401 on a wrong password, 422 on a bad form) are expected; failed requests are checked below.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource'))
      consoleErrors.push(`${m.text()} @ ${m.location().url}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && r.request().resourceType() !== 'document' && !r.url().endsWith('/favicon.ico')) {
      consoleErrors.push(`${r.status()} ${r.request().method()} ${r.url()}`);
    }
  });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
}, 120_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  if (server) {
    (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
    await new Promise<void>((r) => server.close(() => r()));
  }
  await stack?.stop();
});

/** Fills the new-job form with a valid job; the caller changes what it tests. */
async function fillJobForm(p: Page, name: string, opts: { csv?: string; approval?: boolean } = {}) {
  await p.goto(`${base}/jobs/new`);
  await p.fill('#f-name', name);
  await p.fill('#f-requesterEmail', 'alice@example.com');
  await p.selectOption('#f-region', 'us-east-1');
  await p.check('#f-authMethod-assume_role');
  await p.fill('#f-roleArn', 'arn:aws:iam::123456789012:role/Provisioner');
  await p.fill('#f-externalId', 'tenant-42');
  await p.selectOption('#f-instanceType', 't3.micro');
  if (opts.csv !== undefined) {
    await p.setInputFiles('#f-usersCsvFile', { name: 'users.csv', mimeType: 'text/csv', buffer: Buffer.from(opts.csv) });
  }
  if (opts.approval) await p.check('#f-requireApproval');
}

async function jobIdFromUrl(p: Page): Promise<string> {
  await p.waitForURL(/\/jobs\/j[0-9a-v]+$/);
  return new URL(p.url()).pathname.split('/').pop()!;
}

async function expectStatus(p: Page, status: string, timeout = 90_000) {
  await p.locator(`#job-live #job-status[data-status="${status}"]`).waitFor({ timeout });
}

describe('the web UI in a browser', () => {
  it('signs in through the login form', async () => {
    await page.goto(`${base}/`);
    await page.waitForURL(/\/login\?next=%2F$/);
    await shot('01-login');
    await page.fill('#username', USER);
    await page.fill('#password', 'wrong');
    await page.click('button[type=submit]');
    await page.locator('.error[role=alert]').waitFor();
    await page.fill('#password', PASS);
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/`);
    await expect(page.locator('h1').textContent()).resolves.toBe('Jobs');
    await shot('02-dashboard-empty');
  });

  let succeededJob = { id: '', name: '' };

  it('creates a job with a CSV upload, starts it, streams its logs live, shows outputs, destroys it', async () => {
    const name = unique('e2e-web');
    // Enough time between the page load and the apply's last line to prove the lines arrive live.
    knobs.set(name, { sandbox_log_lines: 40, sandbox_sleep_seconds: { apply: 4 } });
    await fillJobForm(page, name, { csv: USERS_CSV });
    await shot('03-new-job-form');
    await page.click('button[name=intent][value=start]');
    const id = await jobIdFromUrl(page);
    succeededJob = { id, name };
    await expect(page.locator('.flash').textContent()).resolves.toContain('Job created and started.');
    const initialLog = await page.locator('#log-box').innerText();
    expect(initialLog).not.toContain('sandbox: instance ready');

    // Lines appear without a reload, and the box follows the tail.
    await page.locator('#log-box .ll', { hasText: 'sandbox line 40' }).waitFor({ timeout: 60_000 });
    await page.locator('#log-state', { hasText: 'Live' }).waitFor();
    await shot('04-job-running');
    await page.locator('#log-box .ll', { hasText: 'sandbox: instance ready' }).waitFor({ timeout: 60_000 });
    await expectStatus(page, 'succeeded');
    const following = await page.$eval('#log-box', (b) => b.scrollHeight - b.scrollTop - b.clientHeight < 40);
    expect(following).toBe(true);

    // Outputs, users, steps, Temporal link.
    await expect(page.locator('[data-output="instance_id"]').textContent()).resolves.toMatch(/^i-[0-9a-f]{17}$/);
    await expect(page.locator('[data-output="public_ip"]').textContent()).resolves.toMatch(/^203\.0\.113\.\d+$/);
    await expect(page.locator('#users-title').textContent()).resolves.toBe('Users (2)');
    await page.locator('td', { hasText: 'Alice Admin' }).waitFor();
    for (const step of ['verify', 'plan', 'apply', 'notify']) {
      await page.locator(`li.tl-succeeded[data-step="${step}"]`).waitFor();
    }
    const temporalHref = await page.getAttribute('a:has-text("Workflow in Temporal UI")', 'href');
    expect(temporalHref).toMatch(new RegExp(`/namespaces/default/workflows/job-${id}$`));
    await shot('05-job-succeeded');

    // Destroy, confirmed in the dialog; the page follows the job to destroyed without a reload.
    const dialogs: string[] = [];
    page.once('dialog', (d) => {
      dialogs.push(d.message());
      void d.accept();
    });
    await page.click('button[data-action=destroy]');
    await page.waitForLoadState();
    expect(dialogs[0]).toMatch(/^Destroy the environment of job/);
    await expectStatus(page, 'destroyed');
    await page.locator('#log-box .ll', { hasText: '(local-exec): sandbox: destroying' }).waitFor({ timeout: 30_000 });
    expect(await page.locator('button[data-action]').count()).toBe(0);
    await shot('06-job-destroyed');
    const audit = await temp.db.selectFrom('audit_log').select('action').where('job_id', '=', id).orderBy('id').execute();
    expect(audit.map((a) => a.action)).toEqual(['create', 'start', 'destroy']);
  });

  it('shows each error beside its field and keeps every input, the uploaded file included', async () => {
    await fillJobForm(page, 'Not A Valid Name', { csv: USERS_CSV });
    await page.fill('#f-requesterEmail', 'alice-at-example');
    await page.fill('#f-vpcId', 'vpc-nothex');
    await page.fill('#f-volumeSizeGb', '4');
    await page.fill('#f-containersJson', '[\n  { "name": "web", "image": "nginx:1.27" \n]');
    await page.fill('#f-ttlHours', '48');
    await page.click('button[name=intent][value=create]');
    await page.locator('.error-summary').waitFor();
    // The summary has the focus and links to every field.
    await expect(page.evaluate(() => document.activeElement?.className)).resolves.toBe('error-summary');
    const summary = await page.locator('.error-summary li').allInnerTexts();
    expect(summary.length).toBeGreaterThanOrEqual(5);
    for (const [id, text] of [
      ['f-name', /Job name "Not A Valid Name" must be/],
      ['f-requesterEmail', /not a valid email address/],
      ['f-vpcId', /not a VPC id/],
      ['f-volumeSizeGb', /at least 8 GiB/],
      ['f-containersJson', /line 3, column 1: expected "," or "}" after a property value, found "]"/],
    ] as const) {
      await expect(page.locator(`#${id}-error`).innerText(), id).resolves.toMatch(text);
      await expect(page.getAttribute(`#${id}`, 'aria-describedby')).resolves.toContain(`${id}-error`);
    }
    // Following a summary link focuses the field.
    await page.click('.error-summary a[href="#f-volumeSizeGb"]');
    await expect(page.evaluate(() => document.activeElement?.id)).resolves.toBe('f-volumeSizeGb');
    // Everything typed is still there, and so is the file.
    await expect(page.inputValue('#f-name')).resolves.toBe('Not A Valid Name');
    await expect(page.inputValue('#f-requesterEmail')).resolves.toBe('alice-at-example');
    await expect(page.inputValue('#f-roleArn')).resolves.toBe('arn:aws:iam::123456789012:role/Provisioner');
    await expect(page.inputValue('#f-externalId')).resolves.toBe('tenant-42');
    await expect(page.inputValue('#f-ttlHours')).resolves.toBe('48');
    await expect(page.inputValue('#f-containersJson')).resolves.toBe('[\n  { "name": "web", "image": "nginx:1.27" \n]');
    await expect(page.locator('.kept').innerText()).resolves.toContain('Using users.csv (2 valid users)');
    await expect(page.inputValue('input[name=usersCsvText]')).resolves.toBe(USERS_CSV);
    await page.locator('.csv-preview td', { hasText: 'bob@example.com' }).waitFor();
    await shot('07-form-errors');

    // Fixing the fields without uploading again creates the job with the kept users.
    const name = unique('e2e-fixed');
    await page.fill('#f-name', name);
    await page.fill('#f-requesterEmail', 'alice@example.com');
    await page.fill('#f-vpcId', '');
    await page.fill('#f-volumeSizeGb', '20');
    await page.fill('#f-containersJson', '[{ "name": "web", "image": "nginx:1.27", "ports": ["8080:80"] }]');
    await page.click('button[name=intent][value=create]');
    const id = await jobIdFromUrl(page);
    await expect(page.locator('#users-title').textContent()).resolves.toBe('Users (2)');
    await expectStatus(page, 'draft');
    await expect(page.locator('button[data-action]').allInnerTexts()).resolves.toEqual(['Start']);
    const job = await getJob(temp.db, id);
    expect(JSON.parse(job!.spec_json).options.ttlHours).toBe(48);

    // Clone opens the form prefilled, CSV included.
    await page.click('a:has-text("Clone")');
    await expect(page.inputValue('#f-name')).resolves.toBe(`${name}-copy`);
    await expect(page.inputValue('input[name=usersCsvText]')).resolves.toBe(USERS_CSV);
    await shot('08-clone-form');
  });

  it('cancels a running job from its page', async () => {
    const name = unique('e2e-slow');
    knobs.set(name, { sandbox_sleep_seconds: { apply: 30 } });
    await fillJobForm(page, name);
    await page.click('button[name=intent][value=start]');
    const id = await jobIdFromUrl(page);
    await waitForStep(temp.db, id, 'apply', 'running', 60_000);
    await page.locator('li.tl-running[data-step="apply"]').waitFor({ timeout: 10_000 });
    await shot('09-job-applying');
    page.once('dialog', (d) => void d.accept());
    await page.click('button[data-action=cancel]');
    await page.waitForLoadState();
    await expectStatus(page, 'cancelled', 60_000);
    await expect(page.locator('button[data-action]').count()).resolves.toBe(0);
    await shot('10-job-cancelled');
  });

  it('goes live when a draft is started elsewhere, and shows why a job whose container exits failed', async () => {
    const name = unique('e2e-exits');
    await fillJobForm(page, name);
    await page.fill('#f-containersJson', '[{ "name": "web", "image": "example/web:sandbox-exit-3" }]');
    await page.click('button[name=intent][value=create]');
    const id = await jobIdFromUrl(page);
    await expectStatus(page, 'draft', 10_000);

    // Started through the API (or another tab): this page notices within a few seconds.
    const job = (await getJob(temp.db, id))!;
    await startJob(stack.commands, id, undefined, testActor('api-token'));
    expect(job.status).toBe('draft');
    await page.locator('#job-live #job-status:not([data-status="draft"])').waitFor({ timeout: 10_000 });

    await expectStatus(page, 'failed', 90_000);
    const error = await page.locator('#job-live .job-error').innerText();
    expect(error).toContain(
      'the instance reported a failure at phase container (container web, image example/web:sandbox-exit-3)',
    );
    expect(error).toContain('fatal: sandbox container exited (code 1)');
    // The instance card says the same, and how to look inside.
    await page.locator('#instance-title').waitFor();
    await expect(page.locator('tr[data-container="web"]').innerText()).resolves.toContain('restarting');
    await expect(page.locator('#ssm-command').innerText()).resolves.toMatch(
      /aws ssm start-session --target i-[0-9a-f]+ --region us-east-1/,
    );

    // The instance's own lines stream into the log, apart from the steps' lines, and can be shown alone.
    await page.locator('#log-box .ll.inst').first().waitFor({ timeout: 10_000 });
    await expect(page.locator('#log-box .ll.inst .ls').first().innerText()).resolves.toBe('instance');
    await page.selectOption('#log-source', 'instance');
    await expect(page.locator('#log-box .ll:not(.inst)').first().isVisible()).resolves.toBe(false);
    await expect(page.locator('#log-box .ll.inst').first().isVisible()).resolves.toBe(true);
    await shot('09b-job-container-exited');
    await page.selectOption('#log-source', '');
  });

  it('approves a job that waits for approval', async () => {
    const name = unique('e2e-approve');
    await fillJobForm(page, name, { approval: true });
    await page.click('button[name=intent][value=start]');
    const id = await jobIdFromUrl(page);
    await expectStatus(page, 'awaiting_approval');
    await page.locator('#plan-title + .plan-counts').waitFor();
    // Its creator may cancel it, but someone else approves its plan.
    await expect(page.locator('button[data-action]').allInnerTexts()).resolves.toEqual(['Cancel job']);

    const approver = await makeUser(temp.db, 'e2e-approver', 'approver');
    const { cookie } = await sessionFor(temp.db, SECRET_KEY, approver);
    const context = await browser.newContext();
    await context.addCookies([{ name: SESSION_COOKIE, value: cookie.slice(cookie.indexOf('=') + 1), url: base }]);
    const other = await context.newPage();
    await other.goto(`${base}/jobs/${id}`);
    await expect(other.locator('button[data-action]').allInnerTexts()).resolves.toEqual(['Approve plan', 'Reject plan']);
    await shot('11-job-awaiting-approval', other);
    await other.fill('#approve-comment', 'looks right');
    await other.click('button[data-action=approve]');
    await expect(other.locator('.flash').textContent()).resolves.toContain('Plan approved');
    await context.close();
    await expectStatus(page, 'succeeded');
    const audit = await temp.db
      .selectFrom('audit_log')
      .select(['action', 'detail', 'actor'])
      .where('job_id', '=', id)
      .orderBy('id')
      .execute();
    expect(audit).toContainEqual({ action: 'approve', detail: 'looks right', actor: 'e2e-approver' });
    succeededJob = { id, name };
  });

  it('changes a live environment with the Change form; someone else approves the change; the page follows it', async () => {
    const { id } = succeededJob;
    await page.goto(`${base}/jobs/${id}`);
    await page.click('#change-link');
    await page.waitForURL(`${base}/jobs/${id}/change`);
    await expect(page.inputValue('#f-volumeSizeGb')).resolves.toBe('20');
    await page.selectOption('#f-instanceType', 't3.small');
    await page.fill('#f-containersJson', JSON.stringify([{ name: 'webapp', image: 'nginx:1.27', ports: ['80:80'] }], null, 2));
    await page.fill('#f-reason', 'newer nginx');
    await shot('11b-change-form');
    await page.click('#change-form button[type=submit]');
    await page.waitForURL(`${base}/jobs/${id}`);
    await expect(page.locator('.flash').textContent()).resolves.toContain('Revision 1 started');
    // The job asks for approval of every plan, so the change waits; its requester cannot approve it.
    await page.locator('#revision-state[data-status="awaiting_approval"]').waitFor({ timeout: 60_000 });
    await expect(page.locator('#job-status').getAttribute('data-status')).resolves.toBe('succeeded');
    await expect(page.locator('.differences').innerText()).resolves.toContain('instance type t3.micro → t3.small');
    await expect(page.locator('button[data-action]').allInnerTexts()).resolves.toEqual([
      'Destroy',
      'Set time to live',
      'Cancel change',
    ]);
    await shot('11c-change-awaiting-approval');

    const approver = await makeUser(temp.db, 'e2e-change-approver', 'approver');
    const { cookie } = await sessionFor(temp.db, SECRET_KEY, approver);
    const context = await browser.newContext();
    await context.addCookies([{ name: SESSION_COOKIE, value: cookie.slice(cookie.indexOf('=') + 1), url: base }]);
    const other = await context.newPage();
    await other.goto(`${base}/jobs/${id}`);
    await other.fill('#revision-approve-comment', 'go');
    await other.click('button[data-action=approve]');
    await expect(other.locator('.flash').textContent()).resolves.toContain('Change approved');
    await context.close();

    // The first page follows the revision to its end without a reload.
    await page.locator('#revision-state[data-status="succeeded"]').waitFor({ timeout: 90_000 });
    for (const step of ['plan', 'approval', 'apply', 'ready']) {
      await page.locator(`.revision-current li.tl-succeeded[data-step="${step}"]`).waitFor();
    }
    await page.reload();
    await expect(page.locator('#change-link').isVisible()).resolves.toBe(true);
    await shot('11d-change-applied');
  });

  it('finds the job with the dashboard filter and search; running rows refresh by themselves', async () => {
    await page.goto(`${base}/`);
    await page.selectOption('#filter-status', 'succeeded');
    await page.fill('#filter-q', succeededJob.name);
    await page.click('.filters button[type=submit]');
    await page.waitForURL(/status=succeeded/);
    const rows = page.locator('#job-rows tr');
    await expect(rows.count()).resolves.toBe(1);
    await expect(rows.first().getAttribute('data-job-id')).resolves.toBe(succeededJob.id);
    await shot('12-dashboard-filtered');

    await page.fill('#filter-q', 'alice@example');
    await page.selectOption('#filter-status', '');
    await page.click('.filters button[type=submit]');
    await expect(page.locator(`#job-rows tr[data-job-id="${succeededJob.id}"]`).count()).resolves.toBe(1);

    // A job started elsewhere shows up as running and turns succeeded on the open dashboard.
    const name = unique('e2e-dash');
    knobs.set(name, { sandbox_sleep_seconds: { apply: 3 } });
    const other = await context.newPage();
    await fillJobForm(other, name);
    await other.click('button[name=intent][value=start]');
    const id = await jobIdFromUrl(other);
    await other.close();
    await page.goto(`${base}/`);
    const row = page.locator(`#job-rows tr[data-job-id="${id}"]`);
    await row.locator('.badge-running').waitFor();
    await shot('13-dashboard-running');
    await row.locator('.badge-succeeded').waitFor({ timeout: 60_000 });
  });

  it('shows the outbox, one notification, and the audit log', async () => {
    await page.goto(`${base}/outbox`);
    const first = page.locator('table.outbox tbody tr').first();
    await first.waitFor();
    await shot('14-outbox');
    await first.locator('td[data-label=Subject] a').click();
    await page.locator('iframe.mail-frame[sandbox=""]').waitFor();
    const frame = page.frameLocator('iframe.mail-frame');
    await expect(frame.locator('body').innerText()).resolves.toMatch(/\S/);
    await expect(page.locator('pre.mail-text').innerText()).resolves.toMatch(/\S/);
    await shot('15-notification');
    await page.goto(`${base}/audit`);
    await page.locator('table.audit tbody tr').first().waitFor();
    await shot('16-audit');
  });

  it('stays fast with 100,000 log lines: a bounded DOM, older lines on request, the tail followed', async () => {
    // A running job with a huge log, written straight to the DB (the terraform output path is covered above).
    // Running, so its stream stays open: a settled job's stream ends 2 s after its last line.
    const bigId = `jbig${Date.now().toString(36)}`;
    const now = new Date().toISOString();
    const spec = {
      name: 'huge-log',
      requesterEmail: 'alice@example.com',
      region: 'us-east-1',
      auth: { method: 'assume_role', roleArn: 'arn:aws:iam::123456789012:role/Provisioner' },
      instance: { type: 't3.micro', volumeSizeGb: 20, ingressCidr: '0.0.0.0/0' },
      containers: [{ name: 'web', image: 'nginx:1.27', ports: [], environment: {}, volumes: [], restart: 'unless-stopped' }],
      options: { requireApproval: false },
    };
    await insertJob(temp.db, {
      id: bigId,
      name: 'huge-log',
      status: 'running',
      step: 'apply',
      requester_email: 'alice@example.com',
      region: 'us-east-1',
      instance_type: 't3.micro',
      auth_method: 'assume_role',
      spec_json: JSON.stringify(spec),
      account_id: null,
      assumed_role_arn: null,
      plan_summary_json: null,
      outputs_json: null,
      error: null,
      workflow_id: null,
      created_by: 'e2e',
      created_at: now,
      started_at: now,
      finished_at: null,
      destroy_at: null,
      has_resources: 1,
      updated_at: now,
    });
    const start = 1;
    for (let chunk = 0; chunk < 100; chunk++) {
      await appendLogLines(
        temp.db,
        bigId,
        Array.from({ length: 1000 }, (_, i) => ({
          step: 'bench',
          attempt: 1,
          stream: 'stdout',
          lineNo: chunk * 1000 + i + 1,
          line: `bulk line ${start + chunk * 1000 + i} ${'·'.repeat(40)}`,
          ts: now,
        })),
      );
    }
    const t0 = Date.now();
    await page.goto(`${base}/jobs/${bigId}`);
    await page.locator('#log-box .ll').last().waitFor();
    const loadMs = Date.now() - t0;
    expect(loadMs).toBeLessThan(5_000);
    const count = () => page.locator('#log-box .ll').count();
    // The server renders a short tail (at most 200 lines, 32 KB); the rest is paged in.
    const initial = await count();
    expect(initial).toBeGreaterThan(100);
    expect(initial).toBeLessThanOrEqual(200);
    await page.click('#log-older');
    await page.waitForFunction((n) => document.querySelectorAll('#log-box .ll').length === n, initial + 1000);
    // The view moves up to the loaded lines, out of the tail, and offers the way back.
    await page.locator('#log-box .ll', { hasText: `bulk line ${start + 100_000 - initial - 1000} ` }).waitFor();
    await expect(page.locator('#log-jump').isVisible()).resolves.toBe(true);

    // New lines while reading older ones: the view does not move; the button counts them.
    const top = await page.$eval('#log-box', (b) => b.scrollTop);
    const last = start + 100_000 - 1;
    await appendLogLines(
      temp.db,
      bigId,
      Array.from({ length: 3000 }, (_, i) => ({
        step: 'bench',
        attempt: 2,
        stream: i % 10 === 0 ? 'stderr' : 'stdout',
        lineNo: i + 1,
        line: `late line ${last + i + 1}`,
        ts: now,
      })),
    );
    await page.locator('#log-jump', { hasText: 'new' }).waitFor({ timeout: 10_000 });
    expect(await page.$eval('#log-box', (b) => b.scrollTop)).toBe(top);
    // What the reader sees is still the older page, not the new tail.
    const firstVisible = await page.$eval('#log-box', (b) => {
      const top = b.getBoundingClientRect().top;
      return Array.from(b.children).find((el) => el.getBoundingClientRect().bottom > top)?.textContent ?? '';
    });
    expect(firstVisible).toMatch(/bulk line \d+/);
    await shot('17-logs-browsing-older');
    await page.click('#log-jump');
    await page.locator('#log-box .ll', { hasText: `late line ${last + 3000}` }).waitFor();
    expect(await count()).toBeLessThanOrEqual(2000);
    const atBottom = await page.$eval('#log-box', (b) => b.scrollHeight - b.scrollTop - b.clientHeight < 40);
    expect(atBottom).toBe(true);
    await expect(page.locator('#log-jump').isHidden()).resolves.toBe(true);
    // The page stays responsive: a scripted interaction answers quickly.
    const t1 = Date.now();
    await page.evaluate(() => document.getElementById('log-box')!.scrollTo(0, 0));
    expect(Date.now() - t1).toBeLessThan(1_000);
    await shot('18-logs-100k');

    // The stream drops (server side); EventSource reconnects with Last-Event-ID and nothing is lost or doubled.
    (server as unknown as { closeAllConnections: () => void }).closeAllConnections();
    await appendLogLines(
      temp.db,
      bigId,
      Array.from({ length: 5 }, (_, i) => ({
        step: 'bench',
        attempt: 3,
        stream: 'stdout',
        lineNo: i + 1,
        line: `after reconnect ${i + 1}`,
        ts: now,
      })),
    );
    await page.locator('#log-box .ll', { hasText: 'after reconnect 5' }).waitFor({ timeout: 15_000 });
    const seqs = await page.$$eval('#log-box .ll', (els) => els.map((e) => Number((e as HTMLElement).dataset.seq)));
    expect(seqs.every((seq, i) => i === 0 || seq === seqs[i - 1] + 1)).toBe(true);
    expect(seqs[seqs.length - 1]).toBe(last + 3000 + 5);
  });

  it('works at 375 px wide without horizontal scrolling', async () => {
    const phone = await browser.newPage({ viewport: { width: 375, height: 800 } });
    await phone.context().addCookies(await context.cookies());
    for (const [name, url] of [
      ['19-mobile-dashboard', '/'],
      ['20-mobile-job', `/jobs/${succeededJob.id}`],
      ['21-mobile-new-job', '/jobs/new'],
    ] as const) {
      await phone.goto(`${base}${url}`);
      const width = await phone.evaluate(() => document.documentElement.scrollWidth);
      expect(width, url).toBeLessThanOrEqual(375);
      await shot(name, phone);
    }
    await phone.close();
  });

  it('raised no script or CSP errors in the browser', () => {
    expect(consoleErrors).toEqual([]);
  });
});
