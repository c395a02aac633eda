import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve, type ServerType } from '@hono/node-server';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { FixedWindowLimiter } from '../../src/api/rateLimit.js';
import { createTempDb } from '../support/tempDb.js';
import { testClient } from '../support/worker.js';
import { ADMIN_PASS, ADMIN_USER, API_TOKEN, basic, bearer, login, securityConfig } from './support.js';

/**
 * Rate limits over real HTTP, so the client address comes from the socket as
 * in production: failed sign-ins (form, Basic and Bearer share one budget)
 * and job creation, per client, with X-Forwarded-For believed only under
 * TRUST_PROXY. Clients are told apart by binding to different loopback
 * addresses (127.0.0.1, 127.0.0.2, ...).
 */

let temp: Awaited<ReturnType<typeof createTempDb>>;
let client: Client;
let closeClient: () => Promise<void>;
const servers: ServerType[] = [];

beforeAll(async () => {
  temp = await createTempDb();
  ({ client, close: closeClient } = await testClient());
}, 60_000);

afterAll(async () => {
  for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
  await closeClient?.();
  await temp?.cleanup();
});

async function start(extra: Record<string, string> = {}) {
  const config = securityConfig({ DATA_DIR: temp.dir, TEMPORAL_TASK_QUEUE: 'rate-limit-tests', ...extra });
  const app = createApp({ db: temp.db, temporal: client, config });
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  servers.push(server);
  const port = (server.address() as AddressInfo).port;
  return { app, port };
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

function request(
  port: number,
  opts: { method?: string; path: string; headers?: Record<string, string>; body?: string; from?: string },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: opts.method ?? 'GET',
        path: opts.path,
        headers: opts.headers,
        localAddress: opts.from ?? '127.0.0.1',
        agent: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    if (opts.body) req.write(opts.body);
    req.end();
  });
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
/** Loads the sign-in page, then posts it with its pre-session cookie and token, as a browser does. */
async function loginForm(
  port: number,
  password: string,
  from?: string,
  extraHeaders: Record<string, string> = {},
  username = ADMIN_USER,
) {
  const page = await request(port, { path: '/login', from, headers: extraHeaders });
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1] ?? '';
  const cookie = (page.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; ');
  return request(port, {
    method: 'POST',
    path: '/login',
    from,
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', cookie, ...extraHeaders },
    body: form({ username, password, next: '/', _csrf: csrf }),
  });
}

function draftSpec(n: number) {
  return JSON.stringify({
    name: `rate-${n}-${Date.now().toString(36)}`,
    requesterEmail: 'alice@example.com',
    region: 'us-east-1',
    auth: { method: 'assume_role', roleArn: 'arn:aws:iam::123456789012:role/Provisioner' },
    instance: { type: 't3.micro' },
    containers: [{ name: 'web', image: 'nginx:latest', ports: ['80:80'] }],
  });
}

describe('FixedWindowLimiter', () => {
  it('counts per key in fixed windows, and take/refund never overspend', () => {
    let now = 1_000_000;
    const l = new FixedWindowLimiter({ limit: 3, windowMs: 60_000 }, () => now);
    expect(l.peek('a')).toEqual({ limited: false, retryAfterSeconds: 0, remaining: 3 });
    l.hit('a');
    l.hit('a');
    expect(l.hit('a')).toMatchObject({ limited: true, remaining: 0, retryAfterSeconds: 60 });
    expect(l.peek('b').limited).toBe(false);
    expect(l.take('a').limited).toBe(true);
    now += 30_000;
    expect(l.peek('a')).toMatchObject({ limited: true, retryAfterSeconds: 30 });
    now += 30_000;
    expect(l.peek('a').limited).toBe(false);
    expect(l.take('c')).toMatchObject({ limited: false, remaining: 2 });
    l.take('c');
    expect(l.take('c')).toMatchObject({ limited: false, remaining: 0 });
    expect(l.take('c').limited).toBe(true);
    l.refund('c');
    l.refund('c');
    l.refund('c');
    expect(l.peek('c').remaining).toBe(3);
    for (let i = 0; i < 10; i++) l.take('d');
    expect(l.peek('d')).toMatchObject({ limited: true, remaining: 0 });
  });
});

