import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { createTempDb } from '../support/tempDb.js';
import { testClient, uniqueQueue } from '../support/worker.js';
import { login, securityConfig, type App } from './support.js';

/**
 * Browser sessions end on the server: a cookie copied before "Sign out"
 * (another tab, a shared machine, a leaked proxy log) is refused afterwards,
 * by every web process sharing the database, while other sessions go on.
 */

let temp: Awaited<ReturnType<typeof createTempDb>>;
let client: Client;
let closeClient: () => Promise<void>;
let web1: App;
let web2: App;

beforeAll(async () => {
  temp = await createTempDb();
  ({ client, close: closeClient } = await testClient());
  const config = securityConfig({ DATA_DIR: temp.dir, TEMPORAL_TASK_QUEUE: uniqueQueue('sessions') });
  // Two web processes in front of one database, as behind a load balancer.
  web1 = createApp({ db: temp.db, temporal: client, config });
  web2 = createApp({ db: temp.db, temporal: client, config });
}, 60_000);

afterAll(async () => {
  await closeClient?.();
  await temp?.cleanup();
});

const page = (app: App, cookie: string) => app.request('/', { headers: { cookie, accept: 'text/html' } });
const api = (app: App, cookie: string) => app.request('/api/jobs', { headers: { cookie } });
const logout = (app: App, s: { cookie: string; csrf: string }) =>
  app.request('/logout', { method: 'POST', headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, origin: 'http://prov.test' } });

describe('sessions', () => {
  it('a session opened on one web process works on another', async () => {
    const s = await login(web1);
    expect((await page(web2, s.cookie)).status).toBe(200);
    expect((await api(web2, s.cookie)).status).toBe(200);
  });

  it('sign-out refuses the same cookie afterwards, on every web process, and leaves other sessions alone', async () => {
    const mine = await login(web1);
    const other = await login(web1);
    const res = await logout(web2, mine);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/login');
    // The browser is told to forget the cookie …
    expect(res.headers.get('set-cookie')).toMatch(/prov_session=;.*Max-Age=0/i);
    // … and a copy kept anyway no longer opens anything.
    for (const app of [web1, web2]) {
      const again = await page(app, mine.cookie);
      expect(again.status).toBe(302);
      expect(again.headers.get('location')).toBe('/login?next=%2F');
      expect((await api(app, mine.cookie)).status).toBe(401);
      expect((await logout(app, mine)).status).toBe(401);
    }
    expect((await page(web1, other.cookie)).status).toBe(200);
  });

  it('a correctly signed cookie for a session the server never opened is refused', async () => {
    const real = await login(web1);
    // Same user and expiry, another session id: the signature alone must not be enough.
    const value = decodeURIComponent(real.cookie.slice(real.cookie.indexOf('=') + 1));
    const [user, , expires] = value.slice(0, value.lastIndexOf('.')).split('|');
    const forgedValue = `${user}|${crypto.randomBytes(18).toString('base64url')}|${expires}`;
    const key = await crypto.webcrypto.subtle.importKey(
      'raw',
      new TextEncoder().encode(securityConfig({}).SECRET_KEY),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign'],
    );
    const signature = Buffer.from(
      await crypto.webcrypto.subtle.sign('HMAC', key, new TextEncoder().encode(forgedValue)),
    ).toString('base64');
    const forged = `prov_session=${encodeURIComponent(`${forgedValue}.${signature}`)}`;
    expect((await api(web1, forged)).status).toBe(401);
    // The same signing done for the real value is accepted: the refusal above is the session check, not a bad signature.
    const realSig = Buffer.from(
      await crypto.webcrypto.subtle.sign('HMAC', key, new TextEncoder().encode(value.slice(0, value.lastIndexOf('.')))),
    ).toString('base64');
    expect(
      (await api(web1, `prov_session=${encodeURIComponent(`${value.slice(0, value.lastIndexOf('.'))}.${realSig}`)}`)).status,
    ).toBe(200);
  });

  it('stores only a hash of each session id, and clears expired sessions at the next sign-in', async () => {
    const s = await login(web1);
    const sid = decodeURIComponent(s.cookie.slice(s.cookie.indexOf('=') + 1)).split('|')[1];
    const rows = await temp.db.selectFrom('sessions').selectAll().execute();
    expect(rows.length).toBeGreaterThan(0);
    expect(JSON.stringify(rows)).not.toContain(sid);
    const hash = crypto.createHash('sha256').update(sid).digest('hex');
    expect(rows.map((r) => r.id_hash)).toContain(hash);

    await temp.db.updateTable('sessions').set({ expires_at: '2000-01-01T00:00:00.000Z' }).where('id_hash', '=', hash).execute();
    // An expired row opens nothing, even with a cookie that has not expired yet.
    expect((await api(web1, s.cookie)).status).toBe(401);
    await login(web2);
    const left = await temp.db.selectFrom('sessions').select('id_hash').where('id_hash', '=', hash).execute();
    expect(left).toEqual([]);
  });
});
