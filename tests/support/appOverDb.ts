import { createApp } from '../../src/api/app.js';
import { parseConfig } from '../../src/config.js';
import type { Db } from '../../src/db/database.js';
import { createTemporalClient } from '../../src/temporal/connection.js';
import { SANDBOX_MODULE } from './jobs.js';
import { ROOT } from './processes.js';
import { TEST_SECRET_KEY } from './worker.js';

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

/**
 * The web app on a sandbox stack's database, Temporal client and task queue,
 * with one bootstrap API token: for tests that drive jobs through the API and
 * the pages while the stack's worker runs them.
 */
export function appOnStack(
  stack: { temp: { db: Db; dir: string }; client: Parameters<typeof createApp>[0]['temporal']; worker: { taskQueue: string } },
  token: string,
  env: Record<string, string> = {},
): ReturnType<typeof createApp> {
  return createApp({
    db: stack.temp.db,
    temporal: stack.client,
    config: parseConfig(
      {
        SECRET_KEY: TEST_SECRET_KEY,
        API_TOKENS: token,
        DATA_DIR: stack.temp.dir,
        TEMPORAL_TASK_QUEUE: stack.worker.taskQueue,
        TERRAFORM_MODULE_DIR: SANDBOX_MODULE,
        ALLOWED_INSTANCE_TYPES: 't3.micro,t3.small',
        ...env,
      },
      ROOT,
    ),
  });
}
