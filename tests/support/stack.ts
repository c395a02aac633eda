import fs from 'node:fs';
import type { Client } from '@temporalio/client';
import type { ActivityDeps, ActivitySettings } from '../../src/activities/index.js';
import type { CommandDeps } from '../../src/api/jobCommands.js';
import { createNotifier } from '../../src/notifications/notifier.js';
import { createOutboxProvider } from '../../src/notifications/providers.js';
import { createTempDb, tempDir } from './tempDb.js';
import { startMoto } from './moto.js';
import { startTestWorker, testClient, type TestWorker } from './worker.js';
import { sandboxSettings } from './jobs.js';

/**
 * The parts most job tests share: moto for the AWS calls (the SDK pointed at
 * it through the environment), a real SQLite file, a jobs workdir, a real
 * worker on the sandbox module with the outbox notifier, and a client.
 */
export interface SandboxStack {
  moto: Awaited<ReturnType<typeof startMoto>>;
  temp: Awaited<ReturnType<typeof createTempDb>>;
  jobsWorkdir: string;
  worker: TestWorker;
  client: Client;
  /** Sandbox module knobs per job name, merged into that job's tfvars. */
  knobs: Map<string, Record<string, unknown>>;
  commands: CommandDeps;
  /** The outbox notifier the worker sends with (the reconciler's tests use it too). */
  notifier: ActivityDeps['notifier'];
  stop(): Promise<void>;
}

export async function startSandboxStack(
  opts: { settings?: Partial<ActivitySettings>; workdirPrefix?: string; beforeWorker?: () => Promise<void> } = {},
): Promise<SandboxStack> {
  const moto = await startMoto();
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: 'us-east-1',
  });
  const temp = await createTempDb();
  const jobsWorkdir = tempDir(opts.workdirPrefix ?? 'prov-jobs-');
  const knobs = new Map<string, Record<string, unknown>>();
  const deps: ActivityDeps = {
    db: temp.db,
    notifier: createNotifier({
      db: temp.db,
      provider: createOutboxProvider(),
      from: 'Provisioning <prov@example.com>',
      publicBaseUrl: 'http://localhost:8000',
    }),
    settings: sandboxSettings(jobsWorkdir, {
      extraTfvars: (_id, spec) => knobs.get(spec.name) ?? {},
      ...opts.settings,
    }),
  };
  await opts.beforeWorker?.();
  const worker = await startTestWorker(deps);
  const { client, close } = await testClient();
  const commands: CommandDeps = { db: temp.db, temporal: client, taskQueue: worker.taskQueue, approvalTimeoutMs: 60_000 };
  return {
    moto,
    temp,
    jobsWorkdir,
    worker,
    client,
    knobs,
    commands,
    notifier: deps.notifier,
    async stop() {
      await worker.stop();
      await close();
      await temp.cleanup();
      await moto.stop();
      fs.rmSync(jobsWorkdir, { recursive: true, force: true });
    },
  };
}
