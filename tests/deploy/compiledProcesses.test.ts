import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTempDb, tempDir } from '../support/tempDb.js';
import { freePort } from '../support/moto.js';
import { TEST_SECRET_KEY, testClient, uniqueQueue } from '../support/worker.js';
import { SANDBOX_MODULE } from '../support/jobs.js';
import { ROOT, childEnv, collectOutput, descendants, waitExit } from '../support/processes.js';

/**
 * The compiled service as the image runs it: `npm run build` into the dist/ of
 * an application directory laid out like the image's /app (package.json, the
 * scripts the image copies, dist/, and node_modules with the production
 * packages only: no tsx, no TypeScript; no src/), then `npm run
 * bundle-workflows`, `npm run web` and `npm run worker` there. Web and worker
 * must be plain node on dist/, answer /health, serve the static files, and
 * the worker must poll with the prebuilt bundle of the compiled workflows and
 * run a workflow.
 */

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  devDependencies: Record<string, string>;
};
const BUNDLE_CACHE = path.join('node_modules', '.cache', 'provisioning-service', 'workflow-bundles');

let app: string;
let temp: Awaited<ReturnType<typeof createTempDb>>;
const children: ChildProcess[] = [];
const SRC = path.join(ROOT, 'src');
/** src/ as it was when the build began (other people edit the tree meanwhile): relative path → content hash. */
let srcBefore: Map<string, string>;

