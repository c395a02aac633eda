import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { ensureTemporalCli } from '../../src/temporal/cli.js';
import { freePort, startDevServer } from '../../src/temporal/devServer.js';
import { createDb, migrateToLatest } from '../../src/db/database.js';
import { startMoto, MOTO_ACCESS_KEY_ID, MOTO_SECRET_ACCESS_KEY } from '../../tests/support/moto.js';
import { Api, BENCH_TOKEN } from './api.js';
import { register, rssMb, ROOT, startService, sweepUnder, type Service } from './processes.js';

/**
 * The parts every workload shares (one in-memory Temporal dev server, one moto)
 * and the service processes each workload starts for itself: the real worker
 * and web, compiled (`dist/worker/main.js`, `dist/api/server.js`) and started
 * with plain node and the flags of `npm run worker` / `npm run web`, each with
 * its own data directory and task queue, so workloads never see each other's jobs.
 */

export const SANDBOX_MODULE = path.join(ROOT, 'tests', 'fixtures', 'sandbox-module');
const LOOP_PROBE = pathToFileURL(path.join(import.meta.dirname, 'loopProbe.mjs')).href;

export type Log = (message: string) => void;

export interface Infra {
  root: string;
  temporalAddress: string;
  motoEndpoint: string;
  /** For describing workflows (pending activities' heartbeats). */
  temporal: Client;
  /** The Temporal dev server's and moto's processes, for their CPU time. */
  pids: { temporal?: number; moto?: number };
  log: Log;
  /** Where each process gets a --cpu-prof directory, when profiling was asked for. */
  cpuProfDir?: string;
  /** Notes a phase's wall-clock window (epoch ms) for bench/profileSummary.ts --window, when profiling. */
  mark(name: string, from: number, to: number): void;
}

export async function startInfra(root: string, log: Log, cpuProfDir?: string): Promise<Infra> {
  sweepUnder(root);
  ensureBuilt(log);
  const cli = await ensureTemporalCli(process.env, log);
  const [port, uiPort] = [await freePort(), await freePort()];
  const dev = await startDevServer({ cliPath: cli.path, port, uiPort });
  register({ name: 'temporal dev server', stop: () => dev.stop() });
  log(`temporal dev server (in memory) on ${dev.address}`);

  const moto = await startMoto();
  register({ name: 'moto', stop: () => moto.stop() });
  log(`moto on ${moto.endpoint}`);

  const motoPort = new URL(moto.endpoint).port;
  const motoPid = fs
    .readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .find((pid) => {
      try {
        const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        return cmd.includes('moto') && cmd.split('\0').includes(motoPort);
      } catch {
        return false;
      }
    });

  const connection = await Connection.connect({ address: dev.address });
  register({ name: 'temporal client', stop: () => connection.close() });
  return {
    root,
    temporalAddress: dev.address,
    motoEndpoint: moto.endpoint,
    temporal: new Client({ connection }),
    pids: { temporal: dev.process.pid, moto: motoPid ? Number(motoPid) : undefined },
    log,
    cpuProfDir,
    mark: (name, from, to) => {
      if (!cpuProfDir) return;
      fs.mkdirSync(cpuProfDir, { recursive: true });
      fs.appendFileSync(path.join(cpuProfDir, 'windows.txt'), `${name} --window=${Math.round(from)},${Math.round(to)}\n`);
      log(`profile window ${name}: --window=${Math.round(from)},${Math.round(to)}`);
    },
  };
}

/** Creates the schema before any process starts, so web and worker never race on migrations (and seeding can go first). */
export async function prepareDataDir(dataDir: string): Promise<string> {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, 'app.db');
  const db = createDb(file);
  try {
    await migrateToLatest(db);
  } finally {
    await db.destroy();
  }
  return file;
}

export interface AppOptions {
  name: string;
  /** Terraform variables for the sandbox module (TERRAFORM_EXTRA_VARS_JSON). */
  extraVars?: Record<string, unknown>;
  web?: boolean;
  worker?: boolean;
  /** An already prepared (seeded) data directory. */
  dataDir?: string;
  /** More environment for both processes (set last), e.g. TERRAFORM_MAX_CONCURRENT. */
  env?: Record<string, string>;
}

export interface App {
  name: string;
  dataDir: string;
  taskQueue: string;
  url: string;
  api: Api;
  web?: Service;
  worker?: Service;
  /** Where the loop probe writes (see loopProbe.mjs). */
  probeDir: string;
  stop(): Promise<void>;
}

