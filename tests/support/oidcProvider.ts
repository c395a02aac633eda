import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Adapter, AdapterPayload, Configuration, KoaContextWithOIDC, Provider } from 'oidc-provider';

/**
 * A real OpenID Connect identity provider for tests: oidc-provider 9, in this
 * process, on http://127.0.0.1:<free port>.
 *
 * - Sign-in goes through the harness's own interaction pages (a plain HTML form
 *   with `login` and `password` fields, served under /interaction/<uid>), not
 *   oidc-provider's devInteractions: those accept any login as the account id
 *   and print a warning on every start. `login` is a user's `sub` or email
 *   (case-insensitive); a user with a `password` must give it, one without
 *   accepts any.
 * - Consent is granted automatically (`loadExistingGrant`): every client here is
 *   first party, so no consent page appears unless the client asks for
 *   `prompt=consent` (then an "Allow" form that signInOverHttp submits).
 * - Authorization code flow only, PKCE (S256) required for every client.
 * - Claims: `email` scope → email, email_verified; `profile` → name; `groups`
 *   scope (see `groupsScope`) → the groups claim. `conformIdTokenClaims: false`
 *   puts the claims of the granted scopes in the ID token itself (with the
 *   default `true`, a code flow that also issues an access token only puts them
 *   in the userinfo response).
 * - RP-initiated logout: end_session_endpoint is `<issuer>/session/end` (GET or
 *   POST). oidc-provider 9 accepts `client_id` + `post_logout_redirect_uri`
 *   (+ `state`) without `id_token_hint`: the client is identified by either, the
 *   two must agree when both are given, and post_logout_redirect_uri must be one
 *   of the client's registered `postLogoutRedirectUris` (exact match). With no
 *   client identified it is silently dropped and the flow ends on the provider's
 *   own "signed out" page. GET answers 200 with a page holding a form (with an
 *   xsrf token) that POSTs to /session/end/confirm, which then redirects (303) to
 *   post_logout_redirect_uri?state=…; the harness's page submits that form by
 *   itself ("yes, sign me out"), so a browser comes straight back.
 * - Over plain http cookies are simply not `Secure` (oidc-provider only sets
 *   that flag on https requests), no option is needed. The issuer has no
 *   trailing slash: `http://127.0.0.1:<port>` (openid-client compares the
 *   discovery URL and the issuer as URLs, so either spelling works there, but an
 *   ID token's `iss` is this exact string).
 * - Quiet: generated signing keys, cookie keys, an in-memory adapter of its own
 *   and explicit TTLs/pages keep oidc-provider from printing its "quick start"
 *   warnings and notices; its import-time "Unsupported runtime" warning (it wants
 *   Node 22+, works on Node 20) is dropped while the module loads.
 */

export interface OidcTestUser {
  sub: string;
  email: string;
  name: string;
  groups: string[];
  /** When set, sign-in requires it; otherwise any password is accepted. */
  password?: string;
  /** The email_verified claim (default true). */
  emailVerified?: boolean;
}

export interface OidcTestClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  postLogoutRedirectUris?: string[];
  /**
   * How the client authenticates at the token endpoint. Default
   * 'client_secret_post': what openid-client v6 uses when `discovery` is given the
   * secret as a string. oidc-provider only accepts the registered method.
   */
  tokenEndpointAuthMethod?: 'client_secret_post' | 'client_secret_basic';
}

export interface StartOidcProviderOptions {
  users: OidcTestUser[];
  clients: OidcTestClient[];
  /** Name of the claim that carries OidcTestUser.groups (default 'groups'). */
  groupsClaim?: string;
  /** Scope that releases the groups claim (default 'groups'; e.g. 'profile' to come with the profile). */
  groupsScope?: string;
}

