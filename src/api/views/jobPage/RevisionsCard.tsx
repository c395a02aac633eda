import type { JobAction } from '../../../domain/lifecycle.js';
import type { DriftView, RevisionView } from '../../../domain/revisionView.js';
import { CardSection } from '../CardSection.js';
import { StatusBadge } from '../StatusBadge.js';
import { StepTimeline } from '../StepTimeline.js';
import { formatTime } from '../format.js';
import { JobActions } from './JobActions.js';

export interface RevisionsCardProps {
  jobId: string;
  jobName: string;
  /** Newest first; the first one carries its steps. */
  revisions: RevisionView[];
  drift: DriftView | null;
  /** What the viewer may do to the revision in progress (approve, reject, cancel). */
  revisionActions: JobAction[];
  /** Whether the viewer may ask for a change now (the job is live and no revision runs). */
  canChange: boolean;
  csrfToken: string;
}

function Drift(props: { drift: DriftView; jobId: string; canChange: boolean; csrfToken: string }) {
  const { drift } = props;
  return (
    <div class={`drift drift-${drift.state}`} id="job-drift">
      <p>
        <StatusBadge
          status={drift.state === 'in_sync' ? 'succeeded' : drift.state === 'drifted' ? 'drifted' : 'failed'}
          label={drift.label}
        />{' '}
        {drift.checkedAt ? <span class="hint">checked {formatTime(drift.checkedAt)}</span> : null}
      </p>
      {drift.items.length > 0 ? (
        <ul class="plain">
          {drift.items.map((item) => (
            <li>{item}</li>
          ))}
        </ul>
      ) : null}
      {drift.state === 'drifted' && props.canChange ? (
        <form method="post" action={`/jobs/${encodeURIComponent(props.jobId)}/reconcile`} class="action">
          <input type="hidden" name="_csrf" value={props.csrfToken} />
          <button type="submit" data-action="reconcile">
            Reconcile: apply the declared state again
          </button>
        </form>
      ) : null}
    </div>
  );
}

function Current(props: { rev: RevisionView } & Pick<RevisionsCardProps, 'jobId' | 'jobName' | 'revisionActions' | 'csrfToken'>) {
  const { rev } = props;
  return (
    <div class="revision-current" data-revision={rev.number}>
      <h3>
        Revision {rev.number}
        {rev.kind === 'reconcile' ? ' (reconcile)' : ''}{' '}
        <StatusBadge status={rev.state} label={rev.stateLabel} id="revision-state" />
      </h3>
      <p class="hint">
        Asked by {rev.requestedBy} at {formatTime(rev.requestedAt)}
        {rev.reason ? `: ${rev.reason}` : ''}
      </p>
      <ul class="plain differences">
        {rev.differences.length ? (
          rev.differences.map((d) => <li data-applies={d.applies}>{d.text}</li>)
        ) : (
          <li>The declared state again</li>
        )}
      </ul>
      {rev.plan ? (
        <p class="plan-counts">
          Plan: {rev.plan.counts}
          {rev.plan.replaces.length ? <strong class="plan-destroy"> — replaces {rev.plan.replaces.join(', ')}</strong> : null}
        </p>
      ) : null}
      {rev.awaitingApproval ? <p class="notice">This change waits for approval before anything is applied.</p> : null}
      {rev.decidedBy ? <p class="hint">{rev.decidedBy}</p> : null}
      {rev.error ? (
        <div class="job-error">
          <strong>Error:</strong> {rev.error}
        </div>
      ) : null}
      <JobActions
        job={{ id: props.jobId, name: props.jobName }}
        actions={props.revisionActions}
        csrfToken={props.csrfToken}
        revision
      />
      {rev.steps.length ? <StepTimeline steps={rev.steps} /> : null}
    </div>
  );
}

/** A live environment's changes: the latest in detail, the earlier ones in a table, and its drift. */
export function RevisionsCard(props: RevisionsCardProps) {
  const [latest, ...earlier] = props.revisions;
  if (!latest && !props.drift && !props.canChange) return null;
  return (
    <CardSection id="revisions-title" title="Changes">
      {props.drift ? (
        <Drift drift={props.drift} jobId={props.jobId} canChange={props.canChange} csrfToken={props.csrfToken} />
      ) : null}
      {props.canChange ? (
        <p>
          <a href={`/jobs/${encodeURIComponent(props.jobId)}/change`} class="button" id="change-link">
            Change the environment
          </a>{' '}
          <span class="hint">containers, users, instance type, volume size, who may connect</span>
        </p>
      ) : null}
      {latest ? <Current rev={latest} {...props} /> : <p class="hint">No change since the job ran.</p>}
      {earlier.length ? (
        <table class="revisions">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">When</th>
              <th scope="col">Who</th>
              <th scope="col">What changed</th>
              <th scope="col">Plan</th>
              <th scope="col">Outcome</th>
            </tr>
          </thead>
          <tbody>
            {earlier.map((r) => (
              <tr data-revision={r.number}>
                <td>{r.number}</td>
                <td>{formatTime(r.requestedAt)}</td>
                <td>{r.requestedBy}</td>
                <td>{r.differences.map((d) => d.text).join('; ') || (r.kind === 'reconcile' ? 'reconcile' : '')}</td>
                <td>{r.plan?.counts ?? '—'}</td>
                <td>
                  <StatusBadge status={r.state} label={r.stateLabel} />
                  {r.error ? <span class="hint"> {r.error}</span> : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </CardSection>
  );
}
