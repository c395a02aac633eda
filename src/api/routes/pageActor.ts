import type { Context } from 'hono';
import type { AppEnv } from '../auth.js';
import type { Actor } from '../jobCommands.js';
import { clientAddress } from '../rateLimit.js';

/** Who acts from a page, for the audit: the socket's address, or under TRUST_PROXY the one our proxy saw (null without a socket). */
export function pageActor(c: Context<AppEnv>, trustProxy: boolean): Actor {
  return { user: c.get('principal').user, ip: clientAddress(c, { trustProxy }) };
}
