import { loadConfigOrExit } from '../config.js';
import { createDb, migrateToLatest } from '../db/database.js';
import { configureLogging } from '../observability/logger.js';
import { startWorker } from './worker.js';
import { installWorkerRuntime, startWorkerHttp } from './telemetry.js';

/**
 * `npm run worker`: the worker alone, for production. The Temporal runtime's
 * own SIGINT/SIGTERM handling shuts it down: polling stops, running activities
 * get the grace period, then the process exits.
 */
async function main() {
  const config = loadConfigOrExit();
  const log = configureLogging({ level: config.LOG_LEVEL, process: 'worker' });
  await installWorkerRuntime({ metrics: Boolean(config.WORKER_METRICS_PORT) });
  const db = createDb(config.databasePath);
  await migrateToLatest(db);
  const running = await startWorker(config, db);
  const http = config.WORKER_METRICS_PORT
    ? await startWorkerHttp({
        port: config.WORKER_METRICS_PORT,
        host: config.WORKER_METRICS_HOST,
        metricsToken: config.METRICS_TOKEN,
        isRunning: () => running.worker.getState() === 'RUNNING',
      })
    : undefined;
  const terraformQueue = running.worker.terraform.options.taskQueue;
  log.info(
    {
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      terraformTaskQueue: terraformQueue,
      terraformMaxConcurrent: config.TERRAFORM_MAX_CONCURRENT,
      temporalAddress: config.temporalAddress,
    },
    `worker polling task queue "${config.TEMPORAL_TASK_QUEUE}" on ${config.temporalAddress}, ` +
      `and "${terraformQueue}" for Terraform, ${config.TERRAFORM_MAX_CONCURRENT} at a time`,
  );
  await running.done;
  log.info('worker stopped');
  await http?.close();
  await db.destroy();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
