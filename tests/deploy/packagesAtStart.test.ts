import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTempDb } from '../support/tempDb.js';
import { freePort } from '../support/moto.js';
import { TEST_SECRET_KEY, uniqueQueue } from '../support/worker.js';
import { SANDBOX_MODULE } from '../support/jobs.js';
import { ROOT, childEnv, collectOutput, descendants, waitFor } from '../support/processes.js';

/**
 * What the compiled web and worker (`npm run web` / `npm run worker`) load
 * before they have done anything: neither carries the email packages
 * (nodemailer, the SES client) nor, on SQLite, the Postgres driver; the web
 * loads no AWS SDK client at all. They come in at their first use
 * (tests/unit/lazyModules.test.ts). Memory at rest is issue 20's target 6
 * (README: Performance, workload 5). tests/fixtures/loadedPackages.mjs lists
 * the packages each process resolves.
 */

const FIXTURE = path.join(ROOT, 'tests', 'fixtures', 'loadedPackages.mjs');
let temp: Awaited<ReturnType<typeof createTempDb>>;
const children: ChildProcess[] = [];

beforeAll(async () => {
  temp = await createTempDb();
}, 30_000);

afterAll(async () => {
  for (const child of children) {
    if (child.exitCode !== null || child.pid === undefined) continue;
    for (const pid of [...descendants(child.pid), child.pid]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  await temp?.cleanup();
});

async function started(service: 'web' | 'worker', ready: (output: string) => Promise<boolean> | boolean) {
  const list = path.join(temp.dir, `${service}.packages`);
  fs.writeFileSync(list, '');
  const port = await freePort();
  const child = spawn('npm', ['run', '--silent', service], {
    cwd: ROOT,
    env: childEnv({
      NODE_OPTIONS: `--import=${FIXTURE}`,
      LOADED_PACKAGES_FILE: list,
      SECRET_KEY: TEST_SECRET_KEY,
      DATABASE_URL: `sqlite:${temp.file}`,
      DATA_DIR: temp.dir,
      JOBS_WORKDIR: path.join(temp.dir, 'jobs'),
      HOST: '127.0.0.1',
      PORT: String(port),
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_TASK_QUEUE: uniqueQueue('packages'),
      TERRAFORM_MODULE_DIR: SANDBOX_MODULE,
      WORKER_METRICS_PORT: String(await freePort()),
      RECONCILE_INTERVAL_SECONDS: '0',
      LOG_LEVEL: 'info',
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const out = collectOutput(child);
  await waitFor(
    `${service} to start`,
    async () => {
      if (child.exitCode !== null) throw new Error(`${service} exited: ${out.text()}`);
      return await ready(out.text());
    },
    120_000,
    200,
  );
  // Settled: what a timer or the first poll loads counts too.
  await new Promise((r) => setTimeout(r, 2_000));
  return { port, packages: fs.readFileSync(list, 'utf8').split('\n').filter(Boolean) };
}

const LATER = ['nodemailer', '@aws-sdk/client-sesv2', 'pg'];

describe('packages loaded at start', () => {
  it('the web: no email package, no Postgres driver on SQLite, no AWS SDK client', async () => {
    let port = 0;
    const web = await started('web', async (output) => {
      const m = /web listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (!m) return false;
      port = Number(m[1]);
      return (await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.status === 200;
    });
    // The list is real: what the web needs from the start is on it.
    for (const needed of ['hono', 'better-sqlite3', 'kysely', '@temporalio/client']) expect(web.packages).toContain(needed);
    for (const later of LATER) expect(web.packages).not.toContain(later);
    expect(web.packages.filter((p) => p.startsWith('@aws-sdk/client-'))).toEqual([]);
  }, 180_000);

  it('the worker: no email package, no Postgres driver on SQLite', async () => {
    const worker = await started('worker', (output) => output.includes('worker polling'));
    for (const needed of ['@temporalio/worker', 'better-sqlite3']) expect(worker.packages).toContain(needed);
    for (const later of LATER) expect(worker.packages).not.toContain(later);
  }, 180_000);
});
