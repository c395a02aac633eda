import { Hono, type MiddlewareHandler } from 'hono';
import { z } from 'zod';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { METADATA_ENCODING_KEY } from '@temporalio/common';
import type { AppEnv } from './auth.js';
import { maskAccessKeyId } from '../domain/jobSpec.js';
import { REDACTED, redactLine } from '../domain/redact.js';
import { CodecError } from '../temporal/codec.js';

/**
 * The remote codec endpoint Temporal UI calls to show our encrypted payloads
 * (the Codec Server protocol: `POST {endpoint}/decode` with a JSON body
 * `{ "payloads": [{ "metadata": { key: base64 }, "data": base64 }] }` and an
 * `X-Namespace` header; the answer has the same shape). It decodes with the
 * service's own codec and then hides every secret field, so the UI never
 * shows access keys or tokens even to someone allowed to use it.
 *
 * Authentication is the app's (session cookie, basic, or a bearer token for
 * UIs configured to pass one). The UI the web app serves at /temporal calls
 * it from our own origin with the session cookie; a UI elsewhere gets CORS
 * for TEMPORAL_UI_URL's origin only. There is no /encode: the UI has no
 * business creating payloads.
 */

const MAX_PAYLOADS = 1_000;
const MAX_DEPTH = 64;

// Fields whose value is a secret, wherever they appear in a decoded payload.
const SECRET_FIELD = /secret|passw(or)?d|passphrase|token|credential|private_?key|api_?key|authorization|cookie/i;
// Fields holding an access key id: shown masked, enough to recognise the key.
const KEY_ID_FIELD = /^(aws_?)?access_?key_?id$/i;

/** A decoded JSON value with secret fields hidden and secrets inside free text redacted. */
export function redactDecoded(value: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH) return REDACTED;
  if (typeof value === 'string') return redactLine(value);
  if (Array.isArray(value)) return value.map((v) => redactDecoded(v, depth + 1));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === null || v === undefined || typeof v === 'boolean') out[k] = v;
      else if (KEY_ID_FIELD.test(k)) out[k] = typeof v === 'string' ? maskAccessKeyId(v) : REDACTED;
      else if (SECRET_FIELD.test(k)) out[k] = REDACTED;
      else out[k] = redactDecoded(v, depth + 1);
    }
    return out;
  }
  return value;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** The decoded payload as the UI will see it: JSON data redacted, text redacted, other bytes withheld. */
export function redactPayload(payload: Payload): Payload {
  const encoding = Buffer.from(payload.metadata?.[METADATA_ENCODING_KEY] ?? []).toString();
  const data = payload.data ?? new Uint8Array();
  if (encoding === 'binary/null' || data.length === 0) return payload;
  let text: string;
  try {
    text = decoder.decode(data);
  } catch {
    return {
      metadata: { ...payload.metadata, [METADATA_ENCODING_KEY]: Buffer.from('binary/plain') },
      data: Buffer.from(REDACTED),
    };
  }
  if (encoding.startsWith('json/')) {
    try {
      return { ...payload, data: Buffer.from(JSON.stringify(redactDecoded(JSON.parse(text)))) };
    } catch {
      // Not the JSON it claims to be: treat as text below.
    }
  }
  return { ...payload, data: Buffer.from(redactLine(text)) };
}

const base64 = z
  .string()
  .max(4 * 1024 * 1024)
  .regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'must be base64');
const bodySchema = z.object({
  payloads: z
    .array(
      z.object({
        metadata: z.record(z.string(), base64).nullish(),
        data: base64.nullish(),
      }),
    )
    .max(MAX_PAYLOADS),
});
type JsonPayload = z.infer<typeof bodySchema>['payloads'][number];

function fromJson(p: JsonPayload): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: Buffer.from(p.data ?? '', 'base64'),
  };
}

function toJson(p: Payload): { metadata: Record<string, string>; data: string } {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')])),
    data: Buffer.from(p.data ?? []).toString('base64'),
  };
}

const ALLOWED_HEADERS = 'Content-Type, X-Namespace, Authorization';

