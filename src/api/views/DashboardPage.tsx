import { raw } from 'hono/html';
import { JOB_SUMMARY_COLUMNS, type JobSummary } from '../../db/jobs.js';
import { JOB_STATUSES, isActive, type JobStatus } from '../../domain/lifecycle.js';
import { StatusBadge } from './StatusBadge.js';
import { boundedMemo } from './boundedMemo.js';
import { formatShortTime, formatTime, humanize } from './format.js';

export interface DashboardPageProps {
  jobs: JobSummary[];
  status: string;
  search: string;
  /** Cursor of the next (older) page, when there is one. */
  nextCursor: string | null;
  /** True when this page was reached through "Older". */
  paged: boolean;
  counts: Record<string, number>;
}

function pageHref(q: { status: string; search: string; cursor?: string }) {
  const params = new URLSearchParams();
  if (q.status) params.set('status', q.status);
  if (q.search) params.set('q', q.search);
  if (q.cursor) params.set('cursor', q.cursor);
  const s = params.toString();
  return s ? `/?${s}` : '/';
}

/** One dashboard row; the same markup is served as a fragment for live refresh. */
export function JobRowView({ job }: { job: JobSummary }) {
  const active = isActive(job.status as JobStatus);
  return (
    <tr data-job-id={job.id} data-active={active ? '1' : undefined}>
      <td data-label="Name">
        <a href={`/jobs/${encodeURIComponent(job.id)}`}>{job.name}</a>
      </td>
      <td data-label="Status">
        <StatusBadge status={job.status} />
      </td>
      <td data-label="Step">{humanize(job.step) || '—'}</td>
      <td data-label="Requester">{job.requester_email}</td>
      <td data-label="Region">{job.region}</td>
      <td data-label="Type">{job.instance_type}</td>
      <td data-label="Created">
        <time datetime={job.created_at} title={formatTime(job.created_at)}>
          {formatShortTime(job.created_at)}
        </time>
      </td>
      <td data-label="Finished">
        {job.finished_at ? (
          <time datetime={job.finished_at} title={formatTime(job.finished_at)}>
            {formatShortTime(job.finished_at)}
          </time>
        ) : (
          '—'
        )}
      </td>
    </tr>
  );
}

/**
 * Rendered rows by everything a row shows. Rendering the rows is most of the
 * dashboard's rendering, and the same rows are shown on every view and every
 * live refresh until their job changes. The key is every summary column, so
 * a change to any of them renders the row afresh.
 */
const renderedRow = boundedMemo<string>(2000);

function rowHtml(job: JobSummary): string | undefined {
  return renderedRow(JSON.stringify(JOB_SUMMARY_COLUMNS.map((column) => job[column])), () => {
    const out = (<JobRowView job={job} />).toString();
    // A row renders synchronously; were it ever async, it would be rendered in place instead.
    return typeof out === 'string' ? out : undefined;
  });
}

export function JobRows({ jobs }: { jobs: JobSummary[] }) {
  return (
    <>
      {jobs.map((job) => {
        const html = rowHtml(job);
        return html === undefined ? <JobRowView job={job} /> : raw(html);
      })}
    </>
  );
}

export function DashboardPage(props: DashboardPageProps) {
  const total = Object.values(props.counts).reduce((a, b) => a + b, 0);
  const filtered = Boolean(props.status || props.search);
  return (
    <>
      <div class="page-head">
        <h1>Jobs</h1>
        <a class="button" href="/jobs/new">
          New job
        </a>
      </div>
      <form method="get" action="/" class="filters card" role="search" aria-label="Filter jobs">
        <div class="filter-field">
          <label for="filter-status">Status</label>
          <select id="filter-status" name="status">
            <option value="" selected={!props.status}>
              All ({total})
            </option>
            {JOB_STATUSES.map((s) => (
              <option value={s} selected={props.status === s}>
                {humanize(s)} ({props.counts[s] ?? 0})
              </option>
            ))}
          </select>
        </div>
        <div class="filter-field grow">
          <label for="filter-q">Search name or requester</label>
          <input id="filter-q" name="q" type="search" value={props.search} placeholder="e.g. demo-web or alice@" />
        </div>
        <div class="filter-actions">
          <button type="submit">Apply</button>
          {filtered ? (
            <a href="/" class="button secondary">
              Clear
            </a>
          ) : null}
        </div>
      </form>
      {props.jobs.length === 0 ? (
        <p class="card empty">
          {filtered ? 'No job matches these filters.' : 'No jobs yet. '}
          {filtered ? null : <a href="/jobs/new">Create the first one.</a>}
        </p>
      ) : (
        <div class="card table-card">
          <table class="jobs stack" id="jobs-table">
            <caption class="visually-hidden">Jobs, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Status</th>
                <th scope="col">Step</th>
                <th scope="col">Requester</th>
                <th scope="col">Region</th>
                <th scope="col">Type</th>
                <th scope="col">Created (UTC)</th>
                <th scope="col">Finished (UTC)</th>
              </tr>
            </thead>
            <tbody id="job-rows">
              <JobRows jobs={props.jobs} />
            </tbody>
          </table>
        </div>
      )}
      <nav class="pager" aria-label="Pages">
        {props.paged ? <a href={pageHref({ status: props.status, search: props.search })}>« Newest</a> : null}
        {props.nextCursor ? (
          <a href={pageHref({ status: props.status, search: props.search, cursor: props.nextCursor })} rel="next">
            Older »
          </a>
        ) : null}
      </nav>
      <script src="/static/dashboard.js" defer></script>
    </>
  );
}
