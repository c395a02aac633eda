import crypto from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './auth.js';

/**
 * Headers on every response. Scripts run only from our own origin or with the
 * per-response nonce; nothing inline without it.
 */
export function securityHeaders(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const nonce = crypto.randomBytes(16).toString('base64');
    c.set('nonce', nonce);
    await next();
    // A page may allow the exact inline styles of a document it frames (the outbox's email preview), by hash only.
    const styleHashes = c.get('cspStyleHashes') ?? [];
    const styleSrc = styleHashes.length ? `style-src 'self' 'unsafe-hashes' ${styleHashes.map((h) => `'${h}'`).join(' ')}` : "style-src 'self'";
    c.header(
      'Content-Security-Policy',
      [
        "default-src 'self'",
        `script-src 'self' 'nonce-${nonce}'`,
        styleSrc,
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
      ].join('; '),
    );
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('X-Frame-Options', 'DENY');
    c.header('Referrer-Policy', 'same-origin');
    c.header('Cross-Origin-Opener-Policy', 'same-origin');
    const proto = c.req.header('x-forwarded-proto') ?? new URL(c.req.url).protocol.replace(':', '');
    if (proto === 'https') c.header('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
  };
}
