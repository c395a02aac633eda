import { raw } from 'hono/html';
import type { AuditRow, JobRow, NotificationRow } from '../../db/schema.js';
import type { PublicJobSpec } from '../../domain/jobSpec.js';
import type { JobAction } from '../../domain/lifecycle.js';
import type { AppUser } from '../../domain/usersCsv.js';
import { AuditTable } from './AuditPage.js';
import { UsersTable } from './JobForm.js';
import { LogViewer, type LogViewerProps } from './LogViewer.js';
import { NotificationTable } from './OutboxPage.js';
import { StatusBadge } from './StatusBadge.js';
import { StepTimeline, type TimelineStep } from './StepTimeline.js';
import { formatTime, httpUrl, humanize } from './format.js';

export interface PlanSummaryView {
  add: number;
  change: number;
  destroy: number;
  resources?: { address: string; actions: string[] }[];
}

export interface Flash {
  kind: 'ok' | 'error';
  message: string;
}

/** What changes while a job runs: re-rendered as a fragment for the page's live refresh. */
export interface JobLiveProps {
  job: JobRow;
  spec: PublicJobSpec | null;
  timeline: TimelineStep[];
  actions: JobAction[];
  outputs: Record<string, unknown> | null;
  plan: PlanSummaryView | null;
  audit: AuditRow[];
  notifications: NotificationRow[];
  csrfToken: string;
}

export interface JobPageProps extends JobLiveProps {
  users: AppUser[];
  usersTotal: number;
  logLines: LogViewerProps['lines'];
  logLive: boolean;
  temporalUrl: string | null;
  flash?: Flash;
  /** Fingerprint of the live part, so the refresh script asks "changed since?". */
  liveVersion: string;
  liveActive: boolean;
  /** The live part already rendered (its version is a digest of it), so it is not rendered twice. */
  liveHtml?: string;
}

const OUTPUT_LABELS: [string, string][] = [
  ['instance_id', 'Instance'],
  ['public_ip', 'Public IP'],
  ['private_ip', 'Private IP'],
  ['public_dns', 'Public DNS'],
  ['ami_id', 'AMI'],
  ['security_group_id', 'Security group'],
];

const HOST = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

/** http(s) links to the published TCP ports, built only from a well-formed host name or IP. */
export function appLinks(outputs: Record<string, unknown> | null, spec: PublicJobSpec | null): string[] {
  if (!outputs || !spec) return [];
  const host = [outputs.public_dns, outputs.public_ip].find((h) => typeof h === 'string' && HOST.test(h)) as string | undefined;
  if (!host) return [];
  const links: string[] = [];
  for (const c of spec.containers ?? []) {
    for (const p of c.ports ?? []) {
      const m = /^(\d{1,5}):\d{1,5}(\/tcp)?$/.exec(p);
      if (!m) continue;
      const port = Number(m[1]);
      const url = port === 443 ? `https://${host}/` : port === 80 ? `http://${host}/` : `http://${host}:${port}/`;
      const safe = httpUrl(url);
      if (safe && !links.includes(safe)) links.push(safe);
    }
  }
  return links;
}

function OutputValue(props: { value: unknown }) {
  if (props.value === null || props.value === undefined || props.value === '') return <>—</>;
  const text = typeof props.value === 'string' ? props.value : JSON.stringify(props.value);
  const url = httpUrl(text);
  return url ? (
    <a href={url} rel="noopener noreferrer" target="_blank">
      {text}
    </a>
  ) : (
    <code>{text}</code>
  );
}

function Csrf(props: { token: string }) {
  return <input type="hidden" name="_csrf" value={props.token} />;
}

export function JobActions(props: { job: JobRow; actions: JobAction[]; csrfToken: string }) {
  const { job, actions } = props;
  if (actions.length === 0) return null;
  const base = `/jobs/${encodeURIComponent(job.id)}`;
  return (
    <div class="actions" role="group" aria-label="Actions">
      {actions.includes('run') ? (
        <form method="post" action={`${base}/run`} class="action">
          <Csrf token={props.csrfToken} />
          <button type="submit" data-action="run">
            Start
          </button>
        </form>
      ) : null}
      {actions.includes('approve') ? (
        <form method="post" action={`${base}/approve`} class="action with-input">
          <Csrf token={props.csrfToken} />
          <label for="approve-comment">Approval comment (optional)</label>
          <input id="approve-comment" name="comment" maxlength={500} autocomplete="off" />
          <button type="submit" data-action="approve">
            Approve plan
          </button>
        </form>
      ) : null}
      {actions.includes('reject') ? (
        <form method="post" action={`${base}/reject`} class="action with-input">
          <Csrf token={props.csrfToken} />
          <label for="reject-reason">Reason for rejecting</label>
          <input id="reject-reason" name="reason" required aria-required="true" maxlength={500} autocomplete="off" />
          <button type="submit" class="danger" data-action="reject">
            Reject plan
          </button>
        </form>
      ) : null}
      {actions.includes('cancel') ? (
        <form
          method="post"
          action={`${base}/cancel`}
          class="action"
          data-confirm={`Cancel job ${job.name}? Whatever it created so far will be destroyed.`}
        >
          <Csrf token={props.csrfToken} />
          <input type="hidden" name="confirmed" value="" />
          <button type="submit" class="danger" data-action="cancel">
            Cancel job
          </button>
        </form>
      ) : null}
      {actions.includes('destroy') ? (
        <form
          method="post"
          action={`${base}/destroy`}
          class="action"
          data-confirm={`Destroy the environment of job ${job.name}? The instance and everything on it will be deleted.`}
        >
          <Csrf token={props.csrfToken} />
          <input type="hidden" name="confirmed" value="" />
          <button type="submit" class="danger" data-action="destroy">
            Destroy
          </button>
        </form>
      ) : null}
    </div>
  );
}

