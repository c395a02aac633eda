import type { FormError, JobFormValues } from '../jobForm/formFields.js';
import { type AccountChoice, AwsFields } from './jobForm/AwsFields.js';
import { BasicInfoFields } from './jobForm/BasicInfoFields.js';
import { ContainersField } from './jobForm/ContainersField.js';
import { fieldId, type FieldErrorMap } from './jobForm/fields.js';
import { InstanceFields } from './jobForm/InstanceFields.js';
import { NetworkFields } from './jobForm/NetworkFields.js';
import { OptionsFields } from './jobForm/OptionsFields.js';
import { UsersCsvField, type CsvPreviewData } from './jobForm/UsersCsvField.js';

export interface JobFormProps {
  values: JobFormValues;
  errors: FormError[];
  regions: string[];
  instanceTypes: string[];
  allowAccessKeys: boolean;
  /** The person's team accounts, and whether a role ARN may be typed instead. */
  accounts: AccountChoice[];
  allowTypedRole: boolean;
  csrfToken: string;
  /** The parsed users CSV, when there is one: preview rows and per-row problems. */
  csvPreview: CsvPreviewData | null;
  clonedFrom?: { id: string; name: string };
  /** After "Check form" without problems. */
  checked?: boolean;
}

export function errorsByField(errors: FormError[]): FieldErrorMap {
  const byField: FieldErrorMap = {};
  for (const e of errors) {
    if (!e.field) continue;
    byField[e.field] ??= [];
    byField[e.field]!.push(e.message);
  }
  return byField;
}

/** Every problem at the top, each linked to its field: the first thing a screen reader announces after a submit. */
export function ErrorSummary(props: { errors: FormError[] }) {
  return (
    <div class="error-summary" role="alert" aria-labelledby="error-summary-title" tabindex={-1} data-autofocus>
      <h2 id="error-summary-title">
        {props.errors.length === 1 ? 'There is a problem' : `There are ${props.errors.length} problems`}
      </h2>
      <ul>
        {props.errors.map((e) => (
          <li>{e.field ? <a href={`#${fieldId(e.field)}`}>{e.message}</a> : e.message}</li>
        ))}
      </ul>
    </div>
  );
}

export function JobForm(props: JobFormProps) {
  const values = props.values;
  const errors = errorsByField(props.errors);
  return (
    <>
      <div class="page-head">
        <h1>New job</h1>
      </div>
      {props.clonedFrom ? (
        <p class="notice" role="status">
          Prefilled from job <a href={`/jobs/${encodeURIComponent(props.clonedFrom.id)}`}>{props.clonedFrom.name}</a>. Secrets are
          never copied; give them again if the job needs them.
        </p>
      ) : null}
      {props.errors.length > 0 ? (
        <ErrorSummary errors={props.errors} />
      ) : props.checked ? (
        <p class="notice" role="status">
          No problems found. The job is not created yet: choose “Create job” or “Create and start”.
        </p>
      ) : null}
      <form method="post" action="/jobs" enctype="multipart/form-data" novalidate class="job-form" id="job-form">
        <input type="hidden" name="_csrf" value={props.csrfToken} />
        <BasicInfoFields values={values} errors={errors} />
        <AwsFields
          values={values}
          errors={errors}
          regions={props.regions}
          allowAccessKeys={props.allowAccessKeys}
          accounts={props.accounts}
          allowTypedRole={props.allowTypedRole}
        />
        <NetworkFields values={values} errors={errors} />
        <InstanceFields values={values} errors={errors} instanceTypes={props.instanceTypes} />
        <ContainersField values={values} errors={errors} />
        <UsersCsvField values={values} errors={errors} csvPreview={props.csvPreview} />
        <OptionsFields values={values} errors={errors} />
        <div class="form-actions">
          <button type="submit" name="intent" value="create">
            Create job
          </button>
          <button type="submit" name="intent" value="start" class="secondary">
            Create and start
          </button>
          <button type="submit" name="intent" value="check" class="secondary">
            Check form
          </button>
        </div>
      </form>
    </>
  );
}
