import type { Child } from 'hono/jsx';
import type { AppUser, CsvRowError } from '../../domain/usersCsv.js';

/** Everything the new-job form shows, as the user typed it (strings, so nothing typed is lost). */
export interface JobFormValues {
  name: string;
  requesterEmail: string;
  region: string;
  authMethod: 'assume_role' | 'access_keys';
  roleArn: string;
  externalId: string;
  accessKeyId: string;
  vpcId: string;
  subnetId: string;
  securityGroupIds: string;
  instanceType: string;
  volumeSizeGb: string;
  amiId: string;
  ingressCidr: string;
  sshCidr: string;
  metadataHopLimit2: boolean;
  containersJson: string;
  /** The users CSV as text: from the upload, or kept from an earlier submit / the cloned job. */
  usersCsv: string;
  usersCsvName: string;
  requireApproval: boolean;
  ttlHours: string;
}

export type FieldKey =
  | 'name'
  | 'requesterEmail'
  | 'region'
  | 'authMethod'
  | 'roleArn'
  | 'externalId'
  | 'accessKeyId'
  | 'secretAccessKey'
  | 'sessionToken'
  | 'vpcId'
  | 'subnetId'
  | 'securityGroupIds'
  | 'instanceType'
  | 'volumeSizeGb'
  | 'amiId'
  | 'ingressCidr'
  | 'sshCidr'
  | 'metadataHopLimit2'
  | 'containersJson'
  | 'usersCsv'
  | 'requireApproval'
  | 'ttlHours';

/** The element a field's error points at (summary links, aria-describedby). */
export function fieldId(key: FieldKey): string {
  if (key === 'usersCsv') return 'f-usersCsvFile';
  if (key === 'authMethod') return 'f-authMethod-assume_role';
  return `f-${key}`;
}

export interface FormError {
  /** Null for problems that belong to no single field. */
  field: FieldKey | null;
  message: string;
}

export const EXAMPLE_CONTAINERS_JSON = `[
  {
    "name": "webapp",
    "image": "nginx:1.27",
    "ports": ["80:80"],
    "environment": { "GREETING": "hello" },
    "restart": "unless-stopped"
  }
]`;

export interface JobFormProps {
  values: JobFormValues;
  errors: FormError[];
  regions: string[];
  instanceTypes: string[];
  allowAccessKeys: boolean;
  csrfToken: string;
  /** The parsed users CSV, when there is one: preview rows and per-row problems. */
  csvPreview: { users: AppUser[]; errors: CsvRowError[] } | null;
  clonedFrom?: { id: string; name: string };
  /** After "Check form" without problems. */
  checked?: boolean;
}

const PREVIEW_ROWS = 100;

function describedBy(...ids: (string | false | 0 | undefined | null)[]): string | undefined {
  const list = ids.filter(Boolean) as string[];
  return list.length ? list.join(' ') : undefined;
}

