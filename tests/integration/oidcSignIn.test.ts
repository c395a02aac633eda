import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve, type ServerType } from '@hono/node-server';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { getUserBySubject, setUserActive, setUserRoleOverride } from '../../src/db/users.js';
import { teamsOfUser } from '../../src/db/teams.js';
import { makeTeam } from '../support/people.js';
import { freePort } from '../../src/temporal/devServer.js';
import { createTempDb } from '../support/tempDb.js';
import { startOidcProvider, type OidcTestProvider } from '../support/oidcProvider.js';
import { testClient } from '../support/worker.js';
import { securityConfig } from '../security/support.js';

/**
 * The service's sign-in through a real OpenID Connect provider (oidc-provider
 * on loopback), over real HTTP: the redirect with PKCE, state and nonce, the
 * callback, the user row from the claims, the role from the groups (or an
 * admin's override), refusals, and sign-out at the provider.
 */

const CLIENT_ID = 'provisioning';
const CLIENT_SECRET = 'provisioning-client-secret';

let op: OidcTestProvider;
let temp: Awaited<ReturnType<typeof createTempDb>>;
let client: Client;
let closeClient: () => Promise<void>;
const servers: ServerType[] = [];

const people = {
  ada: { sub: 'ada-1', email: 'ada@example.test', name: 'Ada Admin', groups: ['platform-admins', 'devs'], password: 'pw-ada' },
  dev: { sub: 'dev-2', email: 'dev@example.test', name: 'Dev Eloper', groups: ['devs'], password: 'pw-dev' },
  nob: { sub: 'nob-3', email: 'nobody@example.test', name: 'No Body', groups: ['marketing'], password: 'pw-nob' },
  new: { sub: 'new-4', email: 'new@example.test', name: 'New Comer', groups: ['marketing'], password: 'pw-new' },
};

/** An app on `port` signing in through the provider, with `extra` settings. */
async function startApp(port: number, extra: Record<string, string> = {}) {
  const appBase = `http://127.0.0.1:${port}`;
  const app = createApp({
    db: temp.db,
    temporal: client,
    config: securityConfig({
      DATA_DIR: temp.dir,
      PUBLIC_BASE_URL: appBase,
      OIDC_ISSUER_URL: op.issuer,
      OIDC_CLIENT_ID: CLIENT_ID,
      OIDC_CLIENT_SECRET: CLIENT_SECRET,
      OIDC_SCOPES: 'openid email profile groups',
      OIDC_ROLE_MAP: 'platform-admins=admin, devs=requester',
      OIDC_PROVIDER_NAME: 'Test IdP',
      ...extra,
    }),
  });
  await new Promise<void>((resolve) => {
    servers.push(serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => resolve()));
  });
  return appBase;
}

let base: string;

/** A second app whose people in no mapped group get no role (OIDC_DEFAULT_ROLE=none). */
let strictBase: string;

beforeAll(async () => {
  temp = await createTempDb();
  ({ client, close: closeClient } = await testClient());
  // The provider needs the apps' addresses for its redirect URIs: their ports come first.
  const ports = [await freePort(), await freePort()];
  op = await startOidcProvider({
    users: Object.values(people),
    clients: [
      {
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        redirectUris: ports.map((p) => `http://127.0.0.1:${p}/auth/oidc/callback`),
        postLogoutRedirectUris: ports.map((p) => `http://127.0.0.1:${p}/login`),
      },
    ],
  });
  base = await startApp(ports[0]);
  strictBase = await startApp(ports[1], { OIDC_DEFAULT_ROLE: 'none' });
}, 60_000);

afterAll(async () => {
  for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
  await op?.stop();
  await closeClient?.();
  await temp?.cleanup();
});

const cookieOf = (res: Response, name: string) =>
  res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .find((c) => c.startsWith(`${name}=`) && c.length > name.length + 1);

/** The whole sign-in as a browser does it; returns the app's answer to the callback and the session cookie. */
async function signIn(who: { sub: string; password: string }, next = '/jobs?status=running', appBase = base) {
  const start = await fetch(`${appBase}/auth/oidc/start?next=${encodeURIComponent(next)}`, { redirect: 'manual' });
  expect(start.status).toBe(302);
  const authorize = new URL(start.headers.get('location')!);
  expect(authorize.origin).toBe(op.issuer);
  expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
  for (const p of ['code_challenge', 'state', 'nonce']) expect(authorize.searchParams.get(p)).toBeTruthy();
  const flow = cookieOf(start, 'prov_oidc')!;
  const callback = await op.signInOverHttp(authorize, who.sub, who.password);
  expect(callback.pathname).toBe('/auth/oidc/callback');
  const done = await fetch(callback, { headers: { cookie: flow }, redirect: 'manual' });
  return { done, session: cookieOf(done, 'prov_session'), callback, flow };
}

async function me(session: string | undefined, appBase = base) {
  const res = await fetch(`${appBase}/api/me`, { headers: { cookie: session ?? '' } });
  return { status: res.status, body: res.status === 200 ? ((await res.json()) as { name: string; role: string }) : null };
}

