import type { FormError, JobFormValues } from '../jobForm/formFields.js';
import { ErrorSummary, errorsByField } from './JobForm.js';
import { ContainersField } from './jobForm/ContainersField.js';
import { InstanceFields } from './jobForm/InstanceFields.js';
import { type CsvPreviewData, UsersCsvField } from './jobForm/UsersCsvField.js';

export interface ChangeFormProps {
  job: { id: string; name: string };
  /** Prefilled with what the environment runs now. */
  values: JobFormValues;
  reason: string;
  errors: FormError[];
  instanceTypes: string[];
  /** The volume's size now: it may only grow. */
  currentVolumeGb: number;
  /** Whether the job (or its team) asks for approval of every plan. */
  approvalRequired: boolean;
  csrfToken: string;
  csvPreview: CsvPreviewData | null;
}

/** A change to a live environment: what can change without starting over, prefilled with what runs now. */
export function ChangeForm(props: ChangeFormProps) {
  const v = props.values;
  const errors = errorsByField(props.errors);
  const jobPath = `/jobs/${encodeURIComponent(props.job.id)}`;
  return (
    <>
      <p class="crumbs">
        <a href="/">Jobs</a> › <a href={jobPath}>{props.job.name}</a> ›
      </p>
      <div class="page-head">
        <h1>Change {props.job.name}</h1>
      </div>
      <p class="hint">
        The change is planned first and shown on the job page; containers and users are changed on the running instance, a new
        instance type stops and starts it, and anything that would replace the instance is marked in the plan and waits for an
        approval.{props.approvalRequired ? ' This job asks for approval of every change.' : ''} If the change fails, the
        environment keeps running as it is.
      </p>
      {props.errors.length > 0 ? <ErrorSummary errors={props.errors} /> : null}
      <form method="post" action={`${jobPath}/change`} enctype="multipart/form-data" novalidate class="job-form" id="change-form">
        <input type="hidden" name="_csrf" value={props.csrfToken} />
        <InstanceFields
          values={v}
          errors={errors}
          instanceTypes={props.instanceTypes}
          change={{ currentVolumeGb: props.currentVolumeGb }}
        />
        <ContainersField values={v} errors={errors} />
        <UsersCsvField values={v} errors={errors} csvPreview={props.csvPreview} />
        <fieldset class="card">
          <legend>Why</legend>
          <div class="field">
            <label for="f-reason">
              Reason<span class="optional"> (optional)</span>
            </label>
            <input id="f-reason" name="reason" value={props.reason} maxlength={500} autocomplete="off" />
          </div>
        </fieldset>
        <div class="form-actions">
          <button type="submit">Plan the change</button>
          <a href={jobPath} class="button secondary">
            Back to the job
          </a>
        </div>
      </form>
    </>
  );
}
