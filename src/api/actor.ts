import type { Context } from 'hono';
import type { AppEnv } from './auth.js';
import type { Actor } from './jobCommands.js';
import { clientAddress } from './rateLimit.js';

/** Who acts, for the audit: the signed-in user and the socket's address, or under TRUST_PROXY the one our proxy saw (null without a socket). */
export function actorOf(c: Context<AppEnv>, trustProxy: boolean): Actor {
  return { user: c.get('principal')?.user ?? 'anonymous', ip: clientAddress(c, { trustProxy }) };
}
