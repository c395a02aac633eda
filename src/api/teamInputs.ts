import { z } from 'zod';
import { APPROVAL_POLICIES } from '../domain/teamPolicy.js';

/**
 * The inputs of team management, one schema each, shared by the admin pages
 * and the API. Lists arrive as comma-separated text from forms and as arrays
 * from JSON; both become arrays here. Checked against the service's own
 * allowlists by the caller (the schema does not know them).
 */

const strict = {
  error: (iss: { code: string; keys?: string[] }) =>
    iss.code === 'unrecognized_keys' ? `unknown field "${iss.keys?.join('", "')}"` : 'the body must be a JSON object',
};

const list = (field: string) =>
  z
    .union([z.array(z.string()), z.string()], { error: `${field} must be a list` })
    .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter(Boolean))
    .transform((v) => (v.length ? v : null))
    .nullable()
    .optional();

const optionalCount = (field: string, max: number) =>
  z.preprocess(
    (v) => (v === '' || v === null ? undefined : typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v),
    z
      .number({ error: `${field} must be a whole number` })
      .int({ error: `${field} must be a whole number` })
      .min(1, { error: `${field} must be at least 1` })
      .max(max, { error: `${field} must be at most ${max}` })
      .optional(),
  );

export const teamInput = z.strictObject(
  {
    name: z
      .string({ error: 'name is required' })
      .trim()
      .min(2, { error: 'name must be 2-64 characters' })
      .max(64, { error: 'name must be 2-64 characters' })
      .regex(/^[\w .-]*$/, { error: 'name may hold letters, digits, spaces and . _ -' }),
    oidcGroup: z.string().trim().max(256, { error: 'oidcGroup must be at most 256 characters' }).optional(),
    regions: list('regions'),
    instanceTypes: list('instanceTypes'),
    maxTtlHours: optionalCount('maxTtlHours', 720),
    maxLiveJobs: optionalCount('maxLiveJobs', 10_000),
    approvalPolicy: z
      .enum(APPROVAL_POLICIES, { error: `approvalPolicy must be one of ${APPROVAL_POLICIES.join(', ')}` })
      .default('never'),
  },
  strict,
);
export type TeamInput = z.infer<typeof teamInput>;

const ROLE_ARN = /^arn:aws(?:-[a-z]+)*:iam::(\d{12}):role\/[\w+=,.@/-]{1,512}$/;

export const accountInput = z.strictObject(
  {
    label: z
      .string({ error: 'label is required' })
      .trim()
      .min(1, { error: 'label is required: what the account is (e.g. "dev sandbox")' })
      .max(64, { error: 'label must be at most 64 characters' }),
    roleArn: z
      .string({ error: 'roleArn is required' })
      .trim()
      .regex(ROLE_ARN, { error: 'roleArn must be an IAM role ARN: arn:aws:iam::<12-digit account id>:role/<name>' }),
  },
  strict,
);
export type AccountInput = z.infer<typeof accountInput>;

export function accountOfRoleArn(roleArn: string): string {
  return ROLE_ARN.exec(roleArn)![1];
}

export const rotateInput = z.strictObject(
  {
    overlapHours: z.preprocess(
      (v) => (v === '' || v === undefined ? 168 : typeof v === 'string' ? Number(v) : v),
      z
        .number({ error: 'overlapHours must be a number of hours' })
        .int({ error: 'overlapHours must be a whole number of hours' })
        .min(0, { error: 'overlapHours must be 0 or more' })
        .max(720, { error: 'overlapHours must be at most 720 (30 days)' }),
    ),
  },
  strict,
);
