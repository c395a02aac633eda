import type { AuditRow } from '../../db/schema.js';
import { humanize } from '../../domain/jobView.js';
import { formatTime } from './format.js';
import { TableHead } from './TableHead.js';

export function AuditTable(props: { entries: AuditRow[]; showJob?: boolean; jobNames?: Record<string, string> }) {
  if (props.entries.length === 0) return <p class="hint">Nothing recorded yet.</p>;
  return (
    <div class="table-scroll">
      <table class="compact stack audit">
        <TableHead columns={['When', 'Who', 'Action', props.showJob && 'Job', 'From', 'Detail']} />
        <tbody>
          {props.entries.map((e) => (
            <tr>
              <td data-label="When">
                <time datetime={e.at}>{formatTime(e.at)}</time>
              </td>
              <td data-label="Who">
                {e.actor}
                {e.token_name ? <span class="hint"> (token {e.token_name})</span> : null}
              </td>
              <td data-label="Action">{humanize(e.action)}</td>
              {props.showJob ? (
                <td data-label="Job">
                  {e.job_id ? (
                    <a href={`/jobs/${encodeURIComponent(e.job_id)}`}>{props.jobNames?.[e.job_id] ?? e.job_id}</a>
                  ) : (
                    '—'
                  )}
                </td>
              ) : null}
              <td data-label="From">{e.ip ?? '—'}</td>
              <td data-label="Detail">{e.detail ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export interface AuditPageProps {
  entries: AuditRow[];
  jobNames: Record<string, string>;
  /** id to pass as ?before= for the next (older) page. */
  olderBefore: number | null;
  paged: boolean;
}

export function AuditPage(props: AuditPageProps) {
  return (
    <>
      <div class="page-head">
        <h1>Audit log</h1>
      </div>
      <p class="hint">Who created, started, cancelled, approved, rejected and destroyed which job, newest first.</p>
      <section class="card table-card">
        <AuditTable entries={props.entries} showJob jobNames={props.jobNames} />
      </section>
      <nav class="pager" aria-label="Pages">
        {props.paged ? <a href="/audit">« Newest</a> : null}
        {props.olderBefore ? (
          <a href={`/audit?before=${props.olderBefore}`} rel="next">
            Older »
          </a>
        ) : null}
      </nav>
    </>
  );
}
