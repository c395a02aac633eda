import { FieldErrors, SelectField, TextField, type FieldGroupProps } from './fields.js';

export interface AccountChoice {
  id: string;
  /** "team · label (account id)" */
  label: string;
}

export interface AwsFieldsProps extends FieldGroupProps {
  regions: string[];
  allowAccessKeys: boolean;
  /** The person's team accounts; jobs in them assume the account's role with an external ID only the service knows. */
  accounts: AccountChoice[];
  /** Whether a role ARN may be typed instead (not with TEAM_ACCOUNTS_ONLY). */
  allowTypedRole: boolean;
}

/** Both methods' fields are always sent; the stylesheet shows those of the chosen method, so the form works without JavaScript. */
export function AwsFields({ values: v, errors, regions, allowAccessKeys, accounts, allowTypedRole }: AwsFieldsProps) {
  const authErrors = errors.authMethod ?? [];
  const keysSelected = v.authMethod === 'access_keys';
  return (
    <fieldset class="card">
      <legend>AWS</legend>
      <SelectField field="region" label="Region" options={regions} value={v.region} errors={errors.region} />
      <fieldset
        class={`radios${authErrors.length ? ' has-error' : ''}`}
        aria-describedby={authErrors.length ? 'f-authMethod-error' : undefined}
      >
        <legend>Authentication</legend>
        <FieldErrors id="f-authMethod-error" messages={authErrors} />
        <div class="radio">
          <input type="radio" id="f-authMethod-assume_role" name="authMethod" value="assume_role" checked={!keysSelected} />
          <label for="f-authMethod-assume_role">Assume an IAM role (recommended)</label>
        </div>
        {allowAccessKeys ? (
          <div class="radio">
            <input type="radio" id="f-authMethod-access_keys" name="authMethod" value="access_keys" checked={keysSelected} />
            <label for="f-authMethod-access_keys">Access keys (never stored; the job starts at once)</label>
          </div>
        ) : (
          <p class="hint">Access keys are disabled on this service; use a role.</p>
        )}
      </fieldset>
      <div class="auth-role">
        {accounts.length ? (
          <AccountSelect
            accounts={accounts}
            value={v.teamAccountId}
            errors={errors.teamAccountId}
            allowTypedRole={allowTypedRole}
          />
        ) : null}
        {!allowTypedRole && accounts.length === 0 ? (
          <p class="hint">You are in no team with an AWS account yet: ask an admin to add you to one.</p>
        ) : null}
      </div>
      {allowTypedRole ? (
        <div class="auth-role">
          <TextField
            field="roleArn"
            label="Role ARN"
            value={v.roleArn}
            errors={errors.roleArn}
            required
            placeholder="arn:aws:iam::123456789012:role/Provisioner"
            hint={
              accounts.length
                ? 'Only without a team account: a role of your own.'
                : 'The role the service assumes in the target account.'
            }
          />
          <TextField
            field="externalId"
            label="External ID"
            value={v.externalId}
            errors={errors.externalId}
            placeholder="tenant-42"
          />
        </div>
      ) : null}
      {allowAccessKeys ? <AccessKeyFields values={v} errors={errors} /> : null}
    </fieldset>
  );
}

function AccountSelect(props: { accounts: AccountChoice[]; value: string; errors?: string[]; allowTypedRole: boolean }) {
  const messages = props.errors ?? [];
  return (
    <div class={`field${messages.length ? ' has-error' : ''}`}>
      <label for="f-teamAccountId">AWS account</label>
      <FieldErrors id="f-teamAccountId-error" messages={messages} />
      <select
        id="f-teamAccountId"
        name="teamAccountId"
        aria-invalid={messages.length ? 'true' : undefined}
        aria-describedby={messages.length ? 'f-teamAccountId-error' : undefined}
      >
        {props.accounts.map((a) => (
          <option value={a.id} selected={a.id === props.value}>
            {a.label}
          </option>
        ))}
        {props.allowTypedRole ? (
          <option value="" selected={props.value === ''}>
            a role ARN of my own (below)
          </option>
        ) : null}
      </select>
    </div>
  );
}

/** The secrets are never given back to the browser: after a failed submit they are typed again. */
function AccessKeyFields({ values: v, errors }: FieldGroupProps) {
  return (
    <div class="auth-keys">
      <TextField
        field="accessKeyId"
        label="Access key ID"
        value={v.accessKeyId}
        errors={errors.accessKeyId}
        required
        placeholder="AKIA…"
      />
      <TextField
        field="secretAccessKey"
        label="Secret access key"
        value=""
        errors={errors.secretAccessKey}
        required
        type="password"
        autocomplete="new-password"
        hint="Never stored, never shown again: after a failed submit, enter it again."
      />
      <TextField
        field="sessionToken"
        label="Session token"
        value=""
        errors={errors.sessionToken}
        type="password"
        autocomplete="new-password"
        hint="Only for temporary (ASIA…) keys."
      />
    </div>
  );
}
