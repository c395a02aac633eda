import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { getLogger } from '../observability/logger.js';
import { httpDuration } from '../observability/metrics.js';

const QUIET_PATHS = new Set(['/health', '/metrics']);

/** The route pattern that answered (`/api/jobs/:id`), so metrics labels stay few. */
function routeOf(c: Parameters<MiddlewareHandler>[0], status: number): string {
  const routes = matchedRoutes(c);
  const answered = routes[c.req.routeIndex] ?? routes.at(-1);
  const path = answered?.path;
  if (!path || path === '*' || path === '/*') return status === 404 ? 'unmatched' : '*';
  return path;
}

/**
 * One JSON line per request (method, path without the query string, route,
 * status, latency) and the latency histogram. Headers and bodies are never
 * logged: they carry credentials, cookies and job secrets.
 */
export function requestLog(): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    let failed: unknown;
    try {
      await next();
    } catch (err) {
      failed = err;
      throw err;
    } finally {
      const seconds = (performance.now() - started) / 1000;
      const status = failed ? 500 : c.res.status;
      const route = routeOf(c, status);
      httpDuration.observe({ method: c.req.method, route, status: String(status) }, seconds);
      const line = {
        method: c.req.method,
        path: c.req.path,
        route,
        status,
        durationMs: Math.round(seconds * 1000 * 10) / 10,
        ...(failed ? { error: (failed as Error).message } : {}),
      };
      const log = getLogger('http');
      if (status >= 500) log.error(line, 'request failed');
      else if (QUIET_PATHS.has(c.req.path)) log.debug(line, 'request');
      else log.info(line, 'request');
    }
  };
}
