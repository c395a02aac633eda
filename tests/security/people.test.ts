import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { type ConfigError, parseConfig } from '../../src/config.js';
import type { UserRow } from '../../src/db/schema.js';
import { createTempDb } from '../support/tempDb.js';
import { ROOT } from '../support/processes.js';
import { sampleSpec } from '../support/jobs.js';
import { makeUser, sessionFor, tokenFor } from '../support/people.js';
import { testClient, TEST_SECRET_KEY } from '../support/worker.js';
import { ADMIN_PASS, ADMIN_USER, basic, login, securityConfig, type App } from './support.js';

/**
 * API tokens (named, a role no higher than their user's, an expiry, shown
 * once and stored as a hash, listed with last use, revoked), users managed by
 * admins (a role that overrides the groups, deactivation that cuts sessions
 * and tokens at once), the local admin switch, and what the audit records.
 */

let temp: Awaited<ReturnType<typeof createTempDb>>;
let client: Client;
let closeClient: () => Promise<void>;
let app: App;
let requester: UserRow;
let admin: UserRow;

beforeAll(async () => {
  temp = await createTempDb();
  ({ client, close: closeClient } = await testClient());
  app = createApp({
    db: temp.db,
    temporal: client,
    config: securityConfig({ DATA_DIR: temp.dir, TEMPORAL_TASK_QUEUE: `people-${process.pid}-${Date.now()}` }),
  });
  requester = await makeUser(temp.db, 'rita', 'requester');
  admin = await makeUser(temp.db, 'ada', 'admin');
}, 60_000);

afterAll(async () => {
  await closeClient?.();
  await temp?.cleanup();
});

