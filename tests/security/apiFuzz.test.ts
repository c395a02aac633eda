import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve, type ServerType } from '@hono/node-server';
import { createApp } from '../../src/api/app.js';
import { parseConfig } from '../../src/config.js';
import { SANDBOX_MODULE } from '../support/jobs.js';
import { MOTO_VENV } from '../support/moto.js';
import { ROOT, waitExit } from '../support/processes.js';
import { startSandboxStack, type SandboxStack } from '../support/stack.js';
import { tempDir } from '../support/tempDb.js';
import { TEST_SECRET_KEY } from '../support/worker.js';

/**
 * schemathesis (PyPI; npm test's set-up puts it in .venv-moto/) fuzzes the API
 * from its own /api/openapi.json with every check it has: no 5xx, every status,
 * content type, header and body as documented, schema-valid input accepted and
 * invalid input refused, auth enforced, and, following the document's links,
 * jobs created, run, cancelled and destroyed. The app runs as in production
 * over real HTTP, with a real Temporal dev server and worker, Terraform on the
 * sandbox module and moto for AWS.
 */

const TOKEN = 'fuzz-token-0123456789abcdef0123';
/**
 * Examples per operation and phase: enough to find a gap, few enough for two cores. A longer
 * hunt by hand: API_FUZZ_MAX_EXAMPLES=100 npx vitest run tests/security/apiFuzz.test.ts
 */
const MAX_EXAMPLES = Number(process.env.API_FUZZ_MAX_EXAMPLES) || 10;
/**
 * The same inputs every run, so the suite is green or red for the code, not for the draw;
 * API_FUZZ_SEED=random (or another number) draws others, and a failure prints its seed.
 */
const SEED = process.env.API_FUZZ_SEED ?? '4242';
const FUZZ_TIMEOUT_MS = Math.max(240_000, MAX_EXAMPLES * 24_000);
/** What JSON Schema cannot say about lists and headers, kept by the generated requests (see the file). */
const HOOKS = path.join(import.meta.dirname, 'apiFuzzHooks.py');
const CONFIG = path.join(import.meta.dirname, 'apiFuzz.toml');

let stack: SandboxStack;
let fuzzer: ChildProcess | undefined;
let server: ServerType;
let base: string;

