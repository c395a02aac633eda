import fs from 'node:fs';
import { inject } from 'vitest';
import type { Client } from '@temporalio/client';
import type { JobCredentialCache } from '../../src/activities/credentialCache.js';
import type { ActivityDeps, ActivitySettings } from '../../src/activities/index.js';
import type { CommandDeps } from '../../src/api/jobCommands.js';
import type { Db } from '../../src/db/database.js';
import { createNotifier } from '../../src/notifications/notifier.js';
import { createOutboxProvider, type EmailProvider } from '../../src/notifications/providers.js';
import { createTempDb, createTempDbOf, tempDir, type DbKind } from './tempDb.js';
import { motoEnv, setEnv, startMoto, type Moto } from './moto.js';
import { startTestWorker, testClient, TEST_SECRET_KEY, type TestWorker, type TestWorkerOptions } from './worker.js';
import { SANDBOX_MODULE, sandboxSettings } from './jobs.js';

/**
 * The one fixture for tests that run jobs on a real worker in the test
 * process: moto for the AWS calls (the SDK pointed at it through the
 * environment, restored on stop), a real database (a SQLite file, or a fresh
 * Postgres database), a jobs workdir, the notifier, a real worker on the
 * sandbox module with the real activities, and a Temporal client.
 * Tests that run the worker as a process take the stack without a worker
 * (`worker: false`) and `processEnv` for the worker's environment.
 */

export interface StackOptions {
  /** The database: a SQLite file (default) or a fresh database on TEST_POSTGRES_URL. */
  db?: DbKind;
  /** Start moto and point the AWS SDK at it (default); off for tests that make no AWS call. */
  moto?: boolean;
  workdirPrefix?: string;
  /** Merged over the sandbox settings of every worker of the stack. */
  settings?: Partial<ActivitySettings>;
  /** The notifier's provider, sender and link base; default the outbox. */
  notifier?: { provider?: EmailProvider; from?: string; publicBaseUrl?: string };
  /** Stand-ins for the AWS-backed steps (ActivityDeps.aws). */
  aws?: ActivityDeps['aws'];
  credentialCache?: JobCredentialCache;
  /** The worker's options, or false for a stack without one. */
  worker?: TestWorkerOptions | false;
}

export interface StackDb {
  kind: DbKind;
  db: Db;
  /** The stack's data directory (DATA_DIR); on SQLite the database file is in it. */
  dir: string;
  /** What createDb opens: the SQLite file, or the Postgres database's URL. */
  target: string;
  /** DATABASE_URL for a worker or web process on the same database. */
  url: string;
  /** The SQLite file (a stack on Postgres has none: reading it throws). */
  readonly file: string;
}

export interface StackWorkerOptions extends TestWorkerOptions {
  /** Another host's jobs workdir; default the stack's. */
  jobsWorkdir?: string;
  /** Merged over the stack's settings for this worker only. */
  settings?: Partial<ActivitySettings>;
}

export interface WorkerlessStack {
  moto: Moto | undefined;
  temp: StackDb;
  jobsWorkdir: string;
  client: Client;
  /** Sandbox module knobs per job name, merged into that job's tfvars. */
  knobs: Map<string, Record<string, unknown>>;
  /** The notifier the stack's workers send with (the reconciler's tests use it too). */
  notifier: ActivityDeps['notifier'];
  /** Starts another worker on the stack's database and notifier; stop() stops it too. */
  startWorker(opts?: StackWorkerOptions): Promise<TestWorker>;
  /** What the API's commands need to start jobs on `taskQueue`. */
  commandsFor(taskQueue: string): CommandDeps;
  /**
   * The environment of a worker process (`npm run worker`, src/worker/main.ts)
   * on this stack's database, jobs workdir and moto and the run's Temporal
   * server; `sandbox` is every job's module knobs, `env` is added last.
   */
  processEnv(opts: {
    taskQueue: string;
    sandbox?: Record<string, unknown>;
    env?: Record<string, string>;
  }): Record<string, string>;
  stop(): Promise<void>;
}

export interface SandboxStack extends WorkerlessStack {
  worker: TestWorker;
  commands: CommandDeps;
}

