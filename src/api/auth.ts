import crypto from 'node:crypto';
import { safeEqual } from '../security/tokens.js';
import type { Context, MiddlewareHandler } from 'hono';
import { getSignedCookie, setSignedCookie, deleteCookie } from 'hono/cookie';
import type { Db } from '../db/database.js';
import type { UserRow } from '../db/schema.js';
import { findApiTokenByHash, touchApiToken } from '../db/apiTokens.js';
import { insertSession, pruneExpiredSessions, revokeSession, sessionUser, touchSession } from '../db/sessions.js';
import { ensureConfiguredUser, getUser, LOCAL_ADMIN_ID, LOCAL_SUBJECT } from '../db/users.js';
import { effectiveRole, isRole, lowerRole, type Role } from '../domain/permissions.js';

/**
 * Who is calling: a browser session (the login form or the identity
 * provider, then a signed cookie backed by a server-side session), HTTP basic
 * auth for the local admin, or a script's bearer token. Each request looks
 * the user up again, so a role change or a deactivation takes effect at once.
 * Bearer requests never look at cookies, so a logged-in browser cannot be
 * tricked into a token-authenticated call.
 */

export interface Principal {
  userId: string;
  /** The user's display name, as the audit and the pages show it. */
  user: string;
  /** The role this request acts with: a token's role, never above its user's. */
  role: Role;
  via: 'session' | 'basic' | 'bearer';
  /** The API token used (a named token's id, or `env:<digest>` for API_TOKENS entries). */
  tokenId?: string;
  tokenName?: string;
  /** Binds CSRF tokens: the session id, or the user for basic auth. */
  csrfBinding: string | null;
}

export interface AuthSettings {
  adminUser: string;
  adminPass: string;
  secretKey: string;
  apiTokens: string[];
  /** LOCAL_LOGIN: whether the local admin account (form and basic auth) may sign in. */
  localLogin?: boolean;
  sessionHours?: number;
  /** SESSION_IDLE_MINUTES: a session unused this long ends; 0 or absent: only its lifetime ends it. */
  sessionIdleMinutes?: number;
  secureCookies?: boolean;
}

/** A session's last use is written at most this often: its idle time is known to within it. */
const SESSION_TOUCH_INTERVAL_MS = 60_000;

export const SESSION_COOKIE = 'prov_session';
/**
 * Over https the session cookie is a `__Host-` one: browsers then keep it only
 * when it is Secure, for the whole site and this host alone, so no subdomain
 * or plain-http page can plant or overwrite it.
 */
export const HOST_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;

/** How long a basic-auth caller's CSRF token (from GET /api/me or a page) is taken. */
export const BASIC_CSRF_SECONDS = 12 * 3600;

/** The CSRF token a session or basic-auth user carries, from the secret key alone. */
export function csrfTokenFor(secretKey: string, binding: string): string {
  return crypto.createHmac('sha256', secretKey).update(`csrf:${binding}`).digest('base64url');
}

export function sha256Hex(value: string): string {
  return crypto.createHash('sha256').update(value).digest('hex');
}

/** A bootstrap token from API_TOKENS: `name:token` gives it a name of its own. */
interface EnvToken {
  hash: Buffer;
  tokenId: string;
  name: string;
  userId: string;
}

const ENV_TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const PLAIN_TOKEN_USER = 'api-token';

export function parseEnvTokens(entries: string[]): EnvToken[] {
  return entries.filter(Boolean).map((entry) => {
    const sep = entry.indexOf(':');
    const named = sep > 0 && ENV_TOKEN_NAME.test(entry.slice(0, sep)) && entry.length > sep + 1;
    const secret = named ? entry.slice(sep + 1) : entry;
    const digest = sha256Hex(secret);
    const name = named ? entry.slice(0, sep) : PLAIN_TOKEN_USER;
    return {
      hash: Buffer.from(digest, 'hex'),
      tokenId: `env:${digest.slice(0, 8)}`,
      name: named ? name : `API_TOKENS ${digest.slice(0, 8)}`,
      userId: `env-token:${name}`,
    };
  });
}

/** How often a token's last use is written at most: not a write per request. */
const TOKEN_TOUCH_INTERVAL_MS = 60_000;

