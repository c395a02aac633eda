import crypto from 'node:crypto';
import { safeEqual } from '../security/tokens.js';
import type { Context, MiddlewareHandler } from 'hono';
import { getSignedCookie, setSignedCookie, deleteCookie } from 'hono/cookie';

/**
 * Who is calling: a browser session (login form, signed cookie), HTTP basic
 * auth, or a script's bearer token. Bearer requests never look at cookies, so
 * a logged-in browser cannot be tricked into a token-authenticated call.
 */

export interface Principal {
  user: string;
  via: 'session' | 'basic' | 'bearer';
  /** Binds CSRF tokens: the session id, or the user for basic auth. */
  csrfBinding: string | null;
}

export interface AuthSettings {
  adminUser: string;
  adminPass: string;
  secretKey: string;
  apiTokens: string[];
  sessionHours?: number;
  secureCookies?: boolean;
}

export const SESSION_COOKIE = 'prov_session';

/**
 * Where sessions live beyond the cookie: the signature proves the cookie is
 * ours, the store says whether the session is still on. Without it a copied
 * cookie would outlive "Sign out" until it expired.
 */
export interface SessionStore {
  create(idHash: string, user: string, expiresAt: Date): Promise<void>;
  isActive(idHash: string): Promise<boolean>;
  revoke(idHash: string): Promise<void>;
}

/** The CSRF token a session or basic-auth user carries, from the secret key alone. */
export function csrfTokenFor(secretKey: string, binding: string): string {
  return crypto.createHmac('sha256', secretKey).update(`csrf:${binding}`).digest('base64url');
}

function sha256(value: string): Buffer {
  return crypto.createHash('sha256').update(value).digest();
}

export class Authenticator {
  private readonly tokenHashes: Buffer[];

  constructor(
    private readonly settings: AuthSettings,
    private readonly sessions: SessionStore,
  ) {
    // Only hashes are kept in memory, the way a token table would store them.
    this.tokenHashes = settings.apiTokens.filter(Boolean).map(sha256);
  }

  checkPassword(user: string, pass: string): boolean {
    // Both compared, always: no early exit that tells which one was wrong.
    const okUser = safeEqual(user, this.settings.adminUser);
    const okPass = safeEqual(pass, this.settings.adminPass);
    return okUser && okPass;
  }

  checkToken(token: string): boolean {
    const digest = sha256(token);
    let found = false;
    for (const h of this.tokenHashes) if (crypto.timingSafeEqual(h, digest)) found = true;
    return found;
  }

  csrfToken(binding: string): string {
    return csrfTokenFor(this.settings.secretKey, binding);
  }

  checkCsrf(binding: string | null, token: string | undefined): boolean {
    if (!binding || !token) return false;
    return safeEqual(token, this.csrfToken(binding));
  }

  async startSession(c: Context, user: string): Promise<void> {
    const sid = crypto.randomBytes(18).toString('base64url');
    const expires = Date.now() + (this.settings.sessionHours ?? 12) * 3_600_000;
    await this.sessions.create(sha256(sid).toString('hex'), user, new Date(expires));
    await setSignedCookie(c, SESSION_COOKIE, `${user}|${sid}|${expires}`, this.settings.secretKey, {
      httpOnly: true,
      sameSite: 'Lax',
      secure: this.settings.secureCookies ?? false,
      path: '/',
      maxAge: Math.floor((expires - Date.now()) / 1000),
    });
  }

  /** Signs out: the session ends on the server too, so a copy of the cookie is worthless. */
  async endSession(c: Context): Promise<void> {
    const session = await this.signedSession(c);
    if (session) await this.sessions.revoke(sha256(session.sid).toString('hex'));
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
  }

  private async signedSession(c: Context): Promise<{ user: string; sid: string } | null> {
    const cookie = await getSignedCookie(c, this.settings.secretKey, SESSION_COOKIE);
    if (!cookie) return null;
    const [user, sid, expires] = cookie.split('|');
    if (!user || !sid || !(Number(expires) > Date.now())) return null;
    return { user, sid };
  }

