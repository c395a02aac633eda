import { CheckboxField, TextField, type FieldGroupProps } from './fields.js';

export function OptionsFields({ values: v, errors }: FieldGroupProps) {
  return (
    <fieldset class="card">
      <legend>Options</legend>
      <CheckboxField
        field="requireApproval"
        label="Require plan approval"
        checked={v.requireApproval}
        errors={errors.requireApproval}
        hint="The job stops after the plan until someone approves or rejects it."
      />
      <TextField
        field="ttlHours"
        label="Time to live (hours)"
        value={v.ttlHours}
        errors={errors.ttlHours}
        type="number"
        inputmode="decimal"
        hint="Destroy the environment automatically after this many hours (at most 720). Empty: keep it until destroyed."
      />
    </fieldset>
  );
}