describe('sign-in through the identity provider', () => {
  it('offers the provider on the login page, and signs people in with the role their groups map to', async () => {
    const login = await (await fetch(`${base}/login`)).text();
    expect(login).toContain('Sign in with Test IdP');
    expect(login).toContain('name="password"');

    const ada = await signIn(people.ada);
    expect(ada.done.status).toBe(303);
    expect(ada.done.headers.get('location')).toBe('/jobs?status=running');
    // In two mapped groups: the higher role.
    expect(await me(ada.session)).toEqual({ status: 200, body: expect.objectContaining({ name: 'Ada Admin', role: 'admin' }) });
    const dev = await signIn(people.dev);
    expect((await me(dev.session)).body?.role).toBe('requester');
    // No mapped group: the default role (viewer).
    const nob = await signIn(people.nob);
    expect((await me(nob.session)).body?.role).toBe('viewer');

    const row = await getUserBySubject(temp.db, `oidc:${people.dev.sub}`);
    expect(row).toMatchObject({ email: 'dev@example.test', name: 'Dev Eloper', mapped_role: 'requester', active: 1 });
    // A team that follows the devs group: joined at the next sign-in.
    await makeTeam(temp.db, 'developers', 'devs');
    expect(await teamsOfUser(temp.db, row!.id)).toEqual([]);
    await signIn(people.dev);
    expect((await teamsOfUser(temp.db, row!.id)).map((t) => t.name)).toEqual(['developers']);
  });

  it("keeps an admin's role override over the groups at the next sign-in, and refuses a deactivated person", async () => {
    await signIn(people.nob);
    const row = (await getUserBySubject(temp.db, `oidc:${people.nob.sub}`))!;
    await setUserRoleOverride(temp.db, row.id, 'approver');
    expect((await me((await signIn(people.nob)).session)).body?.role).toBe('approver');

    await setUserActive(temp.db, row.id, false, new Date());
    const refused = await signIn(people.nob);
    expect(refused.done.status).toBe(303);
    expect(decodeURIComponent(refused.done.headers.get('location')!)).toContain('deactivated');
    expect(refused.session).toBeUndefined();
    await setUserActive(temp.db, row.id, true, new Date());
  });

  it('refuses a callback without its own flow cookie, a replayed code, and a provider error', async () => {
    const first = await signIn(people.dev);
    // Replayed: the flow cookie is spent, and the code too.
    const replay = await fetch(first.callback, { headers: { cookie: first.flow }, redirect: 'manual' });
    expect(cookieOf(replay, 'prov_session')).toBeUndefined();
    // Another flow's cookie with this callback: the state does not match.
    const other = await fetch(`${base}/auth/oidc/start`, { redirect: 'manual' });
    const mixed = await fetch(first.callback, { headers: { cookie: cookieOf(other, 'prov_oidc')! }, redirect: 'manual' });
    expect(mixed.status).toBe(303);
    expect(cookieOf(mixed, 'prov_session')).toBeUndefined();
    const noCookie = await fetch(first.callback, { redirect: 'manual' });
    expect(decodeURIComponent(noCookie.headers.get('location')!)).toContain('sign in again');
    const denied = await fetch(`${base}/auth/oidc/callback?error=access_denied&error_description=nope`, {
      headers: { cookie: cookieOf(other, 'prov_oidc')! },
      redirect: 'manual',
    });
    expect(decodeURIComponent(denied.headers.get('location')!)).toContain('refused the sign-in: nope');
  });

  it("signs out at the provider too: the session ends here and the provider's sign-out page comes next", async () => {
    const { session } = await signIn(people.dev);
    const page = await (await fetch(`${base}/`, { headers: { cookie: session! } })).text();
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page)![1];
    const out = await fetch(`${base}/logout`, {
      method: 'POST',
      headers: { cookie: session!, 'content-type': 'application/x-www-form-urlencoded', origin: base },
      body: new URLSearchParams({ _csrf: csrf }),
      redirect: 'manual',
    });
    expect(out.status).toBe(303);
    const endSession = new URL(out.headers.get('location')!);
    expect(endSession.origin).toBe(op.issuer);
    expect(endSession.searchParams.get('post_logout_redirect_uri')).toBe(`${base}/login`);
    expect((await me(session)).status).toBe(401);
    expect(await op.signOutOverHttp(endSession)).toEqual(expect.objectContaining({ pathname: '/login' }));
  });

  it('with OIDC_DEFAULT_ROLE=none, refuses someone in no mapped group until an admin gives them a role', async () => {
    const newcomer = { sub: 'new-4', password: 'pw-new' };
    const refused = await signIn(newcomer, '/', strictBase);
    expect(refused.session).toBeUndefined();
    expect(decodeURIComponent(refused.done.headers.get('location')!)).toContain('no role here yet');
    // The row exists, so an admin can find them and give them a role.
    const row = (await getUserBySubject(temp.db, 'oidc:new-4'))!;
    expect(row.mapped_role).toBeNull();
    await setUserRoleOverride(temp.db, row.id, 'requester');
    expect((await me((await signIn(newcomer, '/', strictBase)).session, strictBase)).body?.role).toBe('requester');
    // Mapped groups still count there.
    expect((await me((await signIn(people.dev, '/', strictBase)).session, strictBase)).body?.role).toBe('requester');
  });
});
