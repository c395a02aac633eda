import { Hono, type Context } from 'hono';
import { deleteCookie, getSignedCookie, setSignedCookie } from 'hono/cookie';
import * as oidc from 'openid-client';
import type { Db } from '../db/database.js';
import { getUser, upsertSignedInUser } from '../db/users.js';
import { syncGroupMemberships } from '../db/teams.js';
import { effectiveRole, roleFromGroups } from '../domain/permissions.js';
import type { OidcSettings } from '../oidcConfig.js';
import type { AppEnv, Authenticator } from './auth.js';
import { safeNext } from './session.js';

/**
 * Sign-in through the organisation's identity provider: the authorization
 * code flow with PKCE, state and nonce (openid-client). What the browser
 * must bring back (verifier, state, nonce, where to go next) rides in a
 * short-lived signed cookie scoped to the callback, so any web process can
 * finish a sign-in another one started.
 */

const FLOW_COOKIE = 'prov_oidc';
const FLOW_MAX_AGE_SECONDS = 600;
const SUBJECT_PREFIX = 'oidc:';

interface Flow {
  verifier: string;
  state: string;
  nonce: string;
  next: string;
}

export interface OidcSignInDeps {
  settings: OidcSettings;
  db: Db;
  auth: Authenticator;
  secretKey: string;
  publicBaseUrl: string;
  secureCookies: boolean;
}

/** Discovery once per process; a provider that was down is asked again on the next sign-in. */
function providerConfiguration(settings: OidcSettings): () => Promise<oidc.Configuration> {
  let pending: Promise<oidc.Configuration> | undefined;
  return () => {
    pending ??= oidc
      .discovery(
        settings.issuerUrl,
        settings.clientId,
        settings.clientSecret,
        settings.clientSecret ? oidc.ClientSecretPost(settings.clientSecret) : oidc.None(),
        settings.allowHttp ? { execute: [oidc.allowInsecureRequests] } : undefined,
      )
      .catch((err) => {
        pending = undefined;
        throw err;
      });
    return pending;
  };
}

/** The groups claim as a list, whether the provider sends a list or one string. */
export function groupsOf(claims: Record<string, unknown>, claim: string): string[] {
  const value = claims[claim];
  if (Array.isArray(value)) return value.filter((g): g is string => typeof g === 'string');
  return typeof value === 'string' && value ? [value] : [];
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v.trim() ? v.trim() : null;
}

export function oidcSignIn(deps: OidcSignInDeps) {
  const { settings } = deps;
  const configuration = providerConfiguration(settings);
  const callbackUrl = `${deps.publicBaseUrl}/auth/oidc/callback`;
  const failed = (c: Context, message: string) => c.redirect(`/login?error=${encodeURIComponent(message)}`, 303);

  const app = new Hono<AppEnv>()
    .get('/start', async (c) => {
      let config: oidc.Configuration;
      try {
        config = await configuration();
      } catch (err) {
        console.error(`[oidc] discovery of ${settings.issuerUrl.href} failed:`, (err as Error).message);
        return failed(c, `The identity provider (${settings.issuerUrl.host}) cannot be reached; try again shortly.`);
      }
      const flow: Flow = {
        verifier: oidc.randomPKCECodeVerifier(),
        state: oidc.randomState(),
        nonce: oidc.randomNonce(),
        next: safeNext(c.req.query('next')),
      };
      await setSignedCookie(c, FLOW_COOKIE, JSON.stringify(flow), deps.secretKey, {
        httpOnly: true,
        // Lax: the provider sends the browser back with a top-level GET.
        sameSite: 'Lax',
        secure: deps.secureCookies,
        path: '/auth/oidc',
        maxAge: FLOW_MAX_AGE_SECONDS,
      });
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: callbackUrl,
        scope: settings.scopes,
        code_challenge: await oidc.calculatePKCECodeChallenge(flow.verifier),
        code_challenge_method: 'S256',
        state: flow.state,
        nonce: flow.nonce,
      });
      return c.redirect(url.href, 302);
    })
    .get('/callback', async (c) => {
      const raw = await getSignedCookie(c, deps.secretKey, FLOW_COOKIE);
      deleteCookie(c, FLOW_COOKIE, { path: '/auth/oidc' });
      if (!raw) return failed(c, 'The sign-in took too long or started in another browser; please sign in again.');
      const flow = JSON.parse(raw) as Flow;
      const providerError = c.req.query('error');
      if (providerError) {
        const detail = c.req.query('error_description') ?? providerError;
        return failed(c, `The identity provider refused the sign-in: ${detail.slice(0, 200)}`);
      }
      let claims: Record<string, unknown>;
      try {
        const config = await configuration();
        // The URL the provider redirected to, on our public address (a proxy may have rewritten the request's).
        const current = new URL(callbackUrl);
        current.search = new URL(c.req.url).search;
        const tokens = await oidc.authorizationCodeGrant(config, current, {
          pkceCodeVerifier: flow.verifier,
          expectedState: flow.state,
          expectedNonce: flow.nonce,
          idTokenExpected: true,
        });
        claims = { ...(tokens.claims() ?? {}) };
        // Some providers put groups only in the userinfo answer.
        if (!(settings.groupsClaim in claims) && tokens.access_token) {
          const info = await oidc.fetchUserInfo(config, tokens.access_token, String(claims.sub));
          claims = { ...info, ...claims, [settings.groupsClaim]: info[settings.groupsClaim] };
        }
      } catch (err) {
        console.error('[oidc] sign-in callback failed:', (err as Error).message);
        return failed(c, 'The sign-in could not be completed; please try again.');
      }
      const sub = str(claims.sub);
      if (!sub) return failed(c, 'The identity provider sent no subject.');
      const email = str(claims.email);
      const groups = groupsOf(claims, settings.groupsClaim);
      const mapped = roleFromGroups(groups, settings.roleMap, settings.defaultRole);
      const user = await upsertSignedInUser(
        deps.db,
        {
          subject: `${SUBJECT_PREFIX}${sub}`,
          email,
          name: str(claims.name) ?? str(claims.preferred_username) ?? email ?? sub,
          mappedRole: mapped,
        },
        new Date(),
      );
      if (user.active !== 1) return failed(c, 'Your account here is deactivated; ask an admin.');
      // Teams that follow a group of the provider's: joined and left with it.
      await syncGroupMemberships(deps.db, user.id, groups);
      if (!effectiveRole(user.role_override, user.mapped_role)) {
        return failed(c, 'You have no role here yet: ask an admin to give you one.');
      }
      await deps.auth.startSession(c, user);
      return c.redirect(flow.next, 303);
    });

  /** Where signing out sends a person who came through the provider: its end-session page, when it has one. */
  async function signOutRedirect(userId: string): Promise<string | null> {
    const user = await getUser(deps.db, userId);
    if (!user?.subject.startsWith(SUBJECT_PREFIX)) return null;
    try {
      const config = await configuration();
      if (!config.serverMetadata().end_session_endpoint) return null;
      return oidc.buildEndSessionUrl(config, {
        client_id: settings.clientId,
        post_logout_redirect_uri: `${deps.publicBaseUrl}/login`,
      }).href;
    } catch {
      return null;
    }
  }

  return { app, signOutRedirect };
}
