import { createApp } from '../../src/api/app.js';
import { parseConfig } from '../../src/config.js';
import type { Db } from '../../src/db/database.js';
import { createTemporalClient } from '../../src/temporal/connection.js';

/**
 * The web app over a database alone, for tests of what pages and the API read
 * from it: its Temporal address answers nothing (the client connects lazily),
 * so no job can start, and nothing else is needed.
 */
export function appOverDb(
  db: Db,
  env: Record<string, string>,
): { app: ReturnType<typeof createApp>; close: () => Promise<void> } {
  const config = parseConfig({ ...env, TEMPORAL_ADDRESS: '127.0.0.1:9' });
  const { client, connection } = createTemporalClient(config);
  return {
    app: createApp({ db, temporal: client, config }),
    close: () => connection.close().catch(() => undefined),
  };
}
