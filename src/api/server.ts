import { serve, type ServerType } from '@hono/node-server';
import { loadConfigOrExit, type Config } from '../config.js';
import { createDb, migrateToLatest, type Db } from '../db/database.js';
import { createTemporalClient } from '../temporal/connection.js';
import { createApp } from './app.js';
import { configureLogging, getLogger } from '../observability/logger.js';
import { startReconciler } from '../reconciler/reconciler.js';
import { notifierFromConfig } from '../notifications/notifier.js';
import { ensureDriftSchedule } from '../temporal/driftSchedule.js';
import { registerInBackground } from '../temporal/searchAttributeRegistration.js';
import { untilDone } from '../temporal/untilDone.js';
import type { Client } from '@temporalio/client';

/** How long in-flight requests may run after the web server is asked to stop. */
export const WEB_SHUTDOWN_GRACE_MS = 10_000;

export interface WebServer {
  server: ServerType;
  port: number;
  close(): Promise<void>;
}

/** Starts the web server; stops accepting and lets in-flight requests finish on close. */
export async function startWeb(config: Config, db: Db): Promise<WebServer> {
  const { client, connection } = createTemporalClient(config);
  const app = createApp({ db, temporal: client, config });
  // Every web process runs it: passes are idempotent, and one web process is enough for the guarantee.
  const reconciler =
    config.RECONCILE_INTERVAL_SECONDS > 0
      ? startReconciler({
          db,
          client,
          notifier: notifierFromConfig(config, db),
          intervalMs: config.RECONCILE_INTERVAL_SECONDS * 1000,
          log: getLogger('reconciler'),
        })
      : undefined;
  const schedule = keepDriftScheduleSet(client, config);
  // The web starts jobs with search attributes: a web deployed before any worker registers them too.
  const attributes = registerInBackground(connection, config.TEMPORAL_NAMESPACE, getLogger('search-attributes'));
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, () => resolve(s));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        const http = server as unknown as { closeIdleConnections?: () => void; closeAllConnections?: () => void };
        // Idle keep-alive sockets would hold close() open forever.
        http.closeIdleConnections?.();
        // So would the live log streams (SSE): in-flight requests get a grace period, then the
        // remaining connections are cut; browsers reconnect elsewhere and resume by Last-Event-ID.
        setTimeout(() => http.closeAllConnections?.(), WEB_SHUTDOWN_GRACE_MS).unref();
      })
        .then(() => reconciler?.stop())
        .then(() => schedule.stop())
        .then(() => attributes.stop())
        .finally(() => connection.close().catch(() => undefined)),
  };
}

/**
 * The drift Schedule, set to DRIFT_CHECK_INTERVAL in the background: Temporal may not answer yet
 * when the web starts, so it is tried again (a minute apart at most) until it is set.
 */
function keepDriftScheduleSet(client: Client, config: Config): { stop(): void } {
  const log = getLogger('drift-schedule');
  return untilDone(
    async () => {
      const done = await ensureDriftSchedule(client, {
        interval: config.DRIFT_CHECK_INTERVAL,
        concurrency: config.DRIFT_CHECK_CONCURRENCY,
        taskQueue: config.TEMPORAL_TASK_QUEUE,
      });
      log.info({ interval: config.DRIFT_CHECK_INTERVAL }, `drift schedule ${done}`);
    },
    { retrying: (err) => log.warn({ err: (err as Error).message }, 'could not set the drift schedule yet; trying again') },
  );
}

async function main() {
  const config = loadConfigOrExit();
  const log = configureLogging({ level: config.LOG_LEVEL, process: 'web' });
  const db = createDb(config.databasePath);
  await migrateToLatest(db);
  const web = await startWeb(config, db);
  log.info({ host: config.HOST, port: web.port }, `web listening on http://${config.HOST}:${web.port}`);
  const stop = async () => {
    await web.close();
    await db.destroy();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
