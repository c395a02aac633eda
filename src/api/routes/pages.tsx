import { Hono } from 'hono';
import type { AppEnv } from '../auth.js';
import type { RouteDeps } from './deps.js';

/** Server-rendered pages (filled in by the UI work). */
export function pagesApp(_deps: RouteDeps) {
  return new Hono<AppEnv>();
}
