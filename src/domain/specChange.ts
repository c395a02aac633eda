import { z } from 'zod';
import { containerListSchema, type ContainerSpec } from './containers.js';
import { documented, orNotGiven, toJsonSchema } from './documentedSchema.js';
import { TEXT } from './specPatterns.js';
import { blankMeansNoUsers } from './jobSpecDocs.js';
import {
  cidr,
  instanceTypeField,
  type JobSpecPolicy,
  optionalText,
  strictObject,
  textProblems,
  userDataSizeProblem,
  usersCsvField,
  volumeSizeField,
} from './jobSpec.js';
import { parseUsersCsv } from './usersCsv.js';

/**
 * A change to a live environment (a revision): only what can change without
 * starting over. Credentials, region, network and AMI stay as they were; the
 * TTL changes through its own Update. One schema for the Change form, the API
 * and the workflow, like the job spec's.
 */
export function createSpecChangeSchema(policy: Pick<JobSpecPolicy, 'allowedInstanceTypes'>) {
  const instance = strictObject('instance', {
    type: instanceTypeField(policy).optional(),
    volumeSizeGb: volumeSizeField().optional(),
    // "": no SSH (or, for the ports, anyone), as on the new-job form.
    sshCidr: documented(
      z.preprocess((v) => (v === '' ? null : v), cidr('instance.sshCidr').nullable().optional()),
      orNotGiven(toJsonSchema(cidr('instance.sshCidr'))),
    ),
    ingressCidr: optionalText(cidr('instance.ingressCidr')),
  });
  const change = strictObject('', {
    containers: containerListSchema.optional(),
    // "" or null: the environment keeps no users.
    usersCsv: blankMeansNoUsers(
      z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? null : v), usersCsvField().nullable().optional()),
      true,
    ) as unknown as z.ZodOptional<z.ZodNullable<ReturnType<typeof usersCsvField>>>,
    instance: instance.optional(),
    reason: documented(z.string({ error: 'reason must be a string' }).max(500, { error: 'reason: at most 500 characters' }), {
      type: 'string',
      maxLength: 500,
      pattern: TEXT,
    }).optional(),
  });
  return z.preprocess((input, ctx) => {
    for (const problem of textProblems(input)) {
      ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message, input });
    }
    return input;
  }, change) as unknown as typeof change;
}

export type SpecChangeSchema = ReturnType<typeof createSpecChangeSchema>;
export type SpecChange = z.output<SpecChangeSchema>;

/** The part of a spec a revision may change: the same in full and public specs. */
export interface ChangeableSpec {
  instance: { type: string; volumeSizeGb: number; sshCidr?: string; ingressCidr: string };
  containers: ContainerSpec[];
  usersCsv?: string;
}

/** The spec after the change: pure, so the workflow applies it to the spec it holds (secrets included). */
export function applySpecChange<S extends ChangeableSpec>(spec: S, change: SpecChange): S {
  const next: S = { ...spec, instance: { ...spec.instance } };
  if (change.containers) next.containers = change.containers;
  if (change.usersCsv !== undefined) {
    if (change.usersCsv === null) delete next.usersCsv;
    else next.usersCsv = change.usersCsv;
  }
  const i = change.instance;
  if (i?.type !== undefined) next.instance.type = i.type;
  if (i?.volumeSizeGb !== undefined) next.instance.volumeSizeGb = i.volumeSizeGb;
  if (i && 'sshCidr' in i && i.sshCidr !== undefined) {
    if (i.sshCidr === null) delete next.instance.sshCidr;
    else next.instance.sshCidr = i.sshCidr;
  }
  if (i && 'ingressCidr' in i) next.instance.ingressCidr = i.ingressCidr ?? '0.0.0.0/0';
  return next;
}

/**
 * One difference, said for people: container environment values are never
 * in it (only which names changed), so it is safe to store, show and email.
 * `instance`: applied on the running instance (Run Command); `restart`: the
 * instance stops and starts.
 */
export interface SpecDifference {
  field: string;
  text: string;
  applies: 'instance' | 'infrastructure' | 'restart';
}

