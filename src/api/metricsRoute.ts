import { Hono, type MiddlewareHandler } from 'hono';
import type { Db } from '../db/database.js';
import { renderMetrics, METRICS_CONTENT_TYPE } from '../observability/metrics.js';
import { bearerMatches } from '../security/tokens.js';

/**
 * `GET /metrics` (Prometheus text format) is authenticated like every other
 * route (session, basic auth or an API token): `metricsApp` is mounted behind
 * the app's guards. With METRICS_TOKEN set, `metricsTokenShortcut` (mounted
 * before them) answers a scrape that sends `Authorization: Bearer
 * <METRICS_TOKEN>`: a token that opens this one route and nothing else. Any
 * other request falls through to the usual guards (and their throttling).
 */
export function metricsTokenShortcut(deps: { db: Db; metricsToken?: string }): MiddlewareHandler {
  return async (c, next) => {
    if (!deps.metricsToken || c.req.method !== 'GET' || c.req.path !== '/metrics') return next();
    if (!bearerMatches(c.req.header('authorization'), deps.metricsToken)) return next();
    return metricsResponse(deps.db);
  };
}

export function metricsApp(deps: { db: Db }) {
  return new Hono().get('/', () => metricsResponse(deps.db));
}

async function metricsResponse(db: Db): Promise<Response> {
  const body = await renderMetrics({ db });
  return new Response(body, { status: 200, headers: { 'Content-Type': METRICS_CONTENT_TYPE, 'Cache-Control': 'no-store' } });
}