export interface OidcTestProvider {
  /** `http://127.0.0.1:<port>`, no trailing slash; discovery is at `${issuer}/.well-known/openid-configuration`. */
  issuer: string;
  /** Closes the server and every open connection. Idempotent. */
  stop(): Promise<void>;
  /**
   * Signs in programmatically, as a browser would: starts at `authorizationUrl`,
   * follows the provider's redirects and interaction pages over HTTP (filling the
   * login form with `login`/`password`, submitting a consent form if one
   * appears) with a cookie jar, and returns the URL the provider finally
   * redirects to on the client's side: the redirect_uri with code & state (or
   * with error & error_description). Each call starts a new browser session
   * unless `jar` is given (pass the same jar to signOutOverHttp to end that
   * session, or to sign in again without the login form). Throws when the
   * provider shows an error page or refuses the login.
   */
  signInOverHttp(authorizationUrl: string | URL, login: string, password?: string, jar?: CookieJar): Promise<URL>;
  /**
   * Follows an end-session URL (e.g. openid-client's buildEndSessionUrl) the way
   * a browser does: GET it, submit the provider's logout form ("yes, sign me
   * out"), and return where the provider then redirects: the
   * post_logout_redirect_uri (with state), or its own "signed out" page.
   */
  signOutOverHttp(endSessionUrl: string | URL, jar?: CookieJar): Promise<URL>;
}

/** A minimal cookie jar (name, path and expiry aware) for one origin. */
export class CookieJar {
  readonly #cookies = new Map<string, { value: string; path: string; expires: number }>();

  /** Stores the Set-Cookie headers of a response to `url`. */
  store(url: URL, setCookies: string[]): void {
    for (const header of setCookies) {
      const [pair, ...attributes] = header.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = url.pathname.replace(/\/[^/]*$/, '') || '/';
      let expires = Number.POSITIVE_INFINITY;
      for (const attribute of attributes) {
        const [key, ...rest] = attribute.split('=');
        const attributeValue = rest.join('=').trim();
        switch (key.trim().toLowerCase()) {
          case 'path':
            path = attributeValue || '/';
            break;
          case 'expires':
            expires = Math.min(expires, Date.parse(attributeValue));
            break;
          case 'max-age':
            expires = Math.min(expires, Date.now() + Number(attributeValue) * 1000);
            break;
        }
      }
      const key = `${path}\n${name}`;
      if (value === '' || expires <= Date.now()) this.#cookies.delete(key);
      else this.#cookies.set(key, { value, path, expires });
    }
  }

  /** The Cookie header for a request to `url`, or undefined when none applies. */
  header(url: URL): string | undefined {
    const now = Date.now();
    const pairs: string[] = [];
    for (const [key, cookie] of this.#cookies) {
      if (cookie.expires <= now) {
        this.#cookies.delete(key);
        continue;
      }
      const { path } = cookie;
      if (url.pathname === path || url.pathname.startsWith(path.endsWith('/') ? path : `${path}/`)) {
        pairs.push(`${key.slice(key.indexOf('\n') + 1)}=${cookie.value}`);
      }
    }
    return pairs.length ? pairs.join('; ') : undefined;
  }
}

// --- keys --------------------------------------------------------------------

let signingJwks: { keys: Record<string, unknown>[] } | undefined;

/** One RS256 signing key per process (RSA generation is the slow part of a start). */
function testSigningJwks(): { keys: Record<string, unknown>[] } {
  if (!signingJwks) {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    signingJwks = { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', alg: 'RS256', use: 'sig' }] };
  }
  return structuredClone(signingJwks);
}

// --- module loading ------------------------------------------------------------

let providerModule: Promise<typeof import('oidc-provider')> | undefined;

/** Imports oidc-provider without its import-time warning about Node versions before 22. */
function loadOidcProvider(): Promise<typeof import('oidc-provider')> {
  providerModule ??= (async () => {
    const warn = console.warn;
    console.warn = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].includes('oidc-provider WARNING: Unsupported runtime')) return;
      warn.apply(console, args);
    };
    try {
      return await import('oidc-provider');
    } finally {
      console.warn = warn;
    }
  })();
  return providerModule;
}

// --- storage -------------------------------------------------------------------

const GRANT_BOUND_MODELS = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
]);

