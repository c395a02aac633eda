import client from 'prom-client';
import type { Db } from '../db/database.js';
import { JOB_STATUSES } from '../domain/lifecycle.js';

/**
 * Prometheus metrics. One registry per process holds what that process
 * observes: HTTP latency in the web process; step durations, Terraform exit
 * codes and stored log lines where activities run (the worker). The jobs by
 * status gauge is read from the database at scrape time, and only the web
 * process serves it (every worker serving it too would multiply its sums).
 * The Temporal SDK's own worker metrics come from its Prometheus exporter and
 * are appended to the scrape (see `setSdkMetricsUrl`).
 */

export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry, prefix: 'provisioning_' });

export const stepDuration = new client.Histogram({
  name: 'provisioning_step_duration_seconds',
  help: 'Duration of one job step attempt (an activity), by step and outcome',
  labelNames: ['step', 'outcome'] as const,
  buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
  registers: [registry],
});

export const terraformExits = new client.Counter({
  name: 'provisioning_terraform_exits_total',
  help: 'Terraform processes that ended, by command and exit code ("cancelled" when stopped by a cancel)',
  labelNames: ['command', 'exit_code'] as const,
  registers: [registry],
});

export const logLinesWritten = new client.Counter({
  name: 'provisioning_job_log_lines_written_total',
  help: 'Job log lines stored in job_logs, by step',
  labelNames: ['step'] as const,
  registers: [registry],
});

export const httpDuration = new client.Histogram({
  name: 'provisioning_http_request_duration_seconds',
  help: 'HTTP request latency, by method, route pattern and status code',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

export const jobsReconciled = new client.Counter({
  name: 'provisioning_jobs_reconciled_total',
  help: 'Jobs whose status the reconciler corrected after their workflow closed, by the status they showed and the one recorded',
  labelNames: ['from', 'to'] as const,
  registers: [registry],
});

const jobsRegistry = new client.Registry();
const jobsByStatus = new client.Gauge({
  name: 'provisioning_jobs',
  help: 'Jobs by status, read from the database at scrape time',
  labelNames: ['status'] as const,
  registers: [jobsRegistry],
});

/** Records the end of a step attempt; never throws into the activity. */
export type StepOutcome = 'succeeded' | 'failed' | 'cancelled' | 'interrupted';

export function observeStep(step: string, outcome: StepOutcome, seconds: number): void {
  stepDuration.observe({ step, outcome }, seconds);
}

export function observeTerraformExit(command: string, exitCode: number | 'cancelled'): void {
  terraformExits.inc({ command: command || 'unknown', exit_code: String(exitCode) });
}

export function observeLogLines(step: string, count: number): void {
  if (count > 0) logLinesWritten.inc({ step }, count);
}

let sdkMetricsUrl: string | undefined;

/** Where this process's Temporal SDK exporter answers (set when the worker runtime is installed). */
export function setSdkMetricsUrl(url: string | undefined): void {
  sdkMetricsUrl = url;
}

export function getSdkMetricsUrl(): string | undefined {
  return sdkMetricsUrl;
}

async function updateJobsGauge(db: Db): Promise<void> {
  const rows = await db
    .selectFrom('jobs')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('status')
    .execute();
  const counts = new Map<string, number>(JOB_STATUSES.map((s) => [s, 0]));
  for (const r of rows) counts.set(r.status, Number(r.n));
  jobsByStatus.reset();
  for (const [status, n] of counts) jobsByStatus.set({ status }, n);
}

async function sdkMetrics(url: string): Promise<string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    if (!res.ok) return `# Temporal SDK metrics unavailable: ${url} answered ${res.status}\n`;
    const text = await res.text();
    return text.endsWith('\n') ? text : `${text}\n`;
  } catch (err) {
    return `# Temporal SDK metrics unavailable: ${(err as Error).message}\n`;
  }
}

export const METRICS_CONTENT_TYPE = registry.contentType;

/**
 * The scrape: this process's registry, the jobs gauge when a database is
 * given, and the Temporal SDK's metrics when this process runs a worker.
 */
export async function renderMetrics(opts: { db?: Db; includeSdk?: boolean } = {}): Promise<string> {
  const parts = [await registry.metrics()];
  if (opts.db) {
    await updateJobsGauge(opts.db);
    parts.push(await jobsRegistry.metrics());
  }
  if ((opts.includeSdk ?? true) && sdkMetricsUrl) parts.push(await sdkMetrics(sdkMetricsUrl));
  return parts.map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join('');
}

/** The end of one step attempt: its duration in the histogram and one log line. */
export function stepFinished(
  log: { info: (o: object, m: string) => void; warn: (o: object, m: string) => void },
  step: string,
  outcome: StepOutcome,
  startedMs: number,
  err?: unknown,
): void {
  const seconds = (performance.now() - startedMs) / 1000;
  observeStep(step, outcome, seconds);
  const fields = { outcome, durationMs: Math.round(seconds * 1000), ...(err ? { error: (err as Error).message } : {}) };
  if (outcome === 'succeeded') log.info(fields, `step ${step} succeeded`);
  else log.warn(fields, `step ${step} ${outcome}`);
}
