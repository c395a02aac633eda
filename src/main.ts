import { loadConfigOrExit, parseConfig, readEnv, type Config } from './config.js';
import { createDb, migrateToLatest } from './db/database.js';
import { ensureTemporalCli } from './temporal/cli.js';
import { PROXIED_UI, startDevServer, type DevServer } from './temporal/devServer.js';
import { startWeb, type WebServer } from './api/server.js';
import { startWorker, type RunningWorker } from './worker/worker.js';
import { installWorkerRuntime } from './worker/telemetry.js';
import { configureLogging } from './observability/logger.js';

/**
 * With the embedded server, the web app serves its UI at /temporal to people
 * signed in (unless TEMPORAL_UI_UPSTREAM names another UI): the UI's calls to
 * /codec then carry their session, and links point there.
 */
function withEmbeddedUi(config: Config): Config {
  if (!config.embeddedTemporal || config.TEMPORAL_UI_UPSTREAM) return config;
  return parseConfig({ ...readEnv(), TEMPORAL_UI_UPSTREAM: `http://127.0.0.1:${config.TEMPORAL_DEV_UI_PORT}` });
}

/**
 * `npm start`: the whole service in one command. An embedded Temporal dev
 * server (unless TEMPORAL_ADDRESS is set), the worker and the web server; on
 * SIGINT or SIGTERM each stops in reverse order, so no child outlives us.
 */
async function main() {
  const config = withEmbeddedUi(loadConfigOrExit());
  configureLogging({ level: config.LOG_LEVEL, process: 'all' });
  // We stop the worker ourselves, in order, instead of the runtime's own signal handler.
  // The SDK's worker metrics join the web's /metrics (one process, one scrape).
  await installWorkerRuntime({ metrics: true, shutdownSignals: [] });

  let temporal: DevServer | undefined;
  let worker: RunningWorker | undefined;
  let web: WebServer | undefined;
  let stopping = false;
  const db = createDb(config.databasePath);

  const stop = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`stopping (${reason})…`);
    await web?.close().catch((e) => console.error('web stop:', e));
    await worker?.shutdown().catch((e) => console.error('worker stop:', e));
    await db.destroy().catch(() => undefined);
    await temporal?.stop().catch((e) => console.error('temporal stop:', e));
    console.log('stopped');
    process.exit(reason === 'error' ? 1 : 0);
  };
  // `on`, not `once`: a terminal's Ctrl-C can arrive twice (the group, and tsx passing it on).
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  try {
    if (config.embeddedTemporal) {
      const cli = await ensureTemporalCli();
      temporal = await startDevServer({
        cliPath: cli.path,
        port: config.TEMPORAL_DEV_PORT,
        uiPort: config.TEMPORAL_DEV_UI_PORT,
        host: '127.0.0.1',
        dbFile: `${config.dataDir}/temporal.db`,
        namespace: config.TEMPORAL_NAMESPACE,
        // Bound to 127.0.0.1 like the gRPC port; people reach it through the web app at /temporal.
        ...PROXIED_UI,
      });
      temporal.process.once('exit', (code) => {
        if (!stopping) {
          console.error(`embedded Temporal server exited unexpectedly (${code})`);
          void stop('error');
        }
      });
      console.log(`Temporal dev server on ${temporal.address}, UI at ${config.temporalUiUrl}`);
    }
    await migrateToLatest(db);
    worker = await startWorker(config, db);
    worker.done.catch((err) => {
      console.error('worker failed:', err);
      void stop('error');
    });
    web = await startWeb(config, db);
    console.log(`Provisioning service ready at ${config.publicBaseUrl} (listening on ${config.HOST}:${web.port})`);
  } catch (err) {
    console.error((err as Error).message ?? err);
    await stop('error');
  }
}

void main();
