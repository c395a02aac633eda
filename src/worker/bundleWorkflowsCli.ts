// `npm run bundle-workflows` (node dist/worker/bundleWorkflowsCli.js): builds the workflow bundle
// into the cache ahead of time (the Docker image does this at build time), so that the first
// worker start does not have to. Prints the bundle's path. The worker checks the hash in the file
// name on every start and rebuilds when the sources changed, so a prebuilt bundle can never be
// stale. Compiled, it bundles dist/workflows (what `npm run worker` runs); under tsx
// (`tsx src/worker/bundleWorkflowsCli.ts`), src/workflows (what `npm start` runs).
import path from 'node:path';
import { DEFAULT_WORKFLOW_BUNDLE_CACHE_DIR, readEnv } from '../config.js';
import { createDataConverter } from '../temporal/dataConverter.js';
import { ensureWorkflowBundle } from './workflowBundle.js';

const configured = readEnv().WORKFLOW_BUNDLE_CACHE_DIR;
const cacheDir = configured ? path.resolve(configured) : DEFAULT_WORKFLOW_BUNDLE_CACHE_DIR;
const log = {
  info: (_: object, msg: string) => console.error(msg),
  warn: (obj: object, msg: string) => console.error(msg, obj),
};
const bundle = await ensureWorkflowBundle({
  cacheDir,
  // Only the converter's module path matters here, not the keys.
  failureConverterPath: createDataConverter({ secretKey: 'bundle-workflows-placeholder' }).failureConverterPath!,
  log,
});
console.log(bundle.codePath);
