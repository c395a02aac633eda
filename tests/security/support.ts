import { parseConfig, type Config } from '../../src/config.js';
import type { createApp } from '../../src/api/app.js';
import { csrfTokenFor } from '../../src/api/auth.js';
import { SANDBOX_MODULE } from '../support/jobs.js';
import { ROOT } from '../support/processes.js';
import { TEST_SECRET_KEY } from '../support/worker.js';

/** Shared by the security tests: one way to build the app's config and to sign in. */

export const ADMIN_USER = 'admin';
export const ADMIN_PASS = 'correct-horse-battery';
export const API_TOKEN = 'sec-token-0123456789';
export const PUBLIC_BASE_URL = 'http://prov.test';
export const TEMPORAL_UI_URL = 'http://temporal-ui.test:8233';
export const UI_ORIGIN = new URL(TEMPORAL_UI_URL).origin;

export type App = ReturnType<typeof createApp>;

export function securityConfig(extra: Record<string, string>): Config {
  return parseConfig(
    {
      APP_ADMIN_USER: ADMIN_USER,
      APP_ADMIN_PASS: ADMIN_PASS,
      SECRET_KEY: TEST_SECRET_KEY,
      API_TOKENS: `${API_TOKEN}, other-token-abcdef`,
      TERRAFORM_MODULE_DIR: SANDBOX_MODULE,
      ALLOWED_INSTANCE_TYPES: 't3.micro,t3.small',
      ALLOWED_REGIONS: 'us-east-1,eu-west-1',
      PUBLIC_BASE_URL,
      TEMPORAL_UI_URL,
      ...extra,
    },
    ROOT,
  );
}

export const basic = (user = ADMIN_USER, pass = ADMIN_PASS) => ({
  authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`,
});
export const bearer = (token = API_TOKEN) => ({ authorization: `Bearer ${token}` });

/**
 * What a browser holds once it has loaded the sign-in page: the pre-session
 * cookie and the form's token (login CSRF), read the way a browser would.
 */
export async function signInForm(getLogin: () => Response | Promise<Response>): Promise<{ cookie: string; csrf: string }> {
  const res = await getLogin();
  if (res.status !== 200) throw new Error(`GET /login answered ${res.status}`);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await res.text())?.[1];
  const cookie = (res.headers.getSetCookie?.() ?? [res.headers.get('set-cookie') ?? ''])
    .map((c) => c.split(';')[0])
    .find((c) => /^(__Host-)?prov_login=/.test(c));
  if (!csrf || !cookie) throw new Error('the sign-in page carried no pre-session token');
  return { cookie, csrf };
}

/** Signs in through the login form; returns the session cookie and the CSRF token the pages carry. */
export async function login(app: App): Promise<{ cookie: string; csrf: string }> {
  const form = await signInForm(() => app.request('/login'));
  const res = await app.request('/login', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: form.cookie },
    body: new URLSearchParams({ username: ADMIN_USER, password: ADMIN_PASS, next: '/', _csrf: form.csrf }),
  });
  if (res.status !== 303) throw new Error(`login answered ${res.status}: ${await res.text()}`);
  const cookie =
    (res.headers.getSetCookie?.() ?? [res.headers.get('set-cookie') ?? ''])
      .map((c) => c.split(';')[0])
      .find((c) => /^(__Host-)?prov_session=/.test(c)) ?? '';
  // The signed value is "user|sid|expires.signature"; the token is bound to the sid.
  const sid = decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1)).split('|')[1];
  return { cookie, csrf: csrfTokenFor(TEST_SECRET_KEY, `session:${sid}`) };
}
