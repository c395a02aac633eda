import type { Context, MiddlewareHandler } from 'hono';

/**
 * Request shape checks shared by every route: what the browser form routes
 * accept, and how an oversized body is refused. The JSON API checks its own
 * content types (415 in its error shape); these cover the rest.
 */

export const MAX_BODY_BYTES = 2 * 1024 * 1024;

const FORM_TYPES = ['application/x-www-form-urlencoded', 'multipart/form-data'];
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function wantsJson(c: Context): boolean {
  return c.req.path.startsWith('/api/') || (c.req.header('accept') ?? '').includes('application/json');
}

/**
 * Browser form routes (every state-changing route outside /api and /codec)
 * take form encodings only: a JSON, XML or text body there is a client
 * mistake or a probe, answered 415 instead of being read as an empty form.
 * A request without a body (a script's bare POST) is left alone.
 */
export function formContentTypes(): MiddlewareHandler {
  return async (c, next) => {
    if (!UNSAFE.has(c.req.method) || c.req.path.startsWith('/api/') || c.req.path.startsWith('/codec/')) return next();
    const type = (c.req.header('content-type') ?? '').split(';')[0].trim().toLowerCase();
    const length = c.req.header('content-length');
    const hasBody = type !== '' || (length !== undefined && length !== '0') || c.req.header('transfer-encoding') !== undefined;
    if (!hasBody || FORM_TYPES.includes(type)) return next();
    const message = `this form takes ${FORM_TYPES.join(' or ')}, not ${type || 'a body without a content type'}`;
    if (wantsJson(c)) return c.json({ error: { code: 'unsupported_media_type', message } }, 415);
    return c.text(message, 415);
  };
}

/** bodyLimit's answer: the API's error shape for scripts, a sentence for people. */
export function tooLarge(c: Context): Response {
  const limit = `${MAX_BODY_BYTES / 1024 / 1024} MB`;
  if (wantsJson(c)) {
    return c.json({ error: { code: 'too_large', message: `request body is larger than the ${limit} limit` } }, 413);
  }
  return c.text(
    `The request is larger than the ${limit} limit, so it was not read. A users CSV may be at most 1 MB: go back and choose a smaller file.`,
    413,
  );
}