describe('failed sign-ins', () => {
  it('5 wrong passwords for one account from one address lock that pair only: other accounts, addresses, sessions and tokens go on', async () => {
    const { port } = await start();
    const other = '127.0.0.2';
    // Signed in before the attack: sessions keep working throughout.
    const session = await loginForm(port, ADMIN_PASS, other);
    expect(session.status).toBe(303);
    const cookie = String(session.headers['set-cookie']).split(';')[0];

    for (let i = 0; i < 5; i++) {
      const res = await loginForm(port, `wrong-${i}`);
      expect(res.status).toBe(401);
      expect(res.text).toContain('Wrong user or password.');
    }
    // The right password no longer helps for this account from this address: otherwise guessing would only be slowed.
    const locked = await loginForm(port, ADMIN_PASS);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(14 * 60);
    expect(Number(locked.headers['retry-after'])).toBeLessThanOrEqual(15 * 60);
    expect(locked.headers['content-type']).toMatch(/text\/html/);
    expect(locked.text).toMatch(
      /role="alert"[^>]*>\s*Too many failed sign-ins for admin from your address; try again in 15 minutes\./,
    );
    expect(locked.headers['set-cookie']).toBeUndefined();
    // Basic auth for the same account shares the budget; the account's name is matched without case.
    const viaBasic = await request(port, { path: '/api/jobs', headers: basic() });
    expect(viaBasic.status).toBe(429);
    expect(JSON.parse(viaBasic.text)).toEqual({
      error: {
        code: 'rate_limited',
        message: expect.stringMatching(/^Too many failed sign-ins for admin from your address; try again in 1[45] minutes\.$/),
      },
    });
    expect(viaBasic.headers['retry-after']).toBeDefined();
    expect((await loginForm(port, ADMIN_PASS, undefined, {}, 'ADMIN')).status).toBe(429);

    // Nobody else is refused for it: a valid token from the same address, another account from it,
    // the same account from another address, and a browser already signed in.
    expect((await request(port, { path: '/api/jobs', headers: bearer() })).status).toBe(200);
    expect((await loginForm(port, 'a-guess', undefined, {}, 'someone-else')).status).toBe(401);
    expect((await loginForm(port, ADMIN_PASS, '127.0.0.3')).status).toBe(303);
    expect((await request(port, { path: '/api/jobs', headers: basic(), from: '127.0.0.3' })).status).toBe(200);
    expect((await request(port, { path: '/api/jobs', headers: { cookie } })).status).toBe(200);
  });

  it('wrong tokens are counted per address (429 once over) while a valid token always passes; wrong Basic passwords count for their account', async () => {
    const { port } = await start();
    for (let i = 0; i < 5; i++)
      expect((await request(port, { path: '/api/jobs', headers: bearer(`guess-${i}`) })).status).toBe(401);
    expect((await request(port, { path: '/api/jobs', headers: bearer('guess-5') })).status).toBe(429);
    // Right ones pass whatever was guessed before, and spend nothing.
    for (let i = 0; i < 3; i++) expect((await request(port, { path: '/api/jobs', headers: bearer(API_TOKEN) })).status).toBe(200);
    // Token guesses do not lock passwords.
    expect((await loginForm(port, ADMIN_PASS)).status).toBe(303);

    for (let i = 0; i < 5; i++)
      expect((await request(port, { path: '/', headers: basic(ADMIN_USER, `guess-${i}`) })).status).toBe(401);
    expect((await loginForm(port, ADMIN_PASS)).status).toBe(429);
    expect((await request(port, { path: '/api/jobs', headers: bearer(API_TOKEN) })).status).toBe(200);
  });

  it('concurrent guesses are all counted: of 40 at once at most 5 are checked', async () => {
    const { port } = await start();
    const replies = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        i % 2 ? loginForm(port, `wrong-${i}`) : request(port, { path: '/api/jobs', headers: basic(ADMIN_USER, `wrong-${i}`) }),
      ),
    );
    const statuses = replies.map((r) => r.status);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(5);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(35);
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
  });

  it('believes X-Forwarded-For only with TRUST_PROXY, and then only its last entry', async () => {
    const direct = await start();
    for (let i = 0; i < 5; i++) await loginForm(direct.port, 'wrong', undefined, { 'x-forwarded-for': `198.51.100.${i}` });
    // Rotating the header did not give fresh budgets: the socket address is the key.
    expect((await loginForm(direct.port, ADMIN_PASS, undefined, { 'x-forwarded-for': '198.51.100.99' })).status).toBe(429);

    const proxied = await start({ TRUST_PROXY: 'true' });
    const via = (addr: string, spoof = '203.0.113.7') => ({ 'x-forwarded-for': `${spoof}, ${addr}` });
    for (let i = 0; i < 5; i++) await loginForm(proxied.port, 'wrong', undefined, via('10.0.0.1', `203.0.113.${i}`));
    // What the client wrote first changes nothing; the entry the proxy appended decides.
    expect((await loginForm(proxied.port, ADMIN_PASS, undefined, via('10.0.0.1', '192.0.2.1'))).status).toBe(429);
    expect((await loginForm(proxied.port, ADMIN_PASS, undefined, via('10.0.0.2'))).status).toBe(303);
  });
});

