import { APPROVAL_POLICIES } from '../../../domain/teamPolicy.js';

export interface TeamFormValues {
  name: string;
  oidcGroup: string;
  regions: string;
  instanceTypes: string;
  maxTtlHours: string;
  maxLiveJobs: string;
  approvalPolicy: string;
}

const APPROVAL_LABELS: Record<string, string> = {
  never: 'as the requester chooses',
  always: 'always',
  on_replace: 'when the plan replaces or destroys something',
};

function Field(props: { name: keyof TeamFormValues; label: string; value: string; errors?: string[]; hint?: string }) {
  const id = `t-${props.name}`;
  const errors = props.errors ?? [];
  return (
    <div class={`field${errors.length ? ' has-error' : ''}`}>
      <label for={id}>{props.label}</label>
      {errors.map((e) => (
        <p class="field-error" id={`${id}-error`}>
          {e}
        </p>
      ))}
      <input id={id} name={props.name} value={props.value} aria-invalid={errors.length ? 'true' : undefined} />
      {props.hint ? <p class="hint">{props.hint}</p> : null}
    </div>
  );
}

/** A team's name, group and rules; empty rules leave the service's own allowlists as they are. */
export function TeamSettingsForm(props: {
  action: string;
  csrfToken: string;
  values: TeamFormValues;
  errors: Record<string, string[]>;
  submit: string;
}) {
  const { values: v, errors: e } = props;
  return (
    <form method="post" action={props.action}>
      <input type="hidden" name="_csrf" value={props.csrfToken} />
      <Field name="name" label="Name" value={v.name} errors={e.name} />
      <Field
        name="oidcGroup"
        label="Identity provider group"
        value={v.oidcGroup}
        errors={e.oidcGroup}
        hint="People in this group join at sign-in."
      />
      <Field
        name="regions"
        label="Regions"
        value={v.regions}
        errors={e.regions}
        hint="Comma separated; empty: all the service allows."
      />
      <Field
        name="instanceTypes"
        label="Instance types"
        value={v.instanceTypes}
        errors={e.instanceTypes}
        hint="Comma separated; empty: all the service allows."
      />
      <Field
        name="maxTtlHours"
        label="Longest time to live (hours)"
        value={v.maxTtlHours}
        errors={e.maxTtlHours}
        hint="Jobs without one get this one."
      />
      <Field name="maxLiveJobs" label="Live environments at most" value={v.maxLiveJobs} errors={e.maxLiveJobs} />
      <div class="field">
        <label for="t-approvalPolicy">Plan approval</label>
        <select id="t-approvalPolicy" name="approvalPolicy">
          {APPROVAL_POLICIES.map((p) => (
            <option value={p} selected={v.approvalPolicy === p}>
              {APPROVAL_LABELS[p]}
            </option>
          ))}
        </select>
      </div>
      <button type="submit">{props.submit}</button>
    </form>
  );
}
