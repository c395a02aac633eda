import type { Child } from 'hono/jsx';
import type { JobAction } from '../../../domain/lifecycle.js';

interface ActionFormProps {
  jobPath: string;
  action: JobAction;
  csrfToken: string;
  label: string;
  danger?: boolean;
  /** What the page's script asks in a confirm() dialog; without JavaScript the server asks on a page of its own. */
  confirm?: string;
  /** Fields before the button (a comment, a reason). */
  fields?: Child;
}

/** One action as a POST form of its own, so each works without JavaScript. */
function ActionForm(props: ActionFormProps) {
  return (
    <form
      method="post"
      action={`${props.jobPath}/${props.action}`}
      class={props.fields ? 'action with-input' : 'action'}
      data-confirm={props.confirm}
    >
      <input type="hidden" name="_csrf" value={props.csrfToken} />
      {props.fields}
      {props.confirm ? <input type="hidden" name="confirmed" value="" /> : null}
      <button type="submit" class={props.danger ? 'danger' : undefined} data-action={props.action}>
        {props.label}
      </button>
    </form>
  );
}

interface ActionSpec {
  label: string;
  danger?: boolean;
  confirm?: (jobName: string) => string;
  fields?: () => Child;
}

/** In the order the buttons stand. */
const ACTIONS: [JobAction, ActionSpec][] = [
  ['run', { label: 'Start' }],
  [
    'approve',
    {
      label: 'Approve plan',
      fields: () => (
        <>
          <label for="approve-comment">Approval comment (optional)</label>
          <input id="approve-comment" name="comment" maxlength={500} autocomplete="off" />
        </>
      ),
    },
  ],
  [
    'reject',
    {
      label: 'Reject plan',
      danger: true,
      fields: () => (
        <>
          <label for="reject-reason">Reason for rejecting</label>
          <input id="reject-reason" name="reason" required aria-required="true" maxlength={500} autocomplete="off" />
        </>
      ),
    },
  ],
  [
    'cancel',
    { label: 'Cancel job', danger: true, confirm: (name) => `Cancel job ${name}? Whatever it created so far will be destroyed.` },
  ],
  [
    'destroy',
    {
      label: 'Destroy',
      danger: true,
      confirm: (name) => `Destroy the environment of job ${name}? The instance and everything on it will be deleted.`,
    },
  ],
];

/** A revision's approve, reject and cancel: the same posts, which the service routes to the revision. */
const REVISION_ACTIONS: [JobAction, ActionSpec][] = [
  [
    'approve',
    {
      label: 'Approve change',
      fields: () => (
        <>
          <label for="revision-approve-comment">Approval comment (optional)</label>
          <input id="revision-approve-comment" name="comment" maxlength={500} autocomplete="off" />
        </>
      ),
    },
  ],
  [
    'reject',
    {
      label: 'Reject change',
      danger: true,
      fields: () => (
        <>
          <label for="revision-reject-reason">Reason for rejecting</label>
          <input id="revision-reject-reason" name="reason" required aria-required="true" maxlength={500} autocomplete="off" />
        </>
      ),
    },
  ],
  // Cancelling a change destroys nothing: no confirmation needed.
  ['cancel', { label: 'Cancel change', fields: () => <input type="hidden" name="confirmed" value="yes" /> }],
];

export function JobActions(props: {
  job: { id: string; name: string };
  actions: JobAction[];
  csrfToken: string;
  /** The actions of a revision in progress, not of the job's own run. */
  revision?: boolean;
}) {
  const { job, actions } = props;
  if (actions.length === 0) return null;
  const jobPath = `/jobs/${encodeURIComponent(job.id)}`;
  return (
    // biome-ignore lint/a11y/useSemanticElements: a row of separate forms, not one form's fieldset
    <div class="actions" role="group" aria-label={props.revision ? 'Actions on the change' : 'Actions'}>
      {(props.revision ? REVISION_ACTIONS : ACTIONS)
        .filter(([action]) => actions.includes(action))
        .map(([action, spec]) => (
          <ActionForm
            jobPath={jobPath}
            action={action}
            csrfToken={props.csrfToken}
            label={spec.label}
            danger={spec.danger}
            confirm={spec.confirm?.(job.name)}
            fields={spec.fields?.()}
          />
        ))}
    </div>
  );
}

/** A live environment's time to live, from now: longer, shorter, or none (empty). */
export function TtlForm(props: { jobId: string; csrfToken: string }) {
  return (
    <form method="post" action={`/jobs/${encodeURIComponent(props.jobId)}/ttl`} class="action with-input">
      <input type="hidden" name="_csrf" value={props.csrfToken} />
      <label for="ttl-hours">Time to live from now (hours; empty: until destroyed)</label>
      <input id="ttl-hours" name="ttlHours" inputmode="decimal" size={6} autocomplete="off" />
      <button type="submit" data-action="ttl">
        Set time to live
      </button>
    </form>
  );
}
