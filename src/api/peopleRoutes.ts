import { z } from 'zod';
import { ROLES } from '../domain/permissions.js';
import { documented } from '../domain/documentedSchema.js';
import { trimmedTo } from '../domain/specPatterns.js';
import type { RouteDef } from './apiRoutes.js';

/**
 * The people part of the API's route table (apiRoutes.ts): who is calling,
 * API tokens, and users with their roles. The same schemas check the token
 * and user forms of the pages.
 */

const strictBody = {
  error: (iss: { code: string; keys?: string[] }) =>
    iss.code === 'unrecognized_keys' ? `unknown field "${iss.keys?.join('", "')}"` : 'the body must be a JSON object',
};

const role = z.enum(ROLES, { error: `role must be one of ${ROLES.join(', ')}` });

export const MAX_TOKEN_DAYS = 366;

export const tokenInput = z.strictObject(
  {
    name: documented(
      z
        .string({ error: 'name is required: say what the token is for' })
        .trim()
        .min(1, { error: 'name is required: say what the token is for' })
        .max(64, { error: 'name must be at most 64 characters' })
        .regex(/^[\w .:@-]*$/, { error: 'name may hold letters, digits, spaces and . _ - : @' }),
      // 1-64 characters once the spaces around them are trimmed away.
      { type: 'string', pattern: trimmedTo('[A-Za-z0-9_.:@-](?:[A-Za-z0-9_ .:@-]{0,62}[A-Za-z0-9_.:@-])?') },
    ),
    role: role.optional().describe("the token's role, at most your own; your role when left out"),
    expiresInDays: z
      .number({ error: 'expiresInDays must be a number' })
      .int({ error: 'expiresInDays must be a whole number of days' })
      .min(1, { error: 'expiresInDays must be at least 1' })
      .max(MAX_TOKEN_DAYS, { error: `expiresInDays must be at most ${MAX_TOKEN_DAYS}` })
      .optional()
      .describe('days until the token stops working; never when left out'),
  },
  strictBody,
);
export type TokenInput = z.infer<typeof tokenInput>;

export const userUpdate = z.strictObject(
  {
    role: role
      .nullable()
      .optional()
      .describe("a role that overrides the identity provider's groups; null to follow the groups again"),
    active: z
      .boolean({ error: 'active must be true or false' })
      .optional()
      .describe('false deactivates: sessions and tokens stop at once'),
  },
  strictBody,
);
export type UserUpdate = z.infer<typeof userUpdate>;

export const tokenIdParams = z.object({ id: z.string().min(1).max(64).describe('the token id') });
export const userIdParams = z.object({ id: z.string().min(1).max(128).describe('the user id') });

const isoTime = z.string().describe('ISO-8601 timestamp');

export const tokenJsonSchema = z.object({
  id: z.string(),
  name: z.string(),
  role: role,
  userId: z.string(),
  userName: z.string(),
  createdAt: isoTime,
  expiresAt: isoTime.nullable(),
  lastUsedAt: isoTime.nullable().describe('to the minute'),
  revokedAt: isoTime.nullable(),
  state: z.enum(['active', 'expired', 'revoked']),
});
export const createdTokenJsonSchema = tokenJsonSchema.extend({
  token: z.string().describe('the secret: shown this once, stored only as a hash'),
});
export const userJsonSchema = z.object({
  id: z.string(),
  name: z.string(),
  email: z.string().nullable(),
  subject: z.string().describe('`local` for the local admin, `oidc:<sub>` for people from the identity provider'),
  role: role.nullable().describe('the role in effect: the override, else the mapped one'),
  mappedRole: role.nullable().describe("what the identity provider's groups gave at the last sign-in"),
  roleOverride: role.nullable(),
  active: z.boolean(),
  createdAt: isoTime,
  lastLoginAt: isoTime.nullable(),
});
export const meJsonSchema = z.object({
  userId: z.string(),
  name: z.string(),
  role: role.describe('the role this request acts with'),
  via: z.enum(['session', 'basic', 'bearer']),
  tokenName: z.string().nullable(),
  csrfToken: z
    .string()
    .nullable()
    .describe(
      'what state-changing session and basic-auth requests send as X-CSRF-Token (a basic-auth one lasts 12 hours); null for bearer tokens, which need none',
    ),
});

const teamJsonSchema = z.object({
  id: z.string(),
  name: z.string(),
  rules: z.object({
    regions: z.array(z.string()).nullable().describe("null: the service's own list"),
    instanceTypes: z.array(z.string()).nullable(),
    maxTtlHours: z.number().nullable(),
    maxLiveJobs: z.number().nullable(),
    approvalPolicy: z.enum(['never', 'always', 'on_replace']),
  }),
  accounts: z
    .array(
      z.object({
        id: z.string().describe('auth.teamAccountId of a job spec'),
        label: z.string(),
        accountId: z.string(),
        roleArn: z.string(),
      }),
    )
    .describe("the team's AWS accounts; their external IDs are on each account's set-up page"),
});

export const peopleRoutes = {
  listTeams: {
    method: 'GET',
    path: '/api/teams',
    summary: "Your teams and their AWS accounts (an admin's call lists every team)",
    tag: 'people',
    response: { status: 200, description: 'teams by name', schema: z.object({ teams: z.array(teamJsonSchema) }) },
    errors: [],
  },
  getMe: {
    method: 'GET',
    path: '/api/me',
    summary: 'Who is calling, and with which role',
    tag: 'people',
    response: { status: 200, description: 'the caller', schema: meJsonSchema },
    errors: [],
  },
  listTokens: {
    method: 'GET',
    path: '/api/tokens',
    summary: "Your API tokens (an admin's call lists everyone's)",
    tag: 'people',
    response: { status: 200, description: 'tokens, newest first', schema: z.object({ tokens: z.array(tokenJsonSchema) }) },
    errors: [],
  },
  createToken: {
    method: 'POST',
    path: '/api/tokens',
    summary: 'Create an API token for yourself (its secret is in this answer only)',
    tag: 'people',
    body: { required: true, json: tokenInput },
    response: { status: 201, description: 'the token and its secret', schema: createdTokenJsonSchema },
    errors: [400, 403, 415, 422],
  },
  revokeToken: {
    method: 'DELETE',
    path: '/api/tokens/:id',
    summary: 'Revoke a token: yours, or any as an admin',
    tag: 'people',
    params: tokenIdParams,
    response: { status: 200, description: 'the token, revoked', schema: tokenJsonSchema },
    errors: [403, 404],
  },
  listUsers: {
    method: 'GET',
    path: '/api/users',
    summary: 'Users and their roles (admins)',
    tag: 'people',
    response: { status: 200, description: 'users by name', schema: z.object({ users: z.array(userJsonSchema) }) },
    errors: [403],
  },
  updateUser: {
    method: 'PATCH',
    path: '/api/users/:id',
    summary: "Set a user's role or deactivate them (admins)",
    tag: 'people',
    params: userIdParams,
    body: { required: true, json: userUpdate },
    response: { status: 200, description: 'the user as now', schema: userJsonSchema },
    errors: [400, 403, 404, 409, 415, 422],
  },
} as const satisfies Record<string, RouteDef>;
