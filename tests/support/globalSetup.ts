import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { TestProject } from 'vitest/node';
import { bundleWorkflowCode } from '@temporalio/worker';
import { ensureTemporalCli } from '../../src/temporal/cli.js';
import { freePort, startDevServer, type DevServer } from '../../src/temporal/devServer.js';

/**
 * One real Temporal dev server (in memory) for the whole run; every test uses
 * its own task queue and unique workflow ids, so files can share it.
 */
let server: DevServer | undefined;
let bundleDir: string | undefined;

export default async function setup(project: TestProject) {
  const cli = await ensureTemporalCli();
  server = await startDevServer({ cliPath: cli.path, port: await freePort(), uiPort: await freePort() });
  project.provide('temporalAddress', server.address);
  // Workflow code is bundled once for the whole run (webpack takes seconds).
  const require = createRequire(import.meta.url);
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../../src/workflows/index.ts'),
    failureConverterPath: require.resolve('../../src/temporal/failureConverter.cjs'),
    logger: { trace() {}, debug() {}, info() {}, log() {}, warn: console.warn, error: console.error },
  });
  bundleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'prov-bundle-'));
  const bundlePath = path.join(bundleDir, 'workflows.js');
  fs.writeFileSync(bundlePath, code);
  project.provide('workflowBundlePath', bundlePath);
  project.provide('temporalCliPath', cli.path);
  return async () => {
    await server?.stop();
    if (bundleDir) fs.rmSync(bundleDir, { recursive: true, force: true });
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalCliPath: string;
    workflowBundlePath: string;
  }
}
