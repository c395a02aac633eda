/**
 * oidc-provider 9 ships no type declarations (they live in the separate
 * @types/oidc-provider package, which this project does not depend on). These
 * describe only the part of its API that tests/support/oidcProvider.ts uses.
 * An ambient declaration takes precedence over node_modules typings, so should
 * @types/oidc-provider ever be added, delete this file to use those instead.
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export type AccountClaims = { sub: string; [claim: string]: unknown };

  export interface Account {
    accountId: string;
    claims(use: 'id_token' | 'userinfo', scope: string, claims: unknown, rejected: string[]): Promise<AccountClaims>;
  }

  export interface Grant {
    readonly jti?: string;
    accountId: string;
    clientId: string;
    addOIDCScope(scope: string): void;
    addOIDCClaims(claims: string[]): void;
    addResourceScope(indicator: string, scope: string): void;
    save(): Promise<string>;
  }

  export interface GrantConstructor {
    new (properties: { accountId: string; clientId: string }): Grant;
    find(id: string): Promise<Grant | undefined>;
  }

  export interface InteractionDetails {
    uid: string;
    returnTo: string;
    grantId?: string;
    params: Record<string, unknown> & { client_id?: string; scope?: string };
    prompt: {
      name: 'login' | 'consent' | (string & {});
      reasons: string[];
      details: {
        missingOIDCScope?: string[];
        missingOIDCClaims?: string[];
        missingResourceScopes?: Record<string, string[]>;
        [detail: string]: unknown;
      };
    };
    session?: { accountId?: string; uid: string; cookie: string };
  }

  export interface InteractionResults {
    login?: { accountId: string; [key: string]: unknown };
    consent?: { grantId?: string; [key: string]: unknown };
    error?: string;
    error_description?: string;
    [key: string]: unknown;
  }

  /** The Koa context oidc-provider hands to configuration helpers (only what is used here). */
  export interface KoaContextWithOIDC {
    host: string;
    type: string;
    body: unknown;
    status: number;
    oidc: {
      provider: Provider;
      route: string;
      params: Record<string, unknown>;
      client?: { clientId: string; clientName?: string };
      account?: { accountId: string };
      session?: { accountId?: string; grantIdFor(clientId: string): string | undefined };
      result?: InteractionResults;
      requestParamOIDCScopes: Set<string>;
      requestParamClaims: Set<string>;
    };
  }

  export interface AdapterPayload {
    [key: string]: unknown;
    jti?: string;
    uid?: string;
    userCode?: string;
    grantId?: string;
    consumed?: number;
  }

  export interface Adapter {
    upsert(id: string, payload: AdapterPayload, expiresIn: number | undefined): Promise<void>;
    find(id: string): Promise<AdapterPayload | undefined>;
    findByUserCode(userCode: string): Promise<AdapterPayload | undefined>;
    findByUid(uid: string): Promise<AdapterPayload | undefined>;
    consume(id: string): Promise<void>;
    destroy(id: string): Promise<void>;
    revokeByGrantId(grantId: string): Promise<void>;
  }

  export interface ClientMetadata {
    client_id: string;
    client_secret?: string;
    redirect_uris?: string[];
    post_logout_redirect_uris?: string[];
    grant_types?: string[];
    response_types?: string[];
    token_endpoint_auth_method?: string;
    [key: string]: unknown;
  }

  /** Loosely typed: see oidc-provider's docs/README.md for every option. */
  export interface Configuration {
    adapter?: (model: string) => Adapter;
    clients?: ClientMetadata[];
    findAccount?: (ctx: KoaContextWithOIDC, id: string, token?: unknown) => Promise<Account | undefined>;
    loadExistingGrant?: (ctx: KoaContextWithOIDC) => Promise<Grant | undefined>;
    claims?: Record<string, string[] | null>;
    jwks?: { keys: Record<string, unknown>[] };
    cookies?: { keys?: string[]; names?: Record<string, string>; long?: object; short?: object };
    interactions?: { url?: (ctx: KoaContextWithOIDC, interaction: InteractionDetails) => string | Promise<string> };
    renderError?: (ctx: KoaContextWithOIDC, out: Record<string, string>, error: Error) => void | Promise<void>;
    [option: string]: unknown;
  }

  export class Provider {
    constructor(issuer: string, configuration?: Configuration);
    readonly issuer: string;
    readonly Grant: GrantConstructor;
    /** Koa's request listener for node:http. */
    callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
    interactionFinished(
      req: IncomingMessage,
      res: ServerResponse,
      result: InteractionResults,
      options?: { mergeWithLastSubmission?: boolean },
    ): Promise<void>;
    on(event: string, listener: (...args: unknown[]) => void): this;
  }

  export default Provider;
}
