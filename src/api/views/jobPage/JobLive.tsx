import type { AuditRow, NotificationRow } from '../../../db/schema.js';
import type { JobView, PlanView, PortView } from '../../../domain/jobView.js';
import { AuditTable } from '../AuditPage.js';
import { CardSection } from '../CardSection.js';
import { NotificationTable } from '../OutboxPage.js';
import { StatusBadge } from '../StatusBadge.js';
import { StepTimeline } from '../StepTimeline.js';
import { formatTime, httpUrl } from '../format.js';
import { JobActions, TtlForm } from './JobActions.js';
import { InstanceCard } from './InstanceCard.js';
import { RevisionsCard, type RevisionsCardProps } from './RevisionsCard.js';
import type { InstanceProgress } from '../../../domain/instanceEvents.js';
import type { WorkerWait, WorkflowStall } from '../../temporalView.js';

/** What changes while a job runs: re-rendered as a fragment for the page's live refresh. */
export interface JobLiveProps {
  view: JobView;
  /** What the instance reported on its console; null before it said anything. */
  instance: InstanceProgress | null;
  audit: AuditRow[];
  notifications: NotificationRow[];
  csrfToken: string;
  /** The live environment's changes and drift (absent on pages of jobs that never had any). */
  changes?: Omit<RevisionsCardProps, 'jobId' | 'jobName' | 'csrfToken'>;
  /** The step Temporal scheduled and no worker has taken yet; null: none waits, or Temporal could not say. */
  waiting?: WorkerWait | null;
  /** The workflow's task failing again and again: the job moves no more (null: it moves, or Temporal could not say). */
  stalled?: WorkflowStall | null;
}

/** A job whose workflow cannot move on: said, with why when known, since its status shows where it stopped. */
function Stalled({ stalled }: { stalled: WorkflowStall }) {
  return (
    <p class="notice flash-error" id="job-stalled">
      Stalled: Temporal cannot move this job on. Its workflow task has failed {stalled.attempts} times in a row since{' '}
      {formatTime(stalled.since)}
      {stalled.reason ? `: ${stalled.reason}` : ''}. An operator must act (the workflow in the Temporal UI shows each attempt);
      the status above is where the job stopped.
    </p>
  );
}

/** A step queued for a worker: said plainly, with since when, so a slow start is not mistaken for a stuck job. */
function WaitingForWorker({ waiting }: { waiting: WorkerWait }) {
  return (
    <p class="notice" id="job-waiting">
      Waiting for a worker: the {waiting.step} step is queued{' '}
      {waiting.terraform ? 'until a worker has a free Terraform slot' : 'until a worker takes it'} (since{' '}
      {formatTime(waiting.since)}).
    </p>
  );
}

/** Only an http(s) value becomes a link: outputs are whatever the module printed. */
function OutputValue(props: { value: string | null }) {
  if (props.value === null) return <>—</>;
  const url = httpUrl(props.value);
  return url ? (
    <a href={url} rel="noopener noreferrer" target="_blank">
      {props.value}
    </a>
  ) : (
    <code>{props.value}</code>
  );
}

function PortItem({ port }: { port: PortView }) {
  return (
    <li>
      {port.label}
      {port.url ? (
        <>
          {' — '}
          <a href={port.url} rel="noopener noreferrer" target="_blank">
            {port.url}
          </a>
        </>
      ) : port.note ? (
        ` — ${port.note}`
      ) : null}
    </li>
  );
}

function Outputs({ view }: { view: JobView }) {
  if (!view.outputs) return <p class="hint">None yet: they appear when the apply has finished.</p>;
  return (
    <>
      {view.resourcesGone ? (
        <p class="hint" id="outputs-gone">
          These resources no longer exist: the values below are what the apply gave, kept for the record.
        </p>
      ) : null}
      <dl class="facts outputs">
        {view.outputRows.map((row) => (
          <>
            <dt>{row.label}</dt>
            <dd data-output={row.key}>
              <OutputValue value={row.value} />
            </dd>
          </>
        ))}
        {view.ports.length > 0 ? (
          <>
            <dt>Published ports</dt>
            <dd>
              <ul class="plain">
                {view.ports.map((port) => (
                  <PortItem port={port} />
                ))}
              </ul>
            </dd>
          </>
        ) : null}
      </dl>
    </>
  );
}

