import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';

/**
 * A message that lives for one redirect: the outcome of a form post, shown
 * on the page the post redirects to. Bound to a job, so it never shows on
 * another job's page opened in between.
 */

export interface Flash {
  kind: 'ok' | 'error';
  message: string;
}

const FLASH_COOKIE = 'prov_flash';

export function setFlash(c: Context, jobId: string, flash: Flash, secure: boolean) {
  const value = Buffer.from(JSON.stringify({ jobId, ...flash, message: flash.message.slice(0, 600) })).toString('base64url');
  setCookie(c, FLASH_COOKIE, value, { path: '/', httpOnly: true, sameSite: 'Lax', maxAge: 60, secure });
}

export function takeFlash(c: Context, jobId: string): Flash | undefined {
  const raw = getCookie(c, FLASH_COOKIE);
  if (!raw) return undefined;
  deleteCookie(c, FLASH_COOKIE, { path: '/' });
  try {
    const f = JSON.parse(Buffer.from(raw, 'base64url').toString()) as { jobId?: unknown; kind?: unknown; message?: unknown };
    if (f.jobId !== jobId || typeof f.message !== 'string') return undefined;
    return { kind: f.kind === 'error' ? 'error' : 'ok', message: f.message };
  } catch {
    return undefined;
  }
}
