import type { NotificationListItem } from '../../db/notifications.js';
import type { NotificationRow } from '../../db/schema.js';
import { CardSection } from './CardSection.js';
import { StatusBadge } from './StatusBadge.js';
import { TableHead } from './TableHead.js';
import { humanize } from '../../domain/jobView.js';
import { formatTime } from './format.js';

export function NotificationTable(props: { items: (NotificationRow & { job_name?: string | null })[]; showJob?: boolean }) {
  if (props.items.length === 0) return <p class="hint">No notifications yet.</p>;
  return (
    <div class="table-scroll">
      <table class="compact stack outbox">
        <TableHead columns={['Created', 'Event', props.showJob && 'Job', 'To', 'Subject', 'Status']} />
        <tbody>
          {props.items.map((n) => (
            <tr>
              <td data-label="Created">
                <time datetime={n.created_at}>{formatTime(n.created_at)}</time>
              </td>
              <td data-label="Event">{humanize(n.event)}</td>
              {props.showJob ? (
                <td data-label="Job">
                  <a href={`/jobs/${encodeURIComponent(n.job_id)}`}>{n.job_name ?? n.job_id}</a>
                </td>
              ) : null}
              <td data-label="To">{n.recipient}</td>
              <td data-label="Subject">
                <a href={`/outbox/${n.id}`}>{n.subject}</a>
              </td>
              <td data-label="Status">
                <StatusBadge status={n.status} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export interface OutboxPageProps {
  items: NotificationListItem[];
  provider: string;
  olderBefore: number | null;
  paged: boolean;
}

export function OutboxPage(props: OutboxPageProps) {
  return (
    <>
      <div class="page-head">
        <h1>Outbox</h1>
      </div>
      <p class="hint">
        {props.provider === 'outbox'
          ? 'EMAIL_PROVIDER=outbox: notifications are stored here instead of being sent. Newest first.'
          : `Notifications sent through ${props.provider}, newest first.`}
      </p>
      <section class="card table-card">
        <NotificationTable items={props.items} showJob />
      </section>
      <nav class="pager" aria-label="Pages">
        {props.paged ? <a href="/outbox">« Newest</a> : null}
        {props.olderBefore ? (
          <a href={`/outbox?before=${props.olderBefore}`} rel="next">
            Older »
          </a>
        ) : null}
      </nav>
    </>
  );
}

export function NotificationPage(props: { n: NotificationRow; jobName: string | null }) {
  const n = props.n;
  return (
    <>
      <p class="crumbs">
        <a href="/outbox">Outbox</a> ›
      </p>
      <div class="page-head">
        <h1>{n.subject}</h1>
      </div>
      <section class="card">
        <dl class="facts">
          <dt>To</dt>
          <dd>{n.recipient}</dd>
          <dt>Job</dt>
          <dd>
            <a href={`/jobs/${encodeURIComponent(n.job_id)}`}>{props.jobName ?? n.job_id}</a>
          </dd>
          <dt>Event</dt>
          <dd>{humanize(n.event)}</dd>
          <dt>Status</dt>
          <dd>
            <StatusBadge status={n.status} /> via {n.provider}
          </dd>
          <dt>Created</dt>
          <dd>{formatTime(n.created_at)}</dd>
          {n.sent_at ? (
            <>
              <dt>Sent</dt>
              <dd>{formatTime(n.sent_at)}</dd>
            </>
          ) : null}
          {n.error ? (
            <>
              <dt>Error</dt>
              <dd class="error">{n.error}</dd>
            </>
          ) : null}
        </dl>
      </section>
      <CardSection id="html-part" title="HTML part">
        <iframe class="mail-frame" sandbox="" srcdoc={n.html} title={`HTML part of “${n.subject}”`}></iframe>
      </CardSection>
      <CardSection id="text-part" title="Text part">
        <pre class="mail-text">{n.text}</pre>
      </CardSection>
    </>
  );
}
