import { Client, Connection, type TLSConfig } from '@temporalio/client';
import type { TemporalConnectionSettings } from '../temporalConfig.js';
import { createDataConverter } from './dataConverter.js';

export interface TemporalSettings {
  temporalAddress: string;
  TEMPORAL_NAMESPACE: string;
  PAYLOAD_ENCRYPTION_KEYS?: string;
  SECRET_KEY: string;
  /** Absent: plain gRPC. */
  temporalConnection?: TemporalConnectionSettings;
}

/**
 * What the web's client, the worker's native connection and the scripts all
 * connect with: the address, TLS (server CA, client certificate, server
 * name) and the API key, from one place.
 */
export function temporalConnectionOptions(settings: Pick<TemporalSettings, 'temporalAddress' | 'temporalConnection'>): {
  address: string;
  tls?: TLSConfig;
  apiKey?: string;
} {
  const c = settings.temporalConnection;
  return {
    address: settings.temporalAddress,
    ...(c?.tls ? { tls: c.tls } : {}),
    ...(c?.apiKey ? { apiKey: c.apiKey } : {}),
  };
}

/**
 * A lazy connection: the web server starts (and reports Temporal as down in
 * /health) even while the Temporal server is still starting or unreachable.
 */
export function createTemporalClient(settings: TemporalSettings): { client: Client; connection: Connection } {
  const connection = Connection.lazy(temporalConnectionOptions(settings));
  const client = new Client({
    connection,
    namespace: settings.TEMPORAL_NAMESPACE,
    dataConverter: createDataConverter({ encryptionKeys: settings.PAYLOAD_ENCRYPTION_KEYS, secretKey: settings.SECRET_KEY }),
  });
  return { client, connection };
}

export async function checkTemporal(client: Client, timeoutMs = 2_000): Promise<void> {
  await client.connection.withDeadline(Date.now() + timeoutMs, () => client.workflowService.getSystemInfo({}));
}
