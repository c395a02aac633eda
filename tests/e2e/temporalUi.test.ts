import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { serve, type ServerType } from '@hono/node-server';
import type { Browser, Page, Response as PwResponse } from 'playwright-core';
import { Client, Connection } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { parseConfig } from '../../src/config.js';
import { PROXIED_UI, freePort, startDevServer, type DevServer } from '../../src/temporal/devServer.js';
import { createTempDb } from '../support/tempDb.js';
import { ROOT } from '../support/processes.js';
import { TEST_SECRET_KEY, testDataConverter, uniqueQueue } from '../support/worker.js';
import { launchChromium } from '../support/chromium.js';

/**
 * The real Temporal Web UI (the dev server's, started as `npm start` starts
 * it: under /temporal, codec endpoint /codec) served by the real app on a
 * loopback port, in Chromium. A job with access keys starts its workflow at
 * once (no worker polls its queue, so it just waits), which puts its
 * encrypted spec in the history. Signed in, the UI shows that spec decoded
 * and redacted, with no codec error; not signed in, neither the proxied UI
 * nor the codec answers, and the UI's own port (reachable without a sign-in
 * on this machine) shows ciphertext only.
 */

const SHOTS = path.join(ROOT, 'test-output', 'screenshots');
const USER = 'admin';
const PASS = 'ui-e2e-password-123';
const API_TOKEN = 'ui-e2e-token-0123456789';
const KEY_ID = `AKIA${crypto.randomBytes(8).toString('hex').toUpperCase()}`;
const SECRET = crypto.randomBytes(30).toString('base64').slice(0, 40);
const JOB_NAME = `ui-codec-${crypto.randomBytes(4).toString('hex')}`;
const CODEC_ERROR = 'Codec Server could not connect';

let devServer: DevServer | undefined;
let connection: Connection | undefined;
let temp: Awaited<ReturnType<typeof createTempDb>> | undefined;
let server: ServerType | undefined;
let browser: Browser | undefined;
let base: string;
let jobId: string;
let workflowId: string;

