import crypto from 'node:crypto';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Authenticator } from './auth.js';

/**
 * Login CSRF: a third-party page must not sign a visitor's browser in to an
 * account of the attacker's choosing (whose jobs and forms they would then
 * fill in). Before any session exists, the sign-in form carries a token bound
 * to a random pre-session cookie; only our own page can read the token, and
 * only our own host can set the cookie (`__Host-` over https, so not a
 * subdomain either). A POST from another Origin is refused outright.
 */
export const LOGIN_COOKIE = 'prov_login';
const HOST_LOGIN_COOKIE = `__Host-${LOGIN_COOKIE}`;
/** Long enough for a sign-in page left open for a working day; the token is worthless without the cookie anyway. */
const LOGIN_COOKIE_SECONDS = 12 * 3600;
const NONCE = /^[A-Za-z0-9_-]{24}$/;

export interface LoginForgeryGuard {
  /** The token the sign-in form carries; sets the pre-session cookie when the browser has none yet. */
  formToken(c: Context): string;
  /** Why this sign-in POST is refused, or null when it came from our own form. */
  problem(c: Context, token: unknown): string | null;
  /** After a sign-in: the pre-session cookie has served its purpose. */
  clear(c: Context): void;
}

export function loginForgeryGuard(auth: Authenticator, allowedOrigins: () => string[]): LoginForgeryGuard {
  const secure = auth.secureCookies;
  const name = secure ? HOST_LOGIN_COOKIE : LOGIN_COOKIE;
  const binding = (nonce: string) => `login:${nonce}`;
  const current = (c: Context) => {
    const value = getCookie(c, name);
    return value && NONCE.test(value) ? value : null;
  };
  return {
    formToken(c) {
      let nonce = current(c);
      if (!nonce) {
        nonce = crypto.randomBytes(18).toString('base64url');
        setCookie(c, name, nonce, { httpOnly: true, sameSite: 'Strict', secure, path: '/', maxAge: LOGIN_COOKIE_SECONDS });
      }
      return auth.csrfToken(binding(nonce));
    },
    problem(c, token) {
      const origin = c.req.header('origin');
      const own = new URL(c.req.url).origin;
      if (origin && origin !== own && !allowedOrigins().includes(origin)) {
        return `A sign-in from another site (${origin === 'null' ? 'an opaque origin' : origin}) was refused.`;
      }
      const nonce = current(c);
      if (!nonce || !auth.checkCsrf(binding(nonce), typeof token === 'string' ? token : undefined)) {
        return 'The sign-in form had expired or did not come from this site; sign in again.';
      }
      return null;
    },
    clear(c) {
      deleteCookie(c, name, { path: '/', secure });
    },
  };
}