/** oidc-provider's storage, in memory, for one provider instance. */
function memoryAdapter(): (model: string) => Adapter {
  const entries = new Map<string, { model: string; payload: AdapterPayload; expiresAt: number }>();
  const live = (key: string) => {
    const entry = entries.get(key);
    if (entry && entry.expiresAt <= Date.now()) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  };
  const findBy = (model: string, property: 'uid' | 'userCode', value: string) => {
    for (const [key, entry] of entries) {
      if (entry.model === model && entry.payload[property] === value) return live(key)?.payload;
    }
    return undefined;
  };
  return (model) => ({
    async upsert(id, payload, expiresIn) {
      const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Number.POSITIVE_INFINITY;
      entries.set(`${model}:${id}`, { model, payload, expiresAt });
    },
    async find(id) {
      return live(`${model}:${id}`)?.payload;
    },
    async findByUid(uid) {
      return findBy(model, 'uid', uid);
    },
    async findByUserCode(userCode) {
      return findBy(model, 'userCode', userCode);
    },
    async consume(id) {
      const entry = live(`${model}:${id}`);
      if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
    },
    async destroy(id) {
      entries.delete(`${model}:${id}`);
    },
    async revokeByGrantId(grantId) {
      for (const [key, entry] of entries) {
        if (GRANT_BOUND_MODELS.has(entry.model) && entry.payload.grantId === grantId) entries.delete(key);
      }
    },
  });
}

// --- pages ---------------------------------------------------------------------

