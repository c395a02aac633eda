import { CheckboxField, SelectField, TextField, type FieldGroupProps } from './fields.js';

/**
 * The EC2 fieldset. On the Change form of a live environment (`change`) it has
 * only what a revision can change: no AMI or hop limit, and the volume only grows.
 */
export function InstanceFields({
  values: v,
  errors,
  instanceTypes,
  change,
}: FieldGroupProps & { instanceTypes: string[]; change?: { currentVolumeGb: number } }) {
  return (
    <fieldset class="card">
      <legend>EC2</legend>
      <div class="grid2">
        <SelectField
          field="instanceType"
          label="Instance type"
          options={instanceTypes}
          value={v.instanceType}
          errors={errors.instanceType}
        />
        <TextField
          field="volumeSizeGb"
          label="Volume size (GiB)"
          value={v.volumeSizeGb}
          errors={errors.volumeSizeGb}
          required
          type="number"
          inputmode="numeric"
          hint={change ? `Now ${change.currentVolumeGb} GiB; it can only grow.` : '8–1024 GiB, encrypted.'}
        />
      </div>
      {change ? null : (
        <TextField
          field="amiId"
          label="AMI"
          value={v.amiId}
          errors={errors.amiId}
          placeholder="ami-0abc1234"
          hint="Empty: the latest Amazon Linux 2023."
        />
      )}
      <div class="grid2">
        <TextField
          field="ingressCidr"
          label="Who may reach the published ports"
          value={v.ingressCidr}
          errors={errors.ingressCidr}
          placeholder="0.0.0.0/0"
          hint={
            <>
              An IPv4 CIDR such as your office's.{' '}
              <strong class="warn">Empty opens every published port to the whole internet (0.0.0.0/0).</strong>
            </>
          }
        />
        <TextField
          field="sshCidr"
          label="SSH from"
          value={v.sshCidr}
          errors={errors.sshCidr}
          placeholder="203.0.113.0/24"
          hint="Empty: SSH stays closed."
        />
      </div>
      {change ? null : (
        <CheckboxField
          field="metadataHopLimit2"
          label="Let containers reach the instance metadata service (hop limit 2)"
          checked={v.metadataHopLimit2}
          errors={errors.metadataHopLimit2}
        />
      )}
    </fieldset>
  );
}
