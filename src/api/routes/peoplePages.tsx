import type { ZodError } from 'zod';
import { Hono, type Context } from 'hono';
import type { AppEnv } from '../auth.js';
import type { RouteDeps } from './deps.js';
import { actorOf } from '../actor.js';
import { CommandError } from '../commandError.js';
import { setFlash, takeFlash } from '../flash.js';
import { configuredUser, createToken, revokeToken, tokenSummary, tokensFor, updateUser, userSummary } from '../peopleCommands.js';
import { tokenInput, userUpdate } from '../peopleRoutes.js';
import { zodIssuesToFields } from '../../domain/jobSpec.js';
import { listUsers } from '../../db/users.js';
import { atLeast, ROLES } from '../../domain/permissions.js';
import { TokensPage, type TokensPageProps } from '../views/TokensPage.js';
import { UsersPage } from '../views/UsersPage.js';
import { forbiddenPage, notFoundPage } from './notFoundPage.js';

/** Every problem zod found, as one sentence naming the fields. */
function problems(error: ZodError): string {
  return zodIssuesToFields(error)
    .map((f) => f.message)
    .join('; ');
}

/** API tokens (everyone, their own; admins, everyone's) and users (admins). */
export function peoplePagesApp(deps: RouteDeps) {
  const { db, config } = deps;
  const secureCookies = config.publicBaseUrl.startsWith('https://');
  const actor = (c: Context<AppEnv>) => actorOf(c, config.TRUST_PROXY);

  async function tokensPage(c: Context<AppEnv>, extra: Partial<TokensPageProps> = {}) {
    const who = actor(c);
    const now = new Date();
    const tokens = (await tokensFor(db, who)).map((t) => ({ ...tokenSummary(t, now), owner: t.user_name }));
    c.header('Cache-Control', 'no-store');
    return c.render(
      <TokensPage
        tokens={tokens}
        roles={ROLES.filter((r) => atLeast(who.role, r))}
        showOwner={who.role === 'admin'}
        csrfToken={c.get('csrfToken')}
        {...extra}
      />,
      { title: 'API tokens' },
    );
  }

  async function usersPage(c: Context<AppEnv>) {
    const who = actor(c);
    const users = (await listUsers(db)).map((u) => ({
      ...userSummary(u),
      configured: configuredUser(u),
      self: u.id === who.userId,
    }));
    return c.render(<UsersPage users={users} csrfToken={c.get('csrfToken')} flash={takeFlash(c, 'users')} />, { title: 'Users' });
  }

  const adminOnly = (c: Context<AppEnv>) =>
    c.get('principal').role === 'admin'
      ? null
      : forbiddenPage(c, `Managing users needs the admin role; you are a ${c.get('principal').role}.`);

  return new Hono<AppEnv>()
    .get('/tokens', (c) => tokensPage(c))
    .post('/tokens', async (c) => {
      const body = (await c.req.parseBody()) as Record<string, unknown>;
      const values = {
        name: String(body.name ?? ''),
        role: String(body.role ?? ''),
        expiresInDays: String(body.expiresInDays ?? ''),
      };
      const parsed = tokenInput.safeParse({
        name: values.name,
        ...(values.role ? { role: values.role } : {}),
        // The API takes a JSON number; the form's text is one once it is read as a number.
        ...(values.expiresInDays.trim() ? { expiresInDays: Number(values.expiresInDays.trim()) } : {}),
      });
      if (!parsed.success) {
        c.status(422);
        return tokensPage(c, { error: problems(parsed.error), values });
      }
      try {
        const { token, secret } = await createToken(db, actor(c), parsed.data);
        c.status(201);
        return tokensPage(c, { created: { name: token.name, secret } });
      } catch (err) {
        if (!(err instanceof CommandError)) throw err;
        c.status(403);
        return tokensPage(c, { error: err.message, values });
      }
    })
    .post('/tokens/:id/revoke', async (c) => {
      try {
        await revokeToken(db, actor(c), c.req.param('id'));
      } catch (err) {
        if (err instanceof CommandError && err.code === 'not_found') return notFoundPage(c, err.message);
        throw err;
      }
      return c.redirect('/tokens', 303);
    })
    .get('/admin/users', (c) => adminOnly(c) ?? usersPage(c))
    .post('/admin/users/:id', async (c) => {
      const refused = adminOnly(c);
      if (refused) return refused;
      const body = (await c.req.parseBody()) as Record<string, unknown>;
      const parsed = userUpdate.safeParse({ role: body.role ? String(body.role) : null, active: body.active === 'yes' });
      if (!parsed.success) {
        setFlash(c, 'users', { kind: 'error', message: problems(parsed.error) }, secureCookies);
        return c.redirect('/admin/users', 303);
      }
      try {
        const user = await updateUser(db, actor(c), c.req.param('id'), parsed.data);
        setFlash(c, 'users', { kind: 'ok', message: `Saved ${user.name}.` }, secureCookies);
      } catch (err) {
        if (!(err instanceof CommandError)) throw err;
        if (err.code === 'not_found') return notFoundPage(c, err.message);
        setFlash(c, 'users', { kind: 'error', message: err.message }, secureCookies);
      }
      return c.redirect('/admin/users', 303);
    });
}
