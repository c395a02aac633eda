import type { Child } from 'hono/jsx';
import type { FieldKey, JobFormValues } from '../../jobForm/formFields.js';

/** Each field's messages, as the field groups receive them. */
export type FieldErrorMap = Partial<Record<FieldKey, string[]>>;

/** The element a field's error points at (summary links, aria-describedby). */
export function fieldId(key: FieldKey): string {
  if (key === 'usersCsv') return 'f-usersCsvFile';
  if (key === 'authMethod') return 'f-authMethod-assume_role';
  return `f-${key}`;
}

export function describedBy(...ids: (string | false | 0 | undefined | null)[]): string | undefined {
  const list = ids.filter(Boolean) as string[];
  return list.length ? list.join(' ') : undefined;
}

/** A field's messages, placed between its label and its control so a screen reader meets them first. */
export function FieldErrors(props: { id: string; messages: string[] }) {
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

export interface TextFieldProps {
  field: FieldKey;
  label: string;
  value: string;
  errors?: string[];
  hint?: Child;
  type?: string;
  required?: boolean;
  placeholder?: string;
  autocomplete?: string;
  inputmode?: 'numeric' | 'decimal' | 'email' | 'text';
}

/** A labelled text input with its hint and its errors tied to it. */
export function TextField(props: TextFieldProps) {
  const id = fieldId(props.field);
  const messages = props.errors ?? [];
  const hintId = props.hint ? `${id}-hint` : undefined;
  const errId = messages.length ? `${id}-error` : undefined;
  return (
    <div class={`field${messages.length ? ' has-error' : ''}`}>
      <label for={id}>
        {props.label}
        {props.required ? null : <span class="optional"> (optional)</span>}
      </label>
      {props.hint ? (
        <p class="hint" id={hintId}>
          {props.hint}
        </p>
      ) : null}
      <FieldErrors id={`${id}-error`} messages={messages} />
      <input
        id={id}
        name={props.field}
        type={props.type ?? 'text'}
        value={props.value}
        required={props.required}
        aria-required={props.required ? 'true' : undefined}
        aria-invalid={messages.length ? 'true' : undefined}
        aria-describedby={describedBy(hintId, errId)}
        placeholder={props.placeholder}
        autocomplete={props.autocomplete ?? 'off'}
        inputmode={props.inputmode}
        spellcheck={false}
      />
    </div>
  );
}

/** A required choice; a value no longer offered (a cloned job's old region) stays selectable rather than silently changed. */
export function SelectField(props: { field: FieldKey; label: string; options: string[]; value: string; errors?: string[] }) {
  const id = fieldId(props.field);
  const messages = props.errors ?? [];
  const { options, value } = props;
  const list = options.includes(value) || value === '' ? options : [value, ...options];
  return (
    <div class={`field${messages.length ? ' has-error' : ''}`}>
      <label for={id}>{props.label}</label>
      <FieldErrors id={`${id}-error`} messages={messages} />
      <select
        id={id}
        name={props.field}
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
}

export function CheckboxField(props: { field: FieldKey; label: string; checked: boolean; hint?: string; errors?: string[] }) {
  const id = fieldId(props.field);
  const messages = props.errors ?? [];
  const hintId = props.hint ? `${id}-hint` : undefined;
  return (
    <div class={`field check${messages.length ? ' has-error' : ''}`}>
      <FieldErrors id={`${id}-error`} messages={messages} />
      <input
        id={id}
        name={props.field}
        type="checkbox"
        value="on"
        checked={props.checked}
        aria-invalid={messages.length ? 'true' : undefined}
        aria-describedby={describedBy(hintId, messages.length && `${id}-error`)}
      />
      <label for={id}>{props.label}</label>
      {props.hint ? (
        <p class="hint" id={hintId}>
          {props.hint}
        </p>
      ) : null}
    </div>
  );
}

/** What every field group receives: the values to show and each field's messages. */
export interface FieldGroupProps {
  values: JobFormValues;
  errors: FieldErrorMap;
}
