import type { TestProject } from 'vitest/node';
import { DEFAULT_WORKFLOW_BUNDLE_CACHE_DIR } from '../../src/config.js';
import { createDataConverter } from '../../src/temporal/dataConverter.js';
import { ensureWorkflowBundle } from '../../src/worker/workflowBundle.js';
import { ensureTemporalCli } from '../../src/temporal/cli.js';
import { freePort, startDevServer, type DevServer } from '../../src/temporal/devServer.js';

/**
 * One real Temporal dev server (in memory) for the whole run; every test uses
 * its own task queue and unique workflow ids, so files can share it.
 */
let server: DevServer | undefined;

export default async function setup(project: TestProject) {
  const cli = await ensureTemporalCli();
  server = await startDevServer({ cliPath: cli.path, port: await freePort(), uiPort: await freePort() });
  project.provide('temporalAddress', server.address);
  // The workflow bundle the service itself uses (built in a child process into the shared
  // cache, or reused from it when the workflow sources have not changed since).
  const bundle = await ensureWorkflowBundle({
    cacheDir: DEFAULT_WORKFLOW_BUNDLE_CACHE_DIR,
    failureConverterPath: createDataConverter({ secretKey: 'x'.repeat(16) }).failureConverterPath!,
  }).catch(async (err) => {
    await server?.stop();
    throw err;
  });
  project.provide('workflowBundlePath', bundle.codePath);
  project.provide('temporalCliPath', cli.path);
  return async () => {
    await server?.stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalCliPath: string;
    workflowBundlePath: string;
  }
}
