import { Client, Connection } from '@temporalio/client';
import { createDataConverter } from './dataConverter.js';

export interface TemporalSettings {
  temporalAddress: string;
  TEMPORAL_NAMESPACE: string;
  PAYLOAD_ENCRYPTION_KEYS?: string;
  SECRET_KEY: string;
}

/**
 * A lazy connection: the web server starts (and reports Temporal as down in
 * /health) even while the Temporal server is still starting or unreachable.
 */
export function createTemporalClient(settings: TemporalSettings): { client: Client; connection: Connection } {
  const connection = Connection.lazy({ address: settings.temporalAddress });
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
