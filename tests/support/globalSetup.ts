import type { TestProject } from 'vitest/node';
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
  project.provide('temporalCliPath', cli.path);
  return async () => {
    await server?.stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalCliPath: string;
  }
}
