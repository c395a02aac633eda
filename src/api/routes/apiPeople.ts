import { Hono, type Context } from 'hono';
import { validator } from 'hono/validator';
import type { AppEnv } from '../auth.js';
import type { RouteDeps } from './deps.js';
import { ApiError, validationError } from '../apiErrors.js';
import { bodyGuard, parseOr } from '../apiInput.js';
import { subPath } from '../apiRoutes.js';
import { actorOf } from '../actor.js';
import { CommandError } from '../commandError.js';
import { createToken, revokeToken, tokenSummary, tokensFor, updateUser, userSummary } from '../peopleCommands.js';
import { peopleRoutes as P, tokenIdParams, userIdParams } from '../peopleRoutes.js';
import { listUsers } from '../../db/users.js';
import { listAccounts, listTeams, teamsOfUser } from '../../db/teams.js';
import { teamPolicyOf } from '../teamPlacement.js';

/** Who is calling, API tokens and users through the API; the rules live in peopleCommands.ts. */
export function apiPeopleApp(deps: RouteDeps) {
  const { db, config } = deps;
  const actor = (c: Context<AppEnv>) => actorOf(c, config.TRUST_PROXY);
  const json = (schema: Parameters<typeof parseOr>[0]) =>
    validator('json', (v) => parseOr(schema, v, (e) => validationError(e, 'the request body is not valid')));
  const param = (schema: typeof tokenIdParams | typeof userIdParams, what: string) =>
    validator('param', (v) => parseOr(schema, v, () => new ApiError('not_found', `${what} not found`)));

  return new Hono<AppEnv>()
    .on(P.listTeams.method, subPath(P.listTeams), async (c) => {
      const who = actor(c);
      const teams = who.role === 'admin' ? await listTeams(db) : await teamsOfUser(db, who.userId);
      const out = await Promise.all(
        teams.map(async (t) => {
          const rules = teamPolicyOf(t);
          return {
            id: t.id,
            name: t.name,
            rules: {
              regions: rules.regions,
              instanceTypes: rules.instanceTypes,
              maxTtlHours: rules.maxTtlHours,
              maxLiveJobs: rules.maxLiveJobs,
              approvalPolicy: rules.approval,
            },
            accounts: (await listAccounts(db, t.id)).map((a) => ({
              id: a.id,
              label: a.label,
              accountId: a.account_id,
              roleArn: a.role_arn,
            })),
          };
        }),
      );
      return c.json({ teams: out }, 200);
    })
    .on(P.getMe.method, subPath(P.getMe), (c) => {
      const p = c.get('principal');
      return c.json(
        {
          userId: p.userId,
          name: p.user,
          role: p.role,
          via: p.via,
          tokenName: p.tokenName ?? null,
          csrfToken: c.get('csrfToken') || null,
        },
        200,
      );
    })
    .on(P.listTokens.method, subPath(P.listTokens), async (c) => {
      return c.json({ tokens: (await tokensFor(db, actor(c))).map((t) => tokenSummary(t)) }, 200);
    })
    .on(
      P.createToken.method,
      subPath(P.createToken),
      bodyGuard({ multipart: false, bodyRequired: true }),
      json(P.createToken.body.json),
      async (c) => {
        const input = c.req.valid('json') as Parameters<typeof createToken>[2];
        const { token, secret } = await createToken(db, actor(c), input);
        c.header('Cache-Control', 'no-store');
        return c.json({ ...tokenSummary(token), token: secret }, 201);
      },
    )
    .on(P.revokeToken.method, subPath(P.revokeToken), param(tokenIdParams, 'token'), async (c) => {
      return c.json(tokenSummary(await revokeToken(db, actor(c), c.req.valid('param').id)), 200);
    })
    .on(P.listUsers.method, subPath(P.listUsers), async (c) => {
      const who = actor(c);
      if (who.role !== 'admin')
        throw new CommandError('role_required', `listing users needs the admin role; you are a ${who.role}`);
      return c.json({ users: (await listUsers(db)).map(userSummary) }, 200);
    })
    .on(
      P.updateUser.method,
      subPath(P.updateUser),
      param(userIdParams, 'user'),
      bodyGuard({ multipart: false, bodyRequired: true }),
      json(P.updateUser.body.json),
      async (c) => {
        const update = c.req.valid('json') as Parameters<typeof updateUser>[3];
        return c.json(userSummary(await updateUser(db, actor(c), c.req.valid('param').id, update)), 200);
      },
    );
}
