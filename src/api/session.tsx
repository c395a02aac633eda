import { type Context, Hono } from 'hono';
import type { AppEnv, Authenticator } from './auth.js';
import { loginForgeryGuard } from './loginForgery.js';
import { clientAddress, tooManyMessage } from './rateLimit.js';
import { passwordLimitWhat, type SignInThrottle } from './signInThrottle.js';
import { LoginPage, type LoginPageProps } from './views/LoginPage.js';

/**
 * Only same-site paths, so the login form cannot become an open redirect.
 * Control characters and spaces are refused too: browsers drop tabs and
 * newlines from a Location, which would turn "/\t/evil.example" into "//evil.example".
 */
export function safeNext(next: unknown): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters and spaces are what a safe path must not hold
  return typeof next === 'string' && /^\/(?![/\\])[^\x00-\x20\x7f]*$/.test(next) ? next : '/';
}

export interface SessionAppOptions {
  throttle?: SignInThrottle;
  trustProxy: boolean;
  /** The identity provider's button label, when OIDC is set up. */
  providerLabel?: string;
  /** Where signing out sends the browser (the provider's end-session page), for sessions that came from it. */
  signOutRedirect?: (userId: string) => Promise<string | null>;
  /** Origins besides the request's own that may post the sign-in form (PUBLIC_BASE_URL's). */
  allowedOrigins: () => string[];
}

/** The sign-in page, the local admin's form and sign-out. */
export function sessionApp(auth: Authenticator, opts: SessionAppOptions) {
  const forgery = loginForgeryGuard(auth, opts.allowedOrigins);
  const page = (c: Context, props: Omit<LoginPageProps, 'localLogin' | 'providerLabel' | 'csrfToken'>) => (
    <LoginPage
      {...props}
      localLogin={auth.localLogin}
      providerLabel={opts.providerLabel}
      csrfToken={auth.localLogin ? forgery.formToken(c) : ''}
    />
  );
  return new Hono<AppEnv>()
    .get('/login', (c) =>
      c.render(page(c, { next: safeNext(c.req.query('next')), error: c.req.query('error') }), { title: 'Sign in' }),
    )
    .post('/login', async (c) => {
      const body = await c.req.parseBody();
      const user = String(body.username ?? '');
      const next = safeNext(body.next);
      const forged = auth.localLogin ? forgery.problem(c, body._csrf) : null;
      if (forged) {
        // Before the password is looked at: a forged attempt neither signs in nor counts as a guess.
        c.status(403);
        return c.render(page(c, { next, user, error: forged }), { title: 'Sign in' });
      }
      if (!auth.localLogin) {
        c.status(403);
        return c.render(page(c, { next, error: 'The local account is switched off here (LOCAL_LOGIN=false).' }), {
          title: 'Sign in',
        });
      }
      // Check, verify and count in one synchronous stretch: concurrent guesses are all counted.
      const addr = opts.throttle ? clientAddress(c, opts) : null;
      const limit = addr !== null ? opts.throttle!.passwordState(user, addr) : null;
      if (limit?.limited) {
        c.status(429);
        c.header('Retry-After', String(limit.retryAfterSeconds));
        const error = tooManyMessage(passwordLimitWhat(user), limit.retryAfterSeconds);
        return c.render(page(c, { next, user, error }), { title: 'Sign in' });
      }
      if (!auth.checkPassword(user, String(body.password ?? ''))) {
        if (addr !== null) opts.throttle!.passwordFailed(user, addr);
        c.status(401);
        return c.render(page(c, { next, user, error: 'Wrong user or password.' }), { title: 'Sign in' });
      }
      if (addr !== null) opts.throttle!.passwordSucceeded(user, addr);
      const admin = await auth.localAdmin();
      if (admin?.active !== 1) {
        c.status(403);
        return c.render(page(c, { next, user, error: 'The local account is deactivated.' }), { title: 'Sign in' });
      }
      await auth.startSession(c, admin);
      forgery.clear(c);
      return c.redirect(next, 303);
    })
    .post('/logout', async (c) => {
      const principal = c.get('principal');
      await auth.endSession(c);
      const away = principal && opts.signOutRedirect ? await opts.signOutRedirect(principal.userId) : null;
      return c.redirect(away ?? '/login', 303);
    });
}
