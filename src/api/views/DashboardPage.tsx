import { raw } from 'hono/html';
import { humanize, type JobView } from '../../domain/jobView.js';
import { JOB_STATUSES } from '../../domain/lifecycle.js';
import { StatusBadge } from './StatusBadge.js';
import { TableHead } from './TableHead.js';
import { formatShortTime, formatTime } from './format.js';

export interface DashboardPageProps {
  /** The rows' HTML, one per job (JobRowView), newest first. */
  rows: string[];
  status: string;
  search: string;
  /** Cursor of the next (older) page, when there is one. */
  nextCursor: string | null;
  /** True when this page was reached through "Older". */
  paged: boolean;
  counts: Record<string, number>;
  /** Whether the person may create jobs (requester and above). */
  canCreate: boolean;
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
export function JobRowView({ view }: { view: JobView }) {
  const job = view.facts;
  return (
    <tr data-job-id={view.id} data-active={view.active ? '1' : undefined}>
      <td data-label="Name">
        <a href={`/jobs/${encodeURIComponent(view.id)}`}>{view.name}</a>
      </td>
      <td data-label="Status">
        <StatusBadge status={view.status} label={view.statusLabel} />
        {job.drift_state === 'drifted' && view.status === 'succeeded' ? (
          <>
            {' '}
            <StatusBadge status="drifted" label="drifted" />
          </>
        ) : null}
      </td>
      <td data-label="Step">{view.stepLabel}</td>
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

/** Rows already rendered (the route keeps them rendered between views). */
export function JobRows({ rows }: { rows: string[] }) {
  return <>{rows.map((html) => raw(html))}</>;
}

export function DashboardPage(props: DashboardPageProps) {
  const total = Object.values(props.counts).reduce((a, b) => a + b, 0);
  const filtered = Boolean(props.status || props.search);
  return (
    <>
      <div class="page-head">
        <h1>Jobs</h1>
        {props.canCreate ? (
          <a class="button" href="/jobs/new">
            New job
          </a>
        ) : null}
      </div>
      {/* biome-ignore lint/a11y/useSemanticElements: <search> is too new for the browsers people still use; the role says the same */}
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
      {props.rows.length === 0 ? (
        <p class="card empty">
          {filtered ? 'No job matches these filters.' : 'No jobs yet. '}
          {filtered || !props.canCreate ? null : <a href="/jobs/new">Create the first one.</a>}
        </p>
      ) : (
        <div class="card table-card">
          <table class="jobs stack" id="jobs-table">
            <caption class="visually-hidden">Jobs, newest first</caption>
            <TableHead columns={['Name', 'Status', 'Step', 'Requester', 'Region', 'Type', 'Created (UTC)', 'Finished (UTC)']} />
            <tbody id="job-rows">
              <JobRows rows={props.rows} />
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