/**
 * CORS for the codec endpoint, mounted before authentication: browsers send
 * preflights without credentials. Only TEMPORAL_UI_URL's origin is answered;
 * any other origin gets a preflight refusal and no CORS header, so its page
 * can neither send a JSON request nor read an answer.
 */
export function codecCors(temporalUiUrl: string): MiddlewareHandler {
  const uiOrigin = new URL(temporalUiUrl).origin;
  return async (c, next) => {
    const origin = c.req.header('origin');
    const allowed = origin === uiOrigin;
    if (c.req.method === 'OPTIONS') {
      c.header('Vary', 'Origin');
      if (!allowed || (c.req.header('access-control-request-method') ?? 'POST').toUpperCase() !== 'POST') {
        return c.body(null, 403);
      }
      c.header('Access-Control-Allow-Origin', uiOrigin);
      c.header('Access-Control-Allow-Credentials', 'true');
      c.header('Access-Control-Allow-Methods', 'POST');
      c.header('Access-Control-Allow-Headers', ALLOWED_HEADERS);
      c.header('Access-Control-Max-Age', '600');
      return c.body(null, 204);
    }
    await next();
    c.res.headers.append('Vary', 'Origin');
    // A page's call (it sends an Origin) refused for want of a session: no Basic challenge, which would
    // pop a password dialog over the Temporal UI. Scripts (no Origin) keep it.
    if (origin && c.res.status === 401) c.res.headers.delete('WWW-Authenticate');
    if (allowed) {
      // Also on 401/403/4xx answers, so the UI can tell the user what went wrong.
      c.res.headers.set('Access-Control-Allow-Origin', uiOrigin);
      c.res.headers.set('Access-Control-Allow-Credentials', 'true');
    }
  };
}

export interface CodecAppOptions {
  codec: PayloadCodec;
  temporalUiUrl: string;
  publicBaseUrl: string;
}

function codecError(c: Parameters<MiddlewareHandler>[0], status: 400 | 403 | 415 | 422, code: string, message: string) {
  return c.json({ error: { code, message } }, status);
}

/**
 * `POST /decode`, mounted at /codec after authentication and outside the
 * form CSRF check (Temporal UI sends no CSRF token). It changes nothing,
 * accepts only application/json (a cross-site form cannot send that without a
 * preflight, which codecCors refuses), and for cookie or basic-auth callers
 * refuses any Origin other than our own and Temporal UI's.
 */
export function codecApp(opts: CodecAppOptions) {
  const origins = new Set([new URL(opts.temporalUiUrl).origin, new URL(opts.publicBaseUrl).origin]);
  return new Hono<AppEnv>().post('/decode', async (c) => {
    const principal = c.get('principal');
    const origin = c.req.header('origin');
    if (principal?.via !== 'bearer' && origin && origin !== new URL(c.req.url).origin && !origins.has(origin)) {
      return codecError(c, 403, 'forbidden_origin', `requests from ${origin} may not use the codec endpoint`);
    }
    const type = (c.req.header('content-type') ?? '').split(';')[0].trim().toLowerCase();
    if (type !== 'application/json') {
      return codecError(c, 415, 'unsupported_media_type', 'send the payloads as application/json');
    }
    let raw: unknown;
    try {
      raw = JSON.parse(await c.req.text());
    } catch {
      return codecError(c, 400, 'malformed', 'the body is not valid JSON');
    }
    const parsed = bodySchema.safeParse(raw);
    if (!parsed.success) {
      return codecError(
        c,
        422,
        'invalid',
        `expected { "payloads": [{ "metadata": { key: base64 }, "data": base64 }] } (at most ${MAX_PAYLOADS} payloads)`,
      );
    }
    let decoded: Payload[];
    try {
      decoded = await opts.codec.decode(parsed.data.payloads.map(fromJson));
    } catch (err) {
      // Truncated ciphertext makes the cipher itself throw before the codec can name the problem.
      const message = err instanceof CodecError ? err.message : 'a payload could not be decrypted: it is malformed or truncated';
      return codecError(c, 422, 'undecodable', message);
    }
    c.header('Cache-Control', 'no-store');
    return c.json({ payloads: decoded.map(redactPayload).map(toJson) });
  });
}
