import path from 'node:path';
import proto from '@temporalio/proto';

/**
 * Recorded workflow histories, stored as Temporal's own binary protobuf
 * encoding (what `temporal workflow show --output json` converts from): exact,
 * and free of the JSON round-trip quirks of proto3 enums and int64s.
 */
export const HISTORIES_DIR = path.join(import.meta.dirname, '..', 'fixtures', 'histories');
export const HAPPY_PATH_HISTORY = path.join(HISTORIES_DIR, 'provision-happy-path.binpb');

const { History } = proto.temporal.api.history.v1;

export function encodeHistory(history: unknown): Buffer {
  return Buffer.from(History.encode(History.fromObject(history as Record<string, unknown>)).finish());
}

export function decodeHistory(bytes: Buffer) {
  return History.decode(bytes);
}
