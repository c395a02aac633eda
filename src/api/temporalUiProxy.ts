import type { Context, Handler, MiddlewareHandler } from 'hono';
import { proxy } from 'hono/proxy';
import type { AppEnv } from './auth.js';
import { markForeignDocument } from './securityHeaders.js';
import { TEMPORAL_UI_PATH } from '../config.js';

/**
 * The Temporal Web UI served by the web app at /temporal, for people signed
 * in to the service. The UI then runs on our origin, so its calls to our
 * /codec endpoint carry the session cookie and payloads show decoded (and
 * redacted), while the UI itself is closed to anyone not signed in.
 *
 * Mounted after authentication and before the form CSRF check: the UI's own
 * writes (terminate, cancel, signal, reset) are JSON requests carrying the
 * UI's own CSRF token, not ours, so instead every request but GET and HEAD
 * must come with an Origin of ours. API tokens are refused: the UI can do
 * more to workflows than the service's API lets a script do.
 *
 * What reaches the UI: the request without the service's cookies, without
 * any Authorization header (it is ours) and without the client's Origin,
 * Referer and forwarding headers. What comes back streams through as it
 * is, status and content type included, except cookies: none of the
 * service's may be set from there, and the UI's own are scoped to /temporal.
 * The UI's security headers give way to ours (securityHeaders), but not its
 * script policy.
 */

export interface TemporalUiProxyOptions {
  /** The UI server's origin, e.g. http://127.0.0.1:8233; it serves under /temporal itself. */
  upstream: string;
  /** The service's public address: Origins of ours are this one and the request's own. */
  publicBaseUrl: string;
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);
/** The service's own cookies (prov_session, prov_flash, …), never forwarded, never set from upstream. */
const SERVICE_COOKIE = /^(?:__(?:Host|Secure)-)?prov_/i;
const DROPPED_REQUEST_HEADERS = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'origin',
  'referer',
  'host',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-real-ip',
];

/** The Cookie header with the service's cookies taken out; null when nothing is left. */
export function upstreamCookies(header: string | undefined): string | null {
  if (!header) return null;
  const kept = header
    .split(';')
    .map((part) => part.trim())
    .filter((part) => part && !SERVICE_COOKIE.test(part.split('=')[0].trim()));
  return kept.length ? kept.join('; ') : null;
}

/** An upstream Set-Cookie as it may reach the browser: null for the service's names, Path=/ narrowed to /temporal. */
export function downstreamSetCookie(value: string): string | null {
  const name = value.split(';')[0].split('=')[0].trim();
  if (!name || SERVICE_COOKIE.test(name)) return null;
  return value.replace(/;\s*path\s*=\s*\/\s*(?=;|$)/i, `; Path=${TEMPORAL_UI_PATH}`);
}

function refuse(c: Context, status: 403 | 502, code: string, message: string) {
  return c.json({ error: { code, message } }, status);
}

/**
 * Mounted before authentication at /temporal/*: a refusal (an expired
 * session) carries no Basic challenge, which would make the browser pop up a
 * password dialog over the UI for its background calls. Pages still go to
 * the sign-in form (requireAuth redirects them).
 */
export function withoutBasicChallenge(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    if (c.res.status === 401) c.res.headers.delete('WWW-Authenticate');
  };
}

/** The handler for `/temporal` and everything under it. */
export function temporalUiProxy(opts: TemporalUiProxyOptions): Handler<AppEnv> {
  const upstream = new URL(opts.upstream).origin;
  const publicOrigin = new URL(opts.publicBaseUrl).origin;
  return async (c) => {
    if (c.get('principal')?.via === 'bearer') {
      return refuse(
        c,
        403,
        'forbidden',
        'the Temporal UI is for people signed in to the service; scripts use /api or the Temporal CLI',
      );
    }
    const url = new URL(c.req.url);
    if (!SAFE_METHODS.has(c.req.method)) {
      const origin = c.req.header('origin');
      if (!origin || (origin !== url.origin && origin !== publicOrigin)) {
        return refuse(
          c,
          403,
          'csrf',
          `a ${c.req.method} to the Temporal UI must come from its own pages (Origin ${publicOrigin})`,
        );
      }
    }
    // Only what the UI serves under its public path; `..` was resolved when the URL was parsed.
    if (url.pathname !== TEMPORAL_UI_PATH && !url.pathname.startsWith(`${TEMPORAL_UI_PATH}/`)) return c.notFound();

    const headers = new Headers(c.req.raw.headers);
    for (const name of DROPPED_REQUEST_HEADERS) headers.delete(name);
    const cookies = upstreamCookies(c.req.header('cookie'));
    if (cookies) headers.set('cookie', cookies);

    let res: Response;
    try {
      res = await proxy(`${upstream}${url.pathname}${url.search}`, {
        raw: c.req.raw,
        headers,
        // The browser follows the UI's redirects itself, on our origin.
        redirect: 'manual',
      });
    } catch (err) {
      // The browser went away (a long poll left behind): nobody reads the answer.
      if (c.req.raw.signal.aborted) return new Response(null, { status: 499 });
      return refuse(c, 502, 'upstream_unavailable', `the Temporal UI does not answer (${(err as Error).message})`);
    }
    const setCookies = res.headers.getSetCookie();
    if (setCookies.length) {
      res.headers.delete('set-cookie');
      for (const value of setCookies) {
        const kept = downstreamSetCookie(value);
        if (kept) res.headers.append('set-cookie', kept);
      }
    }
    // A redirect to the upstream's own address would leave our origin.
    const location = res.headers.get('location');
    if (location && (location === upstream || location.startsWith(`${upstream}/`))) {
      res.headers.set('location', location.slice(upstream.length) || '/');
    }
    markForeignDocument(c);
    return res;
  };
}