beforeAll(async () => {
  stack = await startSandboxStack({ workdirPrefix: 'prov-api-fuzz-' });
  const config = parseConfig(
    {
      SECRET_KEY: TEST_SECRET_KEY,
      API_TOKENS: TOKEN,
      TEMPORAL_TASK_QUEUE: stack.worker.taskQueue,
      TERRAFORM_MODULE_DIR: SANDBOX_MODULE,
      ALLOWED_INSTANCE_TYPES: 't3.micro,t3.small',
      ALLOWED_REGIONS: 'us-east-1,eu-west-1',
      DATA_DIR: stack.temp.dir,
      JOBS_WORKDIR: stack.jobsWorkdir,
    },
    ROOT,
  );
  const app = createApp({
    db: stack.temp.db,
    temporal: stack.client,
    config,
    // Every request comes from 127.0.0.1: the production limits (30 jobs a minute, 5 wrong
    // credentials per 15 minutes) would turn the run into 429s after its first minute, and the
    // auth check's wrong-token probes into 429s rather than the 401s it checks for. The limits
    // have their own tests (rateLimit.test.ts); their 429 is in the document all the same.
    rateLimits: {
      jobCreates: { limit: 100_000, windowMs: 60_000 },
      loginFailures: { limit: 100_000, windowMs: 60_000 },
    },
  });
  await new Promise<void>((resolve) => {
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 120_000);

afterAll(async () => {
  if (fuzzer && fuzzer.exitCode === null && fuzzer.signalCode === null) killQuietly(fuzzer.pid!);
  if (server) {
    (server as http.Server).closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  if (!stack) return;
  let left: number[] = [];
  try {
    await terminateJobs(stack);
    await stack.worker.stop();
    // Terraform runs in its own process group (its local-exec children with it) and is stopped by
    // its activity, which may take a moment after the worker's shutdown: whatever is still at work
    // in the jobs' workspaces then is this run's, and goes.
    left = await processesLeftUnder(stack.jobsWorkdir, 15_000);
    for (const pid of left) killQuietly(pid);
  } finally {
    await stack.stop();
  }
  expect(left, 'processes left in the jobs workdir after the worker stopped').toEqual([]);
}, 120_000);

/** The workflows the run started: their jobs end with the test (their workspaces go with the stack). */
async function terminateJobs(s: SandboxStack) {
  const running = s.client.workflow.list({
    query: `TaskQueue = "${s.worker.taskQueue}" AND ExecutionStatus = "Running"`,
  });
  for await (const wf of running) {
    await s.client.workflow
      .getHandle(wf.workflowId, wf.runId)
      .terminate('the API fuzz test ended')
      .catch(() => undefined);
  }
}

/** Processes whose working directory is in `dir`. */
function processesUnder(dir: string): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cwd = fs.readlinkSync(`/proc/${entry}/cwd`).replace(/ \(deleted\)$/, '');
      if (cwd === dir || cwd.startsWith(`${dir}/`)) found.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** Those still there after `graceMs`. */
async function processesLeftUnder(dir: string, graceMs: number): Promise<number[]> {
  const deadline = Date.now() + graceMs;
  for (;;) {
    const left = processesUnder(dir);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function killQuietly(pid: number) {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** The venv's schemathesis (as `python -m`: the venv is moved into place, so its scripts' #! lines are stale), else one on PATH. */
function schemathesisCommand(): { command: string; args: string[] } | null {
  const python = path.join(MOTO_VENV, 'bin', 'python');
  if (fs.existsSync(python)) return { command: python, args: ['-m', 'schemathesis.cli'] };
  const found = spawnSync('schemathesis', ['--version'], { stdio: 'ignore' });
  return found.status === 0 ? { command: 'schemathesis', args: [] } : null;
}

function runSchemathesis(args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  const st = schemathesisCommand();
  if (!st) {
    throw new Error('schemathesis is not installed: npm test (scripts/setup.mjs --test) puts it in .venv-moto/');
  }
  const child = spawn(st.command, [...st.args, '--config-file', CONFIG, 'run', ...args], {
    cwd,
    env: { ...process.env, NO_COLOR: '1', PYTHONUNBUFFERED: '1', SCHEMATHESIS_HOOKS: HOOKS },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  fuzzer = child;
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  return waitExit(child, FUZZ_TIMEOUT_MS)
    .then((code) => ({ code, output }))
    .catch((err: Error) => {
      killQuietly(child.pid!);
      return { code: null, output: `${output}\n${err.message}` };
    });
}

describe('the API under schemathesis', () => {
  it(
    'answers every generated request as its OpenAPI document says',
    async () => {
      // Its working directory takes whatever it writes (reports, caches), and goes with the test.
      const cwd = tempDir('prov-api-fuzz-st-');
      try {
        const { code, output } = await runSchemathesis(
          [
            `${base}/api/openapi.json`,
            // The document's server is PUBLIC_BASE_URL; this app listens on a port of its own.
            '--url',
            base,
            '--checks',
            'all',
            '--phases',
            'examples,coverage,fuzzing,stateful',
            '--max-examples',
            String(MAX_EXAMPLES),
            '--header',
            `Authorization: Bearer ${TOKEN}`,
            '--generation-database',
            'none',
            '--request-timeout',
            '30',
            // One worker: with two threads, Hypothesis's ast.parse (naming its lambdas) can hit CPython
            // 3.11's "AST constructor recursion depth mismatch" (gh-106905, thread-unsafe), a runtime
            // error in the fuzzer itself that fails the run with nothing wrong in the API.
            '--workers',
            '1',
            // How fast Hypothesis generates POST /api/jobs bodies (a deep schema) depends on the machine's
            // load; a slow generator is not a fault in the API, and one CI run failed on it alone.
            '--suppress-health-check',
            'too_slow',
            ...(SEED === 'random' ? [] : ['--seed', SEED]),
          ],
          cwd,
        );
        if (code !== 0) console.error(output);
        expect(code, 'schemathesis exit code (its report is printed above)').toBe(0);
      } finally {
        fs.rmSync(cwd, { recursive: true, force: true });
      }
    },
    FUZZ_TIMEOUT_MS + 30_000,
  );
});
