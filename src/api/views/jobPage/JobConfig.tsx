import type { PublicJobSpec } from '../../../domain/jobSpec.js';

/** The job's configuration as submitted; secrets are not in a public spec, so none can show. */
export function JobConfig(props: { spec: PublicJobSpec }) {
  const s = props.spec;
  const auth = s.auth;
  const rows: [string, string | undefined | null][] = [
    ['Region', s.region],
    ['Authentication', auth.method === 'assume_role' ? 'Assume role' : 'Access keys (not stored)'],
    ...(auth.method === 'assume_role'
      ? ([
          ['Role ARN', auth.roleArn],
          ['External ID', auth.externalId],
        ] as [string, string | undefined][])
      : ([['Access key ID', auth.accessKeyId]] as [string, string][])),
    ['VPC', s.network?.vpcId],
    ['Subnet', s.network?.subnetId],
    ['Extra security groups', s.network?.securityGroupIds?.join(', ')],
    ['Instance type', s.instance.type],
    ['Volume', `${s.instance.volumeSizeGb} GiB`],
    ['AMI', s.instance.amiId ?? 'latest Amazon Linux 2023'],
    ['Ports open to', s.instance.ingressCidr],
    ['SSH from', s.instance.sshCidr ?? 'closed'],
    ['Metadata hop limit 2', s.instance.metadataHopLimit2 ? 'yes' : undefined],
    ['Plan approval', s.options?.requireApproval ? 'required' : 'not required'],
    ['Time to live', s.options?.ttlHours ? `${s.options.ttlHours} hours` : 'until destroyed'],
  ];
  return (
    <>
      <dl class="facts">
        {rows
          .filter(([, v]) => v !== undefined && v !== null && v !== '')
          .map(([k, v]) => (
            <>
              <dt>{k}</dt>
              <dd>{v}</dd>
            </>
          ))}
      </dl>
      <h3>Containers</h3>
      <pre class="code">{JSON.stringify(s.containers, null, 2)}</pre>
    </>
  );
}
