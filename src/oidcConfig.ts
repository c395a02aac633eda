import { z } from 'zod';
import { isRole, parseRoleMap, ROLES, type Role } from './domain/permissions.js';

/**
 * The settings for sign-in through an OpenID Connect provider, part of the
 * service's one configuration (config.ts). Unset OIDC_ISSUER_URL: only the
 * local admin account signs in, as on a laptop.
 */

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no', '']).transform((v) => v === 'true' || v === '1' || v === 'yes');

export const oidcConfigShape = {
  OIDC_ISSUER_URL: z.string().optional(),
  OIDC_CLIENT_ID: z.string().min(1).optional(),
  OIDC_CLIENT_SECRET: z.string().min(1).optional(),
  OIDC_SCOPES: z.string().default('openid email profile'),
  /** The claim holding the person's groups (a list, or one string). */
  OIDC_GROUPS_CLAIM: z.string().min(1).default('groups'),
  /** group=role pairs, comma separated: platform-admins=admin,devs=requester. */
  OIDC_ROLE_MAP: z.string().optional(),
  /** The role of someone in no mapped group; `none` refuses them until an admin gives them one. */
  OIDC_DEFAULT_ROLE: z.enum([...ROLES, 'none']).default('viewer'),
  /** What the sign-in button says: "Sign in with …". */
  OIDC_PROVIDER_NAME: z.string().min(1).default('single sign-on'),
  /** The local admin account (APP_ADMIN_USER): the laptop default and break-glass access. */
  LOCAL_LOGIN: bool.default(true),
};

export interface OidcSettings {
  issuerUrl: URL;
  clientId: string;
  clientSecret?: string;
  scopes: string;
  groupsClaim: string;
  roleMap: Map<string, Role>;
  defaultRole: Role | null;
  providerName: string;
  /** http:// on a loopback address only (tests, a provider on the same machine). */
  allowHttp: boolean;
}

type Raw = z.infer<z.ZodObject<typeof oidcConfigShape>>;

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** The OIDC settings, or null without an issuer; each problem names its variable. */
export function oidcSettings(raw: Raw, problems: string[]): OidcSettings | null {
  const any = raw.OIDC_ISSUER_URL || raw.OIDC_CLIENT_ID || raw.OIDC_CLIENT_SECRET || raw.OIDC_ROLE_MAP;
  if (!any) {
    if (!raw.LOCAL_LOGIN) problems.push('LOCAL_LOGIN: false needs OIDC_ISSUER_URL and OIDC_CLIENT_ID, or nobody could sign in');
    return null;
  }
  let issuerUrl: URL | null = null;
  if (!raw.OIDC_ISSUER_URL) problems.push('OIDC_ISSUER_URL: required when any other OIDC_ setting is set');
  else {
    try {
      issuerUrl = new URL(raw.OIDC_ISSUER_URL);
      if (issuerUrl.protocol !== 'https:' && !(issuerUrl.protocol === 'http:' && LOOPBACK.has(issuerUrl.hostname))) {
        problems.push(
          `OIDC_ISSUER_URL: ${JSON.stringify(raw.OIDC_ISSUER_URL)} must be https:// (http:// only on a loopback address)`,
        );
        issuerUrl = null;
      }
    } catch {
      problems.push(
        `OIDC_ISSUER_URL: ${JSON.stringify(raw.OIDC_ISSUER_URL)} is not a URL, e.g. https://login.example.com/realms/main`,
      );
    }
  }
  if (!raw.OIDC_CLIENT_ID) problems.push('OIDC_CLIENT_ID: required with OIDC_ISSUER_URL');
  if (!raw.OIDC_SCOPES.split(/\s+/).includes('openid')) {
    problems.push(`OIDC_SCOPES: ${JSON.stringify(raw.OIDC_SCOPES)} must include openid`);
  }
  let roleMap = new Map<string, Role>();
  try {
    roleMap = parseRoleMap(raw.OIDC_ROLE_MAP ?? '');
  } catch (err) {
    problems.push(`OIDC_ROLE_MAP: ${(err as Error).message}`);
  }
  if (!issuerUrl || !raw.OIDC_CLIENT_ID) return null;
  return {
    issuerUrl,
    clientId: raw.OIDC_CLIENT_ID,
    clientSecret: raw.OIDC_CLIENT_SECRET,
    scopes: raw.OIDC_SCOPES,
    groupsClaim: raw.OIDC_GROUPS_CLAIM,
    roleMap,
    defaultRole: isRole(raw.OIDC_DEFAULT_ROLE) ? raw.OIDC_DEFAULT_ROLE : null,
    providerName: raw.OIDC_PROVIDER_NAME,
    allowHttp: issuerUrl.protocol === 'http:',
  };
}
