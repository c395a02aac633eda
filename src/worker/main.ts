import { loadConfigOrExit } from '../config.js';
import { createDb, migrateToLatest } from '../db/database.js';
import { startWorker } from './worker.js';

/**
 * `npm run worker`: the worker alone, for production. The Temporal runtime's
 * own SIGINT/SIGTERM handling shuts it down: polling stops, running activities
 * get the grace period, then the process exits.
 */
async function main() {
  const config = loadConfigOrExit();
  const db = createDb(config.databasePath);
  await migrateToLatest(db);
  const running = await startWorker(config, db);
  console.log(`worker polling task queue "${config.TEMPORAL_TASK_QUEUE}" on ${config.temporalAddress}`);
  await running.done;
  await db.destroy();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
