import type { Context } from 'hono';
import type { AppEnv } from '../auth.js';
import { NotFoundPage } from '../views/NotFoundPage.js';

/** A 404 as a page of the site (with its navigation), not the bare text an API client gets. */
export function notFoundPage(c: Context<AppEnv>, what: string) {
  c.status(404);
  return c.render(<NotFoundPage what={what} />, { title: 'Not found' });
}

/** A 403 as a page of the site: what the rule is, so the person knows whom to ask. */
export function forbiddenPage(c: Context<AppEnv>, message: string) {
  c.status(403);
  return c.render(
    <section class="card narrow">
      <h1>Not allowed</h1>
      <p class="error" role="alert">
        {message}
      </p>
      <p>
        <a href="/">Back to the jobs</a>
      </p>
    </section>,
    { title: 'Not allowed' },
  );
}