export function JobLive(props: JobLiveProps) {
  const { job, plan, outputs } = props;
  const links = appLinks(outputs, props.spec);
  return (
    <>
      <section class="card summary" aria-labelledby="summary-title">
        <h2 id="summary-title" class="visually-hidden">
          Summary
        </h2>
        <dl class="facts">
          <dt>Status</dt>
          <dd>
            <StatusBadge status={job.status} id="job-status" />
          </dd>
          <dt>Current step</dt>
          <dd id="job-step">{humanize(job.step) || '—'}</dd>
          <dt>Requester</dt>
          <dd>{job.requester_email}</dd>
          <dt>Created</dt>
          <dd>
            {formatTime(job.created_at)}
            {job.created_by ? ` by ${job.created_by}` : ''}
          </dd>
          {job.started_at ? (
            <>
              <dt>Started</dt>
              <dd>{formatTime(job.started_at)}</dd>
            </>
          ) : null}
          {job.finished_at ? (
            <>
              <dt>Finished</dt>
              <dd>{formatTime(job.finished_at)}</dd>
            </>
          ) : null}
          {job.destroy_at ? (
            <>
              <dt>Destroyed automatically at</dt>
              <dd>{formatTime(job.destroy_at)}</dd>
            </>
          ) : null}
          {job.account_id ? (
            <>
              <dt>AWS account</dt>
              <dd>{job.account_id}</dd>
            </>
          ) : null}
        </dl>
        {job.error ? (
          <div class="job-error">
            <strong>Error:</strong> {job.error}
          </div>
        ) : null}
        {job.status === 'awaiting_approval' ? (
          <p class="notice">The plan is ready and waits for approval. Review the plan below, then approve or reject it.</p>
        ) : null}
        <JobActions job={job} actions={props.actions} csrfToken={props.csrfToken} />
      </section>

      <div class="two-col">
        <section class="card" aria-labelledby="steps-title">
          <h2 id="steps-title">Steps</h2>
          <StepTimeline steps={props.timeline} />
        </section>
        <div>
          <section class="card" aria-labelledby="outputs-title">
            <h2 id="outputs-title">Outputs</h2>
            {outputs ? (
              <dl class="facts outputs">
                {OUTPUT_LABELS.map(([key, label]) => (
                  <>
                    <dt>{label}</dt>
                    <dd data-output={key}>
                      <OutputValue value={outputs[key]} />
                    </dd>
                  </>
                ))}
                {Object.keys(outputs)
                  .filter((k) => !OUTPUT_LABELS.some(([key]) => key === k))
                  .map((k) => (
                    <>
                      <dt>{humanize(k)}</dt>
                      <dd data-output={k}>
                        <OutputValue value={outputs[k]} />
                      </dd>
                    </>
                  ))}
                {links.length > 0 ? (
                  <>
                    <dt>Published ports</dt>
                    <dd>
                      <ul class="plain">
                        {links.map((l) => (
                          <li>
                            <a href={l} rel="noopener noreferrer" target="_blank">
                              {l}
                            </a>
                          </li>
                        ))}
                      </ul>
                    </dd>
                  </>
                ) : null}
              </dl>
            ) : (
              <p class="hint">None yet: they appear when the apply has finished.</p>
            )}
          </section>
          <section class="card" aria-labelledby="plan-title">
            <h2 id="plan-title">Plan</h2>
            {plan ? (
              <>
                <p class="plan-counts">
                  <span class="plan-add">{plan.add} to add</span>, <span>{plan.change} to change</span>,{' '}
                  <span class="plan-destroy">{plan.destroy} to destroy</span>
                </p>
                {plan.resources && plan.resources.length > 0 ? (
                  <ul class="plain resources">
                    {plan.resources.slice(0, 100).map((r) => (
                      <li>
                        <code>{r.address}</code> <span class="hint">{r.actions.join(', ')}</span>
                      </li>
                    ))}
                  </ul>
                ) : null}
              </>
            ) : (
              <p class="hint">No plan yet.</p>
            )}
          </section>
        </div>
      </div>

      <section class="card" aria-labelledby="notif-title">
        <h2 id="notif-title">Notifications</h2>
        <NotificationTable items={props.notifications} />
      </section>
      <section class="card" aria-labelledby="audit-title">
        <h2 id="audit-title">Audit</h2>
        <AuditTable entries={props.audit} />
      </section>
    </>
  );
}

