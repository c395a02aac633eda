import fs from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { SMTPServer } from 'smtp-server';
import { inject } from 'vitest';
import { freePort, startDevServer, type DevServer } from '../../src/temporal/devServer.js';
import { createDb, type Db } from '../../src/db/database.js';
import { startMoto, type Moto } from './moto.js';
import { tempDir } from './tempDb.js';
import { TEST_SECRET_KEY, uniqueQueue } from './worker.js';
import { SANDBOX_MODULE } from './jobs.js';
import { collectOutput, runTsx, waitExit, waitFor } from './processes.js';

/**
 * The service as an operator runs it: a Temporal dev server persisted to a
 * file, the worker and the web as separate processes (their production entry
 * points), moto for AWS, and a real SMTP server in the test process. Each
 * part can be killed and started again, which is what the fault tests do.
 * With `temporal` given (tests/cluster/: the real server on Postgres,
 * tests/support/temporalCluster.ts) no dev server is started, and any number
 * of workers and web processes share it and the database.
 */

export const API_TOKEN = 'fault-test-token-0123456789';

export interface ReceivedMail {
  to: string[];
  raw: string;
}

export interface ServiceProcesses {
  dir: string;
  jobsWorkdir: string;
  /** The service's database as the test sees it (SQLite file or Postgres URL). */
  databaseUrl: string;
  db: Db;
  /** The dev server, or undefined when the options gave a Temporal of their own. */
  temporal: DevServer | undefined;
  temporalAddress: string;
  /** The first web process's address (`webUrlOf(i)` for the others). */
  webUrl: string;
  webUrlOf(index: number): string;
  mails: ReceivedMail[];
  /** Starts a worker and waits until it polls. */
  startWorker(extraEnv?: Record<string, string>): Promise<ChildProcess>;
  /** SIGKILL of every worker's process group (tsx and node; Terraform, in its own group, lives on as after a crash). */
  killWorkers(): Promise<void>;
  workerCount(): number;
  /** Starts web process `index` (default 0; each has its own port, all share one PUBLIC_BASE_URL, as behind a proxy). */
  startWeb(extraEnv?: Record<string, string>, index?: number): Promise<void>;
  /** SIGKILL of web process `index`, or of all of them. */
  stopWeb(index?: number): Promise<void>;
  /** SIGKILL of the Temporal server, then the same server started again on the same ports and file. */
  restartTemporal(downMs?: number): Promise<void>;
  /** A request to web process `web` (default 0) with the API token. */
  api(pathname: string, init?: RequestInit, web?: number): Promise<Response>;
  stop(): Promise<void>;
}

export interface ServiceOptions {
  /** postgres:// URL of an empty database; default: a SQLite file. */
  databaseUrl?: string;
  /** Sandbox knobs for every job (TERRAFORM_EXTRA_VARS_JSON). */
  sandbox?: Record<string, unknown>;
  env?: Record<string, string>;
  /** A Temporal server of the test's own (address, and how to kill and restart it) instead of a dev server. */
  temporal?: { address: string; restart(downMs?: number): Promise<void> };
}

