import { TextField, type FieldGroupProps } from './fields.js';

export function NetworkFields({ values: v, errors }: FieldGroupProps) {
  return (
    <fieldset class="card">
      <legend>Network</legend>
      <p class="hint">Leave all three empty to use the region's default VPC.</p>
      <div class="grid2">
        <TextField field="vpcId" label="VPC" value={v.vpcId} errors={errors.vpcId} placeholder="vpc-0abc1234" />
        <TextField field="subnetId" label="Subnet" value={v.subnetId} errors={errors.subnetId} placeholder="subnet-0abc1234" />
      </div>
      <TextField
        field="securityGroupIds"
        label="Extra security groups"
        value={v.securityGroupIds}
        errors={errors.securityGroupIds}
        placeholder="sg-0abc1234, sg-0def5678"
        hint="Comma-separated; the job also creates its own group for the published ports."
      />
    </fieldset>
  );
}