export class Authenticator {
  private readonly envTokens: EnvToken[];
  private configured: Promise<void> | undefined;
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly settings: AuthSettings,
    private readonly db: Db,
    private readonly now: () => Date = () => new Date(),
  ) {
    // Only hashes are kept in memory, the way the token table stores them.
    this.envTokens = parseEnvTokens(settings.apiTokens);
  }

  private get sessionCookie(): string {
    return this.settings.secureCookies ? HOST_SESSION_COOKIE : SESSION_COOKIE;
  }

  /** Whether cookies are Secure and `__Host-` (the service is served over https). */
  get secureCookies(): boolean {
    return this.settings.secureCookies ?? false;
  }

  get localLogin(): boolean {
    return this.settings.localLogin ?? true;
  }

  /** The rows of the principals the operator configures: the local admin and each API_TOKENS name. */
  ensureConfiguredUsers(): Promise<void> {
    this.configured ??= (async () => {
      await ensureConfiguredUser(this.db, {
        id: LOCAL_ADMIN_ID,
        subject: LOCAL_SUBJECT,
        name: this.settings.adminUser,
        role: 'admin',
      });
      for (const t of new Map(this.envTokens.map((e) => [e.userId, e])).values()) {
        const name = t.userId.slice('env-token:'.length);
        await ensureConfiguredUser(this.db, { id: t.userId, subject: t.userId, name, role: 'admin' });
      }
    })().catch((err) => {
      this.configured = undefined;
      throw err;
    });
    return this.configured;
  }

  async localAdmin(): Promise<UserRow | undefined> {
    await this.ensureConfiguredUsers();
    return getUser(this.db, LOCAL_ADMIN_ID);
  }

  checkPassword(user: string, pass: string): boolean {
    // Both compared, always: no early exit that tells which one was wrong.
    const okUser = safeEqual(user, this.settings.adminUser);
    const okPass = safeEqual(pass, this.settings.adminPass);
    return this.localLogin && okUser && okPass;
  }

  /** The principal a bearer token stands for, or null: unknown, revoked, expired, or its user deactivated. */
  async tokenPrincipal(token: string): Promise<Principal | null> {
    if (!token) return null;
    await this.ensureConfiguredUsers();
    const digest = crypto.createHash('sha256').update(token).digest();
    let env: EnvToken | undefined;
    for (const t of this.envTokens) if (crypto.timingSafeEqual(t.hash, digest)) env = t;
    if (env) {
      const user = await getUser(this.db, env.userId);
      if (user?.active !== 1) return null;
      return {
        userId: user.id,
        user: user.name,
        role: 'admin',
        via: 'bearer',
        tokenId: env.tokenId,
        tokenName: env.name,
        csrfBinding: null,
      };
    }
    const row = await findApiTokenByHash(this.db, digest.toString('hex'));
    const now = this.now();
    if (!row || row.revoked_at || row.user_active !== 1) return null;
    if (row.expires_at && Date.parse(row.expires_at) <= now.getTime()) return null;
    const userRole = effectiveRole(row.user_role_override, row.user_mapped_role);
    if (!userRole || !isRole(row.role)) return null;
    this.touch(row.id, now);
    return {
      userId: row.user_id,
      user: row.user_name,
      role: lowerRole(row.role, userRole),
      via: 'bearer',
      tokenId: row.id,
      tokenName: row.name,
      csrfBinding: null,
    };
  }

  private touch(tokenId: string, now: Date): void {
    const last = this.touched.get(tokenId) ?? 0;
    if (now.getTime() - last < TOKEN_TOUCH_INTERVAL_MS) return;
    this.touched.set(tokenId, now.getTime());
    if (this.touched.size > 10_000) this.touched.clear();
    touchApiToken(this.db, tokenId, now).catch(() => undefined);
  }

  /**
   * A session's token dies with its session. Basic auth has no session, so its
   * token carries its own expiry: one copied from a log or a proxy is worthless
   * after BASIC_CSRF_SECONDS.
   */
  csrfToken(binding: string): string {
    if (!binding.startsWith('basic:')) return csrfTokenFor(this.settings.secretKey, binding);
    // Whole hours, so pages and scripts get the same token for an hour rather than a new one each second.
    const expires = Math.ceil((this.now().getTime() / 1000 + BASIC_CSRF_SECONDS) / 3600) * 3600;
    return `${expires}.${csrfTokenFor(this.settings.secretKey, `${binding}|${expires}`)}`;
  }

  checkCsrf(binding: string | null, token: string | undefined): boolean {
    if (!binding || !token) return false;
    if (!binding.startsWith('basic:')) return safeEqual(token, csrfTokenFor(this.settings.secretKey, binding));
    const [expires, mac] = token.split('.', 2);
    const left = Number(expires) - this.now().getTime() / 1000;
    if (!/^\d{1,12}$/.test(expires ?? '') || !mac || left <= 0 || left > BASIC_CSRF_SECONDS + 3600) return false;
    return safeEqual(mac, csrfTokenFor(this.settings.secretKey, `${binding}|${expires}`));
  }

  /** Signs `user` in on this browser: a new server-side session and its signed cookie. */
  async startSession(c: Context, user: { id: string; name: string }): Promise<void> {
    // A session cookie the browser brought from before ends (the new cookie replaces it): one browser, one session.
    await this.revokeCurrentSession(c);
    const sid = crypto.randomBytes(18).toString('base64url');
    const now = this.now();
    const expires = now.getTime() + (this.settings.sessionHours ?? 12) * 3_600_000;
    await pruneExpiredSessions(this.db, now);
    await insertSession(this.db, {
      idHash: sha256Hex(sid),
      userId: user.id,
      userName: user.name,
      createdAt: now,
      expiresAt: new Date(expires),
    });
    await setSignedCookie(c, this.sessionCookie, `${user.id}|${sid}|${expires}`, this.settings.secretKey, {
      httpOnly: true,
      sameSite: 'Lax',
      secure: this.settings.secureCookies ?? false,
      path: '/',
      maxAge: Math.floor((expires - now.getTime()) / 1000),
    });
  }

  /** Signs out: the session ends on the server too, so a copy of the cookie is worthless. */
  async endSession(c: Context): Promise<void> {
    await this.revokeCurrentSession(c);
    deleteCookie(c, this.sessionCookie, { path: '/', secure: this.settings.secureCookies ?? false });
  }

  private async revokeCurrentSession(c: Context): Promise<void> {
    const session = await this.signedSession(c);
    if (session) await revokeSession(this.db, sha256Hex(session.sid), this.now());
  }

  private async signedSession(c: Context): Promise<{ userId: string; sid: string } | null> {
    const cookie = await getSignedCookie(c, this.settings.secretKey, this.sessionCookie);
    if (!cookie) return null;
    const [userId, sid, expires] = cookie.split('|');
    if (!userId || !sid || !(Number(expires) > this.now().getTime())) return null;
    return { userId, sid };
  }

  async identify(c: Context): Promise<Principal | null> {
    const header = c.req.header('authorization') ?? '';
    if (/^bearer\s+/i.test(header)) return this.tokenPrincipal(header.replace(/^bearer\s+/i, '').trim());
    if (/^basic\s+/i.test(header)) {
      const decoded = Buffer.from(header.replace(/^basic\s+/i, ''), 'base64').toString();
      const sep = decoded.indexOf(':');
      if (sep < 0) return null;
      const name = decoded.slice(0, sep);
      if (!this.checkPassword(name, decoded.slice(sep + 1))) return null;
      const admin = await this.localAdmin();
      if (admin?.active !== 1) return null;
      return { userId: admin.id, user: admin.name, role: 'admin', via: 'basic', csrfBinding: `basic:${name}` };
    }
    const session = await this.signedSession(c);
    if (!session) return null;
    const now = this.now();
    const idHash = sha256Hex(session.sid);
    const user = await sessionUser(this.db, idHash, session.userId, now);
    if (user?.active !== 1) return null;
    // An unattended browser does not stay signed in: past the idle time the session ends for good.
    const idleMs = now.getTime() - Date.parse(user.session_seen_at);
    const idleLimitMs = (this.settings.sessionIdleMinutes ?? 0) * 60_000;
    if (idleLimitMs > 0 && idleMs > idleLimitMs) {
      await revokeSession(this.db, idHash, now);
      return null;
    }
    if (idleMs >= SESSION_TOUCH_INTERVAL_MS) touchSession(this.db, idHash, now).catch(() => undefined);
    // The local admin's session ends when LOCAL_LOGIN is switched off.
    if (user.id === LOCAL_ADMIN_ID && !this.localLogin) return null;
    const role = effectiveRole(user.role_override, user.mapped_role);
    if (!role) return null;
    return { userId: user.id, user: user.name, role, via: 'session', csrfBinding: `session:${session.sid}` };
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

const PUBLIC_PATHS = [/^\/health$/, /^\/login$/, /^\/auth\/oidc\/(start|callback)$/, /^\/static\//, /^\/favicon\.ico$/];

/** Every route but /health, /login and static files needs a principal. */
export function requireAuth(auth: Authenticator): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (PUBLIC_PATHS.some((re) => re.test(c.req.path))) return next();
    // The credential throttle may have looked a token up already.
    const principal = c.get('principal') ?? (await auth.identify(c));
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