function FieldErrors(props: { id: string; messages: string[] }) {
  if (props.messages.length === 0) return null;
  return (
    <div class="field-error" id={props.id}>
      {props.messages.length === 1 ? (
        <p>
          <span class="visually-hidden">Error: </span>
          {props.messages[0]}
        </p>
      ) : (
        <ul>
          {props.messages.map((m) => (
            <li>
              <span class="visually-hidden">Error: </span>
              {m}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function JobForm(props: JobFormProps) {
  const v = props.values;
  const byField = new Map<FieldKey, string[]>();
  for (const e of props.errors) {
    if (!e.field) continue;
    byField.set(e.field, [...(byField.get(e.field) ?? []), e.message]);
  }
  const errs = (key: FieldKey) => byField.get(key) ?? [];

  /** A labelled text input with its hint and its errors tied to it. */
  const text = (
    key: FieldKey,
    label: string,
    opts: {
      value?: string;
      hint?: Child;
      type?: string;
      required?: boolean;
      placeholder?: string;
      autocomplete?: string;
      inputmode?: 'numeric' | 'decimal' | 'email' | 'text';
      class?: string;
    } = {},
  ) => {
    const id = fieldId(key);
    const messages = errs(key);
    const hintId = opts.hint ? `${id}-hint` : undefined;
    const errId = messages.length ? `${id}-error` : undefined;
    return (
      <div class={`field${messages.length ? ' has-error' : ''}${opts.class ? ` ${opts.class}` : ''}`}>
        <label for={id}>
          {label}
          {opts.required ? null : <span class="optional"> (optional)</span>}
        </label>
        {opts.hint ? (
          <p class="hint" id={hintId}>
            {opts.hint}
          </p>
        ) : null}
        <FieldErrors id={`${id}-error`} messages={messages} />
        <input
          id={id}
          name={key}
          type={opts.type ?? 'text'}
          value={opts.value ?? (v as unknown as Record<string, string>)[key] ?? ''}
          required={opts.required}
          aria-required={opts.required ? 'true' : undefined}
          aria-invalid={messages.length ? 'true' : undefined}
          aria-describedby={describedBy(hintId, errId)}
          placeholder={opts.placeholder}
          autocomplete={opts.autocomplete ?? 'off'}
          inputmode={opts.inputmode}
          spellcheck={false}
        />
      </div>
    );
  };

  const select = (key: FieldKey, label: string, options: string[], value: string) => {
    const id = fieldId(key);
    const messages = errs(key);
    const list = options.includes(value) || value === '' ? options : [value, ...options];
    return (
      <div class={`field${messages.length ? ' has-error' : ''}`}>
        <label for={id}>{label}</label>
        <FieldErrors id={`${id}-error`} messages={messages} />
        <select
          id={id}
          name={key}
          required
          aria-invalid={messages.length ? 'true' : undefined}
          aria-describedby={messages.length ? `${id}-error` : undefined}
        >
          {list.map((o) => (
            <option value={o} selected={o === value}>
              {o}
            </option>
          ))}
        </select>
      </div>
    );
  };

  const checkbox = (key: FieldKey, label: string, checked: boolean, hint?: string) => {
    const id = fieldId(key);
    const messages = errs(key);
    const hintId = hint ? `${id}-hint` : undefined;
    return (
      <div class={`field check${messages.length ? ' has-error' : ''}`}>
        <FieldErrors id={`${id}-error`} messages={messages} />
        <input
          id={id}
          name={key}
          type="checkbox"
          value="on"
          checked={checked}
          aria-invalid={messages.length ? 'true' : undefined}
          aria-describedby={describedBy(hintId, messages.length && `${id}-error`)}
        />
        <label for={id}>{label}</label>
        {hint ? (
          <p class="hint" id={hintId}>
            {hint}
          </p>
        ) : null}
      </div>
    );
  };

  const authErrors = errs('authMethod');
  const containersErrors = errs('containersJson');
  const csvErrors = errs('usersCsv');
  const csvId = fieldId('usersCsv');
  const keysSelected = v.authMethod === 'access_keys';

  return (
    <>
      <div class="page-head">
        <h1>New job</h1>
      </div>
      {props.clonedFrom ? (
        <p class="notice" role="status">
          Prefilled from job <a href={`/jobs/${encodeURIComponent(props.clonedFrom.id)}`}>{props.clonedFrom.name}</a>. Secrets
          are never copied; give them again if the job needs them.
        </p>
      ) : null}
      {props.errors.length > 0 ? (
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
      ) : props.checked ? (
        <p class="notice" role="status">
          No problems found. The job is not created yet: choose “Create job” or “Create and start”.
        </p>
      ) : null}
      <form method="post" action="/jobs" enctype="multipart/form-data" novalidate class="job-form" id="job-form">
        <input type="hidden" name="_csrf" value={props.csrfToken} />

        <fieldset class="card">
          <legend>Basic info</legend>
          {text('name', 'Job name', {
            required: true,
            hint: '2–63 lowercase letters, digits or hyphens; used in AWS tags.',
            placeholder: 'demo-web',
          })}
          {text('requesterEmail', 'Requester email', {
            required: true,
            type: 'email',
            autocomplete: 'email',
            hint: 'Where the notifications go.',
            placeholder: 'alice@example.com',
          })}
        </fieldset>

        <fieldset class="card">
          <legend>AWS</legend>
          {select('region', 'Region', props.regions, v.region)}
          <fieldset
            class={`radios${authErrors.length ? ' has-error' : ''}`}
            aria-describedby={authErrors.length ? 'f-authMethod-error' : undefined}
          >
            <legend>Authentication</legend>
            <FieldErrors id="f-authMethod-error" messages={authErrors} />
            <div class="radio">
              <input
                type="radio"
                id="f-authMethod-assume_role"
                name="authMethod"
                value="assume_role"
                checked={!keysSelected}
              />
              <label for="f-authMethod-assume_role">Assume an IAM role (recommended)</label>
            </div>
            {props.allowAccessKeys ? (
              <div class="radio">
                <input
                  type="radio"
                  id="f-authMethod-access_keys"
                  name="authMethod"
                  value="access_keys"
                  checked={keysSelected}
                />
                <label for="f-authMethod-access_keys">Access keys (never stored; the job starts at once)</label>
              </div>
            ) : (
              <p class="hint">Access keys are disabled on this service; use a role.</p>
            )}
          </fieldset>
          <div class="auth-role">
            {text('roleArn', 'Role ARN', {
              required: true,
              placeholder: 'arn:aws:iam::123456789012:role/Provisioner',
              hint: 'The role the service assumes in the target account.',
            })}
            {text('externalId', 'External ID', { placeholder: 'tenant-42' })}
          </div>
          {props.allowAccessKeys ? (
            <div class="auth-keys">
              {text('accessKeyId', 'Access key ID', { required: true, placeholder: 'AKIA…' })}
              {text('secretAccessKey', 'Secret access key', {
                required: true,
                type: 'password',
                value: '',
                autocomplete: 'new-password',
                hint: 'Never stored, never shown again: after a failed submit, enter it again.',
              })}
              {text('sessionToken', 'Session token', {
                type: 'password',
                value: '',
                autocomplete: 'new-password',
                hint: 'Only for temporary (ASIA…) keys.',
              })}
            </div>
          ) : null}
        </fieldset>

        <fieldset class="card">
          <legend>Network</legend>
          <p class="hint">Leave all three empty to use the region's default VPC.</p>
          <div class="grid2">
            {text('vpcId', 'VPC', { placeholder: 'vpc-0abc1234' })}
            {text('subnetId', 'Subnet', { placeholder: 'subnet-0abc1234' })}
          </div>
          {text('securityGroupIds', 'Extra security groups', {
            placeholder: 'sg-0abc1234, sg-0def5678',
            hint: 'Comma-separated; the job also creates its own group for the published ports.',
          })}
        </fieldset>

        <fieldset class="card">
          <legend>EC2</legend>
          <div class="grid2">
            {select('instanceType', 'Instance type', props.instanceTypes, v.instanceType)}
            {text('volumeSizeGb', 'Volume size (GiB)', {
              required: true,
              type: 'number',
              inputmode: 'numeric',
              hint: '8–1024 GiB, encrypted.',
            })}
          </div>
          {text('amiId', 'AMI', { placeholder: 'ami-0abc1234', hint: 'Empty: the latest Amazon Linux 2023.' })}
          <div class="grid2">
            {text('ingressCidr', 'Who may reach the published ports', {
              placeholder: '0.0.0.0/0',
              hint: 'An IPv4 CIDR; empty means anyone.',
            })}
            {text('sshCidr', 'SSH from', { placeholder: '203.0.113.0/24', hint: 'Empty: SSH stays closed.' })}
          </div>
          {checkbox(
            'metadataHopLimit2',
            'Let containers reach the instance metadata service (hop limit 2)',
            v.metadataHopLimit2,
          )}
        </fieldset>

        <fieldset class="card">
          <legend>Docker</legend>
          <div class={`field${containersErrors.length ? ' has-error' : ''}`}>
            <label for="f-containersJson">Containers (JSON)</label>
            <p class="hint" id="f-containersJson-hint">
              A list of containers: name, image, and optionally ports ("host:container"), environment, volumes
              ("/host:/container"), restart, command.{' '}
              <strong>Environment values travel in the instance's user data, readable on the instance: they are not a
              place for secrets.</strong>
            </p>
            <FieldErrors id="f-containersJson-error" messages={containersErrors} />
            <textarea
              id="f-containersJson"
              name="containersJson"
              rows={12}
              class="code"
              spellcheck={false}
              autocapitalize="off"
              required
              aria-required="true"
              aria-invalid={containersErrors.length ? 'true' : undefined}
              aria-describedby={describedBy('f-containersJson-hint', containersErrors.length && 'f-containersJson-error')}
            >
              {v.containersJson}
            </textarea>
          </div>
        </fieldset>

        <fieldset class="card">
          <legend>Users</legend>
          <div class={`field${csvErrors.length ? ' has-error' : ''}`}>
            <label for={csvId}>
              Users CSV<span class="optional"> (optional)</span>
            </label>
            <p class="hint" id={`${csvId}-hint`}>
              Columns username, email, role, display_name; UTF-8, at most 1 MB. The instance receives them as /opt/app/users.csv.
            </p>
            <FieldErrors id={`${csvId}-error`} messages={csvErrors} />
            {v.usersCsv ? (
              <p class="kept" id={`${csvId}-kept`}>
                Using <strong>{v.usersCsvName || 'users.csv'}</strong>
                {props.csvPreview ? ` (${props.csvPreview.users.length} valid users)` : ''}. Choose another file to replace
                it.
              </p>
            ) : null}
            <input
              id={csvId}
              name="usersCsvFile"
              type="file"
              accept=".csv,text/csv"
              aria-invalid={csvErrors.length ? 'true' : undefined}
              aria-describedby={describedBy(`${csvId}-hint`, csvErrors.length && `${csvId}-error`, v.usersCsv && `${csvId}-kept`)}
            />
            <input type="hidden" name="usersCsvText" value={v.usersCsv} />
            <input type="hidden" name="usersCsvName" value={v.usersCsvName} />
            {v.usersCsv ? (
              <div class="check">
                <input type="checkbox" id="f-usersCsvClear" name="usersCsvClear" value="on" />
                <label for="f-usersCsvClear">Remove the users file</label>
              </div>
            ) : null}
          </div>
          {props.csvPreview ? <CsvPreview preview={props.csvPreview} /> : null}
        </fieldset>

        <fieldset class="card">
          <legend>Options</legend>
          {checkbox(
            'requireApproval',
            'Require plan approval',
            v.requireApproval,
            'The job stops after the plan until someone approves or rejects it.',
          )}
          {text('ttlHours', 'Time to live (hours)', {
            type: 'number',
            inputmode: 'decimal',
            hint: 'Destroy the environment automatically after this many hours (at most 720). Empty: keep it until destroyed.',
          })}
        </fieldset>

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

function CsvPreview(props: { preview: { users: AppUser[]; errors: CsvRowError[] } }) {
  const { users, errors } = props.preview;
  return (
    <div class="csv-preview">
      {errors.length > 0 ? (
        <>
          <h3 id="csv-problems">Problems in the file ({errors.length})</h3>
          <div class="table-scroll">
            <table class="compact">
              <thead>
                <tr>
                  <th scope="col">Line</th>
                  <th scope="col">Column</th>
                  <th scope="col">Problem</th>
                </tr>
              </thead>
              <tbody>
                {errors.slice(0, PREVIEW_ROWS).map((e) => (
                  <tr class="row-error">
                    <td>{e.line ?? '—'}</td>
                    <td>{e.column ?? ''}</td>
                    <td>{e.message}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {errors.length > PREVIEW_ROWS ? <p class="hint">…and {errors.length - PREVIEW_ROWS} more.</p> : null}
        </>
      ) : null}
      <h3>
        Preview: {users.length} valid {users.length === 1 ? 'user' : 'users'}
      </h3>
      {users.length > 0 ? (
        <UsersTable users={users.slice(0, PREVIEW_ROWS)} />
      ) : (
        <p class="hint">No valid rows.</p>
      )}
      {users.length > PREVIEW_ROWS ? <p class="hint">…and {users.length - PREVIEW_ROWS} more.</p> : null}
    </div>
  );
}

export function UsersTable(props: { users: AppUser[] }) {
  return (
    <div class="table-scroll">
      <table class="compact users">
        <thead>
          <tr>
            <th scope="col">Username</th>
            <th scope="col">Email</th>
            <th scope="col">Role</th>
            <th scope="col">Display name</th>
          </tr>
        </thead>
        <tbody>
          {props.users.map((u) => (
            <tr>
              <td>{u.username}</td>
              <td>{u.email}</td>
              <td>{u.role ?? ''}</td>
              <td>{u.displayName ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