function Config(props: { job: JobRow; spec: PublicJobSpec }) {
  const s = props.spec;
  const auth = s.auth;
  const rows: [string, string | undefined | null][] = [
    ['Region', s.region],
    ['Authentication', auth.method === 'assume_role' ? 'Assume role' : 'Access keys (not stored)'],
    ...(auth.method === 'assume_role'
      ? ([
          ['Role ARN', auth.roleArn],
          ['External ID', auth.externalId],
        ] as [string, string | undefined][])
      : ([['Access key ID', auth.accessKeyId]] as [string, string][])),
    ['VPC', s.network?.vpcId],
    ['Subnet', s.network?.subnetId],
    ['Extra security groups', s.network?.securityGroupIds?.join(', ')],
    ['Instance type', s.instance.type],
    ['Volume', `${s.instance.volumeSizeGb} GiB`],
    ['AMI', s.instance.amiId ?? 'latest Amazon Linux 2023'],
    ['Ports open to', s.instance.ingressCidr],
    ['SSH from', s.instance.sshCidr ?? 'closed'],
    ['Metadata hop limit 2', s.instance.metadataHopLimit2 ? 'yes' : undefined],
    ['Plan approval', s.options?.requireApproval ? 'required' : 'not required'],
    ['Time to live', s.options?.ttlHours ? `${s.options.ttlHours} hours` : 'until destroyed'],
  ];
  return (
    <>
      <dl class="facts">
        {rows
          .filter(([, v]) => v !== undefined && v !== null && v !== '')
          .map(([k, v]) => (
            <>
              <dt>{k}</dt>
              <dd>{v}</dd>
            </>
          ))}
      </dl>
      <h3>Containers</h3>
      <pre class="code">{JSON.stringify(s.containers, null, 2)}</pre>
    </>
  );
}

export function JobPage(props: JobPageProps) {
  const { job } = props;
  return (
    <>
      <p class="crumbs">
        <a href="/">Jobs</a> ›
      </p>
      <div class="page-head">
        <h1>{job.name}</h1>
        <div class="head-links">
          <a href={`/jobs/new?clone=${encodeURIComponent(job.id)}`} class="button secondary">
            Clone
          </a>
          {props.temporalUrl ? (
            <a href={props.temporalUrl} class="button secondary" rel="noopener noreferrer" target="_blank">
              Workflow in Temporal UI
            </a>
          ) : null}
        </div>
      </div>
      {props.flash ? (
        <p class={props.flash.kind === 'error' ? 'flash flash-error' : 'flash'} role={props.flash.kind === 'error' ? 'alert' : 'status'}>
          {props.flash.message}
        </p>
      ) : null}
      <div
        id="job-live"
        data-job-id={job.id}
        data-status={job.status}
        data-version={props.liveVersion}
        data-active={props.liveActive ? '1' : '0'}
      >
        {props.liveHtml !== undefined ? raw(props.liveHtml) : <JobLive {...props} />}
      </div>
      <LogViewer jobId={job.id} lines={props.logLines} live={props.logLive} />
      <section class="card" aria-labelledby="config-title">
        <h2 id="config-title">Configuration</h2>
        {props.spec ? <Config job={job} spec={props.spec} /> : <p class="error">The stored configuration could not be read.</p>}
      </section>
      <section class="card" aria-labelledby="users-title">
        <h2 id="users-title">Users ({props.usersTotal})</h2>
        {props.usersTotal === 0 ? (
          <p class="hint">No users CSV was given.</p>
        ) : (
          <>
            <UsersTable users={props.users} />
            {props.usersTotal > props.users.length ? (
              <p class="hint">
                Showing the first {props.users.length} of {props.usersTotal}.
              </p>
            ) : null}
          </>
        )}
      </section>
      <script src="/static/job.js" defer></script>
      <script src="/static/logs.js" defer></script>
    </>
  );
}

export function ConfirmPage(props: { job: JobRow; action: 'cancel' | 'destroy'; csrfToken: string }) {
  const { job, action } = props;
  const what =
    action === 'cancel'
      ? 'Cancelling stops the job; whatever it created so far is destroyed.'
      : 'Destroying deletes the instance and everything on it. This cannot be undone.';
  return (
    <section class="card narrow">
      <h1>
        {action === 'cancel' ? 'Cancel' : 'Destroy'} job {job.name}?
      </h1>
      <p>{what}</p>
      <form method="post" action={`/jobs/${encodeURIComponent(job.id)}/${action}`}>
        <input type="hidden" name="_csrf" value={props.csrfToken} />
        <input type="hidden" name="confirmed" value="yes" />
        <button type="submit" class="danger">
          Yes, {action === 'cancel' ? 'cancel the job' : 'destroy it'}
        </button>{' '}
        <a href={`/jobs/${encodeURIComponent(job.id)}`} class="button secondary">
          No, go back
        </a>
      </form>
    </section>
  );
}

export function NotFoundPage(props: { what: string }) {
  return (
    <section class="card narrow">
      <h1>Not found</h1>
      <p>{props.what}</p>
      <p>
        <a href="/">Back to the jobs</a>
      </p>
    </section>
  );
}
