import { raw } from 'hono/html';
import type { AppUser } from '../../domain/usersCsv.js';
import type { Flash } from '../flash.js';
import { FlashMessage } from './FlashMessage.js';
import { CardSection } from './CardSection.js';
import { LogViewer, type LogViewerProps } from './LogViewer.js';
import { JobConfig } from './jobPage/JobConfig.js';
import { JobLive, type JobLiveProps } from './jobPage/JobLive.js';
import { UsersTable } from './jobForm/UsersTable.js';

export interface JobPageProps extends JobLiveProps {
  /** The first users of the job's CSV (a big CSV would make the page as big), and how many it holds. */
  users: AppUser[];
  usersTotal: number;
  logLines: LogViewerProps['lines'];
  logLive: boolean;
  flash?: Flash;
  /** Fingerprint of the live part, so the refresh script asks "changed since?". */
  liveVersion: string;
  /** The live part already rendered (its version is a digest of it), so it is not rendered twice. */
  liveHtml?: string;
}

function Users(props: { users: AppUser[]; total: number }) {
  if (props.total === 0) return <p class="hint">No users CSV was given.</p>;
  return (
    <>
      <UsersTable users={props.users} />
      {props.total > props.users.length ? (
        <p class="hint">
          Showing the first {props.users.length} of {props.total}.
        </p>
      ) : null}
    </>
  );
}

export function JobPage(props: JobPageProps) {
  const { view } = props;
  return (
    <>
      <p class="crumbs">
        <a href="/">Jobs</a> ›
      </p>
      <div class="page-head">
        <h1>{view.name}</h1>
        <div class="head-links">
          {view.may.clone ? (
            <a href={`/jobs/new?clone=${encodeURIComponent(view.id)}`} class="button secondary">
              Clone
            </a>
          ) : null}
          {view.links.temporal ? (
            <a href={view.links.temporal} class="button secondary" rel="noopener noreferrer" target="_blank">
              Workflow in Temporal UI
            </a>
          ) : null}
        </div>
      </div>
      <FlashMessage flash={props.flash} />
      <div
        id="job-live"
        data-job-id={view.id}
        data-status={view.status}
        data-version={props.liveVersion}
        data-active={view.active ? '1' : '0'}
      >
        {props.liveHtml !== undefined ? raw(props.liveHtml) : <JobLive {...props} />}
      </div>
      <LogViewer jobId={view.id} lines={props.logLines} live={props.logLive} />
      <CardSection id="config-title" title="Configuration">
        {view.spec ? <JobConfig spec={view.spec} /> : <p class="error">The stored configuration could not be read.</p>}
      </CardSection>
      {view.may.seeInputs ? (
        <CardSection id="users-title" title={`Users (${props.usersTotal})`}>
          <Users users={props.users} total={props.usersTotal} />
        </CardSection>
      ) : (
        <CardSection id="users-title" title="Users">
          <p class="hint">The users and the containers' environment are shown to the job's owner, approvers and admins.</p>
        </CardSection>
      )}
      <script src="/static/job.js" defer></script>
      <script src="/static/logs.js" defer></script>
    </>
  );
}