/** A plan lists every resource; past the first hundred the page would be the plan. */
const PLAN_RESOURCES_SHOWN = 100;

function Plan({ plan }: { plan: PlanView | null }) {
  if (!plan) return <p class="hint">No plan yet.</p>;
  return (
    <>
      <p class="plan-counts">
        <span class="plan-add">{plan.add} to add</span>, <span>{plan.change} to change</span>,{' '}
        <span class="plan-destroy">{plan.destroy} to destroy</span>
      </p>
      {plan.resources.length > 0 ? (
        <ul class="plain resources">
          {plan.resources.slice(0, PLAN_RESOURCES_SHOWN).map((r) => (
            <li>
              <code>{r.address}</code> <span class="hint">{r.actions.join(', ')}</span>
            </li>
          ))}
        </ul>
      ) : null}
    </>
  );
}

/** A fact shown only when the job has it. */
function OptionalFact(props: { label: string; value: string | null | undefined }) {
  return props.value ? (
    <>
      <dt>{props.label}</dt>
      <dd>{props.value}</dd>
    </>
  ) : null;
}

function Summary(props: JobLiveProps) {
  const { view } = props;
  const job = view.facts;
  return (
    <section class="card summary" aria-labelledby="summary-title">
      <h2 id="summary-title" class="visually-hidden">
        Summary
      </h2>
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <StatusBadge status={view.status} label={view.statusLabel} id="job-status" />
        </dd>
        <dt>Current step</dt>
        <dd id="job-step">{props.waiting ? `${props.waiting.step}: waiting for a worker` : view.stepLabel}</dd>
        <dt>Requester</dt>
        <dd>{job.requester_email}</dd>
        <dt>Created</dt>
        <dd>
          {formatTime(job.created_at)}
          {job.created_by ? ` by ${job.created_by}` : ''}
        </dd>
        <OptionalFact label="Started" value={formatTime(job.started_at)} />
        <OptionalFact label="Finished" value={formatTime(job.finished_at)} />
        <OptionalFact label="Destroyed automatically at" value={formatTime(job.destroy_at)} />
        <OptionalFact label="AWS account" value={job.account_id} />
        {props.changes?.drift?.state === 'drifted' ? (
          <>
            <dt>Drift</dt>
            <dd>
              <StatusBadge status="drifted" label="Drifted" id="job-drift-badge" />{' '}
              <a href="#job-drift">what changed outside the service</a>
            </dd>
          </>
        ) : null}
      </dl>
      {job.error ? (
        <div class="job-error">
          <strong>Error:</strong> {job.error}
        </div>
      ) : null}
      {props.stalled ? <Stalled stalled={props.stalled} /> : null}
      {props.waiting ? <WaitingForWorker waiting={props.waiting} /> : null}
      {view.status === 'awaiting_approval' ? (
        <p class="notice">The plan is ready and waits for approval. Review the plan below, then approve or reject it.</p>
      ) : null}
      <JobActions job={view} actions={view.actions} csrfToken={props.csrfToken} />
      {view.status === 'succeeded' && view.may.change ? <TtlForm jobId={view.id} csrfToken={props.csrfToken} /> : null}
    </section>
  );
}

export function JobLive(props: JobLiveProps) {
  return (
    <>
      <Summary {...props} />
      {props.changes ? (
        <RevisionsCard {...props.changes} jobId={props.view.id} jobName={props.view.name} csrfToken={props.csrfToken} />
      ) : null}
      <div class="two-col">
        <CardSection id="steps-title" title="Steps">
          <StepTimeline steps={props.view.steps} />
        </CardSection>
        <div>
          <CardSection id="outputs-title" title="Outputs">
            <Outputs view={props.view} />
          </CardSection>
          <CardSection id="plan-title" title="Plan">
            <Plan plan={props.view.plan} />
          </CardSection>
        </div>
      </div>
      <InstanceCard view={props.view} progress={props.instance} />
      <CardSection id="notif-title" title="Notifications">
        <NotificationTable items={props.notifications} />
      </CardSection>
      <CardSection id="audit-title" title="Audit">
        <AuditTable entries={props.audit} />
      </CardSection>
    </>
  );
}