export function startSandboxStack(opts: StackOptions & { worker: false }): Promise<WorkerlessStack>;
export function startSandboxStack(opts?: StackOptions): Promise<SandboxStack>;
export async function startSandboxStack(opts: StackOptions = {}): Promise<SandboxStack | WorkerlessStack> {
  // Undone in reverse on stop, or at once when a later part fails to start.
  const undo: Array<() => Promise<void> | void> = [];
  const stop = async () => {
    for (const step of undo.splice(0).reverse()) await step();
  };
  try {
    let moto: Moto | undefined;
    if (opts.moto ?? true) {
      const started = await startMoto();
      moto = started;
      undo.push(() => started.stop());
      undo.push(setEnv(motoEnv(started.endpoint, 'us-east-1')));
    }
    const temp = await openDb(opts.db ?? 'sqlite');
    undo.push(temp.cleanup);
    const jobsWorkdir = tempDir(opts.workdirPrefix ?? 'prov-jobs-');
    undo.push(() => fs.rmSync(jobsWorkdir, { recursive: true, force: true }));
    const { client, close } = await testClient();
    undo.push(close);

    const knobs = new Map<string, Record<string, unknown>>();
    const notifier = createNotifier({
      db: temp.db,
      provider: opts.notifier?.provider ?? createOutboxProvider(),
      from: opts.notifier?.from ?? 'Provisioning <prov@example.com>',
      publicBaseUrl: opts.notifier?.publicBaseUrl ?? 'http://localhost:8000',
    });
    const startWorker = async ({ jobsWorkdir: workdir, settings, ...workerOpts }: StackWorkerOptions = {}) => {
      const worker = await startTestWorker(
        {
          db: temp.db,
          notifier,
          settings: sandboxSettings(workdir ?? jobsWorkdir, {
            extraTfvars: (_id, spec) => knobs.get(spec.name) ?? {},
            ...opts.settings,
            ...settings,
          }),
          ...(opts.aws ? { aws: opts.aws } : {}),
          ...(opts.credentialCache ? { credentialCache: opts.credentialCache } : {}),
        },
        workerOpts,
      );
      undo.push(worker.stop);
      return worker;
    };
    const commandsFor = (taskQueue: string): CommandDeps => ({
      db: temp.db,
      temporal: client,
      taskQueue,
      approvalTimeoutMs: 60_000,
    });
    const processEnv: WorkerlessStack['processEnv'] = ({ taskQueue, sandbox = {}, env = {} }) => ({
      DATABASE_URL: temp.url,
      DATA_DIR: temp.dir,
      JOBS_WORKDIR: jobsWorkdir,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_TASK_QUEUE: taskQueue,
      TERRAFORM_MODULE_DIR: SANDBOX_MODULE,
      TERRAFORM_EXTRA_VARS_JSON: JSON.stringify(sandbox),
      READINESS_PROBE: 'off',
      INSTANCE_CONSOLE: 'sandbox',
      READINESS_POLL_SECONDS: '0.25',
      READINESS_STATUS_CHECKS: 'false',
      SECRET_KEY: TEST_SECRET_KEY,
      ALLOWED_INSTANCE_TYPES: 't3.micro,t3.small',
      // The test server is shared: only the drift tests set its one schedule, and take it away after.
      DRIFT_CHECK_INTERVAL: '0',
      ...(moto ? motoEnv(moto.endpoint, 'us-east-1') : {}),
      ...env,
    });
    const base: WorkerlessStack = {
      moto,
      temp,
      jobsWorkdir,
      client,
      knobs,
      notifier,
      startWorker,
      commandsFor,
      processEnv,
      stop,
    };
    if (opts.worker === false) return base;
    const worker = await startWorker(opts.worker);
    return { ...base, worker, commands: commandsFor(worker.taskQueue) };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

async function openDb(kind: DbKind): Promise<StackDb & { cleanup(): Promise<void> }> {
  if (kind === 'sqlite') {
    const t = await createTempDb();
    return { kind, db: t.db, dir: t.dir, target: t.file, url: `sqlite:${t.file}`, file: t.file, cleanup: t.cleanup };
  }
  const t = await createTempDbOf(kind);
  const dir = tempDir('prov-data-');
  return {
    kind,
    db: t.db,
    dir,
    target: t.target,
    url: t.target,
    get file(): string {
      throw new Error('a stack on Postgres has no SQLite file');
    },
    async cleanup() {
      await t.cleanup();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
