import { TextField, type FieldGroupProps } from './fields.js';

export function BasicInfoFields({ values: v, errors }: FieldGroupProps) {
  return (
    <fieldset class="card">
      <legend>Basic info</legend>
      <TextField
        field="name"
        label="Job name"
        value={v.name}
        errors={errors.name}
        required
        hint="2–63 lowercase letters, digits or hyphens; used in AWS tags."
        placeholder="demo-web"
      />
      <TextField
        field="requesterEmail"
        label="Requester email"
        value={v.requesterEmail}
        errors={errors.requesterEmail}
        required
        type="email"
        autocomplete="email"
        hint="Where the notifications go."
        placeholder="alice@example.com"
      />
    </fieldset>
  );
}
