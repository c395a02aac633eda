import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { createApp } from '../../src/api/app.js';
import { SESSION_COOKIE } from '../../src/api/auth.js';
import { downstreamSetCookie, upstreamCookies } from '../../src/api/temporalUiProxy.js';
import { parseConfig } from '../../src/config.js';
import { EncryptionCodec, parseEncryptionKeys } from '../../src/temporal/codec.js';
import { createTempDb } from '../support/tempDb.js';
import { TEST_SECRET_KEY, testClient } from '../support/worker.js';
import { PUBLIC_BASE_URL, basic, bearer, login, securityConfig, type App } from './support.js';

/**
 * The Temporal UI served at /temporal through the web app (TEMPORAL_UI_UPSTREAM),
 * against a small upstream HTTP server that records what reaches it: closed
 * without a sign-in, open to a session, none of the service's credentials
 * forwarded, cross-origin writes refused, and the upstream's answers passed on
 * as they are (status, content type, streaming), under headers of ours.
 */

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const seen: Seen[] = [];
let releaseStream: () => void = () => undefined;
let upstream: http.Server;
let upstreamUrl: string;
let temp: Awaited<ReturnType<typeof createTempDb>>;
let client: Client;
let closeClient: () => Promise<void>;
let app: App;

function startUpstream(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const url = req.url ?? '';
      if (url === '/temporal/' || url.startsWith('/temporal/namespaces/')) {
        res.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'x-frame-options': 'SAMEORIGIN',
          'set-cookie': [
            '_csrf=ui-token; Path=/; SameSite=Strict',
            `${SESSION_COOKIE}=planted; Path=/; HttpOnly`,
            'prov_flash=planted; Path=/',
            'ui_pref=dark; Path=/temporal/namespaces',
          ],
        });
        res.end('<!doctype html><script>window.__ui = 1</script><div id="svelte">Temporal UI</div>');
      } else if (url === '/temporal/api/v1/settings') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"Codec":{"Endpoint":"/codec"}}');
      } else if (url.startsWith('/temporal/api/v1/missing')) {
        res.writeHead(404, { 'content-type': 'application/problem+json' });
        res.end('{"message":"no such thing"}');
      } else if (url.startsWith('/temporal/api/v1/namespaces/default/workflows/w1/terminate')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ terminated: true, got: body }));
      } else if (url === '/temporal/stream') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: first\n\n');
        releaseStream = () => res.end('data: last\n\n');
      } else if (url === '/temporal/moved') {
        res.writeHead(302, { location: `${upstreamUrl}/temporal/namespaces/default/workflows` });
        res.end();
      } else if (url === '/temporal/relative-move') {
        res.writeHead(307, { location: '/temporal/' });
        res.end();
      } else {
        res.writeHead(418, { 'content-type': 'text/plain' });
        res.end(`teapot ${url}`);
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function appWith(extra: Record<string, string>): App {
  // TEMPORAL_UI_URL empty: its default with a proxy, <PUBLIC_BASE_URL>/temporal.
  return createApp({
    db: temp.db,
    temporal: client,
    config: securityConfig({ DATA_DIR: temp.dir, TEMPORAL_UI_URL: '', ...extra }),
  });
}

beforeAll(async () => {
  upstream = await startUpstream();
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  temp = await createTempDb();
  ({ client, close: closeClient } = await testClient());
  app = appWith({ TEMPORAL_UI_UPSTREAM: upstreamUrl });
}, 60_000);

afterAll(async () => {
  releaseStream();
  upstream?.closeAllConnections();
  await new Promise<void>((r) => (upstream ? upstream.close(() => r()) : r()));
  await closeClient?.();
  await temp?.cleanup();
});

/** Runs `fn` and returns what reached the upstream meanwhile. */
async function reaching<T>(fn: () => T | Promise<T>): Promise<{ result: T; requests: Seen[] }> {
  const before = seen.length;
  const result = await fn();
  return { result, requests: seen.slice(before) };
}

const cspOf = (res: Response) => res.headers.get('content-security-policy') ?? '';

describe('settings', () => {
  it('TEMPORAL_UI_UPSTREAM is an origin; with it, TEMPORAL_UI_URL defaults to <PUBLIC_BASE_URL>/temporal', () => {
    const c = parseConfig({ PUBLIC_BASE_URL: 'https://prov.example.com/', TEMPORAL_UI_UPSTREAM: 'http://127.0.0.1:8233/' });
    expect(c.TEMPORAL_UI_UPSTREAM).toBe('http://127.0.0.1:8233');
    expect(c.temporalUiUrl).toBe('https://prov.example.com/temporal');
    // Set explicitly, it wins; without a proxy, the old default stands.
    expect(parseConfig({ TEMPORAL_UI_UPSTREAM: 'http://ui:8080', TEMPORAL_UI_URL: 'https://ui.example.com' }).temporalUiUrl).toBe(
      'https://ui.example.com',
    );
    expect(parseConfig({}).temporalUiUrl).toBe('http://localhost:8233');
    for (const bad of ['http://ui:8080/temporal', 'ui:8080', 'http://u:p@ui:8080', 'ftp://ui']) {
      expect(() => parseConfig({ TEMPORAL_UI_UPSTREAM: bad }), bad).toThrow(/TEMPORAL_UI_UPSTREAM/);
    }
  });

  it('without TEMPORAL_UI_UPSTREAM there is no /temporal', async () => {
    const plain = appWith({});
    const { cookie } = await login(plain);
    const { result, requests } = await reaching(() => plain.request('/temporal/', { headers: { cookie } }));
    expect(result.status).toBe(404);
    expect(requests).toEqual([]);
  });
});

describe('GET /temporal/* without a sign-in', () => {
  it('redirects a page to the sign-in and answers 401 to the UI calls, and nothing reaches the UI', async () => {
    const { result: requestsMade, requests } = await reaching(async () => {
      const page = await app.request('/temporal/namespaces/default/workflows/job-x?tab=history', {
        headers: { accept: 'text/html' },
      });
      expect(page.status).toBe(302);
      expect(page.headers.get('location')).toBe(
        `/login?next=${encodeURIComponent('/temporal/namespaces/default/workflows/job-x?tab=history')}`,
      );
      const root = await app.request('/temporal', { headers: { accept: 'text/html' } });
      expect(root.headers.get('location')).toBe(`/login?next=${encodeURIComponent('/temporal')}`);
      const api = await app.request('/temporal/api/v1/settings', { headers: { accept: 'application/json' } });
      expect(api.status).toBe(401);
      expect(await api.json()).toMatchObject({ error: { code: 'unauthorized' } });
      // No Basic challenge: a browser would pop a password dialog over the UI when a session ends.
      expect(api.headers.get('www-authenticate')).toBeNull();
      // Wrong credentials of every kind, and a forged session cookie.
      for (const headers of [
        basic('admin', 'wrong'),
        bearer('not-a-token'),
        { cookie: `${SESSION_COOKIE}=${encodeURIComponent(`admin|abc|${Date.now() + 60_000}.AAAA`)}` },
      ]) {
        expect((await app.request('/temporal/api/v1/settings', { headers })).status).toBe(401);
      }
      const post = await app.request('/temporal/api/v1/namespaces/default/workflows/w1/terminate', {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: PUBLIC_BASE_URL },
        body: '{}',
      });
      expect(post.status).toBe(401);
      return 6;
    });
    expect(requestsMade).toBe(6);
    expect(requests).toEqual([]);
  });

  it('refuses API tokens: the UI is for people signed in', async () => {
    const { result, requests } = await reaching(() => app.request('/temporal/api/v1/settings', { headers: bearer() }));
    expect(result.status).toBe(403);
    expect(await result.json()).toMatchObject({ error: { code: 'forbidden' } });
    expect(requests).toEqual([]);
  });
});

