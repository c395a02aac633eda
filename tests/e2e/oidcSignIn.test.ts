import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve, type ServerType } from '@hono/node-server';
import type { Browser } from 'playwright-core';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { freePort } from '../../src/temporal/devServer.js';
import { createTempDb } from '../support/tempDb.js';
import { startOidcProvider, type OidcTestProvider } from '../support/oidcProvider.js';
import { testClient } from '../support/worker.js';
import { securityConfig } from '../security/support.js';
import { launchChromium } from '../support/chromium.js';

/**
 * In Chromium, as a person would: the service's sign-in page, the identity
 * provider's own login form, back on the dashboard with the role their
 * groups map to (and the navigation that role gets), then sign-out at the
 * provider, ending on the service's sign-in page.
 */

const CLIENT_ID = 'provisioning-e2e';
const CLIENT_SECRET = 'provisioning-e2e-secret';

let op: OidcTestProvider;
let temp: Awaited<ReturnType<typeof createTempDb>>;
let client: Client;
let closeClient: () => Promise<void>;
let server: ServerType | undefined;
let browser: Browser | undefined;
let base: string;

beforeAll(async () => {
  temp = await createTempDb();
  ({ client, close: closeClient } = await testClient());
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  op = await startOidcProvider({
    users: [
      { sub: 'ann', email: 'ann@example.test', name: 'Ann Approver', groups: ['reviewers'], password: 'ann-pass' },
      { sub: 'vic', email: 'vic@example.test', name: 'Vic Viewer', groups: ['staff'], password: 'vic-pass' },
    ],
    clients: [
      {
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        redirectUris: [`${base}/auth/oidc/callback`],
        postLogoutRedirectUris: [`${base}/login`],
      },
    ],
  });
  const app = createApp({
    db: temp.db,
    temporal: client,
    config: securityConfig({
      DATA_DIR: temp.dir,
      PUBLIC_BASE_URL: base,
      OIDC_ISSUER_URL: op.issuer,
      OIDC_CLIENT_ID: CLIENT_ID,
      OIDC_CLIENT_SECRET: CLIENT_SECRET,
      OIDC_SCOPES: 'openid email profile groups',
      OIDC_ROLE_MAP: 'reviewers=approver',
      OIDC_PROVIDER_NAME: 'Example SSO',
    }),
  });
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => resolve(s));
  });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  if (server) {
    (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
    await new Promise<void>((r) => server!.close(() => r()));
  }
  await op?.stop();
  await closeClient?.();
  await temp?.cleanup();
}, 60_000);

describe('signing in through the identity provider in a browser', () => {
  it.each([
    ['ann', 'ann-pass', 'Ann Approver', 'approver', true],
    ['vic', 'vic-pass', 'Vic Viewer', 'viewer', false],
  ] as const)(
    '%s lands on the dashboard with the mapped role, and signs out at the provider',
    async (login, password, name, role, canCreate) => {
      const context = await browser!.newContext();
      const page = await context.newPage();
      // A page that needs a sign-in sends the browser to the sign-in page, which offers the provider.
      await page.goto(`${base}/audit`);
      expect(new URL(page.url()).pathname).toBe('/login');
      await page.getByRole('link', { name: 'Sign in with Example SSO' }).click();

      // The provider's own login form.
      await page.waitForURL((u) => u.origin === op.issuer);
      await page.getByLabel('Username or email').fill(login);
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Sign in' }).click();

      // Back where the person was going, signed in with the role their groups give.
      await page.waitForURL(`${base}/audit`);
      await expect.poll(() => page.getByRole('button', { name: /^Sign out/ }).textContent()).toContain(`${name} (${role})`);
      await page.goto(`${base}/`);
      expect(await page.getByRole('link', { name: 'New job' }).count()).toBe(canCreate ? 2 : 0);
      expect(await page.getByRole('link', { name: 'Users' }).count()).toBe(0);

      await page.getByRole('button', { name: /^Sign out/ }).click();
      // The provider's sign-out page confirms (or goes on by itself), then the service's sign-in page.
      await page.waitForURL((u) => u.origin === op.issuer || u.pathname === '/login');
      if (new URL(page.url()).origin === op.issuer) {
        const confirm = page.getByRole('button', { name: /sign me out/i });
        if (await confirm.count()) await confirm.click();
        await page.waitForURL(`${base}/login`);
      }
      await page.goto(`${base}/`);
      expect(new URL(page.url()).pathname).toBe('/login');
      await context.close();
    },
  );
});