function killGroup(child: ChildProcess) {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

export async function startServiceProcesses(opts: ServiceOptions = {}): Promise<ServiceProcesses> {
  const dir = tempDir('prov-faults-');
  const jobsWorkdir = path.join(dir, 'jobs');
  fs.mkdirSync(jobsWorkdir);
  const databaseUrl = opts.databaseUrl ?? `sqlite:${path.join(dir, 'app.db')}`;
  const temporalPorts = { port: await freePort(), uiPort: await freePort() };
  const cliPath = inject('temporalCliPath');
  const startTemporal = async (): Promise<DevServer> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await startDevServer({ cliPath, ...temporalPorts, dbFile: path.join(dir, 'temporal.db'), startTimeoutMs: 60_000 });
      } catch (err) {
        // A port free when picked (or free before a restart's downtime) may be taken meanwhile by any
        // process on the machine. The gRPC port is what web and workers dial, so it stays; the UI's moves.
        if (attempt >= 4 || !/address already in use/.test((err as Error).message)) throw err;
        temporalPorts.uiPort = await freePort();
        await new Promise((r) => setTimeout(r, 500 * attempt));
      }
    }
  };

  const mails: ReceivedMail[] = [];
  const smtp = new SMTPServer({
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8') });
        callback();
      });
    },
  });
  const smtpPort = await freePort();
  await new Promise<void>((resolve) => smtp.listen(smtpPort, '127.0.0.1', resolve));

  let moto: Moto | undefined;
  let temporal: DevServer | undefined;
  const workers: ChildProcess[] = [];
  const webs: (ChildProcess | undefined)[] = [];
  const webPorts = [await freePort()];
  const webPort = webPorts[0];
  const stopAll = async () => {
    for (const w of workers) killGroup(w);
    for (const w of webs) if (w) killGroup(w);
    if (temporal) killGroup(temporal.process);
    await moto?.stop();
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
  };
  try {
    moto = await startMoto();
    if (!opts.temporal) temporal = await startTemporal();
  } catch (err) {
    await stopAll();
    throw err;
  }
  const temporalAddress = opts.temporal?.address ?? temporal!.address;
  const taskQueue = uniqueQueue('faults');

  const baseEnv = (): Record<string, string> => ({
    DATABASE_URL: databaseUrl,
    DATA_DIR: dir,
    JOBS_WORKDIR: jobsWorkdir,
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_TASK_QUEUE: taskQueue,
    TERRAFORM_MODULE_DIR: SANDBOX_MODULE,
    TERRAFORM_EXTRA_VARS_JSON: JSON.stringify(opts.sandbox ?? {}),
    READINESS_PROBE: 'off',
    INSTANCE_CONSOLE: 'sandbox',
    READINESS_POLL_SECONDS: '0.25',
    READINESS_STATUS_CHECKS: 'false',
    SECRET_KEY: TEST_SECRET_KEY,
    API_TOKENS: API_TOKEN,
    WORKER_SHUTDOWN_GRACE_SECONDS: '1',
    TERRAFORM_KILL_GRACE_SECONDS: '5',
    ALLOWED_INSTANCE_TYPES: 't3.micro,t3.small',
    AWS_ENDPOINT_URL: moto!.endpoint,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: 'us-east-1',
    EMAIL_PROVIDER: 'smtp',
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(smtpPort),
    SMTP_SECURE: 'none',
    EMAIL_FROM: 'Provisioning <prov@example.com>',
    PORT: String(webPort),
    PUBLIC_BASE_URL: `http://127.0.0.1:${webPort}`,
    LOG_LEVEL: 'warn',
    ...opts.env,
  });

  const db = createDb(databaseUrl.startsWith('sqlite:') ? databaseUrl.slice('sqlite:'.length) : databaseUrl);

  const service: ServiceProcesses = {
    dir,
    jobsWorkdir,
    databaseUrl,
    db,
    temporal,
    temporalAddress,
    webUrl: `http://127.0.0.1:${webPort}`,
    webUrlOf: (index) => `http://127.0.0.1:${webPorts[index]}`,
    mails,
    async startWorker(extraEnv = {}) {
      // Own process group, so a kill reaches tsx and its node child together, as a crash would.
      const child = runTsx('src/worker/main.ts', { ...baseEnv(), LOG_LEVEL: 'info', ...extraEnv }, { detached: true });
      const out = collectOutput(child);
      workers.push(child);
      await waitFor(
        'worker to poll',
        () => {
          if (child.exitCode !== null) throw new Error(`worker exited: ${out.text().slice(-2000)}`);
          return out.text().includes('worker polling');
        },
        90_000,
      );
      return child;
    },
    async killWorkers() {
      const alive = workers.splice(0);
      for (const w of alive) killGroup(w);
      await Promise.all(alive.map((w) => waitExit(w, 10_000).catch(() => undefined)));
    },
    workerCount: () => workers.length,
    async startWeb(extraEnv = {}, index = 0) {
      while (webPorts.length <= index) webPorts.push(await freePort());
      const port = { PORT: String(webPorts[index]) };
      const child = runTsx('src/api/server.ts', { ...baseEnv(), LOG_LEVEL: 'info', ...port, ...extraEnv }, { detached: true });
      const out = collectOutput(child);
      webs[index] = child;
      await waitFor(
        'web to listen',
        () => {
          if (child.exitCode !== null) throw new Error(`web exited: ${out.text().slice(-2000)}`);
          return out.text().includes('web listening');
        },
        90_000,
      );
    },
    async stopWeb(index) {
      const stopping = webs.flatMap((w, i) => (w && (index === undefined || i === index) ? [w] : []));
      for (const w of stopping) {
        webs[webs.indexOf(w)] = undefined;
        killGroup(w);
      }
      await Promise.all(stopping.map((w) => waitExit(w, 10_000).catch(() => undefined)));
    },
    async restartTemporal(downMs = 0) {
      if (opts.temporal) return opts.temporal.restart(downMs);
      killGroup(temporal!.process);
      await waitExit(temporal!.process, 10_000).catch(() => undefined);
      if (downMs) await new Promise((r) => setTimeout(r, downMs));
      service.temporal = temporal = await startTemporal();
    },
    api(pathname, init = {}, web = 0) {
      return fetch(`${service.webUrlOf(web)}${pathname}`, {
        ...init,
        headers: {
          authorization: `Bearer ${API_TOKEN}`,
          ...(init.body ? { 'content-type': 'application/json' } : {}),
          ...(init.headers as Record<string, string> | undefined),
        },
      });
    },
    async stop() {
      await stopAll();
      await db.destroy().catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return service;
}

/** The `To:` recipients of the mails received so far, with how many each got. */
export function mailsPerRecipient(mails: ReceivedMail[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of mails) for (const to of m.to) counts.set(to, (counts.get(to) ?? 0) + 1);
  return counts;
}
