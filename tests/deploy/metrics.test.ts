import path from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { createJob, startJob } from '../../src/api/jobCommands.js';
import { parseConfig } from '../../src/config.js';
import { configureLogging } from '../../src/observability/logger.js';
import { installWorkerRuntime, startWorkerHttp, type WorkerHttp } from '../../src/worker/telemetry.js';
import { freePort } from '../support/moto.js';
import { startSandboxStack, type SandboxStack } from '../support/stack.js';
import { TEST_SECRET_KEY } from '../support/worker.js';
import { SANDBOX_MODULE, sampleSpec, waitForStatus, waitForStep, testActor } from '../support/jobs.js';
import { ROOT } from '../support/processes.js';
import { terraformTaskQueue } from '../../src/domain/terraformCapacity.js';

/**
 * /metrics and the JSON logs after a real sandbox job: a worker with the
 * real activities (Temporal dev server, terraform, moto, SQLite) and the web
 * app in this process, as `npm start` runs them.
 */

const METRICS_TOKEN = 'metrics-token-0123456789';
const BASIC = { authorization: `Basic ${Buffer.from('admin:secret-pass').toString('base64')}` };
const logLines: Record<string, unknown>[] = [];

let stack: SandboxStack;
let temp: SandboxStack['temp'];
let worker: SandboxStack['worker'];
let workerHttp: WorkerHttp;
let client: Client;
let jobsWorkdir: string;
let app: ReturnType<typeof createApp>;
let jobId: string;

beforeAll(async () => {
  // Before any worker: the runtime (and its metrics exporter) is installed once per process.
  await installWorkerRuntime({ metrics: true, shutdownSignals: [] });
  configureLogging({
    level: 'info',
    process: 'test',
    destination: { write: (line: string) => void logLines.push(JSON.parse(line)) },
  });
  stack = await startSandboxStack({ workdirPrefix: 'prov-metrics-jobs-' });
  ({ temp, worker, client, jobsWorkdir } = stack);
  workerHttp = await startWorkerHttp({
    port: 0,
    host: '127.0.0.1',
    metricsToken: METRICS_TOKEN,
    isRunning: () => worker.worker.getState() === 'RUNNING',
  });
  const config = parseConfig(
    {
      APP_ADMIN_PASS: 'secret-pass',
      SECRET_KEY: TEST_SECRET_KEY,
      API_TOKENS: 'api-token-1',
      METRICS_TOKEN,
      TEMPORAL_TASK_QUEUE: worker.taskQueue,
      TERRAFORM_MODULE_DIR: SANDBOX_MODULE,
      ALLOWED_INSTANCE_TYPES: 't3.micro,t3.small',
      DATA_DIR: temp.dir,
      JOBS_WORKDIR: jobsWorkdir,
      PUBLIC_BASE_URL: 'http://prov.test',
    },
    ROOT,
  );
  app = createApp({ db: temp.db, temporal: client, config });

  const { commands } = stack;
  const spec = sampleSpec();
  const job = await createJob(commands, spec, testActor('tester'));
  jobId = job.id;
  await startJob(commands, job.id, spec, testActor('tester'));
  const done = await waitForStatus(temp.db, job.id, ['succeeded', 'failed']);
  expect(done.status, done.error ?? '').toBe('succeeded');
  // The success email is the step after the status change.
  await waitForStep(temp.db, job.id, 'notify', 'succeeded');
}, 180_000);

afterAll(async () => {
  await workerHttp?.close();
  await stack?.stop();
  configureLogging({ level: 'silent' });
});

/** Sample lines of one metric family: `name{labels} value`. */
function samples(text: string, name: string): { labels: string; value: number }[] {
  const re = new RegExp(`^${name}(\\{[^}]*\\})? ([0-9.eE+-]+|NaN|\\+Inf)$`, 'gm');
  return [...text.matchAll(re)].map((m) => ({ labels: m[1] ?? '', value: Number(m[2]) }));
}

