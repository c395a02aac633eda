import type { MiddlewareHandler } from 'hono';
import type { AppEnv, Authenticator } from './auth.js';
import { clientAddress, rateLimited, type ClientAddressOptions, type FixedWindowLimiter, type RateState } from './rateLimit.js';

/**
 * Failed sign-ins, counted per account and client address: five wrong
 * passwords for one account from one address lock that account out from that
 * address for the window, and nothing else. Other people's failures (another
 * address, another account) never refuse a right password, and a valid API
 * token is always accepted: tokens are too long to guess, so wrong ones are
 * counted per address only to answer a scanner with 429s.
 *
 * A locked pair is refused before its password is checked, or guessing
 * would only be slowed down; the check, the verification and the count happen
 * in one synchronous stretch, so concurrent guesses are all counted.
 */
export class SignInThrottle {
  constructor(readonly limiter: FixedWindowLimiter) {}

  private static passwordKey(account: string, addr: string): string {
    return `password\n${account.trim().toLowerCase()}\n${addr}`;
  }

  passwordState(account: string, addr: string): RateState {
    return this.limiter.peek(SignInThrottle.passwordKey(account, addr));
  }

  passwordFailed(account: string, addr: string): void {
    this.limiter.hit(SignInThrottle.passwordKey(account, addr));
  }

  passwordSucceeded(account: string, addr: string): void {
    this.limiter.reset(SignInThrottle.passwordKey(account, addr));
  }

  tokenState(addr: string): RateState {
    return this.limiter.peek(`token\n${addr}`);
  }

  tokenFailed(addr: string): void {
    this.limiter.hit(`token\n${addr}`);
  }
}

export const passwordLimitWhat = (account: string) => `Too many failed sign-ins for ${account} from your address`;
const TOKEN_LIMIT_WHAT = 'Too many wrong API tokens from your address';

/**
 * Before authentication, for requests with Basic or Bearer credentials; a
 * browser with its session cookie passes untouched. A valid token's principal
 * is kept for requireAuth, so the token is looked up once.
 */
export function credentialThrottle(
  throttle: SignInThrottle,
  auth: Authenticator,
  opts: ClientAddressOptions,
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const addr = clientAddress(c, opts);
    if (addr === null) return next();
    if (/^bearer\s+/i.test(header)) {
      const principal = await auth.tokenPrincipal(header.replace(/^bearer\s+/i, '').trim());
      if (principal) {
        c.set('principal', principal);
        return next();
      }
      const state = throttle.tokenState(addr);
      if (state.limited) return rateLimited(c, TOKEN_LIMIT_WHAT, state);
      throttle.tokenFailed(addr);
      return next();
    }
    if (/^basic\s+/i.test(header)) {
      const decoded = Buffer.from(header.replace(/^basic\s+/i, ''), 'base64').toString();
      const sep = decoded.indexOf(':');
      if (sep < 0) return next();
      const account = decoded.slice(0, sep);
      const state = throttle.passwordState(account, addr);
      if (state.limited) return rateLimited(c, passwordLimitWhat(account), state);
      if (auth.checkPassword(account, decoded.slice(sep + 1))) throttle.passwordSucceeded(account, addr);
      else throttle.passwordFailed(account, addr);
    }
    return next();
  };
}