export function specDifferences(before: ChangeableSpec, after: ChangeableSpec): SpecDifference[] {
  const out: SpecDifference[] = [];
  const b = before.instance;
  const a = after.instance;
  if (b.type !== a.type) {
    out.push({
      field: 'instance.type',
      text: `instance type ${b.type} → ${a.type} (the instance stops and starts)`,
      applies: 'restart',
    });
  }
  if (b.volumeSizeGb !== a.volumeSizeGb) {
    out.push({
      field: 'instance.volumeSizeGb',
      text: `volume ${b.volumeSizeGb} → ${a.volumeSizeGb} GiB`,
      applies: 'infrastructure',
    });
  }
  if ((b.ingressCidr ?? '0.0.0.0/0') !== (a.ingressCidr ?? '0.0.0.0/0')) {
    out.push({
      field: 'instance.ingressCidr',
      text: `published ports open to ${a.ingressCidr} (was ${b.ingressCidr})`,
      applies: 'infrastructure',
    });
  }
  if ((b.sshCidr ?? '') !== (a.sshCidr ?? '')) {
    const text = a.sshCidr ? `SSH from ${a.sshCidr}${b.sshCidr ? ` (was ${b.sshCidr})` : ' (was closed)'}` : 'SSH closed';
    out.push({ field: 'instance.sshCidr', text, applies: 'infrastructure' });
  }
  out.push(...containerDifferences(before.containers, after.containers));
  const users = userDifference(before.usersCsv, after.usersCsv);
  if (users) out.push(users);
  return out;
}

function containerDifferences(before: ContainerSpec[], after: ContainerSpec[]): SpecDifference[] {
  const out: SpecDifference[] = [];
  const old = new Map(before.map((c) => [c.name, c]));
  const now = new Map(after.map((c) => [c.name, c]));
  const same = (x: unknown, y: unknown) => JSON.stringify(x ?? null) === JSON.stringify(y ?? null);
  for (const c of after) {
    const was = old.get(c.name);
    const field = `containers.${c.name}`;
    if (!was) {
      out.push({ field, text: `container ${c.name} added (${c.image})`, applies: 'instance' });
      continue;
    }
    const what: string[] = [];
    if (was.image !== c.image) what.push(`image ${was.image} → ${c.image}`);
    if (!same(was.ports, c.ports)) what.push(`ports ${(c.ports ?? []).join(', ') || 'none'}`);
    const env = changedNames(was.environment ?? {}, c.environment ?? {});
    if (env.length) what.push(`environment ${env.join(', ')}`);
    if (!same(was.healthcheck, c.healthcheck)) what.push('healthcheck');
    const rest = ['volumes', 'restart', 'command'] as const;
    for (const key of rest) if (!same(was[key], c[key])) what.push(key);
    if (what.length) out.push({ field, text: `container ${c.name}: ${what.join('; ')}`, applies: 'instance' });
  }
  for (const c of before) {
    if (!now.has(c.name)) out.push({ field: `containers.${c.name}`, text: `container ${c.name} removed`, applies: 'instance' });
  }
  // Published ports open or close security group rules too; the plan shows those.
  return out;
}

/** Names whose values were added, removed or changed: the values themselves may be secret-ish. */
function changedNames(before: Record<string, string>, after: Record<string, string>): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].filter((n) => before[n] !== after[n]).sort();
}

function userDifference(before: string | undefined, after: string | undefined): SpecDifference | null {
  if ((before ?? '') === (after ?? '')) return null;
  const names = (csv: string | undefined) => new Set(csv ? parseUsersCsv(csv).users.map((u) => u.username) : []);
  const b = names(before);
  const a = names(after);
  const added = [...a].filter((u) => !b.has(u)).length;
  const removed = [...b].filter((u) => !a.has(u)).length;
  const parts = [added && `${added} added`, removed && `${removed} removed`].filter(Boolean);
  const changed = parts.length ? parts.join(', ') : 'details changed';
  return { field: 'usersCsv', text: `users ${b.size} → ${a.size} (${changed})`, applies: 'instance' };
}

/** What the change may not do, each naming its field: nothing to change, a volume that shrinks, user data past EC2's limit. */
export function changeProblems(
  before: ChangeableSpec,
  after: ChangeableSpec,
  opts: { artifactsInS3?: boolean } = {},
): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  if (after.instance.volumeSizeGb < before.instance.volumeSizeGb) {
    problems.push({
      path: 'instance.volumeSizeGb',
      message: `instance.volumeSizeGb may only grow (now ${before.instance.volumeSizeGb} GiB): EBS volumes cannot shrink`,
    });
  }
  if (!opts.artifactsInS3) {
    const size = userDataSizeProblem(after.containers, after.usersCsv);
    if (size) problems.push({ path: size.field, message: size.message });
  }
  if (problems.length === 0 && specDifferences(before, after).length === 0) {
    problems.push({ path: '', message: 'the change changes nothing: the environment already runs this' });
  }
  return problems;
}
