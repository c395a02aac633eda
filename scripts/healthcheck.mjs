#!/usr/bin/env node
// The container health check (plain JS, no dependencies):
//   node scripts/healthcheck.mjs          web:    GET /health answers 200 (database and Temporal reachable)
//   node scripts/healthcheck.mjs worker   worker: GET /health on WORKER_METRICS_PORT answers 200 (it polls)
// Exits 0 when healthy, 1 otherwise.
const role = process.argv[2] ?? 'web';
const url =
  role === 'worker'
    ? `http://127.0.0.1:${process.env.WORKER_METRICS_PORT || 9464}/health`
    : `http://127.0.0.1:${process.env.PORT || 8000}/health`;

try {
  const res = await fetch(url, { signal: AbortSignal.timeout(4000) });
  if (!res.ok) {
    console.error(`${url} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
    process.exit(1);
  }
  process.exit(0);
} catch (err) {
  console.error(`${url}: ${err?.cause?.code ?? err?.message ?? err}`);
  process.exit(1);
}