describe('job creation', () => {
  it('30 jobs per minute per client through the API and the form together; errors do not count', async () => {
    const { app, port } = await start();
    const createViaApi = (n: number, from?: string) =>
      request(port, {
        method: 'POST',
        path: '/api/jobs',
        from,
        headers: { ...bearer(), 'content-type': 'application/json' },
        body: draftSpec(n),
      });
    // Refused specs do not spend the budget.
    for (let i = 0; i < 5; i++) {
      const bad = await request(port, {
        method: 'POST',
        path: '/api/jobs',
        headers: { ...bearer(), 'content-type': 'application/json' },
        body: JSON.stringify({ name: '../etc' }),
      });
      expect(bad.status).toBe(422);
    }
    for (let i = 0; i < 30; i++) {
      const res = await createViaApi(i);
      expect(res.status, `${i}: ${res.text}`).toBe(201);
    }
    const limited = await createViaApi(31);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(JSON.parse(limited.text).error).toEqual({
      code: 'rate_limited',
      message: expect.stringMatching(/^Too many jobs created from your address; try again in \d+ seconds\.$/),
    });

    // The form shares the budget and says so on a page.
    const { cookie, csrf } = await login(app);
    const viaForm = await request(port, {
      method: 'POST',
      path: '/jobs',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: form({ _csrf: csrf, name: 'rate-form' }),
    });
    expect(viaForm.status).toBe(429);
    expect(viaForm.headers['content-type']).toMatch(/text\/html/);
    expect(viaForm.text).toContain('Too many jobs created from your address');
    expect(viaForm.headers['retry-after']).toBeDefined();

    // Another client is not affected; reading is never limited.
    expect((await createViaApi(40, '127.0.0.5')).status).toBe(201);
    expect((await request(port, { path: '/api/jobs', headers: bearer() })).status).toBe(200);
  });

  it('a burst of concurrent creations cannot pass the limit', async () => {
    const { port } = await start();
    const replies = await Promise.all(
      Array.from({ length: 45 }, (_, i) =>
        request(port, {
          method: 'POST',
          path: '/api/jobs',
          from: '127.0.0.9',
          headers: { ...bearer(), 'content-type': 'application/json' },
          body: draftSpec(100 + i),
        }),
      ),
    );
    const statuses = replies.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(30);
    expect(statuses.filter((s) => s === 429)).toHaveLength(15);
  });
});

describe('the audit log', () => {
  it("records the client address the limits use: the socket, or under TRUST_PROXY the proxy's last entry", async () => {
    const create = async (port: number, from: string, headers: Record<string, string> = {}) => {
      const res = await request(port, {
        method: 'POST',
        path: '/api/jobs',
        from,
        headers: { ...bearer(), 'content-type': 'application/json', ...headers },
        body: draftSpec(900),
      });
      expect(res.status, res.text).toBe(201);
      const id = JSON.parse(res.text).id as string;
      const row = await temp.db
        .selectFrom('audit_log')
        .select(['ip', 'actor'])
        .where('job_id', '=', id)
        .executeTakeFirstOrThrow();
      return row.ip;
    };
    const direct = await start();
    expect(await create(direct.port, '127.0.0.7', { 'x-forwarded-for': '198.51.100.1' })).toBe('127.0.0.7');
    const proxied = await start({ TRUST_PROXY: 'true' });
    expect(await create(proxied.port, '127.0.0.1', { 'x-forwarded-for': '198.51.100.1, 10.9.8.7' })).toBe('10.9.8.7');
  });
});
