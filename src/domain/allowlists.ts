/**
 * The AWS regions and EC2 instance type shapes the service knows. The
 * operator narrows them with ALLOWED_REGIONS / ALLOWED_INSTANCE_TYPES; these
 * lists only catch typos such as "t3.mega" at start-up.
 */
export const AWS_REGIONS: readonly string[] = [
  'us-east-1',
  'us-east-2',
  'us-west-1',
  'us-west-2',
  'af-south-1',
  'ap-east-1',
  'ap-south-1',
  'ap-south-2',
  'ap-southeast-1',
  'ap-southeast-2',
  'ap-southeast-3',
  'ap-southeast-4',
  'ap-northeast-1',
  'ap-northeast-2',
  'ap-northeast-3',
  'ca-central-1',
  'ca-west-1',
  'eu-central-1',
  'eu-central-2',
  'eu-west-1',
  'eu-west-2',
  'eu-west-3',
  'eu-south-1',
  'eu-south-2',
  'eu-north-1',
  'il-central-1',
  'me-south-1',
  'me-central-1',
  'sa-east-1',
];

const INSTANCE_SIZES = [
  'nano',
  'micro',
  'small',
  'medium',
  'large',
  'xlarge',
  '2xlarge',
  '3xlarge',
  '4xlarge',
  '6xlarge',
  '8xlarge',
  '9xlarge',
  '10xlarge',
  '12xlarge',
  '16xlarge',
  '18xlarge',
  '24xlarge',
  '32xlarge',
  '48xlarge',
  'metal',
];

/** Family like t3, m5a, c6gn, r7iz, x2iedn; size from the list AWS uses. */
export function isInstanceType(value: string): boolean {
  const m = /^([a-z]{1,4}\d[a-z-]{0,6})\.([a-z0-9]+)$/.exec(value);
  return !!m && INSTANCE_SIZES.includes(m[2]);
}
