import { Hono } from 'hono';
import type { AppEnv, Authenticator } from './auth.js';
import { clientAddress, LOGIN_LIMIT_WHAT, tooManyMessage, type FixedWindowLimiter } from './rateLimit.js';
import { LoginPage } from './views/LoginPage.js';

/**
 * Only same-site paths, so the login form cannot become an open redirect.
 * Control characters and spaces are refused too: browsers drop tabs and
 * newlines from a Location, which would turn "/\t/evil.example" into "//evil.example".
 */
export function safeNext(next: unknown): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters and spaces are what a safe path must not hold
  return typeof next === 'string' && /^\/(?![/\\])[^\x00-\x20\x7f]*$/.test(next) ? next : '/';
}

export function sessionApp(auth: Authenticator, throttle?: { limiter: FixedWindowLimiter; trustProxy: boolean }) {
  return new Hono<AppEnv>()
    .get('/login', (c) => c.render(<LoginPage next={safeNext(c.req.query('next'))} />, { title: 'Sign in' }))
    .post('/login', async (c) => {
      const body = await c.req.parseBody();
      const user = String(body.username ?? '');
      const next = safeNext(body.next);
      // Check, verify and count in one synchronous stretch: concurrent guesses are all counted.
      const addr = throttle ? clientAddress(c, throttle) : null;
      const limit = addr !== null ? throttle!.limiter.peek(addr) : null;
      if (limit?.limited) {
        c.status(429);
        c.header('Retry-After', String(limit.retryAfterSeconds));
        const error = tooManyMessage(LOGIN_LIMIT_WHAT, limit.retryAfterSeconds);
        return c.render(<LoginPage next={next} user={user} error={error} />, { title: 'Sign in' });
      }
      if (!auth.checkPassword(user, String(body.password ?? ''))) {
        if (addr !== null) throttle!.limiter.hit(addr);
        c.status(401);
        return c.render(<LoginPage next={next} user={user} error="Wrong user or password." />, { title: 'Sign in' });
      }
      await auth.startSession(c, user);
      return c.redirect(next, 303);
    })
    .post('/logout', async (c) => {
      await auth.endSession(c);
      return c.redirect('/login', 303);
    });
}
