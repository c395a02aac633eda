import { publishedPorts } from './containers.js';
import type { PublicJobSpec } from './jobSpec.js';
import { allows, type Subject } from './permissions.js';
import { withoutInputs } from './specVisibility.js';
import {
  allowedActions,
  FINAL_STATUSES,
  isActive,
  JOB_STEPS,
  type JobAction,
  type JobStatus,
  type JobStep,
} from './lifecycle.js';

/**
 * How a job is presented, whoever presents it: the job page, the dashboard
 * rows, both bodies of every email and the JSON API render from this one
 * model, so they cannot disagree on a label, a link, a port or the order of
 * the steps. Pure: the caller reads the rows and passes them in.
 */

/** A job's columns as the database stores them (db/schema.ts builds its table type on this). */
export interface JobColumns {
  id: string;
  name: string;
  status: string;
  step: string | null;
  requester_email: string;
  region: string;
  instance_type: string;
  auth_method: string;
  /** The job spec as submitted, with every secret removed. */
  spec_json: string;
  account_id: string | null;
  assumed_role_arn: string | null;
  plan_summary_json: string | null;
  outputs_json: string | null;
  error: string | null;
  workflow_id: string | null;
  created_by: string | null;
  /** The user the job belongs to (users.id). */
  owner_id: string | null;
  /** ISO-8601 timestamps: sortable, readable, and portable to Postgres. */
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** When the TTL timer will destroy the environment. */
  destroy_at: string | null;
  /** 1 when the job's Terraform state holds resources (destroy is possible). */
  has_resources: number;
  updated_at: string;
  /** The last drift check's verdict (`in_sync`, `drifted`, `error`); null: never checked. */
  drift_state: string | null;
  drift_checked_at: string | null;
  /** What drifted: one line per finding. */
  drift_json: string | null;
}

type NeededColumns =
  | 'id'
  | 'name'
  | 'status'
  | 'step'
  | 'requester_email'
  | 'region'
  | 'spec_json'
  | 'outputs_json'
  | 'error'
  | 'destroy_at';

/** The columns the view needs, the others when there (a full row fits; a dashboard summary or an email's job too). */
export type JobFacts = Pick<JobColumns, NeededColumns> & Partial<Omit<JobColumns, NeededColumns>>;

/** One attempt of a step, as job_steps holds it. */
export interface StepAttemptFacts {
  id?: number;
  step: string;
  attempt: number;
  state: string;
  started_at?: string | null;
  finished_at?: string | null;
  error?: string | null;
  detail?: string | null;
}

/** "awaiting_approval" → "awaiting approval". */
export function humanize(value: string | null | undefined): string {
  return (value ?? '').replace(/_/g, ' ');
}

// --- steps -------------------------------------------------------------------------------------

export interface StepView {
  step: string;
  /** succeeded | failed | running | cancelled | skipped | interrupted | pending */
  state: string;
  attempts: number;
  startedAt: string | null;
  finishedAt: string | null;
  error: string | null;
  /** Errors of earlier attempts that were retried (`interrupted`: lost to an infrastructure fault, not the job's fault). */
  earlierErrors: { attempt: number; error: string; interrupted: boolean }[];
  detail: string | null;
}

/** The steps a job still expects to run in its status, in the one order steps run in (JOB_STEPS). */
export function stepPlan(status: JobStatus, spec: Pick<PublicJobSpec, 'options'> | null): JobStep[] {
  if (status === 'destroying') return ['destroy'];
  if (status !== 'draft' && status !== 'running' && status !== 'awaiting_approval') return [];
  return JOB_STEPS.filter((s) => s !== 'destroy' && (s !== 'approval' || spec?.options?.requireApproval === true));
}

/** job_steps rows (one per attempt) → one entry per step, in the order the steps ran, then those still to come. */
export function stepViews(rows: readonly StepAttemptFacts[], upcoming: readonly string[] = []): StepView[] {
  const byStep = new Map<string, StepAttemptFacts[]>();
  for (const r of rows) byStep.set(r.step, [...(byStep.get(r.step) ?? []), r]);
  const out: StepView[] = [];
  for (const [step, attempts] of byStep) {
    const sorted = [...attempts].sort((a, b) => a.attempt - b.attempt || (a.id ?? 0) - (b.id ?? 0));
    const last = sorted[sorted.length - 1];
    out.push({
      step,
      state: last.state,
      attempts: sorted.length === 1 ? last.attempt : sorted.length,
      startedAt: last.started_at ?? null,
      finishedAt: last.finished_at ?? null,
      error: last.error ?? null,
      earlierErrors: sorted
        .slice(0, -1)
        .filter((a) => a.error)
        .map((a) => ({ attempt: a.attempt, error: a.error!, interrupted: a.state === 'interrupted' })),
      detail: last.detail ?? null,
    });
  }
  for (const step of upcoming) {
    if (!byStep.has(step)) {
      out.push({
        step,
        state: 'pending',
        attempts: 0,
        startedAt: null,
        finishedAt: null,
        error: null,
        earlierErrors: [],
        detail: null,
      });
    }
  }
  return out;
}

