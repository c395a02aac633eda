import { Hono } from 'hono';
import type { AppEnv } from '../auth.js';
import type { RouteDeps } from './deps.js';
import { inlineStyleHashes } from '../cspHashes.js';
import { getJob } from '../../db/jobs.js';
import { getNotification, listNotifications } from '../../db/notifications.js';
import { NotificationPage, OutboxPage } from '../views/OutboxPage.js';
import { notFoundPage } from './notFoundPage.js';

const PAGE_SIZE = 50;

/** The notifications sent (or, with EMAIL_PROVIDER=outbox, only stored), and each one as its recipient saw it. */
export function outboxPagesApp(deps: RouteDeps) {
  const { db, config } = deps;
  return new Hono<AppEnv>()
    .get('/', async (c) => {
      const before = Number(c.req.query('before'));
      const paged = Number.isInteger(before) && before > 0;
      const items = await listNotifications(db, { limit: PAGE_SIZE, before: paged ? before : undefined });
      return c.render(
        <OutboxPage
          items={items}
          provider={config.EMAIL_PROVIDER}
          olderBefore={items.length === PAGE_SIZE ? items[items.length - 1].id : null}
          paged={paged}
        />,
        { title: 'Outbox' },
      );
    })
    .get('/:id{[0-9]+}', async (c) => {
      const n = await getNotification(db, Number(c.req.param('id')));
      if (!n) return notFoundPage(c, `There is no notification ${c.req.param('id')}.`);
      const job = await getJob(db, n.job_id);
      c.set('cspStyleHashes', inlineStyleHashes(n.html));
      return c.render(<NotificationPage n={n} jobName={job?.name ?? null} />, { title: n.subject });
    });
}
