import type { TestProject } from 'vitest/node';
import { DEFAULT_WORKFLOW_BUNDLE_CACHE_DIR } from '../../src/config.js';
import { createDataConverter } from '../../src/temporal/dataConverter.js';
import { ensureWorkflowBundle } from '../../src/worker/workflowBundle.js';
import { ensureTemporalCli } from '../../src/temporal/cli.js';
import { freePort, startDevServer, type DevServer } from '../../src/temporal/devServer.js';
import { findPostgresBin, startPostgresServer, type PostgresServer } from './postgresServer.js';

/**
 * One real Temporal dev server (in memory) for the whole run; every test uses
 * its own task queue and unique workflow ids, so files can share it.
 *
 * And the Postgres the database tests run on besides SQLite (tempDb.ts,
 * `dbKinds`): TEST_POSTGRES_URL when it is set (set but empty: none, SQLite
 * only), else a throw-away server started here on a free port when the
 * system has PostgreSQL's binaries (`npm test`'s set-up installs them), and
 * stopped at the end. Its URL goes into this process's TEST_POSTGRES_URL
 * before any test worker is forked: vitest gives every worker (pool forks)
 * this process's environment, and the workers pass it to what they start.
 */
let server: DevServer | undefined;
let postgres: PostgresServer | undefined;

function stopPostgres() {
  const pg = postgres;
  postgres = undefined;
  if (!pg) return;
  process.off('exit', stopPostgres);
  delete process.env.TEST_POSTGRES_URL;
  pg.destroy();
}

async function startPostgres(): Promise<void> {
  if (process.env.TEST_POSTGRES_URL !== undefined) return;
  const found = findPostgresBin();
  if ('missing' in found) {
    console.warn(`The database tests run on SQLite only: ${found.missing} (or set TEST_POSTGRES_URL).`);
    return;
  }
  postgres = await startPostgresServer({ maxConnections: 200 });
  // Should vitest end without running the teardown (an uncaught error), the server still goes.
  process.once('exit', stopPostgres);
  process.env.TEST_POSTGRES_URL = postgres.adminUrl;
}

export default async function setup(project: TestProject) {
  await startPostgres();
  try {
    const cli = await ensureTemporalCli();
    // Ports are free when picked but another process may take one before the server binds it
    // (its internal services pick theirs too): a server that dies while starting gets fresh ones.
    for (let attempt = 1; !server; attempt++) {
      try {
        server = await startDevServer({ cliPath: cli.path, port: await freePort(), uiPort: await freePort() });
      } catch (err) {
        if (attempt >= 3 || !/exited .* during start/.test((err as Error).message)) throw err;
        console.warn(`[globalSetup] ${(err as Error).message.slice(0, 400)}; starting it again on other ports`);
      }
    }
    project.provide('temporalAddress', server.address);
    // The workflow bundle the service itself uses (built in a child process into the shared
    // cache, or reused from it when the workflow sources have not changed since).
    const bundle = await ensureWorkflowBundle({
      cacheDir: DEFAULT_WORKFLOW_BUNDLE_CACHE_DIR,
      failureConverterPath: createDataConverter({ secretKey: 'x'.repeat(16) }).failureConverterPath!,
    });
    project.provide('workflowBundlePath', bundle.codePath);
    project.provide('temporalCliPath', cli.path);
  } catch (err) {
    await server?.stop();
    stopPostgres();
    throw err;
  }
  return async () => {
    try {
      await server?.stop();
    } finally {
      stopPostgres();
    }
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalCliPath: string;
    workflowBundlePath: string;
  }
}