/** The attempt a failure email names: the last one that failed (or was lost), of the destroy when a destroy failed. */
export function failedAttempt<T extends StepAttemptFacts>(rows: readonly T[], onlyStep?: string): T | undefined {
  return [...rows]
    .reverse()
    .find((s) => (s.state === 'failed' || s.state === 'interrupted') && (!onlyStep || s.step === onlyStep));
}

// --- outputs, host and ports -------------------------------------------------------------------

/** The module's outputs, in the order and with the labels every view shows them. */
export const OUTPUT_LABELS: readonly (readonly [string, string])[] = [
  ['instance_id', 'Instance ID'],
  ['public_ip', 'Public IP'],
  ['private_ip', 'Private IP'],
  ['public_dns', 'Public DNS'],
  ['ami_id', 'AMI'],
  ['security_group_id', 'Security group'],
];

export interface OutputRow {
  key: string;
  label: string;
  value: string | null;
}

/** A DNS name or an IPv4 address: the only hosts a link is ever built from. */
const HOST = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export interface HostView {
  name: string;
  kind: 'public DNS' | 'public IP' | 'private IP';
}

export interface PortView {
  container: string;
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
  /** "webapp: 8080 → 80/tcp" */
  label: string;
  /** An http(s) link to a TCP port, when the instance has an address. */
  url: string | null;
  /** What a person needs to know instead of a link. */
  note: string | null;
}

function outputsOf(json: string | null | undefined): Record<string, string | null> | null {
  const raw = parseJson<Record<string, unknown>>(json);
  if (!raw || typeof raw !== 'object') return null;
  const out: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(raw)) {
    // Terraform's `output -json` shape ({ value }) or plain values both read well.
    const value = v && typeof v === 'object' && 'value' in (v as object) ? (v as { value: unknown }).value : v;
    out[k] =
      value === null || value === undefined || value === '' ? null : typeof value === 'string' ? value : JSON.stringify(value);
  }
  return out;
}

export function outputRows(outputs: Record<string, string | null>): OutputRow[] {
  const known = OUTPUT_LABELS.map(([key, label]) => ({ key, label, value: outputs[key] ?? null }));
  const others = Object.keys(outputs)
    .filter((k) => !OUTPUT_LABELS.some(([key]) => key === k))
    .map((key) => ({ key, label: humanize(key), value: outputs[key] }));
  return [...known, ...others];
}

function hostOf(outputs: Record<string, string | null> | null): HostView | null {
  if (!outputs) return null;
  const candidates: [string | null | undefined, HostView['kind']][] = [
    [outputs.public_dns, 'public DNS'],
    [outputs.public_ip, 'public IP'],
    [outputs.private_ip, 'private IP'],
  ];
  const found = candidates.find(([h]) => typeof h === 'string' && HOST.test(h));
  return found ? { name: found[0]!, kind: found[1] } : null;
}

export function portViews(spec: Pick<PublicJobSpec, 'containers'> | null, host: HostView | null): PortView[] {
  return publishedPorts(spec?.containers ?? []).map((p) => {
    const base = { container: p.container, hostPort: p.port, containerPort: p.containerPort, protocol: p.protocol };
    const label = `${p.container}: ${p.port} → ${p.containerPort}/${p.protocol}`;
    if (p.protocol !== 'tcp') return { ...base, label, url: null, note: host ? `${p.protocol} on ${host.name}:${p.port}` : null };
    const url = !host
      ? null
      : p.port === 443
        ? `https://${host.name}/`
        : p.port === 80
          ? `http://${host.name}/`
          : `http://${host.name}:${p.port}/`;
    return { ...base, label, url, note: null };
  });
}

// --- plan --------------------------------------------------------------------------------------

export interface PlanView {
  add: number;
  change: number;
  destroy: number;
  resources: { address: string; actions: string[] }[];
  /** "3 to add, 0 to change, 0 to destroy" */
  counts: string;
}

