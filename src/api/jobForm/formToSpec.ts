import path from 'node:path';
import type { Config } from '../../config.js';
import type { PublicJobSpec } from '../../domain/jobSpec.js';
import { MAX_CSV_BYTES, parseUsersCsv } from '../../domain/usersCsv.js';
import type { FormError, JobFormValues } from './formFields.js';
import { locateJsonError } from './jsonErrorLocator.js';

/**
 * The new-job form ⇄ the job spec: what a submitted form becomes (the values
 * to show again and the input for the schema), and what the form starts
 * with, empty or from a stored job.
 */

export const EXAMPLE_CONTAINERS_JSON = `[
  {
    "name": "webapp",
    "image": "nginx:1.27",
    "ports": ["80:80"],
    "environment": { "GREETING": "hello" },
    "restart": "unless-stopped"
  }
]`;

type FormConfig = Pick<Config, 'ALLOWED_REGIONS' | 'ALLOWED_INSTANCE_TYPES' | 'ALLOW_ACCESS_KEY_AUTH'>;

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** A number when the text is one, else the text itself, so the schema's message names what was typed. */
function formNumber(v: string): number | string | undefined {
  const t = v.trim();
  if (t === '') return undefined;
  return /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : t;
}

export function defaultValues(config: FormConfig): JobFormValues {
  return {
    name: '',
    requesterEmail: '',
    region: config.ALLOWED_REGIONS[0] ?? '',
    authMethod: 'assume_role',
    teamAccountId: '',
    roleArn: '',
    externalId: '',
    accessKeyId: '',
    vpcId: '',
    subnetId: '',
    securityGroupIds: '',
    instanceType: config.ALLOWED_INSTANCE_TYPES[0] ?? '',
    volumeSizeGb: '20',
    amiId: '',
    ingressCidr: '',
    sshCidr: '',
    metadataHopLimit2: false,
    containersJson: EXAMPLE_CONTAINERS_JSON,
    usersCsv: '',
    usersCsvName: '',
    requireApproval: false,
    ttlHours: '',
  };
}

/** A stored (public) spec as form values: no secret is ever in it, and none is added. */
export function valuesFromSpec(config: FormConfig, job: { name: string }, spec: PublicJobSpec): JobFormValues {
  const base = defaultValues(config);
  const copyName = `${spec.name}-copy`;
  const keys = spec.auth.method === 'access_keys' && config.ALLOW_ACCESS_KEY_AUTH;
  return {
    ...base,
    name: copyName.length <= 63 ? copyName : spec.name,
    requesterEmail: spec.requesterEmail ?? '',
    region: spec.region ?? base.region,
    authMethod: keys ? 'access_keys' : 'assume_role',
    teamAccountId: spec.auth.method === 'assume_role' ? (spec.auth.teamAccountId ?? '') : '',
    // A team account's role comes with the account; only a typed role is typed again.
    roleArn: spec.auth.method === 'assume_role' && !spec.auth.teamAccountId ? (spec.auth.roleArn ?? '') : '',
    externalId: spec.auth.method === 'assume_role' ? (spec.auth.externalId ?? '') : '',
    accessKeyId: '',
    vpcId: spec.network?.vpcId ?? '',
    subnetId: spec.network?.subnetId ?? '',
    securityGroupIds: (spec.network?.securityGroupIds ?? []).join(', '),
    instanceType: spec.instance?.type ?? base.instanceType,
    volumeSizeGb: String(spec.instance?.volumeSizeGb ?? 20),
    amiId: spec.instance?.amiId ?? '',
    ingressCidr: spec.instance?.ingressCidr && spec.instance.ingressCidr !== '0.0.0.0/0' ? spec.instance.ingressCidr : '',
    sshCidr: spec.instance?.sshCidr ?? '',
    metadataHopLimit2: spec.instance?.metadataHopLimit2 === true,
    containersJson: JSON.stringify(spec.containers ?? [], null, 2),
    usersCsv: spec.usersCsv ?? '',
    usersCsvName: spec.usersCsv ? `users.csv of ${job.name}` : '',
    requireApproval: spec.options?.requireApproval === true,
    ttlHours: spec.options?.ttlHours ? String(spec.options.ttlHours) : '',
  };
}

export interface ReadForm {
  values: JobFormValues;
  input: Record<string, unknown>;
  /** Problems found before the schema runs: JSON syntax, unreadable CSV file. */
  early: FormError[];
  containersUnreadable: boolean;
}

