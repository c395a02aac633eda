import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CookieJar, startOidcProvider, type OidcTestProvider } from '../support/oidcProvider.js';

/**
 * Smoke test of the in-process OpenID Connect provider harness with the
 * openid-client v6 calls the service uses: discovery over plain http on
 * loopback, authorization code + PKCE + state + nonce, and RP-initiated logout.
 */

const CLIENT_ID = 'provisioning-web';
const CLIENT_SECRET = 'provisioning-web-secret';
const REDIRECT_URI = 'http://app.test/auth/callback';
const POST_LOGOUT_REDIRECT_URI = 'http://app.test/signed-out';
const SCOPE = 'openid email profile groups';

const alice = {
  sub: 'alice',
  email: 'alice@example.test',
  name: 'Alice Admin',
  groups: ['provisioning-admins', 'everyone'],
  password: 'correct horse',
};
const bob = { sub: 'bob-42', email: 'Bob@Example.test', name: 'Bob Builder', groups: ['developers'] };

let op: OidcTestProvider;
let config: client.Configuration;

beforeAll(async () => {
  op = await startOidcProvider({
    users: [alice, bob],
    clients: [
      {
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        redirectUris: [REDIRECT_URI],
        postLogoutRedirectUris: [POST_LOGOUT_REDIRECT_URI],
      },
    ],
  });
  // openid-client refuses http:// endpoints unless allowInsecureRequests is among the `execute` extensions.
  config = await client.discovery(new URL(op.issuer), CLIENT_ID, CLIENT_SECRET, undefined, {
    execute: [client.allowInsecureRequests],
  });
});

afterAll(async () => {
  await op?.stop();
});

/** What the service does before redirecting to the provider: fresh PKCE verifier, state and nonce. */
async function startAuthorization(extra: Record<string, string> = {}) {
  const pkceCodeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: SCOPE,
    code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra,
  });
  return { url, pkceCodeVerifier, state, nonce };
}

describe('in-process OIDC provider', () => {
  it('is discovered over plain http on loopback', () => {
    expect(op.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const metadata = config.serverMetadata();
    expect(metadata.issuer).toBe(op.issuer);
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
    expect(metadata.scopes_supported).toEqual(expect.arrayContaining(['openid', 'email', 'profile', 'groups']));
    expect(metadata.end_session_endpoint).toBe(`${op.issuer}/session/end`);
  });

  it('runs the authorization code flow with PKCE, state and nonce, and puts the groups in the ID token', async () => {
    const { url, pkceCodeVerifier, state, nonce } = await startAuthorization();
    expect(url.origin).toBe(op.issuer);

    const callbackUrl = await op.signInOverHttp(url, alice.email, alice.password);
    expect(`${callbackUrl.origin}${callbackUrl.pathname}`).toBe(REDIRECT_URI);
    expect(callbackUrl.searchParams.get('state')).toBe(state);
    expect(callbackUrl.searchParams.get('code')).toBeTruthy();
    expect(callbackUrl.searchParams.get('iss')).toBe(op.issuer);

    const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
      pkceCodeVerifier,
      expectedState: state,
      expectedNonce: nonce,
    });
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.access_token).toBeTruthy();
    const claims = tokens.claims();
    expect(claims).toMatchObject({
      iss: op.issuer,
      aud: CLIENT_ID,
      nonce,
      sub: alice.sub,
      email: alice.email,
      email_verified: true,
      name: alice.name,
      groups: alice.groups,
    });
  });

  it('signs in by sub too, and tells users apart', async () => {
    const { url, pkceCodeVerifier, state, nonce } = await startAuthorization();
    const callbackUrl = await op.signInOverHttp(url, bob.sub);
    const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
      pkceCodeVerifier,
      expectedState: state,
      expectedNonce: nonce,
    });
    expect(tokens.claims()).toMatchObject({ sub: bob.sub, email: bob.email, name: bob.name, groups: ['developers'] });
  });

  it('refuses a wrong password and an unknown user', async () => {
    const { url } = await startAuthorization();
    await expect(op.signInOverHttp(url, alice.sub, 'wrong')).rejects.toThrow(/refused.*Invalid username or password/);
    const second = await startAuthorization();
    await expect(op.signInOverHttp(second.url, 'mallory@example.test', 'x')).rejects.toThrow(/refused/);
  });

  it('lets openid-client reject a callback whose state does not match', async () => {
    const { url, pkceCodeVerifier, nonce, state } = await startAuthorization();
    const callbackUrl = await op.signInOverHttp(url, alice.sub, alice.password);
    const error = await client
      .authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier,
        expectedState: client.randomState(),
        expectedNonce: nonce,
      })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    // openid-client v6 wraps it: ClientError 'invalid response encountered', code OAUTH_INVALID_RESPONSE,
    // cause: 'unexpected "state" response parameter value'.
    expect(error).toBeInstanceOf(client.ClientError);
    expect(error).toMatchObject({ code: 'OAUTH_INVALID_RESPONSE', cause: { message: expect.stringMatching(/"state"/) } });
    // The check runs before the code is redeemed, so the right state still works.
    const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
      pkceCodeVerifier,
      expectedState: state,
      expectedNonce: nonce,
    });
    expect(tokens.claims()?.sub).toBe(alice.sub);
  });

  it('requires PKCE', async () => {
    const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT_URI, scope: SCOPE, state: 'no-pkce' });
    const callbackUrl = await op.signInOverHttp(url, alice.sub, alice.password);
    expect(callbackUrl.searchParams.get('error')).toBe('invalid_request');
    expect(callbackUrl.searchParams.get('error_description')).toMatch(/PKCE/);
  });

  it('serves RP-initiated logout with client_id and post_logout_redirect_uri, without id_token_hint', async () => {
    const logoutState = client.randomState();
    const endSessionUrl = client.buildEndSessionUrl(config, {
      post_logout_redirect_uri: POST_LOGOUT_REDIRECT_URI,
      state: logoutState,
    });
    expect(endSessionUrl.href.startsWith(`${op.issuer}/session/end?`)).toBe(true);
    expect(endSessionUrl.searchParams.get('client_id')).toBe(CLIENT_ID);

    const response = await fetch(endSessionUrl, { redirect: 'manual' });
    expect([200, 302, 303]).toContain(response.status);
    expect(await response.text()).toContain('/session/end/confirm');

    // A signed-in browser session is ended there: afterwards prompt=none needs a login again.
    const jar = new CookieJar();
    await op.signInOverHttp((await startAuthorization()).url, alice.sub, alice.password, jar);
    const silent = await op.signInOverHttp((await startAuthorization({ prompt: 'none' })).url, alice.sub, undefined, jar);
    expect(silent.searchParams.get('code')).toBeTruthy();

    const back = await op.signOutOverHttp(endSessionUrl, jar);
    expect(`${back.origin}${back.pathname}`).toBe(POST_LOGOUT_REDIRECT_URI);
    expect(back.searchParams.get('state')).toBe(logoutState);

    const afterLogout = await op.signInOverHttp((await startAuthorization({ prompt: 'none' })).url, alice.sub, undefined, jar);
    expect(afterLogout.searchParams.get('error')).toBe('login_required');
  });

  it('rejects a post_logout_redirect_uri that is not registered', async () => {
    const endSessionUrl = client.buildEndSessionUrl(config, { post_logout_redirect_uri: 'http://evil.test/' });
    const response = await fetch(endSessionUrl, { redirect: 'manual' });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('post_logout_redirect_uri not registered');
  });
});
