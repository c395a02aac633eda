import type { Context } from 'hono';
import type { AppEnv } from '../auth.js';
import { NotFoundPage } from '../views/NotFoundPage.js';

/** A 404 as a page of the site (with its navigation), not the bare text an API client gets. */
export function notFoundPage(c: Context<AppEnv>, what: string) {
  c.status(404);
  return c.render(<NotFoundPage what={what} />, { title: 'Not found' });
}