async function json(method: string, path: string, auth: Record<string, string>, body?: unknown) {
  const res = await app.request(path, {
    method,
    headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

describe('API tokens', () => {
  it('are created for oneself with a name, shown once, stored as a hash, act with their role and are listed with last use', async () => {
    const own = await tokenFor(temp.db, requester, 'requester');
    const created = await json('POST', '/api/tokens', bearer(own.secret), {
      name: 'ci deploys',
      role: 'viewer',
      expiresInDays: 30,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'ci deploys',
      role: 'viewer',
      userId: requester.id,
      state: 'active',
      revokedAt: null,
    });
    expect(created.body.token).toMatch(/^prov_[A-Za-z0-9_-]{43}$/);
    expect(Date.parse(created.body.expiresAt) - Date.now()).toBeGreaterThan(29 * 86_400_000);
    // Only the hash is kept: the secret appears nowhere in the database.
    const rows = await temp.db.selectFrom('api_tokens').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(created.body.token);

    // The viewer token reads and cannot create, though its user could.
    const me = await json('GET', '/api/me', bearer(created.body.token));
    expect(me.body).toEqual({
      userId: requester.id,
      name: 'rita',
      role: 'viewer',
      via: 'bearer',
      tokenName: 'ci deploys',
      csrfToken: null,
    });
    const refused = await json('POST', '/api/jobs', bearer(created.body.token), sampleSpec({ name: 'from-viewer-token' }));
    expect(refused).toMatchObject({ status: 403, body: { error: { code: 'role_required' } } });

    const list = await json('GET', '/api/tokens', bearer(own.secret));
    const listed = list.body.tokens.find((t: { id: string }) => t.id === created.body.id);
    expect(listed.lastUsedAt).not.toBeNull();
    expect(listed).not.toHaveProperty('token');
    // Someone else's tokens are not in a non-admin's list; an admin sees everyone's.
    expect(list.body.tokens.every((t: { userId: string }) => t.userId === requester.id)).toBe(true);
    const adminToken = await tokenFor(temp.db, admin, 'admin');
    const all = await json('GET', '/api/tokens', bearer(adminToken.secret));
    expect(all.body.tokens.map((t: { id: string }) => t.id)).toContain(created.body.id);
  });

  it('never get a role above their user, and name their field when the input is wrong', async () => {
    const own = await tokenFor(temp.db, requester, 'requester');
    const above = await json('POST', '/api/tokens', bearer(own.secret), { name: 'root', role: 'admin' });
    expect(above).toMatchObject({ status: 403, body: { error: { code: 'role_required' } } });
    const bad = await json('POST', '/api/tokens', bearer(own.secret), { name: '', role: 'boss', expiresInDays: 0 });
    expect(bad.status).toBe(422);
    expect(bad.body.error.fields.map((f: { path: string }) => f.path).sort()).toEqual(['expiresInDays', 'name', 'role']);
    // A demoted user's tokens act at their new role at once.
    const demoted = await makeUser(temp.db, 'demoted', 'approver');
    const t = await tokenFor(temp.db, demoted, 'approver');
    await makeUser(temp.db, 'demoted', 'viewer');
    expect((await json('GET', '/api/me', bearer(t.secret))).body.role).toBe('viewer');
  });

  it('stop at revocation (by their owner or an admin) and at expiry', async () => {
    const own = await tokenFor(temp.db, requester, 'requester');
    const other = await tokenFor(temp.db, admin, 'admin');
    // Another person's token is not theirs to revoke, or to learn of.
    expect((await json('DELETE', `/api/tokens/${other.id}`, bearer(own.secret))).status).toBe(404);
    const revoked = await json('DELETE', `/api/tokens/${own.id}`, bearer(other.secret));
    expect(revoked).toMatchObject({ status: 200, body: { state: 'revoked' } });
    expect((await json('GET', '/api/me', bearer(own.secret))).status).toBe(401);

    const expiring = await tokenFor(temp.db, requester, 'requester', { expiresInDays: 1 });
    expect((await json('GET', '/api/me', bearer(expiring.secret))).status).toBe(200);
    await temp.db
      .updateTable('api_tokens')
      .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
      .where('id', '=', expiring.id)
      .execute();
    expect((await json('GET', '/api/me', bearer(expiring.secret))).status).toBe(401);
  });

  it('through the page: the secret shown once, listed, revoked', async () => {
    const s = await sessionFor(temp.db, TEST_SECRET_KEY, requester);
    const form = (fields: Record<string, string>) => ({
      method: 'POST',
      headers: { cookie: s.cookie, 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: new URLSearchParams({ _csrf: s.csrf, ...fields }),
    });
    const page = await (await app.request('/tokens', { headers: { cookie: s.cookie } })).text();
    // The role choices stop at the person's own.
    expect(page).toContain('<option value="requester"');
    expect(page).not.toContain('<option value="approver"');
    const made = await app.request('/tokens', form({ name: 'laptop', role: 'requester', expiresInDays: '7' }));
    expect(made.status).toBe(201);
    const html = await made.text();
    const secret = /id="new-token-secret">\s*(prov_[A-Za-z0-9_-]+)/.exec(html)?.[1];
    expect(secret).toBeDefined();
    expect((await json('GET', '/api/me', bearer(secret!))).body.tokenName).toBe('laptop');
    // Reloading the page never shows it again.
    expect(await (await app.request('/tokens', { headers: { cookie: s.cookie } })).text()).not.toContain(secret!);
    const invalid = await app.request('/tokens', form({ name: '', role: 'requester' }));
    expect(invalid.status).toBe(422);
    expect(await invalid.text()).toContain('name is required');

    const id = /data-token-id="([^"]+)"/.exec(html)?.[1];
    expect((await app.request(`/tokens/${id}/revoke`, form({}))).status).toBe(303);
    expect((await json('GET', '/api/me', bearer(secret!))).status).toBe(401);
  });
});

describe('users', () => {
  it('an admin sets a role that overrides the groups; only admins see or change users', async () => {
    const person = await makeUser(temp.db, 'pat', null);
    const adminToken = await tokenFor(temp.db, admin, 'admin');
    const own = await tokenFor(temp.db, requester, 'requester');
    expect((await json('GET', '/api/users', bearer(own.secret))).status).toBe(403);
    expect((await json('PATCH', `/api/users/${person.id}`, bearer(own.secret), { role: 'admin' })).status).toBe(403);

    const set = await json('PATCH', `/api/users/${person.id}`, bearer(adminToken.secret), { role: 'approver' });
    expect(set.body).toMatchObject({ id: person.id, role: 'approver', roleOverride: 'approver', mappedRole: null, active: true });
    const wrong = await json('PATCH', `/api/users/${person.id}`, bearer(adminToken.secret), { role: 'boss' });
    expect(wrong.status).toBe(422);
    expect(wrong.body.error.fields[0].path).toBe('role');
    const users = await json('GET', '/api/users', bearer(adminToken.secret));
    expect(users.body.users.map((u: { name: string }) => u.name)).toEqual(expect.arrayContaining(['pat', 'rita', ADMIN_USER]));
    // The local admin's role comes from the configuration.
    const local = users.body.users.find((u: { subject: string }) => u.subject === 'local');
    expect((await json('PATCH', `/api/users/${local.id}`, bearer(adminToken.secret), { role: 'viewer' })).status).toBe(409);
  });

  it("deactivation cuts the user's open session and tokens at once; reactivation lets them back", async () => {
    const person = await makeUser(temp.db, 'dee', 'requester');
    const s = await sessionFor(temp.db, TEST_SECRET_KEY, person);
    const t = await tokenFor(temp.db, person, 'requester');
    expect((await app.request('/api/jobs', { headers: { cookie: s.cookie } })).status).toBe(200);
    expect((await json('GET', '/api/me', bearer(t.secret))).status).toBe(200);

    // Through the admin page, as an admin's browser would.
    const a = await sessionFor(temp.db, TEST_SECRET_KEY, admin);
    const page = await (await app.request('/admin/users', { headers: { cookie: a.cookie } })).text();
    expect(page).toContain(`data-user-id="${person.id}"`);
    const off = await app.request(`/admin/users/${person.id}`, {
      method: 'POST',
      headers: { cookie: a.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: a.csrf, role: 'requester' }),
    });
    expect(off.status).toBe(303);
    expect((await app.request('/api/jobs', { headers: { cookie: s.cookie } })).status).toBe(401);
    expect((await json('GET', '/api/me', bearer(t.secret))).status).toBe(401);
    // A requester cannot reach the page at all.
    const r = await sessionFor(temp.db, TEST_SECRET_KEY, requester);
    expect((await app.request('/admin/users', { headers: { cookie: r.cookie } })).status).toBe(403);

    const adminToken = await tokenFor(temp.db, admin, 'admin');
    expect((await json('PATCH', `/api/users/${person.id}`, bearer(adminToken.secret), { active: true })).body.active).toBe(true);
    expect((await json('GET', '/api/me', bearer(t.secret))).status).toBe(200);
    // Nobody deactivates themselves.
    expect((await json('PATCH', `/api/users/${admin.id}`, bearer(adminToken.secret), { active: false })).status).toBe(409);
  });
});

describe('the audit', () => {
  it('records the user and the token name of every action', async () => {
    const t = await tokenFor(temp.db, requester, 'requester', { name: 'release-bot' });
    const created = await json('POST', '/api/jobs', bearer(t.secret), sampleSpec({ name: 'audited-job' }));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ createdBy: 'rita', ownerId: requester.id });
    const audit = await json('GET', `/api/jobs/${created.body.id}/audit`, bearer(t.secret));
    expect(audit.body.entries[0]).toMatchObject({
      actor: 'rita',
      userId: requester.id,
      tokenName: 'release-bot',
      action: 'create',
    });
    const rows = await temp.db.selectFrom('audit_log').selectAll().where('action', '=', 'token_create').execute();
    expect(rows.some((r) => r.user_id === requester.id && r.detail?.startsWith('release-bot'))).toBe(true);
  });

  it('keeps idempotency keys per principal: the same key from two people makes two jobs', async () => {
    const one = await tokenFor(temp.db, requester, 'requester');
    const two = await tokenFor(temp.db, admin, 'admin');
    const post = (secret: string) =>
      app.request('/api/jobs', {
        method: 'POST',
        headers: { ...bearer(secret), 'content-type': 'application/json', 'idempotency-key': 'same-key-1' },
        body: JSON.stringify(sampleSpec({ name: 'idem-shared' })),
      });
    const a = (await (await post(one.secret)).json()) as { id: string };
    const b = (await (await post(two.secret)).json()) as { id: string };
    const again = (await (await post(one.secret)).json()) as { id: string };
    expect(a.id).not.toBe(b.id);
    expect(again.id).toBe(a.id);
  });
});