describe('/temporal/* signed in', () => {
  it('serves the UI to a session, without the service cookies or Authorization, keeping the UI its own cookies', async () => {
    const { cookie } = await login(app);
    const { result: res, requests } = await reaching(() =>
      app.request('/temporal/', {
        headers: {
          cookie: `${cookie}; _csrf=ui-token; prov_flash=x; ui_pref=dark`,
          accept: 'text/html',
          'x-forwarded-for': '203.0.113.9',
          referer: `${PUBLIC_BASE_URL}/jobs/j1`,
        },
      }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await res.text()).toContain('<div id="svelte">Temporal UI</div>');
    expect(requests).toHaveLength(1);
    const [req] = requests;
    expect(req.method).toBe('GET');
    expect(req.url).toBe('/temporal/');
    expect(req.headers.cookie).toBe('_csrf=ui-token; ui_pref=dark');
    expect(req.headers.authorization).toBeUndefined();
    expect(req.headers.referer).toBeUndefined();
    expect(req.headers['x-forwarded-for']).toBeUndefined();
    expect(req.headers.host).toBe(new URL(upstreamUrl).host);

    // The UI's cookies come back scoped to /temporal; none of the service's may be set from there.
    expect(res.headers.getSetCookie()).toEqual([
      '_csrf=ui-token; Path=/temporal; SameSite=Strict',
      'ui_pref=dark; Path=/temporal/namespaces',
    ]);
    // Its own page script runs (no script policy of ours), but it may not be framed or sniffed.
    expect(cspOf(res)).toBe("frame-ancestors 'none'; object-src 'none'; base-uri 'self'");
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('same-origin');
  });

  it('serves basic auth too, without forwarding the Authorization header', async () => {
    const { result: res, requests } = await reaching(() => app.request('/temporal/api/v1/settings', { headers: basic() }));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({ Codec: { Endpoint: '/codec' } });
    expect(requests[0].headers.authorization).toBeUndefined();
    expect(requests[0].headers.cookie).toBeUndefined();
  });

  it("passes the upstream's status, content type and query string on as they are", async () => {
    const { cookie } = await login(app);
    const { result: res, requests } = await reaching(() =>
      app.request('/temporal/api/v1/missing?query=WorkflowId%3D%22a%20b%22&next=x', { headers: { cookie } }),
    );
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await res.text()).toBe('{"message":"no such thing"}');
    expect(requests[0].url).toBe('/temporal/api/v1/missing?query=WorkflowId%3D%22a%20b%22&next=x');
    const teapot = await app.request('/temporal/other', { headers: { cookie } });
    expect(teapot.status).toBe(418);
    expect(await teapot.text()).toBe('teapot /temporal/other');
    // Our own answers keep our own strict policy.
    expect(cspOf(await app.request('/temporal/api/v1/settings'))).toContain("script-src 'self' 'nonce-");
  });

  it('lets the UI write (terminate) from its own pages: a JSON POST with our Origin and its own CSRF token, no token of ours', async () => {
    const { cookie } = await login(app);
    const body = JSON.stringify({ reason: 'from the UI' });
    const { result: res, requests } = await reaching(() =>
      app.request('/temporal/api/v1/namespaces/default/workflows/w1/terminate', {
        method: 'POST',
        headers: {
          cookie: `${cookie}; _csrf=ui-token`,
          origin: PUBLIC_BASE_URL,
          'content-type': 'application/json',
          'x-csrf-token': 'ui-token',
        },
        body,
      }),
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ terminated: true, got: body });
    const [req] = requests;
    expect(req.method).toBe('POST');
    expect(req.body).toBe(body);
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['x-csrf-token']).toBe('ui-token');
    expect(req.headers.cookie).toBe('_csrf=ui-token');
    expect(req.headers.origin).toBeUndefined();
    // The request's own origin counts as ours too (PUBLIC_BASE_URL may name another address of the same service).
    const own = await app.request('/temporal/api/v1/namespaces/default/workflows/w1/terminate', {
      method: 'POST',
      headers: { cookie, origin: 'http://localhost', 'content-type': 'application/json' },
      body: '{}',
    });
    expect(own.status).toBe(200);
  });

  it('refuses a write from another origin, or without an Origin, before it reaches the UI', async () => {
    const { cookie, csrf } = await login(app);
    const { requests } = await reaching(async () => {
      for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
        for (const origin of ['https://evil.example', 'null', 'http://prov.test.evil.example', undefined]) {
          const headers: Record<string, string> = { cookie, 'content-type': 'application/json', 'x-csrf-token': csrf };
          if (origin) headers.origin = origin;
          const res = await app.request('/temporal/api/v1/namespaces/default/workflows/w1/terminate', {
            method,
            headers,
            body: '{}',
          });
          expect(res.status, `${method} from ${origin}`).toBe(403);
          expect(await res.json()).toMatchObject({ error: { code: 'csrf' } });
        }
      }
      // A form post (what another site could send) is refused the same way.
      const form = await app.request('/temporal/api/v1/namespaces/default/workflows/w1/terminate', {
        method: 'POST',
        headers: { cookie, origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
        body: 'reason=x',
      });
      expect(form.status).toBe(403);
    });
    expect(requests).toEqual([]);
  });

  it('streams: the first bytes arrive while the UI is still answering', async () => {
    const { cookie } = await login(app);
    const res = await app.request('/temporal/stream', { headers: { cookie } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('data: first\n\n');
    releaseStream();
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value);
    expect(rest).toBe('data: last\n\n');
  });

  it("keeps the UI's redirects on our origin", async () => {
    const { cookie } = await login(app);
    const moved = await app.request('/temporal/moved', { headers: { cookie } });
    expect(moved.status).toBe(302);
    expect(moved.headers.get('location')).toBe('/temporal/namespaces/default/workflows');
    const relative = await app.request('/temporal/relative-move', { headers: { cookie } });
    expect(relative.status).toBe(307);
    expect(relative.headers.get('location')).toBe('/temporal/');
  });

  it('answers 502 when the UI is down', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const down = appWith({ TEMPORAL_UI_UPSTREAM: `http://127.0.0.1:${port}` });
    const res = await down.request('/temporal/', { headers: basic() });
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ error: { code: 'upstream_unavailable' } });
  });

  it('links the nav to the proxied UI, and the codec answers the UI on our origin with the session', async () => {
    const { cookie } = await login(app);
    const dashboard = await (await app.request('/', { headers: { cookie } })).text();
    expect(dashboard).toContain(`href="${PUBLIC_BASE_URL}/temporal"`);

    const codec = new EncryptionCodec(parseEncryptionKeys(undefined, TEST_SECRET_KEY));
    const [enc] = await codec.encode([defaultPayloadConverter.toPayload({ name: 'demo-web' }) as Payload]);
    const body = JSON.stringify({
      payloads: [
        {
          metadata: Object.fromEntries(
            Object.entries(enc.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
          ),
          data: Buffer.from(enc.data ?? []).toString('base64'),
        },
      ],
    });
    const decode = (headers: Record<string, string>) =>
      app.request('/codec/decode', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers },
        body,
      });
    const ok = await decode({ cookie, origin: PUBLIC_BASE_URL });
    expect(ok.status).toBe(200);
    const [p] = ((await ok.json()) as { payloads: { data: string }[] }).payloads;
    expect(JSON.parse(Buffer.from(p.data, 'base64').toString())).toEqual({ name: 'demo-web' });
    // Refused without a session; the UI's call (with an Origin) gets no Basic challenge, a script's does.
    const refused = await decode({ origin: PUBLIC_BASE_URL });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toBeNull();
    expect((await decode({})).headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect((await decode({ cookie, origin: 'https://evil.example' })).status).toBe(403);
  });
});

describe('cookie filters', () => {
  it("forward every cookie but the service's, and never let the UI set one of the service's", () => {
    expect(upstreamCookies(`${SESSION_COOKIE}=a; _csrf=b;prov_flash=c; __Host-prov_x=d; other=e`)).toBe('_csrf=b; other=e');
    expect(upstreamCookies(`${SESSION_COOKIE}=a`)).toBeNull();
    expect(upstreamCookies(undefined)).toBeNull();
    expect(downstreamSetCookie('_csrf=x; Path=/; SameSite=Strict')).toBe('_csrf=x; Path=/temporal; SameSite=Strict');
    expect(downstreamSetCookie('_csrf=x; path=/')).toBe('_csrf=x; Path=/temporal');
    expect(downstreamSetCookie('a=1; Path=/temporal/x')).toBe('a=1; Path=/temporal/x');
    expect(downstreamSetCookie(`${SESSION_COOKIE}=x; Path=/`)).toBeNull();
    expect(downstreamSetCookie('PROV_SESSION=x')).toBeNull();
  });
});