describe('GET /metrics', () => {
  it('needs a sign-in, an API token or the metrics token', async () => {
    expect((await app.request('/metrics')).status).toBe(401);
    expect((await app.request('/metrics', { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
    expect((await app.request('/metrics', { headers: BASIC })).status).toBe(200);
    expect((await app.request('/metrics', { headers: { authorization: 'Bearer api-token-1' } })).status).toBe(200);
    const res = await app.request('/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    // The metrics token opens /metrics only.
    expect((await app.request('/api/jobs', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status).toBe(401);
  });

  it('exposes jobs by status, step durations, terraform exits, log lines, HTTP latency and the SDK worker metrics', async () => {
    expect((await app.request(`/api/jobs/${jobId}`, { headers: BASIC })).status).toBe(200);
    const res = await app.request('/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    const text = await res.text();

    const jobs = samples(text, 'provisioning_jobs');
    expect(jobs.find((s) => s.labels === '{status="succeeded"}')?.value).toBe(1);
    expect(jobs.find((s) => s.labels === '{status="failed"}')?.value).toBe(0);

    const stepCounts = samples(text, 'provisioning_step_duration_seconds_count');
    for (const step of ['verify', 'preflight', 'render', 'init', 'plan', 'apply', 'output', 'ready', 'notify']) {
      expect(stepCounts.find((s) => s.labels === `{step="${step}",outcome="succeeded"}`)?.value, step).toBeGreaterThanOrEqual(1);
    }
    expect(text).toMatch(/^# TYPE provisioning_step_duration_seconds histogram$/m);

    const exits = samples(text, 'provisioning_terraform_exits_total');
    for (const command of ['init', 'plan', 'apply', 'output']) {
      expect(exits.find((s) => s.labels === `{command="${command}",exit_code="0"}`)?.value, command).toBeGreaterThanOrEqual(1);
    }

    const lines = samples(text, 'provisioning_job_log_lines_written_total');
    expect(lines.find((s) => s.labels === '{step="apply"}')?.value).toBeGreaterThan(0);

    const http = samples(text, 'provisioning_http_request_duration_seconds_count');
    expect(http.find((s) => s.labels === '{method="GET",route="/api/jobs/:id",status="200"}')?.value).toBeGreaterThanOrEqual(1);
    expect(http.some((s) => s.labels.includes('route="/metrics"'))).toBe(true);

    // The Temporal SDK's own worker metrics, from its exporter.
    expect(text).not.toMatch(/Temporal SDK metrics unavailable/);
    expect(text).toMatch(/^temporal_[a-z_]+(\{[^}]*\})? /m);
    expect(text).toMatch(/^temporal_activity_execution_latency/m);
    expect(text).toMatch(new RegExp(`task_queue="${worker.taskQueue}"`));
    // Both of the worker's SDK workers: the Terraform one's slots are what TERRAFORM_MAX_CONCURRENT bounds.
    const terraformQueue = terraformTaskQueue(worker.taskQueue);
    const terraformSlots = text
      .split('\n')
      .filter((l) => l.startsWith('temporal_worker_task_slots_available{') && l.includes(`task_queue="${terraformQueue}"`));
    expect(
      terraformSlots.some((l) => l.includes('worker_type="ActivityWorker"')),
      'Terraform worker slots',
    ).toBe(true);
  });

  it('is valid Prometheus text: one TYPE per family', async () => {
    const text = await (await app.request('/metrics', { headers: BASIC })).text();
    const types = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]);
    expect(new Set(types).size).toBe(types.length);
  });
});

describe("the worker's metrics endpoint", () => {
  it('serves its metrics and the SDK metrics behind the metrics token, and /health', async () => {
    const base = `http://127.0.0.1:${workerHttp.port}`;
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/^provisioning_step_duration_seconds_count\{step="apply",outcome="succeeded"\} \d+/m);
    expect(text).toMatch(/^temporal_/m);
    // Jobs by status is the web's to serve: workers scaled out would multiply it.
    expect(text).not.toMatch(/^provisioning_jobs\{/m);
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
  });

  it('listens on loopback unless told otherwise', async () => {
    // Started without a host, as a worker with only WORKER_METRICS_PORT set is.
    const plain = await startWorkerHttp({ port: 0, isRunning: () => true });
    try {
      expect(plain.host).toBe('127.0.0.1');
      expect((await fetch(`http://127.0.0.1:${plain.port}/health`)).status).toBe(200);
    } finally {
      await plain.close();
    }
  });

  it("is what the container's health check asks", async () => {
    const check = (port: number) =>
      new Promise<number | null>((resolve) => {
        const c = spawn(process.execPath, [path.join(ROOT, 'scripts', 'healthcheck.mjs'), 'worker'], {
          env: { PATH: process.env.PATH ?? '', WORKER_METRICS_PORT: String(port) },
          stdio: 'ignore',
        });
        c.once('exit', resolve);
      });
    expect(await check(workerHttp.port)).toBe(0);
    expect(await check(await freePort())).toBe(1);
  });
});

describe('JSON logs', () => {
  it('carry the job id and workflow id on every line of job work, one line per step with its duration', () => {
    const jobWork = logLines.filter((l) => 'step' in l || l.jobId !== undefined);
    expect(jobWork.length).toBeGreaterThan(10);
    for (const l of jobWork) {
      expect(l.jobId, JSON.stringify(l)).toBe(jobId);
      expect(l.workflowId, JSON.stringify(l)).toBe(`job-${jobId}`);
      expect(typeof l.time).toBe('string');
      expect(typeof l.level).toBe('string');
    }
    const applyDone = jobWork.find((l) => l.msg === 'step apply succeeded');
    expect(applyDone).toMatchObject({ step: 'apply', activity: 'terraformApply', outcome: 'succeeded', attempt: 1 });
    expect(applyDone!.durationMs).toEqual(expect.any(Number));
  });

  it('log each request with its latency, never its headers or credentials', () => {
    const requests = logLines.filter((l) => l.component === 'http');
    const apiGet = requests.find((l) => l.route === '/api/jobs/:id');
    expect(apiGet).toMatchObject({ method: 'GET', status: 200, path: `/api/jobs/${jobId}` });
    expect(apiGet!.durationMs).toEqual(expect.any(Number));
    const all = JSON.stringify(logLines);
    expect(all).not.toContain(METRICS_TOKEN);
    expect(all).not.toContain('api-token-1');
    expect(all).not.toContain(BASIC.authorization.slice('Basic '.length));
    expect(all.toLowerCase()).not.toContain('"authorization"');
    expect(all.toLowerCase()).not.toContain('"cookie"');
  });
});
