import { describedBy, FieldErrors, type FieldGroupProps } from './fields.js';

export function ContainersField({ values: v, errors }: FieldGroupProps) {
  const messages = errors.containersJson ?? [];
  return (
    <fieldset class="card">
      <legend>Docker</legend>
      <div class={`field${messages.length ? ' has-error' : ''}`}>
        <label for="f-containersJson">Containers (JSON)</label>
        <p class="hint" id="f-containersJson-hint">
          A list of containers: name, image, and optionally ports ("host:container"), environment, volumes ("/host:/container"),
          restart, command.{' '}
          <strong>
            Environment values travel in the instance's user data, readable on the instance: they are not a place for secrets.
          </strong>
        </p>
        <FieldErrors id="f-containersJson-error" messages={messages} />
        <textarea
          id="f-containersJson"
          name="containersJson"
          rows={12}
          class="code"
          spellcheck={false}
          autocapitalize="off"
          required
          aria-required="true"
          aria-invalid={messages.length ? 'true' : undefined}
          aria-describedby={describedBy('f-containersJson-hint', messages.length && 'f-containersJson-error')}
        >
          {v.containersJson}
        </textarea>
      </div>
    </fieldset>
  );
}