function escapeHtml(value: unknown): string {
  return String(value).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>`;
}

function loginPage(uid: string, clientId: string, login = '', error?: string): string {
  return page(
    'Sign in',
    `<p>Sign in to continue to <strong>${escapeHtml(clientId)}</strong>.</p>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
  <label>Username or email <input type="text" name="login" value="${escapeHtml(login)}" autofocus></label>
  <label>Password <input type="password" name="password"></label>
  <button type="submit">Sign in</button>
</form>
<p><a href="/interaction/${escapeHtml(uid)}/abort">Cancel</a></p>`,
  );
}

function consentPage(uid: string, clientId: string, scope: string): string {
  return page(
    'Authorize',
    `<p><strong>${escapeHtml(clientId)}</strong> asks for: ${escapeHtml(scope)}</p>
<form method="post" action="/interaction/${escapeHtml(uid)}/confirm">
  <button type="submit">Allow</button>
</form>
<p><a href="/interaction/${escapeHtml(uid)}/abort">Cancel</a></p>`,
  );
}

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(html),
  });
  res.end(html);
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// --- the provider ----------------------------------------------------------------

export async function startOidcProvider(opts: StartOidcProviderOptions): Promise<OidcTestProvider> {
  const groupsClaim = opts.groupsClaim ?? 'groups';
  const groupsScope = opts.groupsScope ?? 'groups';
  const users = opts.users.map((user) => ({ ...user }));
  const clientIds = new Set(opts.clients.map((c) => c.clientId));
  const findUser = (login: string) => {
    const wanted = login.trim();
    return users.find((u) => u.sub === wanted) ?? users.find((u) => u.email.toLowerCase() === wanted.toLowerCase());
  };

  const { default: ProviderClass } = await loadOidcProvider();

  let provider: Provider | undefined;
  let providerListener: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | undefined;

  const handleInteraction = async (req: IncomingMessage, res: ServerResponse, action: string): Promise<void> => {
    const op = provider!;
    const details = await op.interactionDetails(req, res);
    const clientId = String(details.params.client_id ?? '');
    if (action === 'abort') {
      await op.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'End-User aborted interaction' },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    if (details.prompt.name === 'login') {
      if (action === '' && req.method === 'GET') {
        sendHtml(res, 200, loginPage(details.uid, clientId));
        return;
      }
      if (action === 'login' && req.method === 'POST') {
        const form = await readForm(req);
        const login = form.get('login') ?? '';
        const user = findUser(login);
        if (!user || (user.password !== undefined && form.get('password') !== user.password)) {
          sendHtml(res, 200, loginPage(details.uid, clientId, login, 'Invalid username or password.'));
          return;
        }
        await op.interactionFinished(req, res, { login: { accountId: user.sub } }, { mergeWithLastSubmission: false });
        return;
      }
    }
    if (details.prompt.name === 'consent') {
      if (action === '' && req.method === 'GET') {
        sendHtml(res, 200, consentPage(details.uid, clientId, String(details.params.scope ?? '')));
        return;
      }
      if (action === 'confirm' && req.method === 'POST') {
        const accountId = details.session?.accountId;
        if (!accountId) throw new Error('consent without a signed-in account');
        const grant =
          (details.grantId ? await op.Grant.find(details.grantId) : undefined) ?? new op.Grant({ accountId, clientId });
        const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = details.prompt.details;
        if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
        if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
        for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
          grant.addResourceScope(indicator, scopes.join(' '));
        }
        await op.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
        return;
      }
    }
    sendHtml(res, 400, page('Unexpected interaction', `<p>${escapeHtml(`${req.method} ${details.prompt.name}/${action}`)}</p>`));
  };

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const interaction = /^\/interaction\/([^/]+)(?:\/(login|confirm|abort))?\/?$/.exec(path);
    const handled = interaction ? handleInteraction(req, res, interaction[2] ?? '') : providerListener!(req, res);
    handled.catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const message = err instanceof Error ? err.message : String(err);
      sendHtml(res, 400, page('Interaction failed', `<p class="error">${escapeHtml(message)}</p>`));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const claims: Record<string, string[]> = {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  };
  claims[groupsScope] = [...(claims[groupsScope] ?? []), groupsClaim];

  const configuration: Configuration = {
    adapter: memoryAdapter(),
    clients: opts.clients.map((c) => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      redirect_uris: c.redirectUris,
      post_logout_redirect_uris: c.postLogoutRedirectUris ?? [],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: c.tokenEndpointAuthMethod ?? 'client_secret_post',
    })),
    async findAccount(_ctx, id) {
      const user = users.find((u) => u.sub === id);
      if (!user) return undefined;
      return {
        accountId: user.sub,
        async claims() {
          return {
            sub: user.sub,
            email: user.email,
            email_verified: user.emailVerified ?? true,
            name: user.name,
            [groupsClaim]: [...user.groups],
          };
        },
      };
    },
    // Auto-consent for the (first-party) test clients: whatever OIDC scopes and
    // claims are asked for are granted, so the consent prompt never shows.
    async loadExistingGrant(ctx) {
      const { oidc } = ctx;
      if (!oidc.client || !oidc.account || !clientIds.has(oidc.client.clientId)) return undefined;
      const grantId = oidc.result?.consent?.grantId ?? oidc.session?.grantIdFor(oidc.client.clientId);
      const existing = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
      const grant = existing ?? new oidc.provider.Grant({ accountId: oidc.account.accountId, clientId: oidc.client.clientId });
      grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
      if (oidc.requestParamClaims.size) grant.addOIDCClaims([...oidc.requestParamClaims]);
      await grant.save();
      return grant;
    },
    claims,
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    responseTypes: ['code'],
    jwks: testSigningJwks(),
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        // The confirmation page submits "yes, sign me out" by itself.
        async logoutSource(ctx: KoaContextWithOIDC, form: string) {
          const yes = '<input type="hidden" name="logout" value="yes"/><button type="submit">Yes, sign me out</button></form>';
          ctx.type = 'html';
          ctx.body = page(
            'Signing out',
            `${form.replace('</form>', yes)}
<script>document.forms[0].submit()</script>`,
          );
        },
        async postLogoutSuccessSource(ctx: KoaContextWithOIDC) {
          ctx.type = 'html';
          ctx.body = page('Signed out', '<p>You have been signed out.</p>');
        },
      },
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page(
        'Error',
        Object.entries(out)
          .map(([key, value]) => `<p class="error"><strong>${escapeHtml(key)}</strong>: ${escapeHtml(value)}</p>`)
          .join('\n'),
      );
    },
    clientBasedCORS: () => false,
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      BackchannelAuthenticationRequest: 600,
      ClientCredentials: 600,
      DeviceCode: 600,
      Grant: 86400,
      IdToken: 3600,
      Interaction: 3600,
      PreAuthorizedCode: 600,
      RefreshToken: 86400,
      Session: 86400,
    },
  };

  try {
    provider = new ProviderClass(issuer, configuration);
    providerListener = provider.callback();
  } catch (err) {
    server.close();
    throw err;
  }

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= new Promise<void>((resolve, reject) => {
      server.close((err) => (err ? reject(err) : resolve()));
      server.closeAllConnections();
    });
    return stopped;
  };

  // Where the provider hands the browser back to a client: another origin, or a
  // registered (post-logout) redirect URI on the issuer's own origin.
  const clientUris = opts.clients.flatMap((c) => [...c.redirectUris, ...(c.postLogoutRedirectUris ?? [])]).map((u) => new URL(u));
  const isClientRedirect = (url: URL) =>
    url.origin !== new URL(issuer).origin || clientUris.some((u) => u.origin === url.origin && u.pathname === url.pathname);

  return {
    issuer,
    stop,
    async signInOverHttp(authorizationUrl, login, password, jar = new CookieJar()) {
      let loginSubmitted = false;
      return browse(authorizationUrl, jar, isClientRedirect, (form, url, html) => {
        if (form.fields.has('login')) {
          if (loginSubmitted) {
            throw new Error(`sign-in as ${JSON.stringify(login)} was refused at ${url}: ${pageText(html)}`);
          }
          loginSubmitted = true;
          form.fields.set('login', login);
          form.fields.set('password', password ?? '');
        }
        return form;
      });
    },
    async signOutOverHttp(endSessionUrl, jar = new CookieJar()) {
      return browse(endSessionUrl, jar, isClientRedirect, (form) => form, { finalPageWithoutForm: true });
    },
  };
}

// --- the HTTP "browser" ------------------------------------------------------------

interface HtmlForm {
  action: string;
  method: 'GET' | 'POST';
  fields: URLSearchParams;
}

function decodeEntities(value: string): string {
  return value.replace(/&(amp|lt|gt|quot|#39|#x27);/g, (_, name: string) =>
    name === 'amp' ? '&' : name === 'lt' ? '<' : name === 'gt' ? '>' : name === 'quot' ? '"' : "'",
  );
}

function attribute(tag: string, name: string): string | undefined {
  const match = new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i').exec(tag);
  return match ? decodeEntities(match[1] ?? match[2] ?? match[3]) : undefined;
}

/** The first form of a page: its action, method, inputs and the first named submit button. */
function parseForm(html: string): HtmlForm | undefined {
  const match = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!match) return undefined;
  const openTag = `<form${match[1]}>`;
  const fields = new URLSearchParams();
  for (const [input] of match[2].matchAll(/<input\b[^>]*>/gi)) {
    const name = attribute(input, 'name');
    const type = (attribute(input, 'type') ?? 'text').toLowerCase();
    if (name && type !== 'submit' && type !== 'button') fields.append(name, attribute(input, 'value') ?? '');
  }
  for (const [button] of match[2].matchAll(/<button\b[^>]*>/gi)) {
    const name = attribute(button, 'name');
    if (name && !fields.has(name)) {
      fields.append(name, attribute(button, 'value') ?? '');
      break;
    }
  }
  return {
    action: attribute(openTag, 'action') ?? '',
    method: (attribute(openTag, 'method') ?? 'GET').toUpperCase() === 'POST' ? 'POST' : 'GET',
    fields,
  };
}

function pageText(html: string): string {
  const text = html
    .replace(/<(script|style)\b[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return decodeEntities(text).slice(0, 500);
}

/**
 * Follows redirects and submits forms (as `fill` returns them) with `jar`, from
 * `start` until a redirect leaves for the client (isDone), and returns that URL.
 */
async function browse(
  start: string | URL,
  jar: CookieJar,
  isDone: (url: URL) => boolean,
  fill: (form: HtmlForm, url: URL, html: string) => HtmlForm,
  { finalPageWithoutForm = false } = {},
): Promise<URL> {
  let url = new URL(start);
  let method: 'GET' | 'POST' = 'GET';
  let body: URLSearchParams | undefined;
  for (let step = 0; step < 25; step++) {
    const headers: Record<string, string> = { accept: 'text/html', 'user-agent': 'oidc-test-harness' };
    const cookie = jar.header(url);
    if (cookie) headers.cookie = cookie;
    if (body) headers['content-type'] = 'application/x-www-form-urlencoded';
    const response = await fetch(url, { method, headers, body, redirect: 'manual' });
    jar.store(url, response.headers.getSetCookie());
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel();
      url = new URL(location, url);
      method = 'GET';
      body = undefined;
      if (isDone(url)) return url;
      continue;
    }
    const html = await response.text();
    if (response.status !== 200) throw new Error(`${method} ${url} answered ${response.status}: ${pageText(html)}`);
    const parsed = parseForm(html);
    if (!parsed) {
      if (finalPageWithoutForm) return url;
      throw new Error(`${method} ${url} answered a page without a form: ${pageText(html)}`);
    }
    const form = fill(parsed, url, html);
    const target = new URL(form.action || url.href, url);
    if (isDone(target)) return target;
    if (form.method === 'GET') {
      target.search = form.fields.toString();
      body = undefined;
    } else {
      body = form.fields;
    }
    url = target;
    method = form.method;
  }
  throw new Error(`too many redirects and pages starting at ${start}`);
}