beforeAll(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  const [port, uiPort, webPort] = [await freePort(), await freePort(), await freePort()];
  base = `http://127.0.0.1:${webPort}`;
  // A dev server of its own: the shared one's UI is not served under /temporal.
  devServer = await startDevServer({ cliPath: inject('temporalCliPath'), port, uiPort, host: '127.0.0.1', ...PROXIED_UI });
  connection = await Connection.connect({ address: devServer.address });
  const client = new Client({ connection, dataConverter: testDataConverter() });
  temp = await createTempDb();
  const config = parseConfig({
    APP_ADMIN_USER: USER,
    APP_ADMIN_PASS: PASS,
    SECRET_KEY: TEST_SECRET_KEY,
    API_TOKENS: API_TOKEN,
    DATA_DIR: temp.dir,
    PUBLIC_BASE_URL: base,
    TEMPORAL_UI_UPSTREAM: devServer.uiUrl,
    TEMPORAL_TASK_QUEUE: uniqueQueue('ui-e2e'),
    ALLOW_ACCESS_KEY_AUTH: 'true',
  });
  const app = createApp({ db: temp.db, temporal: client, config });
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: webPort, hostname: '127.0.0.1' }, () => resolve(s));
  });

  // Access keys: the job starts when it is created, its keys only in the (encrypted) workflow input.
  const res = await fetch(`${base}/api/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: JOB_NAME,
      requesterEmail: 'alice@example.com',
      region: 'us-east-1',
      auth: { method: 'access_keys', accessKeyId: KEY_ID, secretAccessKey: SECRET },
      instance: { type: 't3.micro' },
      containers: [{ name: 'web', image: 'nginx:latest', ports: ['80:80'] }],
    }),
  });
  if (res.status !== 201) throw new Error(`job creation answered ${res.status}: ${await res.text()}`);
  const job = (await res.json()) as { id: string; workflowId: string };
  jobId = job.id;
  workflowId = job.workflowId;
  expect(workflowId).toBe(`job-${jobId}`);

  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  if (server) {
    (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
    await new Promise<void>((r) => server!.close(() => r()));
  }
  await connection?.close().catch(() => undefined);
  await devServer?.stop();
  await temp?.cleanup();
}, 60_000);

const bodyText = (p: Page) => p.evaluate(() => document.body.innerText);

/** The workflow's input payloads as the Codec Server protocol carries them (base64 JSON). */
async function inputPayloads(): Promise<{ metadata: Record<string, string>; data: string }[]> {
  const client = new Client({ connection: connection!, dataConverter: testDataConverter() });
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const payloads = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
  return payloads.map((p) => ({
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    data: Buffer.from(p.data ?? []).toString('base64'),
  }));
}

describe('the Temporal UI through the service', () => {
  it('signed in: the job page links to the workflow in the UI, which shows the input decoded and redacted, no codec error', async () => {
    const context = await browser!.newContext({ viewport: { width: 1400, height: 1000 } });
    const codecAnswers: number[] = [];
    context.on('response', (r: PwResponse) => {
      if (r.url().endsWith('/codec/decode')) codecAnswers.push(r.status());
    });
    try {
      const page = await context.newPage();
      await page.goto(`${base}/jobs/${jobId}`);
      await page.waitForURL(/\/login\?next=/);
      await page.fill('#username', USER);
      await page.fill('#password', PASS);
      await page.click('button[type=submit]');
      await page.waitForURL(`${base}/jobs/${jobId}`);

      const link = page.locator('a', { hasText: 'Workflow in Temporal UI' });
      expect(await link.getAttribute('href')).toBe(`${base}/temporal/namespaces/default/workflows/${workflowId}`);
      const [ui] = await Promise.all([context.waitForEvent('page'), link.click()]);
      await ui.waitForURL(new RegExp(`/temporal/namespaces/default/workflows/${workflowId}`), { timeout: 60_000 });
      expect(new URL(ui.url()).origin).toBe(base);

      // The input, decoded by /codec with the session and redacted there.
      await ui.waitForFunction((name) => document.body.innerText.includes(name), JOB_NAME, { timeout: 90_000 });
      await ui.locator('[data-testid="data-encoder-status-success"]').waitFor({ timeout: 30_000 });
      await ui.screenshot({ path: path.join(SHOTS, 'temporal-ui-decoded.png'), fullPage: true });
      const text = await bodyText(ui);
      expect(text).not.toContain(CODEC_ERROR);
      expect(await ui.locator('[data-testid="data-encoder-status-error"]').count()).toBe(0);
      expect(text).toContain('nginx:latest');
      expect(text).toContain(`${KEY_ID.slice(0, 4)}…${KEY_ID.slice(-4)}`);
      expect(text).not.toContain(KEY_ID);
      expect(text).not.toContain(SECRET);
      expect(await ui.content()).not.toContain(SECRET);
      expect(codecAnswers.length).toBeGreaterThan(0);
      expect(codecAnswers.every((s) => s === 200)).toBe(true);

      // The UI's writes pass too: a terminate is a JSON POST with our Origin and the UI's own CSRF token.
      await ui.getByRole('button', { name: 'More Actions' }).click();
      await ui.getByRole('menuitem', { name: 'Terminate' }).click();
      const dialog = ui.getByRole('dialog');
      await dialog.locator('input, textarea').first().fill('ended from the proxied Temporal UI');
      await dialog.getByRole('button', { name: 'Terminate' }).click();
      await ui.waitForFunction(() => /Terminated/.test(document.body.innerText), undefined, { timeout: 60_000 });
      await ui.screenshot({ path: path.join(SHOTS, 'temporal-ui-terminated.png'), fullPage: true });
      const client = new Client({ connection: connection!, dataConverter: testDataConverter() });
      const described = await client.workflow.getHandle(workflowId).describe();
      expect(described.status.name).toBe('TERMINATED');
    } finally {
      await context.close();
    }
  }, 180_000);

  it('not signed in: the proxied UI sends to the sign-in, the codec refuses, and no plaintext is shown', async () => {
    const context = await browser!.newContext({ viewport: { width: 1400, height: 1000 } });
    try {
      const page = await context.newPage();
      const workflowPath = `/temporal/namespaces/default/workflows/${workflowId}`;
      await page.goto(`${base}${workflowPath}`);
      expect(page.url()).toBe(`${base}/login?next=${encodeURIComponent(workflowPath)}`);
      expect(await bodyText(page)).not.toContain(JOB_NAME);

      // The codec, called from a page of ours as the UI would call it, refuses without a session.
      const payloads = await inputPayloads();
      expect(payloads).toHaveLength(1);
      const answer = await page.evaluate(async (body) => {
        const res = await fetch('/codec/decode', {
          method: 'POST',
          credentials: 'include',
          headers: { 'content-type': 'application/json', 'x-namespace': 'default' },
          body,
        });
        return { status: res.status, text: await res.text() };
      }, JSON.stringify({ payloads }));
      expect(answer.status).toBe(401);
      expect(answer.text).not.toContain(JOB_NAME);

      // The UI's own port, open to anyone on this machine: it loads the workflow, but has no codec
      // to ask (its /codec is not ours), so the input stays ciphertext and the UI says so.
      const direct = await context.newPage();
      await direct.goto(`${devServer!.uiUrl}${workflowPath}`);
      await direct.waitForFunction((id) => document.body.innerText.includes(id), workflowId, { timeout: 90_000 });
      await direct.locator('[data-testid="data-encoder-status-error"]').waitFor({ timeout: 60_000 });
      await direct.screenshot({ path: path.join(SHOTS, 'temporal-ui-direct-not-decoded.png'), fullPage: true });
      expect(await bodyText(direct)).not.toContain(JOB_NAME);
      expect(await direct.content()).not.toContain(JOB_NAME);
    } finally {
      await context.close();
    }
  }, 180_000);
});
