// The short-lived process that bundles the workflow code (webpack), so that
// the worker process never loads the bundler: see workflowBundle.ts.
//
//   node bundleWorkflowsChild.mjs <workflowsPath> <failureConverterPath> <outFile>
//
// Plain JavaScript so that it needs no TypeScript loader itself (the bundler
// compiles the workflow sources on its own); `npm run build` copies it into
// dist/worker/, next to the compiled workflowBundle.js. The bundle is written to a
// temporary file next to <outFile> and renamed onto it: readers see either no
// file or a complete one, however many builders run at once.
import fs from 'node:fs';
import crypto from 'node:crypto';
import { bundleWorkflowCode } from '@temporalio/worker';

const [workflowsPath, failureConverterPath, outFile] = process.argv.slice(2);
if (!workflowsPath || !failureConverterPath || !outFile) {
  console.error('usage: bundleWorkflowsChild.mjs <workflowsPath> <failureConverterPath> <outFile>');
  process.exit(2);
}

const quiet = () => {};
const { code } = await bundleWorkflowCode({
  workflowsPath,
  failureConverterPath,
  logger: {
    log: quiet,
    trace: quiet,
    debug: quiet,
    info: quiet,
    warn: (message, meta) => console.error(message, meta ?? ''),
    error: (message, meta) => console.error(message, meta ?? ''),
  },
});

const tmp = `${outFile}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
try {
  const fd = fs.openSync(tmp, 'wx', 0o644);
  try {
    fs.writeSync(fd, code);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, outFile);
} catch (err) {
  fs.rmSync(tmp, { force: true });
  throw err;
}
