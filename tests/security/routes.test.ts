import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertAccount, newAccountId } from '../../src/db/teams.js';
import { makeTeam } from '../support/people.js';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { HOST_SESSION_COOKIE, SESSION_COOKIE } from '../../src/api/auth.js';
import { createTempDb } from '../support/tempDb.js';
import { testClient, uniqueQueue, TEST_SECRET_KEY } from '../support/worker.js';
import { ADMIN_PASS, ADMIN_USER, basic, bearer, login, securityConfig, signInForm, type App } from './support.js';

/**
 * Every route the app serves, enumerated from the app itself (so a route
 * added tomorrow is checked without touching this file): each refuses a
 * missing or wrong login except /health, /login and /static/*; each
 * state-changing browser route refuses a missing or forged CSRF token;
 * bearer-token calls need no token and never fall back to a cookie; and
 * the security headers are on pages, API answers and errors alike.
 */

let temp: Awaited<ReturnType<typeof createTempDb>>;
let client: Client;
let closeClient: () => Promise<void>;
let app: App;
let jobId: string;
let jobName: string;
let session: { cookie: string; csrf: string };

const PUBLIC = [/^\/health$/, /^\/login$/, /^\/static\//, /^\/favicon\.ico$/];
/** Read-only and JSON-only, refused to other origins; Temporal UI cannot send a CSRF token (see codec.test.ts). */
const CSRF_EXEMPT = new Set(['POST /login', 'POST /codec/decode']);

let teamId: string;
let accountId: string;

beforeAll(async () => {
  temp = await createTempDb();
  ({ client, close: closeClient } = await testClient());
  // No worker polls this queue: a started workflow just waits, which is all these tests need.
  app = createApp({
    db: temp.db,
    temporal: client,
    config: securityConfig({ DATA_DIR: temp.dir, TEMPORAL_TASK_QUEUE: uniqueQueue('routes') }),
  });
  jobName = `routes-${crypto.randomBytes(3).toString('hex')}`;
  const res = await app.request('/api/jobs', {
    method: 'POST',
    headers: { ...bearer(), 'content-type': 'application/json' },
    body: JSON.stringify(spec(jobName)),
  });
  if (res.status !== 201) throw new Error(`job creation answered ${res.status}: ${await res.text()}`);
  jobId = ((await res.json()) as { id: string }).id;
  // A team with an account, so their pages answer something other than 404.
  teamId = await makeTeam(temp.db, 'routes-team');
  accountId = newAccountId();
  await insertAccount(
    temp.db,
    {
      id: accountId,
      team_id: teamId,
      label: 'routes',
      account_id: '123456789012',
      role_arn: 'arn:aws:iam::123456789012:role/prov-routes',
      external_id: 'prov-routes',
    },
    new Date(),
  );
  session = await login(app);
}, 60_000);

afterAll(async () => {
  await closeClient?.();
  await temp?.cleanup();
});

function spec(name: string) {
  return {
    name,
    requesterEmail: 'alice@example.com',
    region: 'us-east-1',
    auth: { method: 'assume_role', roleArn: 'arn:aws:iam::123456789012:role/Provisioner' },
    instance: { type: 't3.micro' },
    containers: [{ name: 'web', image: 'nginx:latest', ports: ['80:80'] }],
  };
}

interface Endpoint {
  method: string;
  pattern: string;
  path: string;
}

/** The app's own route table, one entry per method and concrete path (parameters filled with real values). */
function endpoints(): Endpoint[] {
  const seen = new Set<string>();
  const out: Endpoint[] = [];
  for (const r of app.routes) {
    if (r.method === 'ALL') continue; // middleware
    const key = `${r.method} ${r.path}`;
    if (seen.has(key)) continue;
    seen.add(key);
    for (const path of concretize(r.path)) out.push({ method: r.method, pattern: r.path, path });
  }
  return out;
}

function concretize(pattern: string): string[] {
  let paths = [pattern];
  const expand = (re: RegExp, values: (m: RegExpMatchArray) => string[]) => {
    paths = paths.flatMap((p) => {
      const m = p.match(re);
      return m ? values(m).map((v) => p.replace(m[0], v)) : [p];
    });
  };
  expand(/:action\{([^}]+)\}/, (m) => m[1].split('|'));
  expand(/:id\{\[0-9\]\+\}/, () => ['1']);
  expand(/^\/accounts\/:id/, () => [`/accounts/${accountId}`]);
  expand(/^\/admin\/teams\/:id/, () => [`/admin/teams/${teamId}`]);
  expand(/:id(?![{\w])/, () => [jobId]);
  expand(/:name(?![{\w])/, () => ['app.css']);
  expand(/:userId(?![{\w])/, () => ['u-nobody']);
  expand(/:number(?![{\w])/, () => ['1']);
  for (const p of paths) {
    if (p.includes(':') || p.includes('*')) throw new Error(`route ${pattern}: add a value for its parameter to concretize()`);
  }
  return paths;
}

const isPublic = (e: Endpoint) => PUBLIC.some((re) => re.test(e.path));
const isHtmlGet = (e: Endpoint) => e.method === 'GET' && !e.path.startsWith('/api/');

function sign(value: string, secret: string): string {
  const sig = crypto.createHmac('sha256', secret).update(value).digest('base64');
  return `${SESSION_COOKIE}=${encodeURIComponent(`${value}.${sig}`)}`;
}

const future = () => Date.now() + 3_600_000;
const WRONG_LOGINS: Array<[string, Record<string, string>]> = [
  ['no credentials', {}],
  ['basic, wrong password', basic(ADMIN_USER, 'not-the-password')],
  ['basic, wrong user', basic('root', ADMIN_PASS)],
  ['basic, empty', { authorization: 'Basic ' }],
  ['basic, not base64', { authorization: 'Basic !!!not-base64:' }],
  ['bearer, wrong token', bearer('not-a-token')],
  ['bearer, empty', { authorization: 'Bearer ' }],
  ['unknown scheme', { authorization: `Digest username="${ADMIN_USER}"` }],
  ['session cookie, bad signature', { cookie: `${SESSION_COOKIE}=${encodeURIComponent(`admin|abc|${future()}.AAAA`)}` }],
  ['session cookie, signed with another key', { cookie: sign(`admin|abc|${future()}`, 'some-other-secret-key-0123456789') }],
  ['session cookie, expired', { cookie: sign(`admin|abc|${Date.now() - 1000}`, TEST_SECRET_KEY) }],
  ['session cookie, unsigned', { cookie: `${SESSION_COOKIE}=${encodeURIComponent(`admin|abc|${future()}`)}` }],
];

async function send(e: Endpoint, headers: Record<string, string>, opts: { html?: boolean; body?: Record<string, string> } = {}) {
  const h: Record<string, string> = { ...headers };
  if (opts.html) h.accept = 'text/html,application/xhtml+xml';
  let body: string | undefined;
  if (e.method !== 'GET' && e.method !== 'HEAD') {
    if (e.path.startsWith('/api/') || e.path.startsWith('/codec/')) {
      h['content-type'] = 'application/json';
      body = JSON.stringify(e.path === '/api/jobs' ? spec(`routes-${crypto.randomBytes(3).toString('hex')}`) : (opts.body ?? {}));
    } else {
      h['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(opts.body ?? {}).toString();
    }
  }
  const res = await app.request(e.path, { method: e.method, headers: h, body });
  let text = '';
  if (e.path.endsWith('/stream') && res.status === 200) await res.body?.cancel();
  else text = await res.text();
  return { res, text };
}

describe('the route table', () => {
  it('is what this file checks: every route, parameters filled in', () => {
    const all = endpoints();
    const patterns = new Set(all.map((e) => `${e.method} ${e.pattern}`));
    // A sanity floor: the pages, the API and the session routes are all there.
    for (const must of [
      'GET /',
      'GET /jobs/new',
      'POST /jobs',
      'GET /jobs/:id',
      'POST /api/jobs',
      'GET /api/jobs/:id',
      'POST /logout',
      'POST /codec/decode',
    ]) {
      expect(patterns, must).toContain(must);
    }
    // Every action of the form route is expanded: run, cancel, approve, reject, destroy.
    expect(all.filter((e) => e.pattern.startsWith('/jobs/:id/:action')).map((e) => e.path.split('/').at(-1))).toEqual([
      'run',
      'cancel',
      'approve',
      'reject',
      'destroy',
    ]);
    expect(all.filter((e) => !isPublic(e)).length).toBeGreaterThanOrEqual(25);
    expect(all.filter((e) => e.method !== 'GET' && !CSRF_EXEMPT.has(`${e.method} ${e.pattern}`)).length).toBeGreaterThanOrEqual(
      13,
    );
    expect(
      all
        .filter(isPublic)
        .map((e) => `${e.method} ${e.pattern}`)
        .sort(),
    ).toEqual(['GET /favicon.ico', 'GET /health', 'GET /login', 'GET /static/:name', 'POST /login'].sort());
  });
});

describe('authentication on every route', () => {
  it('refuses a missing or wrong login: 401 for API and JSON, a redirect to /login for HTML GETs', async () => {
    const problems: string[] = [];
    for (const e of endpoints().filter((x) => !isPublic(x))) {
      for (const [what, headers] of WRONG_LOGINS) {
        for (const html of [false, true]) {
          const { res, text } = await send(e, headers, { html });
          const label = `${e.method} ${e.path} (${what}${html ? ', HTML' : ''})`;
          if (html && isHtmlGet(e)) {
            const location = res.headers.get('location') ?? '';
            if (res.status !== 302 || !location.startsWith(`/login?next=${encodeURIComponent(e.path)}`)) {
              problems.push(`${label}: ${res.status} ${location}`);
            }
          } else if (res.status !== 401) {
            problems.push(`${label}: ${res.status}`);
          } else {
            if (!/^Basic realm=/.test(res.headers.get('www-authenticate') ?? '')) problems.push(`${label}: no WWW-Authenticate`);
            if (!text.includes('"unauthorized"')) problems.push(`${label}: body ${text.slice(0, 80)}`);
          }
          // Nothing of the job leaks in a refusal.
          if (text.includes(jobName) || text.includes(jobId)) problems.push(`${label}: the refusal mentions the job`);
          if (res.headers.get('set-cookie')) problems.push(`${label}: sets a cookie`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('serves every GET route to a right login (basic, bearer, session), so the refusals above are not 404s', async () => {
    const problems: string[] = [];
    for (const e of endpoints().filter((x) => x.method === 'GET')) {
      for (const [what, headers] of [
        ['basic', basic()],
        ['bearer', bearer()],
        ['session', { cookie: session.cookie }],
      ] as const) {
        const { res } = await send(e, headers);
        // /outbox/1 and revision 1 may not exist: their handlers answering 404 is fine, the route was reached.
        const reachedMissing = ['/outbox/:id{[0-9]+}', '/api/jobs/:id/revisions/:number'].includes(e.pattern);
        const ok = res.status < 400 || (reachedMissing && res.status === 404);
        if (!ok) problems.push(`${e.method} ${e.path} (${what}): ${res.status}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('leaves /health, /login, /static/* and the icon open', async () => {
    expect((await app.request('/health')).status).not.toBe(401);
    expect((await app.request('/login')).status).toBe(200);
    expect((await app.request('/static/app.css')).status).toBe(200);
    const icon = await app.request('/static/favicon.svg');
    expect(icon.status).toBe(200);
    expect(icon.headers.get('content-type')).toBe('image/svg+xml');
    expect(await icon.text()).toMatch(/^<svg /);
    const legacy = await app.request('/favicon.ico');
    expect(legacy.status).toBe(301);
    expect(legacy.headers.get('location')).toBe('/static/favicon.svg');
  });
});

describe('CSRF on every state-changing browser route', () => {
  const unsafe = () => endpoints().filter((e) => e.method !== 'GET' && !CSRF_EXEMPT.has(`${e.method} ${e.pattern}`));

  it("refuses a session or basic-auth POST without a token, with a forged one, or with another session's", async () => {
    const other = await login(app);
    expect(other.csrf).not.toBe(session.csrf);
    const forged = crypto.createHmac('sha256', 'guessed-secret').update(`csrf:session:x`).digest('base64url');
    const problems: string[] = [];
    for (const e of unsafe()) {
      const cases: Array<[string, Record<string, string>, Record<string, string>]> = [
        ['no token', { cookie: session.cookie }, {}],
        ['forged field', { cookie: session.cookie }, { _csrf: forged }],
        ['forged header', { cookie: session.cookie, 'x-csrf-token': forged }, {}],
        ['empty token', { cookie: session.cookie, 'x-csrf-token': '' }, { _csrf: '' }],
        ["another session's token", { cookie: session.cookie, 'x-csrf-token': other.csrf }, { _csrf: other.csrf }],
        ['token without its session', {}, { _csrf: session.csrf }],
        ['basic auth, no token', basic(), {}],
        [
          'right token, foreign Origin',
          { cookie: session.cookie, 'x-csrf-token': session.csrf, origin: 'https://evil.example' },
          { _csrf: session.csrf },
        ],
      ];
      for (const [what, headers, body] of cases) {
        const { res } = await send(e, headers, { body });
        const expected = what === 'token without its session' ? 401 : 403;
        if (res.status !== expected) problems.push(`${e.method} ${e.path} (${what}): ${res.status}, expected ${expected}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('lets the right token through (form field or X-CSRF-Token header)', async () => {
    const problems: string[] = [];
    // Signing out ends the session on the server: each /logout call gets a session of its own.
    const sessionFor = async (e: Endpoint) => (e.path === '/logout' ? login(app) : session);
    for (const e of unsafe()) {
      let s = await sessionFor(e);
      const viaHeader = await send(e, { cookie: s.cookie, 'x-csrf-token': s.csrf, origin: 'http://prov.test' });
      if ([401, 403].includes(viaHeader.res.status)) problems.push(`${e.method} ${e.path} (header): ${viaHeader.res.status}`);
      if (!e.path.startsWith('/api/')) {
        s = await sessionFor(e);
        const viaField = await send(e, { cookie: s.cookie }, { body: { _csrf: s.csrf } });
        if ([401, 403].includes(viaField.res.status)) problems.push(`${e.method} ${e.path} (field): ${viaField.res.status}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('bearer calls need no token, and a bearer request never uses the cookie beside it', async () => {
    // No CSRF token, and a session cookie too: the bearer token decides, and nothing else is needed.
    const created = await app.request('/api/jobs', {
      method: 'POST',
      headers: { ...bearer(), cookie: session.cookie, 'content-type': 'application/json' },
      body: JSON.stringify(spec(`routes-bearer-${crypto.randomBytes(3).toString('hex')}`)),
    });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as { id: string }).id;
    const audit = await temp.db.selectFrom('audit_log').select('actor').where('job_id', '=', id).execute();
    expect(audit.map((a) => a.actor)).toEqual(['api-token']);
    // Action routes too: refused by the job's state, never by CSRF.
    const cancel = await app.request(`/api/jobs/${id}/cancel`, { method: 'POST', headers: bearer() });
    expect(cancel.status).toBe(409);
    const formCancel = await app.request(`/jobs/${id}/cancel`, {
      method: 'POST',
      headers: { ...bearer(), 'content-type': 'application/x-www-form-urlencoded' },
      body: '',
    });
    expect([401, 403]).not.toContain(formCancel.status);

    // A wrong token is not rescued by a valid session cookie, for reads or writes.
    for (const [method, path] of [
      ['GET', '/api/jobs'],
      ['GET', `/jobs/${id}`],
      ['POST', '/api/jobs'],
      ['POST', `/jobs/${id}/cancel`],
    ]) {
      const res = await app.request(path, {
        method,
        headers: {
          ...bearer('wrong-token'),
          cookie: session.cookie,
          'x-csrf-token': session.csrf,
          'content-type': 'application/json',
        },
        body: method === 'POST' ? JSON.stringify(spec('routes-never')) : undefined,
      });
      expect(res.status, `${method} ${path}`).toBe(401);
    }
  });
});

/** Posts the sign-in form the way a browser that loaded it would (pre-session cookie and token), on `base`. */
async function postLogin(on: App, fields: Record<string, string>, base = 'http://localhost', headers = {}) {
  const form = await signInForm(() => on.request(`${base}/login`));
  return on.request(`${base}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: form.cookie, ...headers },
    body: new URLSearchParams({ _csrf: form.csrf, ...fields }),
  });
}

const cookieNamed = (res: Response, name: string) => res.headers.getSetCookie().find((c) => c.startsWith(`${name}=`)) ?? '';

describe('sessions', () => {
  it('sets an HttpOnly, SameSite=Lax cookie for the whole site, Secure when served over https', async () => {
    const res = await postLogin(app, { username: ADMIN_USER, password: ADMIN_PASS });
    const cookie = cookieNamed(res, SESSION_COOKIE);
    expect(cookie).toMatch(new RegExp(`^${SESSION_COOKIE}=`));
    expect(cookie).toMatch(/; HttpOnly/i);
    expect(cookie).toMatch(/; SameSite=Lax/i);
    expect(cookie).toMatch(/; Path=\//);
    expect(cookie).not.toMatch(/; Secure/i);

    const tlsApp = createApp({
      db: temp.db,
      temporal: client,
      config: securityConfig({ DATA_DIR: temp.dir, PUBLIC_BASE_URL: 'https://prov.example' }),
    });
    const tls = await postLogin(tlsApp, { username: ADMIN_USER, password: ADMIN_PASS }, 'https://prov.example');
    // Over https a __Host- cookie: Secure, the whole site, this host only.
    const tlsCookie = cookieNamed(tls, HOST_SESSION_COOKIE);
    expect(tlsCookie).toMatch(new RegExp(`^${HOST_SESSION_COOKIE}=`));
    expect(tlsCookie).toMatch(/; Secure/i);
    expect(tlsCookie).toMatch(/; Path=\//);
    expect(tlsCookie).not.toMatch(/; Domain=/i);
    const pair = tlsCookie.split(';')[0]!;
    expect((await tlsApp.request('https://prov.example/api/me', { headers: { cookie: pair } })).status).toBe(200);
    // The plain name is not taken over https: a cookie planted by a plain-http page does nothing.
    const planted = pair.replace(HOST_SESSION_COOKIE, SESSION_COOKIE);
    expect((await tlsApp.request('https://prov.example/api/me', { headers: { cookie: planted } })).status).toBe(401);
  });

  it('sends a wrong login back to the form with 401 and sets no cookie', async () => {
    const res = await postLogin(app, { username: ADMIN_USER, password: 'nope' });
    expect(res.status).toBe(401);
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(await res.text()).toContain('Wrong user or password.');
  });

  it('redirects after login only within the site', async () => {
    const landingAfterLogin = async (next: string) => {
      const res = await postLogin(app, { username: ADMIN_USER, password: ADMIN_PASS, next });
      expect(res.status).toBe(303);
      return res.headers.get('location');
    };
    expect(await landingAfterLogin(`/jobs/${jobId}?tab=logs`)).toBe(`/jobs/${jobId}?tab=logs`);
    for (const evil of [
      '//evil.example',
      '/\\evil.example',
      '\\\\evil.example',
      'https://evil.example',
      '/\t/evil.example',
      '/\n/evil.example',
      ' /x',
      'javascript:alert(1)',
    ]) {
      expect(await landingAfterLogin(evil), JSON.stringify(evil)).toBe('/');
    }
    // The same check guards the hidden field the login page renders.
    const page = await (await app.request(`/login?next=${encodeURIComponent('//evil.example')}`)).text();
    expect(page).toContain('name="next" value="/"');
  });
});

describe('sign-in forgery (login CSRF)', () => {
  const credentials = { username: ADMIN_USER, password: ADMIN_PASS, next: '/' };
  const post = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
    app.request('/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(fields),
    });
  const expectRefused = async (res: Response, message: RegExp) => {
    expect(res.status).toBe(403);
    expect(cookieNamed(res, SESSION_COOKIE)).toBe('');
    expect(await res.text()).toMatch(message);
  };

  it('gives the form a token bound to a pre-session cookie, kept across reloads and dropped at sign-in', async () => {
    const first = await app.request('/login');
    const cookie = cookieNamed(first, 'prov_login');
    expect(cookie).toMatch(/^prov_login=[A-Za-z0-9_-]{24}; /);
    expect(cookie).toMatch(/; HttpOnly/i);
    expect(cookie).toMatch(/; SameSite=Strict/i);
    const token = /name="_csrf" value="([^"]+)"/.exec(await first.text())?.[1];
    // A second tab: the same cookie, the same token, no new cookie.
    const again = await app.request('/login', { headers: { cookie: cookie.split(';')[0]! } });
    expect(again.headers.getSetCookie()).toEqual([]);
    expect(await again.text()).toContain(`name="_csrf" value="${token}"`);
    const signedIn = await postLogin(app, credentials);
    expect(signedIn.status).toBe(303);
    expect(cookieNamed(signedIn, 'prov_login')).toMatch(/Max-Age=0/);
  });

  it("refuses a sign-in without the form token, or with another browser's, before looking at the password", async () => {
    await expectRefused(await post(credentials), /sign-in form had expired or did not come from this site/);
    const mine = await signInForm(() => app.request('/login'));
    const theirs = await signInForm(() => app.request('/login'));
    // The attacker's own valid token cannot be paired with the victim's cookie, nor stand alone.
    await expectRefused(await post({ ...credentials, _csrf: theirs.csrf }, { cookie: mine.cookie }), /expired or did not/);
    await expectRefused(await post({ ...credentials, _csrf: mine.csrf }), /expired or did not/);
    // A forged attempt with a wrong password is refused as forged, not counted as a wrong password.
    await expectRefused(await post({ ...credentials, password: 'guess' }), /expired or did not/);
    // And the pair from one browser works.
    const ok = await post({ ...credentials, _csrf: mine.csrf }, { cookie: mine.cookie });
    expect(ok.status).toBe(303);
  });

  it('refuses a sign-in posted from another origin even with a valid pair, and takes our own', async () => {
    for (const origin of ['https://evil.example', 'null']) {
      const form = await signInForm(() => app.request('/login'));
      const res = await post({ ...credentials, _csrf: form.csrf }, { cookie: form.cookie, origin });
      await expectRefused(res, /sign-in from another site/);
    }
    for (const origin of ['http://localhost', 'http://prov.test']) {
      const res = await postLogin(app, credentials, 'http://localhost', { origin });
      expect(res.status, origin).toBe(303);
    }
  });

  it('uses a __Host- pre-session cookie over https', async () => {
    const tlsApp = createApp({
      db: temp.db,
      temporal: client,
      config: securityConfig({ DATA_DIR: temp.dir, PUBLIC_BASE_URL: 'https://prov.example' }),
    });
    const res = await tlsApp.request('https://prov.example/login');
    const cookie = cookieNamed(res, '__Host-prov_login');
    expect(cookie).toMatch(/; Secure/i);
    expect(cookie).toMatch(/; Path=\//);
    expect(cookie).not.toMatch(/; Domain=/i);
    expect(cookieNamed(res, 'prov_login')).toBe('');
  });
});

// ---------------------------------------------------------------------------
// Security headers
// ---------------------------------------------------------------------------

function csp(res: Response): Map<string, string[]> {
  const header = res.headers.get('content-security-policy') ?? '';
  return new Map(
    header
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map(([name, ...values]) => [name, values]),
  );
}

function headerProblems(label: string, res: Response): string[] {
  const problems: string[] = [];
  const policy = csp(res);
  if (!policy.size) return [`${label}: no Content-Security-Policy`];
  const scripts = policy.get('script-src') ?? policy.get('default-src') ?? [];
  for (const bad of ["'unsafe-inline'", "'unsafe-eval'", '*', 'data:', 'http:', 'https:']) {
    if (scripts.includes(bad)) problems.push(`${label}: script-src allows ${bad}`);
  }
  if (!scripts.length) problems.push(`${label}: no script-src`);
  if ((policy.get('frame-ancestors') ?? []).join(' ') !== "'none'") problems.push(`${label}: frame-ancestors is not 'none'`);
  if ((policy.get('object-src') ?? []).join(' ') !== "'none'") problems.push(`${label}: object-src is not 'none'`);
  if (!policy.has('base-uri')) problems.push(`${label}: no base-uri`);
  if (res.headers.get('x-content-type-options') !== 'nosniff') problems.push(`${label}: no nosniff`);
  const referrer = res.headers.get('referrer-policy') ?? '';
  if (!['no-referrer', 'same-origin', 'strict-origin', 'strict-origin-when-cross-origin'].includes(referrer)) {
    problems.push(`${label}: Referrer-Policy "${referrer}"`);
  }
  if (res.headers.get('x-frame-options') !== 'DENY') problems.push(`${label}: X-Frame-Options is not DENY`);
  if (!/camera=\(\)/.test(res.headers.get('permissions-policy') ?? '')) problems.push(`${label}: no Permissions-Policy`);
  return problems;
}

describe('security headers', () => {
  it('are on pages, API answers, static files, health and every kind of error', async () => {
    const big = 'x'.repeat(3 * 1024 * 1024);
    const cases: Array<[string, () => Response | Promise<Response>]> = [
      ['login page', () => app.request('/login')],
      ['dashboard', () => app.request('/', { headers: { cookie: session.cookie } })],
      ['job page', () => app.request(`/jobs/${jobId}`, { headers: { cookie: session.cookie } })],
      ['new job form', () => app.request('/jobs/new', { headers: { cookie: session.cookie } })],
      ['API list', () => app.request('/api/jobs', { headers: bearer() })],
      ['API job', () => app.request(`/api/jobs/${jobId}`, { headers: bearer() })],
      ['static file', () => app.request('/static/app.js')],
      ['health', () => app.request('/health')],
      ['401 JSON', () => app.request('/api/jobs')],
      ['401 redirect', () => app.request('/', { headers: { accept: 'text/html' } })],
      ['403 CSRF', () => app.request('/logout', { method: 'POST', headers: { cookie: session.cookie } })],
      ['404 page', () => app.request('/no/such/page', { headers: { cookie: session.cookie } })],
      ['404 API', () => app.request('/api/jobs/jnosuchjob000', { headers: bearer() })],
      [
        '413 too large',
        () =>
          app.request('/api/jobs', {
            method: 'POST',
            headers: { ...bearer(), 'content-type': 'application/json', 'content-length': String(big.length) },
            body: big,
          }),
      ],
      [
        '415 content type',
        () => app.request('/api/jobs', { method: 'POST', headers: { ...bearer(), 'content-type': 'text/plain' }, body: 'hi' }),
      ],
      [
        '422 validation',
        () =>
          app.request('/api/jobs', { method: 'POST', headers: { ...bearer(), 'content-type': 'application/json' }, body: '{}' }),
      ],
      ['codec preflight', () => app.request('/codec/decode', { method: 'OPTIONS', headers: { origin: 'https://evil.example' } })],
    ];
    const problems: string[] = [];
    const statuses: Record<string, number> = {};
    for (const [label, call] of cases) {
      const res = await call();
      statuses[label] = res.status;
      problems.push(...headerProblems(label, res));
      if (res.headers.get('strict-transport-security')) problems.push(`${label}: HSTS over plain http`);
    }
    expect(problems).toEqual([]);
    expect(statuses).toMatchObject({
      '401 JSON': 401,
      '401 redirect': 302,
      '403 CSRF': 403,
      '404 page': 404,
      '404 API': 404,
      '413 too large': 413,
      '415 content type': 415,
      '422 validation': 422,
    });
  });

  it('add a year of HSTS when served over TLS, directly or behind our own TLS proxy (TRUST_PROXY) only', async () => {
    const behindProxy = createApp({
      db: temp.db,
      temporal: client,
      config: securityConfig({ DATA_DIR: temp.dir, TEMPORAL_TASK_QUEUE: uniqueQueue('routes'), TRUST_PROXY: 'true' }),
    });
    for (const res of [
      await app.request('https://prov.test/login'),
      await behindProxy.request('/login', { headers: { 'x-forwarded-proto': 'https' } }),
      await app.request('https://prov.test/api/jobs'),
    ]) {
      const hsts = res.headers.get('strict-transport-security') ?? '';
      expect(Number(/max-age=(\d+)/.exec(hsts)?.[1])).toBeGreaterThanOrEqual(31_536_000);
    }
    // Without a proxy of ours, the header is the client's to write: it says nothing.
    const forged = await app.request('/login', { headers: { 'x-forwarded-proto': 'https' } });
    expect(forged.headers.get('strict-transport-security')).toBeNull();
  });

  it('keep every page of a signed-in person out of caches', async () => {
    const problems: string[] = [];
    for (const e of endpoints().filter((x) => x.method === 'GET' && !isPublic(x) && !x.path.startsWith('/api/'))) {
      const res = await app.request(e.path, { headers: { cookie: session.cookie, accept: 'text/html' } });
      if (!(res.headers.get('content-type') ?? '').startsWith('text/html')) continue;
      if (!/no-store/.test(res.headers.get('cache-control') ?? ''))
        problems.push(`${e.path}: ${res.headers.get('cache-control')}`);
    }
    expect(problems).toEqual([]);
  });

  it('/health says what is down, never why (the reason goes to the log)', async () => {
    const broken = await createTempDb();
    await broken.db.destroy();
    const res = await createApp({
      db: broken.db,
      temporal: client,
      config: securityConfig({ DATA_DIR: broken.dir, TEMPORAL_TASK_QUEUE: uniqueQueue('routes') }),
    }).request('/health');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'degraded', db: 'down', temporal: 'ok' });
    await broken.cleanup().catch(() => undefined);
  });

  it('pages run no script but our own files and the nonce of that response; no inline handlers', async () => {
    const problems: string[] = [];
    for (const e of endpoints().filter(
      (x) => x.method === 'GET' && !x.path.startsWith('/api/') && !x.path.startsWith('/static/'),
    )) {
      const res = await app.request(e.path, { headers: { cookie: session.cookie, accept: 'text/html' } });
      if (!(res.headers.get('content-type') ?? '').includes('text/html')) continue;
      const html = await res.text();
      const nonce = (csp(res).get('script-src') ?? []).find((v) => v.startsWith("'nonce-"))?.slice(7, -1);
      for (const tag of html.match(/<script\b[^>]*>/gi) ?? []) {
        const src = /\ssrc="([^"]*)"/.exec(tag)?.[1];
        const tagNonce = /\snonce="([^"]*)"/.exec(tag)?.[1];
        if (src && !src.startsWith('/static/')) problems.push(`${e.path}: script from ${src}`);
        if (!src && (!nonce || tagNonce !== nonce)) problems.push(`${e.path}: inline script without this response's nonce`);
      }
      const handlers = html.match(/<[^>]+\son[a-z]+\s*=/gi) ?? [];
      if (handlers.length) problems.push(`${e.path}: inline event handlers ${handlers.slice(0, 2).join(' ')}`);
      if (/href\s*=\s*["']?\s*javascript:/i.test(html)) problems.push(`${e.path}: javascript: link`);
    }
    expect(problems).toEqual([]);
    // A fresh nonce per response.
    const a = csp(await app.request('/login')).get('script-src');
    const b = csp(await app.request('/login')).get('script-src');
    expect(a).not.toEqual(b);
  });
});