export async function startApp(infra: Infra, opts: AppOptions): Promise<App> {
  const dir = path.join(infra.root, opts.name);
  const dataDir = opts.dataDir ?? path.join(dir, 'data');
  const probeDir = path.join(dir, 'probe');
  fs.mkdirSync(probeDir, { recursive: true });
  if (!opts.dataDir) await prepareDataDir(dataDir);
  const port = await freePort();
  const taskQueue = `bench-${opts.name}-${process.pid}`;
  const env = (service: 'web' | 'worker'): Record<string, string> => ({
    NODE_ENV: 'development',
    DATA_DIR: dataDir,
    HOST: '127.0.0.1',
    PORT: String(port),
    PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    TEMPORAL_ADDRESS: infra.temporalAddress,
    TEMPORAL_TASK_QUEUE: taskQueue,
    TERRAFORM_MODULE_DIR: SANDBOX_MODULE,
    READINESS_PROBE: 'off',
    INSTANCE_CONSOLE: 'sandbox',
    READINESS_POLL_SECONDS: '0.25',
    READINESS_STATUS_CHECKS: 'false',
    API_TOKENS: BENCH_TOKEN,
    EMAIL_PROVIDER: 'outbox',
    WORKER_SHUTDOWN_GRACE_SECONDS: '5',
    TERRAFORM_KILL_GRACE_SECONDS: '5',
    AWS_ENDPOINT_URL: infra.motoEndpoint,
    AWS_ACCESS_KEY_ID: MOTO_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: MOTO_SECRET_ACCESS_KEY,
    AWS_REGION: 'us-east-1',
    // Terraform prints a warning on every command when ~/.terraformrc is missing; keep its output the same as a bare run's.
    TF_CLI_CONFIG_FILE: '/dev/null',
    ...(opts.extraVars ? { TERRAFORM_EXTRA_VARS_JSON: JSON.stringify(opts.extraVars) } : {}),
    BENCH_LOOP_PROBE_DIR: probeDir,
    NODE_OPTIONS: `--import=${LOOP_PROBE}`,
    ...productionCommand(service).env,
    ...opts.env,
  });
  // What `npm run web` / `npm run worker` run (its environment, node's flags, the compiled entry point), so the figures are those of a production start.
  const nodeArgs = (service: 'web' | 'worker') => [
    ...productionCommand(service).flags,
    ...(infra.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(infra.cpuProfDir, `${opts.name}-${service}`)}`] : []),
  ];
  const script = (service: 'web' | 'worker') => path.join(ROOT, productionCommand(service).script);

  const app: App = {
    name: opts.name,
    dataDir,
    taskQueue,
    url: `http://127.0.0.1:${port}`,
    api: new Api(`http://127.0.0.1:${port}`),
    probeDir,
    stop: async () => {
      // Web first (no new work), then the worker (lets running activities stop).
      await app.web?.stop();
      await app.worker?.stop();
    },
  };
  try {
    const starting: Promise<unknown>[] = [];
    if (opts.worker !== false) {
      app.worker = await startService(
        `${opts.name} worker`,
        script('worker'),
        env('worker'),
        path.join(dir, 'worker.log'),
        nodeArgs('worker'),
      );
      starting.push(app.worker.waitForLine(/worker polling task queue/, 180_000));
    }
    if (opts.web !== false) {
      app.web = await startService(`${opts.name} web`, script('web'), env('web'), path.join(dir, 'web.log'), nodeArgs('web'));
      starting.push(app.web.waitForLine(/web listening on/, 60_000).then(() => waitHealthy(app.url, 60_000)));
    }
    await Promise.all(starting);
  } catch (err) {
    await app.stop();
    throw err;
  }
  infra.log(
    `${opts.name}: ${[app.web && `web pid ${app.web.nodePid}`, app.worker && `worker pid ${app.worker.nodePid}`].filter(Boolean).join(', ')} (${app.url})`,
  );
  return app;
}

async function waitHealthy(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) return;
      last = `${res.status} ${await res.text()}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url}/health not 200 after ${timeoutMs} ms (${last})`);
}

/** Lines "<epoch ms> <late ms>" the loop probe wrote for a process, within [from, to] (epoch ms). */
export function loopStalls(app: App, service: Service, from: number, to: number): number[] {
  const file = path.join(app.probeDir, `${service.nodePid}.txt`);
  if (!fs.existsSync(file)) return [];
  const out: number[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const [at, late] = line.split(' ').map(Number);
    // A stall is recorded when it ends: it overlaps the window if it ended after `from`.
    if (at >= from && at - late <= to) out.push(late);
  }
  return out;
}

/** Samples the RSS of web and worker (their node processes) every `everyMs` until stopped. */
export function sampleRss(app: App, everyMs = 200) {
  const samples: { t: number; web?: number; worker?: number }[] = [];
  const take = () => {
    samples.push({
      t: Date.now(),
      web: app.web ? rssMb(app.web.nodePid) : undefined,
      worker: app.worker ? rssMb(app.worker.nodePid) : undefined,
    });
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      const peak = (f: (s: (typeof samples)[number]) => number | undefined) =>
        samples.reduce((m, s) => Math.max(m, f(s) ?? 0), 0);
      return {
        samples: samples.length,
        webPeak: peak((s) => s.web),
        workerPeak: peak((s) => s.worker),
        sumPeak: peak((s) => (s.web ?? 0) + (s.worker ?? 0)),
      };
    },
  };
}

/**
 * The environment, node flags and compiled entry point of package.json's script for the service
 * (`[NAME=value …] exec node <flags> dist/….js`).
 */
export function productionCommand(service: 'web' | 'worker'): { env: Record<string, string>; flags: string[]; script: string } {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const m = /^((?:[A-Z_][A-Z0-9_]*=\S*\s+)*)(?:exec\s+)?node\s+((?:--\S+\s+)*)(dist\/\S+\.js)$/.exec(
    (pkg.scripts[service] ?? '').trim(),
  );
  if (!m) throw new Error(`package.json: the ${service} script is not "[NAME=value …] exec node <flags> dist/<entry>.js"`);
  const env = Object.fromEntries(
    m[1]
      .split(/\s+/)
      .filter(Boolean)
      .map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]),
  );
  return { env, flags: m[2].split(/\s+/).filter(Boolean), script: m[3] };
}

/** dist/ as `npm run web` / `npm run worker` would have it: compiled again when src/ changed since the last build. */
function ensureBuilt(log: Log): void {
  const res = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs'), '--if-stale'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  for (const line of `${res.stderr ?? ''}${res.stdout ?? ''}`.split('\n').filter(Boolean)) log(line);
  if (res.status !== 0)
    throw new Error(`node scripts/build.mjs --if-stale failed (${res.error?.message ?? `exit ${res.status}`})`);
}
