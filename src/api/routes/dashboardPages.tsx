import { Hono } from 'hono';
import type { AppEnv } from '../auth.js';
import type { RouteDeps } from './deps.js';
import { boundedMemo } from '../boundedMemo.js';
import type { Db } from '../../db/database.js';
import { countJobsByStatus, getJob, JOB_SUMMARY_COLUMNS, listJobSummaries, type JobSummary } from '../../db/jobs.js';
import type { JobRow } from '../../db/schema.js';
import { jobView, type LinkSettings } from '../../domain/jobView.js';
import { allows } from '../../domain/permissions.js';
import { JOB_STATUSES } from '../../domain/lifecycle.js';
import { DashboardPage, JobRowView, JobRows } from '../views/DashboardPage.js';
import { linkSettings } from '../linkSettings.js';

const PAGE_SIZE = 25;
/** How stale the dashboard's status counts may be: about the time a reload takes. */
const STATUS_COUNTS_MAX_AGE_MS = 1000;
/** Rendered rows kept: a few pages' worth for everyone looking, well under a MB. */
const ROWS_KEPT = 2000;

/**
 * The filter's per-status counts, at most STATUS_COUNTS_MAX_AGE_MS old.
 * Counting every job is the dashboard's largest cost and grows with the
 * table, while the counts are no live part of the page (only rows refresh);
 * concurrent views share one count.
 */
function statusCountsCache(db: Db): () => Promise<Record<string, number>> {
  let cached: { at: number; value: Promise<Record<string, number>> } | undefined;
  return () => {
    const now = Date.now();
    if (!cached || now - cached.at > STATUS_COUNTS_MAX_AGE_MS) {
      const entry = { at: now, value: countJobsByStatus(db) };
      cached = entry;
      // A failed count is not kept: the next view asks again.
      entry.value.catch(() => {
        if (cached === entry) cached = undefined;
      });
    }
    return cached.value;
  };
}

/**
 * Rendered rows by everything a row shows. Rendering the rows is most of the
 * dashboard's rendering, and the same rows are shown on every view and every
 * live refresh until their job changes. The key is every summary column, so
 * a change to any of them renders the row afresh.
 */
function rowRenderer(links: LinkSettings): (job: JobSummary) => string | Promise<string> {
  const rendered = boundedMemo<string>(ROWS_KEPT);
  return (job) => {
    let html: string | Promise<string> = '';
    const kept = rendered(JSON.stringify(JOB_SUMMARY_COLUMNS.map((column) => job[column])), () => {
      // A summary has no spec, outputs or error, and a row shows none of them.
      const view = jobView({ spec_json: '', outputs_json: null, error: null, destroy_at: null, ...job }, { links });
      html = (<JobRowView view={view} />).toString();
      // A row renders synchronously; were it ever async, it would be used once and not kept.
      return typeof html === 'string' ? html : undefined;
    });
    return kept ?? html;
  };
}

export function dashboardPagesApp(deps: RouteDeps) {
  const { db } = deps;
  const statusCounts = statusCountsCache(db);
  const rowHtml = rowRenderer(linkSettings(deps.config));
  const rowsHtml = (jobs: JobSummary[]) => Promise.all(jobs.map(rowHtml));

  return new Hono<AppEnv>()
    .get('/', async (c) => {
      const statusParam = c.req.query('status') ?? '';
      const status = (JOB_STATUSES as readonly string[]).includes(statusParam) ? statusParam : '';
      const search = (c.req.query('q') ?? '').trim().slice(0, 100);
      const cursor = c.req.query('cursor') || undefined;
      const [page, counts] = await Promise.all([
        listJobSummaries(db, { status: status || undefined, search: search || undefined, cursor, limit: PAGE_SIZE }),
        statusCounts(),
      ]);
      return c.render(
        <DashboardPage
          rows={await rowsHtml(page.jobs)}
          status={status}
          search={search}
          nextCursor={page.nextCursor}
          paged={Boolean(cursor)}
          counts={counts}
          canCreate={allows(c.get('principal'), 'create')}
        />,
        { title: 'Jobs' },
      );
    })
    .get('/jobs/rows', async (c) => {
      // The dashboard's live refresh: the rows of the jobs it shows, read fresh.
      const ids = (c.req.query('ids') ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => /^[A-Za-z0-9_-]{1,64}$/.test(s))
        .slice(0, 100);
      const jobs = (await Promise.all(ids.map((id) => getJob(db, id)))).filter((j): j is JobRow => Boolean(j));
      c.header('Cache-Control', 'no-store');
      return c.html(
        <table>
          <tbody>
            <JobRows rows={await rowsHtml(jobs)} />
          </tbody>
        </table>,
      );
    });
}