  async identify(c: Context): Promise<Principal | null> {
    const header = c.req.header('authorization') ?? '';
    if (/^bearer\s+/i.test(header)) {
      const token = header.replace(/^bearer\s+/i, '').trim();
      return this.checkToken(token) ? { user: 'api-token', via: 'bearer', csrfBinding: null } : null;
    }
    if (/^basic\s+/i.test(header)) {
      const decoded = Buffer.from(header.replace(/^basic\s+/i, ''), 'base64').toString();
      const sep = decoded.indexOf(':');
      if (sep < 0) return null;
      const user = decoded.slice(0, sep);
      return this.checkPassword(user, decoded.slice(sep + 1)) ? { user, via: 'basic', csrfBinding: `basic:${user}` } : null;
    }
    const session = await this.signedSession(c);
    if (!session || !(await this.sessions.isActive(sha256(session.sid).toString('hex')))) return null;
    return { user: session.user, via: 'session', csrfBinding: `session:${session.sid}` };
  }
}

export type AppEnv = {
  Variables: {
    principal: Principal;
    csrfToken: string;
    nonce: string;
    secureHeadersNonce?: string;
    /** sha256-… hashes of inline styles a page allows (securityHeaders adds them to style-src). */
    cspStyleHashes?: string[];
  };
};

const PUBLIC_PATHS = [/^\/health$/, /^\/login$/, /^\/static\//, /^\/favicon\.ico$/];

/** Every route but /health, /login and static files needs a principal. */
export function requireAuth(auth: Authenticator): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (PUBLIC_PATHS.some((re) => re.test(c.req.path))) return next();
    const principal = await auth.identify(c);
    if (!principal) {
      const wantsHtml = (c.req.header('accept') ?? '').includes('text/html') && !c.req.path.startsWith('/api/');
      if (wantsHtml && c.req.method === 'GET') {
        return c.redirect(`/login?next=${encodeURIComponent(c.req.path + (new URL(c.req.url).search || ''))}`);
      }
      c.header('WWW-Authenticate', 'Basic realm="provisioning", charset="UTF-8"');
      return c.json({ error: { code: 'unauthorized', message: 'sign in, or send a valid Authorization header' } }, 401);
    }
    c.set('principal', principal);
    c.set('csrfToken', principal.csrfBinding ? auth.csrfToken(principal.csrfBinding) : '');
    return next();
  };
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * State-changing browser requests carry a token bound to the session (a form
 * field `_csrf` or the `X-CSRF-Token` header) and, when the browser sends
 * one, an Origin of our own. Bearer-token calls are exempt: they carry no
 * ambient credential a third-party page could borrow.
 */
export function requireCsrf(auth: Authenticator, allowedOrigins: () => string[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!UNSAFE.has(c.req.method)) return next();
    if (c.req.path === '/login') return next();
    const principal = c.get('principal');
    if (!principal || principal.via === 'bearer') return next();
    const origin = c.req.header('origin');
    const own = new URL(c.req.url).origin;
    if (origin && origin !== 'null' && origin !== own && !allowedOrigins().includes(origin)) {
      return csrfFailure(c, `cross-origin request from ${origin} refused`);
    }
    let token = c.req.header('x-csrf-token');
    if (!token) {
      const type = c.req.header('content-type') ?? '';
      if (type.startsWith('application/x-www-form-urlencoded') || type.startsWith('multipart/form-data')) {
        // parseBody caches, so handlers can read the body again.
        const body = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
        const field = (body as Record<string, unknown>)._csrf;
        token = typeof field === 'string' ? field : undefined;
      }
    }
    if (!auth.checkCsrf(principal.csrfBinding, token)) {
      return csrfFailure(c, 'missing or invalid CSRF token; reload the page and try again');
    }
    return next();
  };
}

function csrfFailure(c: Context, message: string) {
  if (c.req.path.startsWith('/api/') || (c.req.header('accept') ?? '').includes('application/json')) {
    return c.json({ error: { code: 'csrf', message } }, 403);
  }
  return c.text(message, 403);
}