/** Multipart body → what the user typed (kept for a re-render) and the spec input for the schema. */
export async function readJobForm(body: Record<string, unknown>): Promise<ReadForm> {
  const t = (k: string) => str(body[k]).trim();
  const values: JobFormValues = {
    name: t('name'),
    requesterEmail: t('requesterEmail'),
    region: t('region'),
    authMethod: t('authMethod') === 'access_keys' ? 'access_keys' : 'assume_role',
    teamAccountId: t('teamAccountId'),
    roleArn: t('roleArn'),
    externalId: t('externalId'),
    accessKeyId: t('accessKeyId'),
    vpcId: t('vpcId'),
    subnetId: t('subnetId'),
    securityGroupIds: t('securityGroupIds'),
    instanceType: t('instanceType'),
    volumeSizeGb: t('volumeSizeGb'),
    amiId: t('amiId'),
    ingressCidr: t('ingressCidr'),
    sshCidr: t('sshCidr'),
    metadataHopLimit2: body.metadataHopLimit2 === 'on',
    containersJson: str(body.containersJson).replace(/\r\n?/g, '\n'),
    usersCsv: body.usersCsvClear === 'on' ? '' : str(body.usersCsvText),
    usersCsvName: body.usersCsvClear === 'on' ? '' : t('usersCsvName').slice(0, 200),
    requireApproval: body.requireApproval === 'on',
    ttlHours: t('ttlHours'),
  };
  const early: FormError[] = [];

  // A new upload replaces whatever was kept.
  const file = body.usersCsvFile;
  if (file instanceof File && file.size > 0) {
    const name = path.basename(file.name || 'users.csv').slice(0, 200);
    values.usersCsv = '';
    values.usersCsvName = '';
    if (file.size > MAX_CSV_BYTES) {
      early.push({
        field: 'usersCsv',
        message: `Users CSV: ${name} is ${(file.size / 1024 / 1024).toFixed(1)} MB; the limit is 1 MB`,
      });
    } else {
      const bytes = Buffer.from(await file.arrayBuffer());
      let text: string | null = null;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch {
        text = null;
      }
      if (text === null || text.includes('\0')) {
        // Not text we can keep in the form: say why (parseUsersCsv knows the words) and ask for a new file.
        const problem = parseUsersCsv(bytes).errors.find((e) => e.line === null)?.message ?? 'users CSV is not UTF-8 text';
        early.push({ field: 'usersCsv', message: `Users CSV (${name}): ${problem.replace(/^users CSV /, '')}` });
      } else {
        values.usersCsv = text;
        values.usersCsvName = name;
      }
    }
  }

  let containers: unknown;
  let containersUnreadable = false;
  if (values.containersJson.trim() === '') {
    containersUnreadable = true;
    early.push({ field: 'containersJson', message: 'Containers: give at least one container (the form starts with an example)' });
  } else {
    try {
      containers = JSON.parse(values.containersJson);
      // Forgiving about a wrapper object, which is what a compose-minded person may paste.
      if (containers && typeof containers === 'object' && !Array.isArray(containers) && 'containers' in containers) {
        containers = (containers as { containers: unknown }).containers;
      }
    } catch (err) {
      containersUnreadable = true;
      const where = locateJsonError(values.containersJson);
      early.push({
        field: 'containersJson',
        message: where
          ? `Containers JSON, line ${where.line}, column ${where.column}: ${where.message}`
          : `Containers JSON is not valid: ${(err as Error).message}`,
      });
    }
  }

  const groups = values.securityGroupIds
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
  const input: Record<string, unknown> = {
    name: values.name,
    requesterEmail: values.requesterEmail,
    region: values.region,
    auth:
      values.authMethod === 'access_keys'
        ? {
            method: 'access_keys',
            accessKeyId: values.accessKeyId,
            secretAccessKey: t('secretAccessKey'),
            sessionToken: t('sessionToken') || undefined,
          }
        : values.teamAccountId
          ? { method: 'assume_role', teamAccountId: values.teamAccountId }
          : { method: 'assume_role', roleArn: values.roleArn, externalId: values.externalId || undefined },
    instance: {
      type: values.instanceType,
      volumeSizeGb: formNumber(values.volumeSizeGb),
      amiId: values.amiId || undefined,
      ingressCidr: values.ingressCidr || undefined,
      sshCidr: values.sshCidr || undefined,
      metadataHopLimit2: values.metadataHopLimit2 || undefined,
    },
    containers: containersUnreadable ? [] : containers,
    usersCsv: values.usersCsv || undefined,
    options: { requireApproval: values.requireApproval, ttlHours: formNumber(values.ttlHours) },
  };
  if (values.vpcId || values.subnetId || groups.length) {
    input.network = {
      vpcId: values.vpcId || undefined,
      subnetId: values.subnetId || undefined,
      securityGroupIds: groups.length ? groups : undefined,
    };
  }
  return { values, input, early, containersUnreadable };
}
