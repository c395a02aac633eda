import crypto from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { METADATA_ENCODING_KEY } from '@temporalio/common';
import proto from '@temporalio/proto';

/**
 * AES-256-GCM payload codec shared by the client (web) and the worker, so
 * Temporal's history only ever holds ciphertext: access keys travel in the
 * workflow input. The key id rides in the payload metadata so keys can rotate:
 * the first key encrypts, every listed key can decrypt.
 */

export const ENCODING = 'binary/encrypted';
const METADATA_KEY_ID = 'encryption-key-id';
// CommonJS package: Node's ESM loader sees only its default export.
const { temporal } = proto;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;

export interface EncryptionKey {
  id: string;
  key: Buffer;
}

export class CodecError extends Error {
  readonly type = 'PayloadCodecError';
}

/**
 * Keys as `id:base64key[,id:base64key…]` (32-byte keys). Without explicit keys
 * one is derived from SECRET_KEY, so payloads are never stored in clear text.
 */
export function parseEncryptionKeys(spec: string | undefined, secretKey: string): EncryptionKey[] {
  if (!spec) {
    const key = Buffer.from(crypto.hkdfSync('sha256', secretKey, 'provisioning', 'temporal-payloads', 32));
    return [{ id: `derived-${crypto.createHash('sha256').update(key).digest('hex').slice(0, 8)}`, key }];
  }
  return spec.split(',').map((entry, i) => {
    const sep = entry.indexOf(':');
    const id = entry.slice(0, sep).trim();
    const key = Buffer.from(entry.slice(sep + 1).trim(), 'base64');
    if (sep <= 0 || !id) throw new Error(`PAYLOAD_ENCRYPTION_KEYS: entry ${i + 1} must be id:base64key`);
    if (key.length !== 32) throw new Error(`PAYLOAD_ENCRYPTION_KEYS: key "${id}" must be 32 bytes (base64), got ${key.length}`);
    return { id, key };
  });
}

export interface CodecOptions {
  /**
   * Refuse a payload that is not encrypted (production): everything the
   * service sends is, so a clear one came from someone else with access to
   * Temporal (the CLI, the UI, a script) and must not start or steer work
   * under the worker's AWS identity. Off, it passes through (development, and
   * the UI's decode endpoint, which only displays).
   */
  refuseUnencrypted?: boolean;
}

export const UNENCRYPTED_REFUSED =
  'an unencrypted payload was refused: every payload the service sends is encrypted with its key, so this one came from elsewhere (PAYLOAD_ENCRYPTION_KEYS)';

/**
 * The one payload the Temporal server writes itself: the details of an activity cancelled
 * before any worker started it (a step still queued for a Terraform slot when its job is
 * cancelled). Refusing it would leave the workflow unable to take in its own cancel. A fixed
 * string, so letting it through cannot start or steer anything.
 */
const SERVER_WRITTEN = { encoding: 'json/plain', data: '"ACTIVITY_ID_NOT_STARTED"' };

function isServerWritten(payload: Payload): boolean {
  const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
  return (
    encoding !== undefined &&
    Buffer.from(encoding).toString() === SERVER_WRITTEN.encoding &&
    Buffer.from(payload.data ?? []).toString() === SERVER_WRITTEN.data
  );
}

export class EncryptionCodec implements PayloadCodec {
  private readonly byId: Map<string, Buffer>;
  private readonly active: EncryptionKey;

  constructor(
    keys: EncryptionKey[],
    private readonly opts: CodecOptions = {},
  ) {
    if (!keys.length) throw new Error('EncryptionCodec needs at least one key');
    this.active = keys[0];
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const iv = crypto.randomBytes(IV_LENGTH);
      const cipher = crypto.createCipheriv('aes-256-gcm', this.active.key, iv);
      const body = Buffer.concat([cipher.update(plain), cipher.final()]);
      return {
        metadata: {
          [METADATA_ENCODING_KEY]: Buffer.from(ENCODING),
          [METADATA_KEY_ID]: Buffer.from(this.active.id),
        },
        data: Buffer.concat([iv, body, cipher.getAuthTag()]),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
      if (!encoding || Buffer.from(encoding).toString() !== ENCODING) {
        if (this.opts.refuseUnencrypted && !isServerWritten(payload)) throw new CodecError(UNENCRYPTED_REFUSED);
        return payload;
      }
      const keyId = Buffer.from(payload.metadata?.[METADATA_KEY_ID] ?? []).toString();
      const key = this.byId.get(keyId);
      if (!key) throw new CodecError(`payload was encrypted with key "${keyId}", which this process does not have`);
      const data = Buffer.from(payload.data ?? []);
      const iv = data.subarray(0, IV_LENGTH);
      const tag = data.subarray(data.length - TAG_LENGTH);
      const decipher = crypto.createDecipheriv('aes-256-gcm', key, iv);
      decipher.setAuthTag(tag);
      let plain: Buffer;
      try {
        plain = Buffer.concat([decipher.update(data.subarray(IV_LENGTH, data.length - TAG_LENGTH)), decipher.final()]);
      } catch {
        throw new CodecError(`payload failed authentication with key "${keyId}" (wrong key or tampered data)`);
      }
      return temporal.api.common.v1.Payload.decode(plain) as Payload;
    });
  }
}
