import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDataConverter } from '../../src/temporal/dataConverter.js';
import { ensureWorkflowBundle } from '../../src/worker/workflowBundle.js';
import { tempDir } from '../support/tempDb.js';
import { childEnv, collectOutput, ROOT, TSX, waitExit } from '../support/processes.js';
import { startSandboxStack, type WorkerlessStack } from '../support/stack.js';
import { uniqueQueue } from '../support/worker.js';

/**
 * The worker runs workflow code from a bundle built outside it (a child
 * process) into a cache file named by a hash of the sources: a changed source
 * gets a new bundle, and workers starting together never read a broken one.
 */

const failureConverterPath = createDataConverter({ secretKey: 'x'.repeat(16) }).failureConverterPath!;
let stack: WorkerlessStack;
const dirs: string[] = [];

beforeAll(async () => {
  stack = await startSandboxStack({ moto: false, worker: false });
});

afterAll(async () => {
  await stack?.stop();
});

afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function dir(prefix: string): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}

/** Runs `workflowType(arg)` on a fresh worker started from the bundle at `codePath`. */
async function runOn(codePath: string, workflowType: string, arg: string): Promise<unknown> {
  const worker = await stack.startWorker({ taskQueue: uniqueQueue('bundle'), workflowBundlePath: codePath });
  try {
    return await stack.client.workflow.execute(workflowType, {
      taskQueue: worker.taskQueue,
      workflowId: `bundle-${Date.now()}-${Math.random()}`,
      args: [arg],
    });
  } finally {
    await worker.stop();
  }
}

const bundlesIn = (d: string) => fs.readdirSync(d).filter((f) => /^workflows-[0-9a-f]{20}\.js$/.test(f));

describe('workflow bundle cache', () => {
  it('rebuilds when a workflow source changes, and the worker runs the new code', async () => {
    // Workflow sources outside the project; the bundler finds the SDK through the link.
    const src = dir('prov-wf-src-');
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(src, 'node_modules'));
    fs.writeFileSync(
      path.join(src, 'index.ts'),
      "import { version } from './version.js';\nexport async function probe(name: string): Promise<string> {\n  return `${version}: ${name}`;\n}\n",
    );
    fs.writeFileSync(path.join(src, 'version.ts'), "export const version = 'v1';\n");
    const cacheDir = dir('prov-wf-cache-');
    const ensure = () => ensureWorkflowBundle({ cacheDir, failureConverterPath, workflowsPath: path.join(src, 'index.ts') });

    const v1 = await ensure();
    expect(v1.built).toBe(true);
    expect(path.dirname(v1.codePath)).toBe(cacheDir);
    expect(await runOn(v1.codePath, 'probe', 'a')).toBe('v1: a');

    const again = await ensure();
    expect(again).toEqual({ ...v1, built: false });

    fs.writeFileSync(path.join(src, 'version.ts'), "export const version = 'v2';\n");
    const v2 = await ensure();
    expect(v2.built).toBe(true);
    expect(v2.codePath).not.toBe(v1.codePath);
    expect(await runOn(v2.codePath, 'probe', 'b')).toBe('v2: b');
    expect(fs.readdirSync(cacheDir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  }, 120_000);

  it('two processes building at once leave one complete bundle that a worker runs', async () => {
    const cacheDir = dir('prov-wf-cache-');
    const build = () => {
      const child = spawn(TSX, [path.join(ROOT, 'src', 'worker', 'bundleWorkflowsCli.ts')], {
        cwd: ROOT,
        env: childEnv({ WORKFLOW_BUNDLE_CACHE_DIR: cacheDir }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      child.stdout!.on('data', (d) => (stdout += d));
      const all = collectOutput(child);
      return waitExit(child, 110_000).then((code) => ({ code, path: stdout.trim(), output: all.text() }));
    };
    const [a, b] = await Promise.all([build(), build()]);
    expect(a.code, a.output).toBe(0);
    expect(b.code, b.output).toBe(0);
    // Both really built (neither found the other's file), so both renamed onto the same name.
    expect(a.output).toMatch(/workflow bundle built/);
    expect(b.output).toMatch(/workflow bundle built/);
    expect(a.path).toBe(b.path);
    expect(fs.readdirSync(cacheDir)).toEqual([path.basename(a.path)]);
    expect(bundlesIn(cacheDir)).toHaveLength(1);
    expect(await runOn(a.path, 'echoWorkflow', 'together')).toBe('echo: together');
  }, 120_000);
});
