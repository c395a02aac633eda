import crypto from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from './auth.js';

const foreignDocuments = new WeakSet<Context>();

/**
 * Marks the response of this request as another application's page or data
 * (the Temporal UI the web app proxies): it keeps its own script policy,
 * which ours would break (its pages start from an inline script), and gets
 * only the headers that hold for any document on our origin.
 */
export function markForeignDocument(c: Context): void {
  foreignDocuments.add(c);
}

/**
 * Headers on every response. Scripts run only from our own origin or with the
 * per-response nonce; nothing inline without it.
 */
/**
 * `formOrigins`: other origins a form may lead to: the identity provider's,
 * since signing out posts to /logout, which redirects there (browsers apply
 * form-action to a form's redirects too).
 */
export function securityHeaders(formOrigins: string[] = [], opts: { trustProxy?: boolean } = {}): MiddlewareHandler<AppEnv> {
  const formAction = ["form-action 'self'", ...formOrigins].join(' ');
  return async (c, next) => {
    const nonce = crypto.randomBytes(16).toString('base64');
    c.set('nonce', nonce);
    await next();
    const set = responseHeaderSetter(c);
    if (foreignDocuments.has(c)) {
      foreignHeaders(c, set, opts);
      return;
    }
    // A page may allow the exact inline styles of a document it frames (the outbox's email preview), by hash only.
    const styleHashes = c.get('cspStyleHashes') ?? [];
    const styleSrc = styleHashes.length
      ? `style-src 'self' 'unsafe-hashes' ${styleHashes.map((h) => `'${h}'`).join(' ')}`
      : "style-src 'self'";
    set(
      'Content-Security-Policy',
      [
        "default-src 'self'",
        `script-src 'self' 'nonce-${nonce}'`,
        styleSrc,
        "img-src 'self' data:",
        "connect-src 'self'",
        formAction,
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
      ].join('; '),
    );
    commonHeaders(c, set, opts);
  };
}

/** What every response carries, ours or a proxied application's. */
function commonHeaders(c: Context, set: (name: string, value: string) => void, opts: { trustProxy?: boolean }): void {
  set('X-Content-Type-Options', 'nosniff');
  set('X-Frame-Options', 'DENY');
  set('Referrer-Policy', 'same-origin');
  set('Cross-Origin-Opener-Policy', 'same-origin');
  // None of the browser's powerful features is for this service's pages.
  set('Permissions-Policy', PERMISSIONS_POLICY);
  // X-Forwarded-Proto is the client's to write unless our own proxy (TRUST_PROXY) sets it.
  const forwarded = opts.trustProxy ? c.req.header('x-forwarded-proto')?.split(',')[0]?.trim() : undefined;
  const proto = forwarded ?? new URL(c.req.url).protocol.replace(':', '');
  if (proto === 'https') set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
}

const PERMISSIONS_POLICY = [
  'camera=()',
  'microphone=()',
  'geolocation=()',
  'payment=()',
  'usb=()',
  'serial=()',
  'bluetooth=()',
  'midi=()',
  'display-capture=()',
  'clipboard-read=()',
].join(', ');

/**
 * A proxied application's response: its own Content-Security-Policy, if it
 * sends one, stays; a second policy (browsers enforce both) keeps it out of
 * frames and plugins and pins its base URL, and the common headers replace
 * whatever it said about framing, sniffing and referrers.
 */
function foreignHeaders(c: Context, set: (name: string, value: string) => void, opts: { trustProxy?: boolean }): void {
  const own = "frame-ancestors 'none'; object-src 'none'; base-uri 'self'";
  const theirs = c.res.headers.get('Content-Security-Policy');
  set('Content-Security-Policy', theirs ? `${theirs}, ${own}` : own);
  commonHeaders(c, set, opts);
}

/**
 * After the handler, `c.header()` makes Hono copy the finished response into a
 * new one (a stream of the whole body) just to change its headers; setting
 * them on the response in place costs nothing. Responses whose headers are
 * immutable (Response.redirect, fetch) still go through `c.header()`.
 */
function responseHeaderSetter(c: Context): (name: string, value: string) => void {
  return (name, value) => {
    try {
      c.res.headers.set(name, value);
    } catch {
      c.header(name, value);
    }
  };
}