function snapshotSrc(): Map<string, string> {
  const walk = (dir: string): string[] =>
    fs
      .readdirSync(dir, { withFileTypes: true })
      .flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
  return new Map(
    walk(SRC).map((f) => [path.relative(SRC, f), crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex')]),
  );
}

/** Polls `ready` until it is truthy; fails at once when `child` exits. */
async function until(
  what: string,
  child: ChildProcess,
  output: () => string,
  ready: () => Promise<boolean> | boolean,
  timeoutMs: number,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`exited (${child.exitCode ?? child.signalCode}) before ${what}:\n${output()}`);
    if (await ready()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** node_modules of the image: every package of the checkout's but the dev dependencies (links to them). */
function productionNodeModules(target: string) {
  const devOnly = new Set(Object.keys(pkg.devDependencies));
  const real = path.join(ROOT, 'node_modules');
  fs.mkdirSync(target);
  for (const entry of fs.readdirSync(real)) {
    if (entry.startsWith('.')) continue;
    if (entry.startsWith('@')) {
      fs.mkdirSync(path.join(target, entry));
      for (const sub of fs.readdirSync(path.join(real, entry))) {
        if (!devOnly.has(`${entry}/${sub}`)) fs.symlinkSync(path.join(real, entry, sub), path.join(target, entry, sub));
      }
    } else if (!devOnly.has(entry)) {
      fs.symlinkSync(path.join(real, entry), path.join(target, entry));
    }
  }
  // The workflow bundle cache is the checkout's, so that only the first run of this test bundles.
  fs.mkdirSync(path.join(real, '.cache'), { recursive: true });
  fs.symlinkSync(path.join(real, '.cache'), path.join(target, '.cache'));
}

function npmRun(script: string, env: Record<string, string>): { child: ChildProcess; output: () => string } {
  const child = spawn('npm', ['run', '--silent', script], { cwd: app, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return { child, output: collectOutput(child).text };
}

/** The node process running `entry` under `npm run` (npm → sh → exec node), and its command line. */
async function nodeProcessOf(npm: { child: ChildProcess; output: () => string }, entry: string) {
  let found: { pid: number; argv: string[]; env: string[] } | undefined;
  await until(
    `the node process of ${entry}`,
    npm.child,
    npm.output,
    () => {
      for (const pid of descendants(npm.child.pid!)) {
        try {
          const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
          if (argv.includes(entry)) found = { pid, argv, env: fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0') };
        } catch {
          // gone, or not ours to read
        }
      }
      return found !== undefined;
    },
    30_000,
  );
  return found!;
}

function expectPlainNode(proc: { argv: string[]; env: string[] }, entry: string) {
  // `[NAME=value …] exec node <flags of package.json> dist/…`: node itself, no loader, no tsx.
  const script = pkg.scripts[entry.includes('server') ? 'web' : 'worker'];
  const assignments = /^(?:[A-Z_][A-Z0-9_]*=\S*\s+)*/.exec(script)![0];
  expect(proc.argv).toEqual(
    script
      .slice(assignments.length)
      .replace(/^exec /, '')
      .split(/\s+/),
  );
  expect(path.basename(proc.argv[0])).toBe('node');
  for (const arg of proc.argv) expect(arg).not.toMatch(/tsx|--import|--loader|--experimental-loader|^-r$|--require/);
  expect(proc.env.filter((e) => e.startsWith('NODE_OPTIONS=') && /tsx|--import|--loader|--require/.test(e))).toEqual([]);
  // glibc's malloc settings of the script reach node (README: Production deployment, memory).
  for (const setting of ['MALLOC_ARENA_MAX=2', 'MALLOC_MMAP_THRESHOLD_=32768']) {
    expect(assignments.split(/\s+/)).toContain(setting);
    expect(proc.env).toContain(setting);
  }
}

beforeAll(async () => {
  app = tempDir('prov-compiled-app-');
  srcBefore = snapshotSrc();
  // `npm run build` in the checkout, into the application directory.
  const build = spawn('npm', ['run', '--silent', 'build', '--', `--out-dir=${path.join(app, 'dist')}`, '--no-check'], {
    cwd: ROOT,
    env: childEnv({}),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = collectOutput(build);
  expect(await waitExit(build, 120_000), out.text()).toBe(0);
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(app, 'package.json'));
  fs.mkdirSync(path.join(app, 'scripts'));
  for (const f of ['healthcheck.mjs', 'build.mjs']) fs.copyFileSync(path.join(ROOT, 'scripts', f), path.join(app, 'scripts', f));
  productionNodeModules(path.join(app, 'node_modules'));
  temp = await createTempDb();
}, 180_000);

afterAll(async () => {
  for (const child of children) {
    if (child.exitCode !== null || child.pid === undefined) continue;
    for (const pid of descendants(child.pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    child.kill('SIGKILL');
  }
  await temp?.cleanup();
  if (app) fs.rmSync(app, { recursive: true, force: true });
});

describe('the compiled build', () => {
  it('mirrors src/: every module compiled, every other file copied, paths resolved from dist/', () => {
    expect(fs.existsSync(path.join(app, 'node_modules', 'tsx'))).toBe(false);
    expect(fs.existsSync(path.join(app, 'node_modules', 'typescript'))).toBe(false);
    expect(fs.existsSync(path.join(app, 'src'))).toBe(false);
    // Every file of src/ that nobody changed while the build ran.
    const srcAfter = snapshotSrc();
    const unchanged = [...srcBefore].filter(([rel, hash]) => srcAfter.get(rel) === hash).map(([rel]) => rel);
    expect(unchanged.length).toBeGreaterThan(50);
    for (const rel of unchanged) {
      if (/\.tsx?$/.test(rel)) expect(fs.existsSync(path.join(app, 'dist', rel.replace(/\.tsx?$/, '.js'))), rel).toBe(true);
      else expect(fs.readFileSync(path.join(app, 'dist', rel)), rel).toEqual(fs.readFileSync(path.join(SRC, rel)));
    }
    expect(unchanged).toEqual(
      expect.arrayContaining(['api/static/app.css', 'temporal/failureConverter.cjs', 'worker/bundleWorkflowsChild.mjs']),
    );
    // What the compiled modules resolve next to themselves or from the project's root.
    const probe = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        [
          "const config = await import('./dist/config.js');",
          "const bundle = await import('./dist/worker/workflowBundle.js');",
          "const { createDataConverter } = await import('./dist/temporal/dataConverter.js');",
          'console.log(JSON.stringify({',
          '  cacheDir: config.DEFAULT_WORKFLOW_BUNDLE_CACHE_DIR,',
          '  workflows: bundle.WORKFLOWS_PATH,',
          "  failureConverter: createDataConverter({ secretKey: 'x'.repeat(16) }).failureConverterPath,",
          '}));',
        ].join('\n'),
      ],
      { cwd: app, env: childEnv({}), encoding: 'utf8' },
    );
    expect(probe.status, probe.stderr).toBe(0);
    expect(JSON.parse(probe.stdout)).toEqual({
      cacheDir: path.join(app, BUNDLE_CACHE),
      workflows: path.join(app, 'dist', 'workflows', 'index.js'),
      failureConverter: path.join(app, 'dist', 'temporal', 'failureConverter.cjs'),
    });
  });

  it('npm run web and npm run worker run dist/ with plain node: health, static files, a workflow from the prebuilt bundle', async () => {
    // As the image's build does: the bundle of the compiled workflows, into the cache under node_modules.
    const bundling = npmRun('bundle-workflows', {});
    expect(await waitExit(bundling.child, 180_000), bundling.output()).toBe(0);
    const codePath = bundling
      .output()
      .split('\n')
      .find((l) => l.startsWith('/'));
    expect(path.dirname(codePath ?? ''), bundling.output()).toBe(path.join(app, BUNDLE_CACHE));
    expect(path.basename(codePath!)).toMatch(/^workflows-[0-9a-f]{20}\.js$/);

    const [webPort, metricsPort] = [await freePort(), await freePort()];
    const taskQueue = uniqueQueue('compiled');
    const env = {
      NODE_ENV: 'production',
      TEAM_ACCOUNTS_ONLY: 'true',
      APP_ADMIN_PASS: 'compiled-admin-password',
      SECRET_KEY: TEST_SECRET_KEY,
      DATABASE_URL: `sqlite:${temp.file}`,
      DATA_DIR: temp.dir,
      JOBS_WORKDIR: path.join(temp.dir, 'jobs'),
      HOST: '127.0.0.1',
      PORT: String(webPort),
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_TASK_QUEUE: taskQueue,
      TERRAFORM_MODULE_DIR: SANDBOX_MODULE,
      READINESS_PROBE: 'off',
      INSTANCE_CONSOLE: 'sandbox',
      READINESS_POLL_SECONDS: '0.25',
      READINESS_STATUS_CHECKS: 'false',
      RECONCILE_INTERVAL_SECONDS: '0',
      WORKER_METRICS_PORT: String(metricsPort),
      WORKER_SHUTDOWN_GRACE_SECONDS: '1',
      LOG_LEVEL: 'info',
    };
    const worker = npmRun('worker', env);
    const web = npmRun('web', env);

    const workerNode = await nodeProcessOf(worker, 'dist/worker/main.js');
    const webNode = await nodeProcessOf(web, 'dist/api/server.js');
    expectPlainNode(workerNode, 'dist/worker/main.js');
    expectPlainNode(webNode, 'dist/api/server.js');

    const base = `http://127.0.0.1:${webPort}`;
    await until(
      'web /health',
      web.child,
      web.output,
      async () => (await fetch(`${base}/health`).catch(() => undefined))?.status === 200,
      60_000,
    );
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok', db: 'ok', temporal: 'ok' });
    const css = await fetch(`${base}/static/app.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    expect(await css.text()).toBe(fs.readFileSync(path.join(app, 'dist', 'api', 'static', 'app.css'), 'utf8'));

    await until('the worker polls', worker.child, worker.output, () => worker.output().includes('worker polling'), 60_000);
    // It found the bundle `npm run bundle-workflows` built: the same hash for the same compiled workflows.
    const bundleLine = worker
      .output()
      .split('\n')
      .find((l) => l.includes('workflow bundle'));
    expect(JSON.parse(bundleLine!)).toMatchObject({ msg: 'using the cached workflow bundle', codePath });
    const workerHealth = await fetch(`http://127.0.0.1:${metricsPort}/health`);
    expect(workerHealth.status).toBe(200);
    const { client, close } = await testClient();
    try {
      const result = await client.workflow.execute('echoWorkflow', {
        taskQueue,
        workflowId: `compiled-${Date.now()}`,
        args: ['compiled'],
        workflowExecutionTimeout: '30s',
      });
      expect(result).toBe('echo: compiled');
    } finally {
      await close();
    }

    // SIGTERM reaches node itself (npm's script execs it) and both stop cleanly.
    process.kill(webNode.pid, 'SIGTERM');
    process.kill(workerNode.pid, 'SIGTERM');
    expect(await waitExit(web.child, 20_000), web.output()).toBe(0);
    expect(await waitExit(worker.child, 30_000), worker.output()).toBe(0);
  }, 300_000);
});
