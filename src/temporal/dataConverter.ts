import { createRequire } from 'node:module';
import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec, parseEncryptionKeys } from './codec.js';

const require = createRequire(import.meta.url);

export function createDataConverter(opts: {
  encryptionKeys?: string;
  secretKey: string;
  /** In production: clear payloads did not come from the service (see CodecOptions). */
  refuseUnencrypted?: boolean;
}): DataConverter {
  return {
    payloadCodecs: [
      new EncryptionCodec(parseEncryptionKeys(opts.encryptionKeys, opts.secretKey), {
        refuseUnencrypted: opts.refuseUnencrypted,
      }),
    ],
    failureConverterPath: require.resolve('./failureConverter.cjs'),
  };
}
