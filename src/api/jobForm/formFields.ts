/**
 * The new-job form's fields: their labels, which field a spec path belongs
 * to, and the schema's messages put in the form's words. The form and the
 * API share one schema; this is what turns its spec paths into the form's
 * fields.
 */

/** Every field of the form, in the order the form shows them, with the label its messages use. */
export const FIELD_LABELS = {
  name: 'Job name',
  requesterEmail: 'Requester email',
  region: 'Region',
  authMethod: 'Authentication',
  teamAccountId: 'AWS account',
  roleArn: 'Role ARN',
  externalId: 'External ID',
  accessKeyId: 'Access key ID',
  secretAccessKey: 'Secret access key',
  sessionToken: 'Session token',
  vpcId: 'VPC',
  subnetId: 'Subnet',
  securityGroupIds: 'Security groups',
  instanceType: 'Instance type',
  volumeSizeGb: 'Volume size',
  amiId: 'AMI',
  ingressCidr: 'Ingress CIDR',
  sshCidr: 'SSH CIDR',
  metadataHopLimit2: 'Metadata hop limit',
  containersJson: 'Containers',
  usersCsv: 'Users CSV',
  requireApproval: 'Require approval',
  ttlHours: 'Time to live',
} as const;

export type FieldKey = keyof typeof FIELD_LABELS;

export interface FormError {
  /** Null for problems that belong to no single field. */
  field: FieldKey | null;
  message: string;
}

/** Everything the new-job form shows, as the user typed it (strings, so nothing typed is lost). */
export interface JobFormValues {
  name: string;
  requesterEmail: string;
  region: string;
  authMethod: 'assume_role' | 'access_keys';
  /** One of the person's team accounts; empty: the typed role ARN. */
  teamAccountId: string;
  roleArn: string;
  externalId: string;
  accessKeyId: string;
  vpcId: string;
  subnetId: string;
  securityGroupIds: string;
  instanceType: string;
  volumeSizeGb: string;
  amiId: string;
  ingressCidr: string;
  sshCidr: string;
  metadataHopLimit2: boolean;
  containersJson: string;
  /** The users CSV as text: from the upload, or kept from an earlier submit / the cloned job. */
  usersCsv: string;
  usersCsvName: string;
  requireApproval: boolean;
  ttlHours: string;
}

// The first match wins: an object's own fields come before the object, whose problems go to its first field.
const PATH_FIELDS: [string, FieldKey][] = [
  ['name', 'name'],
  ['requesterEmail', 'requesterEmail'],
  ['region', 'region'],
  ['auth.teamAccountId', 'teamAccountId'],
  ['auth.roleArn', 'roleArn'],
  ['auth.externalId', 'externalId'],
  ['auth.accessKeyId', 'accessKeyId'],
  ['auth.secretAccessKey', 'secretAccessKey'],
  ['auth.sessionToken', 'sessionToken'],
  ['auth', 'authMethod'],
  ['network.vpcId', 'vpcId'],
  ['network.subnetId', 'subnetId'],
  ['network.securityGroupIds', 'securityGroupIds'],
  ['network', 'vpcId'],
  ['instance.type', 'instanceType'],
  ['instance.volumeSizeGb', 'volumeSizeGb'],
  ['instance.amiId', 'amiId'],
  ['instance.ingressCidr', 'ingressCidr'],
  ['instance.sshCidr', 'sshCidr'],
  ['instance.metadataHopLimit2', 'metadataHopLimit2'],
  ['instance', 'instanceType'],
  ['containers', 'containersJson'],
  ['usersCsv', 'usersCsv'],
  ['options.requireApproval', 'requireApproval'],
  ['options.ttlHours', 'ttlHours'],
];

/** `containers[0].ports[1]` → containersJson; null for problems of the whole spec. */
export function fieldForPath(p: string): FieldKey | null {
  for (const [prefix, field] of PATH_FIELDS) {
    if (p === prefix || p.startsWith(`${prefix}.`) || p.startsWith(`${prefix}[`)) return field;
  }
  return null;
}

const PATH_WORDS: [RegExp, string][] = PATH_FIELDS.filter(([p]) => /[.A-Z]/.test(p))
  .sort((a, b) => b[0].length - a[0].length)
  .map(([p, field]) => [new RegExp(`\\b${p.replace(/\./g, '\\.')}\\b`, 'g'), FIELD_LABELS[field]]);

/** "auth.roleArn "x" is not …" → "Role ARN "x" is not …": the form speaks in its labels, not in spec paths. */
function friendly(message: string, field: FieldKey | null, specPath: string): string {
  let out = message;
  // A top-level field's message starts with its bare name ("name "x" must be …").
  if (field && specPath && !specPath.includes('.') && new RegExp(`^${specPath}\\b(?![.\\[])`).test(out)) {
    out = FIELD_LABELS[field] + out.slice(specPath.length);
  }
  for (const [re, label] of PATH_WORDS) out = out.replace(re, label);
  return out;
}

/** Schema issues as form errors: one per field problem, the users CSV summarised (its table lists the rows). */
export function schemaErrors(issues: { path: string; message: string }[], skipContainers: boolean): FormError[] {
  const out: FormError[] = [];
  const csv = issues.filter((i) => i.path === 'usersCsv' || i.path.startsWith('usersCsv'));
  for (const issue of issues) {
    if (skipContainers && (issue.path === 'containers' || issue.path.startsWith('containers['))) continue;
    if (csv.includes(issue) && csv.length > 1) continue;
    const field = fieldForPath(issue.path);
    out.push({ field, message: field === 'containersJson' ? issue.message : friendly(issue.message, field, issue.path) });
  }
  if (csv.length > 1) {
    out.push({ field: 'usersCsv', message: `Users CSV has ${csv.length} problems; each is listed under the file field` });
  }
  return out;
}

const FORM_ORDER = Object.keys(FIELD_LABELS);

/** The error summary reads top to bottom like the form; problems of no single field come first. */
export function inFormOrder(errors: FormError[]): FormError[] {
  return errors.sort((a, b) => (a.field ? FORM_ORDER.indexOf(a.field) : -1) - (b.field ? FORM_ORDER.indexOf(b.field) : -1));
}
