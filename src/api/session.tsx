import { Hono } from 'hono';
import type { AppEnv, Authenticator } from './auth.js';
import { LoginPage } from './views/LoginPage.js';

/** Only same-site paths, so the login form cannot become an open redirect. */
function safeNext(next: unknown): string {
  return typeof next === 'string' && /^\/(?![/\\])/.test(next) ? next : '/';
}

export function sessionApp(auth: Authenticator) {
  return new Hono<AppEnv>()
    .get('/login', (c) => c.render(<LoginPage next={safeNext(c.req.query('next'))} />, { title: 'Sign in' }))
    .post('/login', async (c) => {
      const body = await c.req.parseBody();
      const user = String(body.username ?? '');
      const next = safeNext(body.next);
      if (!auth.checkPassword(user, String(body.password ?? ''))) {
        c.status(401);
        return c.render(<LoginPage next={next} user={user} error="Wrong user or password." />, { title: 'Sign in' });
      }
      await auth.startSession(c, user);
      return c.redirect(next, 303);
    })
    .post('/logout', (c) => {
      auth.endSession(c);
      return c.redirect('/login', 303);
    });
}
