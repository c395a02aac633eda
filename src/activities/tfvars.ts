import { publishedPorts } from '../domain/containers.js';
import type { JobSpec, PublicJobSpec } from '../domain/jobSpec.js';
import type { UserDataArtifacts } from '../domain/instanceArtifacts.js';
import type { RenderedUserData } from '../domain/userDataScript.js';

/**
 * terraform.tfvars.json for the AWS module: what the render activity writes
 * into a job's workspace. Pure, so tests can read every byte.
 */

/** The variables of terraform/variables.tf; names must match it (tests check). */
export interface AwsModuleTfvars {
  job_id: string;
  job_name: string;
  requester: string;
  region: string;
  instance_type: string;
  volume_size_gb: number;
  ami_id: string;
  vpc_id: string;
  subnet_id: string;
  security_group_ids: string[];
  ingress_cidr: string;
  ssh_cidr: string;
  published_ports: { port: number; protocol: 'tcp' | 'udp'; container: string }[];
  metadata_hop_limit: number;
  user_data: string;
  user_data_base64: string;
  created_by: string;
  /** ARTIFACTS_BUCKET, or "" when the files travel in the user data. */
  artifacts_bucket: string;
  /** The job's own prefix in it, ending in "/" (<ARTIFACTS_PREFIX>/<jobId>/): all the instance role may read; "" without a bucket. */
  artifacts_prefix: string;
}

export interface TfvarsInput {
  jobId: string;
  /** The stored (public) spec is enough: credentials never reach tfvars. */
  spec: Pick<JobSpec | PublicJobSpec, 'name' | 'requesterEmail' | 'region' | 'network' | 'instance' | 'containers'>;
  /** The AMI the pre-flight resolved (the spec's own, or the latest Amazon Linux 2023). */
  amiId: string;
  userData: RenderedUserData;
  /** Who created the job in the service (user or API token name); tagged when given. */
  createdBy?: string;
  /** ARTIFACTS_BUCKET: where the instance fetches its files (the same the user data was rendered with). */
  artifacts?: UserDataArtifacts;
}

/** terraform.tfvars.json for the AWS module. "" means "not given" for the optional strings. */
export function renderTfvars({ jobId, spec, amiId, userData, createdBy, artifacts }: TfvarsInput): AwsModuleTfvars {
  return {
    job_id: jobId,
    job_name: spec.name,
    requester: spec.requesterEmail,
    region: spec.region,
    instance_type: spec.instance.type,
    volume_size_gb: spec.instance.volumeSizeGb,
    ami_id: amiId,
    vpc_id: spec.network?.vpcId ?? '',
    subnet_id: spec.network?.subnetId ?? '',
    security_group_ids: [...(spec.network?.securityGroupIds ?? [])],
    ingress_cidr: spec.instance.ingressCidr,
    ssh_cidr: spec.instance.sshCidr ?? '',
    // The module's variable takes exactly these attributes.
    published_ports: publishedPorts(spec.containers).map(({ port, protocol, container }) => ({ port, protocol, container })),
    metadata_hop_limit: spec.instance.metadataHopLimit2 ? 2 : 1,
    user_data: userData.encoding === 'plain' ? userData.script : '',
    user_data_base64: userData.encoding === 'gzip+base64' ? userData.script : '',
    created_by: createdBy ?? '',
    artifacts_bucket: artifacts?.bucket ?? '',
    artifacts_prefix: artifacts ? `${artifacts.keyPrefix}/` : '',
  };
}
