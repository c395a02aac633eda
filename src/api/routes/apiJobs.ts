import { Hono } from 'hono';
import type { AppEnv } from '../auth.js';
import type { RouteDeps } from './deps.js';

/** REST API for jobs under /api (filled in by the API work). */
export function apiJobsApp(_deps: RouteDeps) {
  return new Hono<AppEnv>();
}