function planOf(json: string | null | undefined): PlanView | null {
  const p = parseJson<Record<string, unknown>>(json);
  if (!p || typeof p !== 'object') return null;
  const n = (k: string) => (typeof p[k] === 'number' ? (p[k] as number) : undefined);
  if (n('add') === undefined && n('change') === undefined && n('destroy') === undefined) return null;
  const [add, change, destroy] = [n('add') ?? 0, n('change') ?? 0, n('destroy') ?? 0];
  const resources = Array.isArray(p.resources) ? (p.resources as PlanView['resources']) : [];
  return { add, change, destroy, resources, counts: `${add} to add, ${change} to change, ${destroy} to destroy` };
}

// --- the job -----------------------------------------------------------------------------------

export interface LinkSettings {
  publicBaseUrl: string;
  temporalUiUrl: string;
  namespace: string;
}

export interface JobLinks {
  self: string;
  ui: string;
  temporal: string | null;
}

export interface JobView {
  id: string;
  name: string;
  status: JobStatus;
  statusLabel: string;
  step: string | null;
  stepLabel: string;
  /** Whether the job is moving (its page refreshes while it is). */
  active: boolean;
  /** Whether nothing more will ever happen to it. */
  final: boolean;
  hasResources: boolean;
  /** The apply made resources that are gone now (destroyed, or cleaned up after a cancel): its outputs are a record, not an address. */
  resourcesGone: boolean;
  actions: JobAction[];
  spec: PublicJobSpec | null;
  /** The outputs as Terraform gave them (strings, sensitive ones null); null before the apply. */
  outputs: Record<string, string | null> | null;
  outputRows: OutputRow[];
  host: HostView | null;
  ports: PortView[];
  plan: PlanView | null;
  steps: StepView[];
  links: JobLinks;
  /** For a view made for someone (`viewer`): what they may do besides the actions. */
  may: { clone: boolean; seeInputs: boolean; change: boolean };
  facts: JobFacts;
}

export function jobLinks(job: Pick<JobFacts, 'id' | 'workflow_id'>, links: LinkSettings): JobLinks {
  const id = encodeURIComponent(job.id);
  return {
    self: `${links.publicBaseUrl}/api/jobs/${id}`,
    ui: `${links.publicBaseUrl}/jobs/${id}`,
    temporal: job.workflow_id
      ? `${links.temporalUiUrl}/namespaces/${encodeURIComponent(links.namespace)}/workflows/${encodeURIComponent(job.workflow_id)}`
      : null,
  };
}

/**
 * `viewer`: the person the view is for. Their actions are the ones the job's
 * status allows and the permission rules give them, and the spec's inputs
 * (users CSV, environment) are left out unless they may see them. Without a
 * viewer (the requester's emails) the view is the job's own.
 */
export function jobView(
  job: JobFacts,
  opts: { steps?: readonly StepAttemptFacts[]; links: LinkSettings; viewer?: Subject },
): JobView {
  const status = job.status as JobStatus;
  const hasResources = job.has_resources === 1;
  const owner = { owner_id: job.owner_id ?? null };
  const may = opts.viewer
    ? {
        clone: allows(opts.viewer, 'clone', owner),
        seeInputs: allows(opts.viewer, 'see_inputs', owner),
        change: allows(opts.viewer, 'change', owner),
      }
    : { clone: true, seeInputs: true, change: true };
  const stored = parseJson<PublicJobSpec>(job.spec_json);
  const spec = stored && !may.seeInputs ? withoutInputs(stored) : stored;
  const statusActions = allowedActions(status, { hasResources });
  const outputs = outputsOf(job.outputs_json);
  const host = hostOf(outputs);
  // Only where a job ends without what it made: a live or running one has them whatever its row says.
  const resourcesGone = outputs !== null && !hasResources && ['destroyed', 'cancelled', 'failed'].includes(status);
  // No link to an address that is no one's now (it may be someone else's instance by then).
  const ports = portViews(spec, host).map((p) =>
    resourcesGone && p.url ? { ...p, url: null, note: 'gone with the instance' } : p,
  );
  return {
    id: job.id,
    name: job.name,
    status,
    statusLabel: humanize(status),
    step: job.step,
    stepLabel: humanize(job.step) || '—',
    active: isActive(status),
    final: FINAL_STATUSES.includes(status),
    hasResources,
    resourcesGone,
    actions: opts.viewer ? statusActions.filter((a) => allows(opts.viewer!, a, owner)) : statusActions,
    spec,
    outputs,
    outputRows: outputs ? outputRows(outputs) : [],
    host,
    ports,
    plan: planOf(job.plan_summary_json),
    steps: opts.steps ? stepViews(opts.steps, stepPlan(status, spec)) : [],
    links: jobLinks(job, opts.links),
    may,
    facts: job,
  };
}

function parseJson<T>(json: string | null | undefined): T | null {
  if (!json) return null;
  try {
    return JSON.parse(json) as T;
  } catch {
    return null;
  }
}
