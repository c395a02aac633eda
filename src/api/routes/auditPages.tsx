import { Hono } from 'hono';
import type { AppEnv } from '../auth.js';
import type { RouteDeps } from './deps.js';
import { listAudit } from '../../db/audit.js';
import { AuditPage } from '../views/AuditPage.js';

const PAGE_SIZE = 100;

/** The audit log of every job, newest first. */
export function auditPagesApp(deps: RouteDeps) {
  const { db } = deps;
  return new Hono<AppEnv>().get('/', async (c) => {
    const before = Number(c.req.query('before'));
    const paged = Number.isInteger(before) && before > 0;
    const entries = await listAudit(db, { limit: PAGE_SIZE, beforeId: paged ? before : undefined });
    // One query for the names of the jobs on this page, not one per entry.
    const ids = [...new Set(entries.map((e) => e.job_id).filter((id): id is string => Boolean(id)))];
    const jobs = ids.length ? await db.selectFrom('jobs').select(['id', 'name']).where('id', 'in', ids).execute() : [];
    return c.render(
      <AuditPage
        entries={entries}
        jobNames={Object.fromEntries(jobs.map((j) => [j.id, j.name]))}
        olderBefore={entries.length === PAGE_SIZE ? entries[entries.length - 1].id : null}
        paged={paged}
      />,
      { title: 'Audit log' },
    );
  });
}
