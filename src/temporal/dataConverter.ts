import { createRequire } from 'node:module';
import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec, parseEncryptionKeys } from './codec.js';

const require = createRequire(import.meta.url);

export function createDataConverter(opts: { encryptionKeys?: string; secretKey: string }): DataConverter {
  return {
    payloadCodecs: [new EncryptionCodec(parseEncryptionKeys(opts.encryptionKeys, opts.secretKey))],
    failureConverterPath: require.resolve('./failureConverter.cjs'),
  };
}
