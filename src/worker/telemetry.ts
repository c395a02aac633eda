import http from 'node:http';
import { Runtime, makeTelemetryFilterString, type RuntimeOptions } from '@temporalio/worker';
import { getLogger, temporalSdkLogger } from '../observability/logger.js';
import { METRICS_CONTENT_TYPE, renderMetrics, setSdkMetricsUrl } from '../observability/metrics.js';
import { bearerMatches } from '../security/tokens.js';
import { freePort } from '../temporal/devServer.js';

/**
 * Installs the Temporal runtime once per process: the SDK's log lines go
 * through pino (with the workflow's job id), and with `metrics` its
 * Prometheus exporter listens on a private 127.0.0.1 port whose output our
 * own /metrics endpoints append (one scrape target per process).
 */
export async function installWorkerRuntime(opts: {
  metrics: boolean;
  shutdownSignals?: NodeJS.Signals[];
}): Promise<{ sdkMetricsUrl?: string }> {
  const telemetryOptions: RuntimeOptions['telemetryOptions'] = {
    logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN', other: 'ERROR' }) },
  };
  let sdkMetricsUrl: string | undefined;
  if (opts.metrics) {
    const port = await freePort();
    telemetryOptions.metrics = { prometheus: { bindAddress: `127.0.0.1:${port}` } };
    sdkMetricsUrl = `http://127.0.0.1:${port}/metrics`;
  }
  Runtime.install({
    logger: temporalSdkLogger(),
    telemetryOptions,
    ...(opts.shutdownSignals ? { shutdownSignals: opts.shutdownSignals } : {}),
  });
  setSdkMetricsUrl(sdkMetricsUrl);
  return { sdkMetricsUrl };
}

export interface WorkerHttp {
  port: number;
  /** The address it listens on. */
  host: string;
  close(): Promise<void>;
}

/**
 * The worker's own small HTTP endpoint (WORKER_METRICS_PORT):
 * - `GET /metrics`: this worker's metrics (steps, Terraform exits, stored log
 *   lines) and the Temporal SDK's worker metrics, in Prometheus text format;
 *   with METRICS_TOKEN set it needs `Authorization: Bearer <METRICS_TOKEN>`
 *   (which the config requires when it listens beyond loopback).
 * - `GET /health`: 200 while the worker runs (the container health check).
 */
export async function startWorkerHttp(opts: {
  port: number;
  host?: string;
  metricsToken?: string;
  isRunning: () => boolean;
}): Promise<WorkerHttp> {
  const log = getLogger('worker-http');
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: string, type = 'application/json') => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET') return send(405, JSON.stringify({ error: 'method not allowed' }));
    if (path === '/health') {
      const running = opts.isRunning();
      return send(running ? 200 : 503, JSON.stringify({ status: running ? 'ok' : 'stopping' }));
    }
    if (path === '/metrics') {
      if (opts.metricsToken) {
        if (!bearerMatches(req.headers.authorization, opts.metricsToken)) {
          res.setHeader('WWW-Authenticate', 'Bearer');
          return send(401, JSON.stringify({ error: 'send Authorization: Bearer <METRICS_TOKEN>' }));
        }
      }
      renderMetrics().then(
        (body) => send(200, body, METRICS_CONTENT_TYPE),
        (err: Error) => {
          log.error({ error: err.message }, 'metrics rendering failed');
          send(500, JSON.stringify({ error: 'metrics unavailable' }));
        },
      );
      return;
    }
    send(404, JSON.stringify({ error: 'not found' }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const host = typeof address === 'object' && address ? address.address : (opts.host ?? '127.0.0.1');
  log.info({ port, host }, `worker metrics and health on ${host} port ${port}`);
  return {
    port,
    host,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
