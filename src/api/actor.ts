import type { Context } from 'hono';
import type { AppEnv } from './auth.js';
import type { Actor } from './jobCommands.js';
import { clientAddress } from './rateLimit.js';

/**
 * Who acts, for the permission rules and the audit: the signed-in user, their
 * role now, the token they came with, and the socket's address (under
 * TRUST_PROXY the one our proxy saw; null without a socket).
 */
export function actorOf(c: Context<AppEnv>, trustProxy: boolean): Actor {
  const p = c.get('principal');
  return {
    user: p?.user ?? 'anonymous',
    userId: p?.userId ?? '',
    role: p?.role ?? 'viewer',
    tokenName: p?.tokenName ?? null,
    ip: clientAddress(c, { trustProxy }),
  };
}