describe('the local admin account', () => {
  it('signs in as the admin by default, and LOCAL_LOGIN=false switches form, basic auth and its sessions off', async () => {
    const session = await login(app);
    const me = await json('GET', '/api/me', { cookie: session.cookie });
    expect(me.body).toMatchObject({ name: ADMIN_USER, role: 'admin', via: 'session' });
    expect((await json('GET', '/api/me', basic())).body.via).toBe('basic');

    const off = createApp({
      db: temp.db,
      temporal: client,
      config: securityConfig({
        DATA_DIR: temp.dir,
        LOCAL_LOGIN: 'false',
        OIDC_ISSUER_URL: 'http://127.0.0.1:9/realm',
        OIDC_CLIENT_ID: 'provisioning',
      }),
    });
    const loginPage = await (await off.request('/login')).text();
    expect(loginPage).not.toContain('name="password"');
    expect(loginPage).toContain('Sign in with single sign-on');
    const posted = await off.request('/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: ADMIN_USER, password: ADMIN_PASS }),
    });
    expect(posted.status).toBe(403);
    expect((await off.request('/api/me', { headers: basic() })).status).toBe(401);
    expect((await off.request('/api/me', { headers: { cookie: session.cookie } })).status).toBe(401);
  });

  it('bad sign-in settings stop the start with a message naming the variable', () => {
    const problems = (env: Record<string, string>) => {
      try {
        parseConfig(env, ROOT);
        return [];
      } catch (err) {
        return (err as ConfigError).problems;
      }
    };
    expect(problems({ LOCAL_LOGIN: 'false' })).toEqual([expect.stringMatching(/^LOCAL_LOGIN: .*OIDC_ISSUER_URL/)]);
    expect(problems({ OIDC_CLIENT_ID: 'x' })).toEqual([expect.stringMatching(/^OIDC_ISSUER_URL: required/)]);
    expect(problems({ OIDC_ISSUER_URL: 'http://idp.example.com', OIDC_CLIENT_ID: 'x' })).toEqual([
      expect.stringMatching(/^OIDC_ISSUER_URL: .*https/),
    ]);
    expect(problems({ OIDC_ISSUER_URL: 'https://idp.example.com' })).toEqual([
      expect.stringMatching(/^OIDC_CLIENT_ID: required/),
    ]);
    expect(
      problems({
        OIDC_ISSUER_URL: 'https://idp.example.com',
        OIDC_CLIENT_ID: 'x',
        OIDC_ROLE_MAP: 'devs=boss',
        OIDC_SCOPES: 'email',
      }),
    ).toEqual([expect.stringMatching(/^OIDC_SCOPES: .*openid/), expect.stringMatching(/^OIDC_ROLE_MAP: "devs=boss"/)]);
    expect(problems({ OIDC_DEFAULT_ROLE: 'root' })).toEqual([expect.stringMatching(/^OIDC_DEFAULT_ROLE: /)]);
  });
});
