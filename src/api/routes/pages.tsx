import crypto from 'node:crypto';
import path from 'node:path';
import { Hono, type Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { clientAddress } from '../rateLimit.js';
import type { AppEnv } from '../auth.js';
import type { RouteDeps } from './deps.js';
import { boundedMemo } from '../views/boundedMemo.js';
import { createJob, JobCommandError, signalJob, startJob, type Actor } from '../jobCommands.js';
import { countJobsByStatus, getJob, listJobSummaries, listSteps } from '../../db/jobs.js';
import { logTail } from '../../db/logs.js';
import { listAudit } from '../../db/audit.js';
import { getNotification, listJobNotifications, listNotifications } from '../../db/notifications.js';
import type { JobRow } from '../../db/schema.js';
import { zodIssuesToFields, type PublicJobSpec } from '../../domain/jobSpec.js';
import { MAX_CSV_BYTES, parseUsersCsv, type AppUser } from '../../domain/usersCsv.js';
import {
  actionAllowed,
  allowedActions,
  FINAL_STATUSES,
  isActive,
  JOB_STATUSES,
  type JobAction,
  type JobStatus,
} from '../../domain/lifecycle.js';
import { DashboardPage, JobRows } from '../views/DashboardPage.js';
import {
  EXAMPLE_CONTAINERS_JSON,
  JobForm,
  type FieldKey,
  type FormError,
  type JobFormProps,
  type JobFormValues,
} from '../views/JobForm.js';
import { ConfirmPage, JobLive, JobPage, NotFoundPage, type Flash, type JobLiveProps, type PlanSummaryView } from '../views/JobPage.js';
import { timelineFromRows } from '../views/StepTimeline.js';
import { NotificationPage, OutboxPage } from '../views/OutboxPage.js';
import { AuditPage } from '../views/AuditPage.js';

/**
 * Server-rendered pages: dashboard, new-job form, job page (with the live
 * parts the page's scripts refresh), job actions, outbox and audit log.
 * Every state change goes through jobCommands, so the pages apply the same
 * rules as the REST API.
 */

const FLASH_COOKIE = 'prov_flash';
const LOG_TAIL_LINES = 200;
/** The server-rendered tail stays small whatever the lines' length; the viewer pages in the rest. */
const LOG_TAIL_BYTES = 32 * 1024;
const JOB_USERS_SHOWN = 200;
/** CSVs whose listed users are remembered (a few MB at most). */
const JOB_USERS_MEMO_CSVS = 100;
const PAGE_SIZE = 25;
/** How stale the dashboard's status counts may be: about the time a reload takes. */
const STATUS_COUNTS_MAX_AGE_MS = 1000;

const DONE: Record<JobAction, string> = {
  run: 'Job started.',
  cancel: 'Cancel requested: the job stops and removes whatever it created.',
  approve: 'Plan approved: the apply starts.',
  reject: 'Plan rejected.',
  destroy: 'Destroy requested.',
};

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** The audit's "from which address": the socket's, or under TRUST_PROXY the one our proxy saw (null without a socket). */
function actorOf(c: Context<AppEnv>, trustProxy: boolean): Actor {
  return { user: c.get('principal').user, ip: clientAddress(c, { trustProxy }) };
}

// --- flash messages (one redirect long, bound to a job) ----------------------------------------

function setFlash(c: Context, jobId: string, flash: Flash, secure: boolean) {
  const value = Buffer.from(JSON.stringify({ jobId, ...flash, message: flash.message.slice(0, 600) })).toString('base64url');
  setCookie(c, FLASH_COOKIE, value, { path: '/', httpOnly: true, sameSite: 'Lax', maxAge: 60, secure });
}

function takeFlash(c: Context, jobId: string): Flash | undefined {
  const raw = getCookie(c, FLASH_COOKIE);
  if (!raw) return undefined;
  deleteCookie(c, FLASH_COOKIE, { path: '/' });
  try {
    const f = JSON.parse(Buffer.from(raw, 'base64url').toString()) as { jobId?: unknown; kind?: unknown; message?: unknown };
    if (f.jobId !== jobId || typeof f.message !== 'string') return undefined;
    return { kind: f.kind === 'error' ? 'error' : 'ok', message: f.message };
  } catch {
    return undefined;
  }
}

// --- the new-job form: form fields ⇄ spec input -----------------------------------------------

const FIELD_LABELS: Record<FieldKey, string> = {
  name: 'Job name',
  requesterEmail: 'Requester email',
  region: 'Region',
  authMethod: 'Authentication',
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
};

const PATH_FIELDS: [string, FieldKey][] = [
  ['name', 'name'],
  ['requesterEmail', 'requesterEmail'],
  ['region', 'region'],
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

/**
 * Where a JSON text first goes wrong, in words a person can act on. Used
 * after JSON.parse has failed, because V8's messages do not always carry a
 * position.
 */
export function locateJsonError(text: string): { line: number; column: number; message: string } | null {
  let i = 0;
  const show = (ch: string | undefined) => (ch === undefined ? 'the end of the text' : ch === '\n' ? 'a line break' : `"${ch}"`);
  const fail = (message: string, at = i): never => {
    throw Object.assign(new Error(message), { at });
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const str = () => {
    const start = i;
    i++;
    for (;;) {
      const ch = text[i];
      if (ch === undefined) fail('a string is never closed (missing ")', start);
      if (ch === '"') {
        i++;
        return;
      }
      if (ch === '\n') fail('a string runs past the end of the line (missing ", or write \\n for a line break)');
      if (ch < ' ') fail('a string contains a control character; escape it');
      if (ch === '\\') {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail('\\u must be followed by 4 hex digits');
          i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) fail(`invalid escape \\${e ?? ''} in a string`);
        i += 2;
        continue;
      }
      i++;
    }
  };
  const value = (): void => {
    ws();
    const ch = text[i];
    if (ch === undefined) fail('the JSON ends too early: a value, "]" or "}" is missing');
    if (ch === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] === "'") fail("JSON needs double quotes (\") around property names, not single quotes");
        if (text[i] !== '"') fail(`expected a "quoted" property name, found ${show(text[i])}`);
        str();
        ws();
        if (text[i] !== ':') fail(`expected ":" after the property name, found ${show(text[i])}`);
        i++;
        value();
        ws();
        if (text[i] === ',') {
          i++;
          ws();
          if (text[i] === '}') fail('a trailing comma before "}" is not allowed in JSON');
          continue;
        }
        if (text[i] === '}') {
          i++;
          return;
        }
        fail(`expected "," or "}" after a property value, found ${show(text[i])}`);
      }
    }
    if (ch === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') {
          i++;
          ws();
          if (text[i] === ']') fail('a trailing comma before "]" is not allowed in JSON');
          continue;
        }
        if (text[i] === ']') {
          i++;
          return;
        }
        fail(`expected "," or "]" after a list item, found ${show(text[i])}`);
      }
    }
    if (ch === '"') return str();
    if (ch === "'") fail("JSON needs double quotes (\") around strings, not single quotes");
    const num = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
    num.lastIndex = i;
    if (/[-0-9]/.test(ch) && num.test(text)) {
      i = num.lastIndex;
      return;
    }
    for (const lit of ['true', 'false', 'null']) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return;
      }
    }
    fail(`unexpected ${show(ch)}`);
  };
  try {
    value();
    ws();
    if (i < text.length) fail(`unexpected ${show(text[i])} after the end of the list`);
    return null;
  } catch (err) {
    const at = (err as { at?: number }).at ?? i;
    const before = text.slice(0, at);
    const line = before.split('\n').length;
    const column = at - (before.lastIndexOf('\n') + 1) + 1;
    return { line, column, message: (err as Error).message };
  }
}

function formNumber(v: string): number | string | undefined {
  const t = v.trim();
  if (t === '') return undefined;
  return /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : t;
}

function defaultValues(deps: RouteDeps): JobFormValues {
  return {
    name: '',
    requesterEmail: '',
    region: deps.config.ALLOWED_REGIONS[0] ?? '',
    authMethod: 'assume_role',
    roleArn: '',
    externalId: '',
    accessKeyId: '',
    vpcId: '',
    subnetId: '',
    securityGroupIds: '',
    instanceType: deps.config.ALLOWED_INSTANCE_TYPES[0] ?? '',
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
function valuesFromSpec(deps: RouteDeps, job: JobRow, spec: PublicJobSpec): JobFormValues {
  const base = defaultValues(deps);
  const copyName = `${spec.name}-copy`;
  const keys = spec.auth.method === 'access_keys' && deps.config.ALLOW_ACCESS_KEY_AUTH;
  return {
    ...base,
    name: copyName.length <= 63 ? copyName : spec.name,
    requesterEmail: spec.requesterEmail ?? '',
    region: spec.region ?? base.region,
    authMethod: keys ? 'access_keys' : 'assume_role',
    roleArn: spec.auth.method === 'assume_role' ? spec.auth.roleArn : '',
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

interface ReadForm {
  values: JobFormValues;
  input: Record<string, unknown>;
  /** Problems found before the schema runs: JSON syntax, unreadable CSV file. */
  early: FormError[];
  containersUnreadable: boolean;
}

/** Multipart body → what the user typed (kept for a re-render) and the spec input for the schema. */
async function readJobForm(body: Record<string, unknown>): Promise<ReadForm> {
  const t = (k: string) => str(body[k]).trim();
  const values: JobFormValues = {
    name: t('name'),
    requesterEmail: t('requesterEmail'),
    region: t('region'),
    authMethod: t('authMethod') === 'access_keys' ? 'access_keys' : 'assume_role',
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

  let containers: unknown = undefined;
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

/** Schema issues as form errors: one per field problem, the users CSV summarised (its table lists the rows). */
function schemaErrors(issues: { path: string; message: string }[], skipContainers: boolean): FormError[] {
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

/** The newest lines that fit in `budget` bytes, oldest first. */
function tailWithin<T extends { line: string }>(lines: T[], budget: number): T[] {
  let used = 0;
  let from = lines.length;
  while (from > 0) {
    used += Buffer.byteLength(lines[from - 1].line) + 80;
    if (used > budget && from < lines.length) break;
    from -= 1;
  }
  return lines.slice(from);
}

function parseJson<T>(json: string | null): T | null {
  if (!json) return null;
  try {
    return JSON.parse(json) as T;
  } catch {
    return null;
  }
}

function decodeHtmlEntities(s: string): string {
  const named: Record<string, string> = { quot: '"', apos: "'", amp: '&', lt: '<', gt: '>', nbsp: '\u00a0' };
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (all, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(code) && code <= 0x10ffff ? String.fromCodePoint(code) : all;
    }
    return named[e.toLowerCase()] ?? all;
  });
}

/**
 * CSP hashes of the inline styles of an email we frame (emails carry their
 * styles inline). With them the page's policy allows exactly those styles and
 * nothing else; the frame's sandbox keeps scripts out regardless.
 */
export function inlineStyleHashes(html: string, max = 150): string[] {
  const values = new Set<string>();
  for (const m of html.matchAll(/\sstyle\s*=\s*(?:"([^"]*)"|'([^']*)')/gi)) values.add(decodeHtmlEntities(m[1] ?? m[2] ?? ''));
  for (const m of html.matchAll(/<style\b[^>]*>([\s\S]*?)<\/style>/gi)) values.add(m[1]);
  return [...values].slice(0, max).map((v) => `sha256-${crypto.createHash('sha256').update(v, 'utf8').digest('base64')}`);
}

// --- the sub-app ------------------------------------------------------------------------------

export function pagesApp(deps: RouteDeps) {
  const { db, config } = deps;
  const secureCookies = config.publicBaseUrl.startsWith('https://');
  const app = new Hono<AppEnv>();

  const formProps = (c: Context<AppEnv>, values: JobFormValues, errors: FormError[]): JobFormProps => ({
    values,
    errors,
    regions: config.ALLOWED_REGIONS,
    instanceTypes: config.ALLOWED_INSTANCE_TYPES,
    allowAccessKeys: config.ALLOW_ACCESS_KEY_AUTH,
    csrfToken: c.get('csrfToken'),
    csvPreview: values.usersCsv ? parseUsersCsv(values.usersCsv) : null,
  });

  const notFound = (c: Context<AppEnv>, what: string) => {
    c.status(404);
    return c.render(<NotFoundPage what={what} />, { title: 'Not found' });
  };

  /** Everything the live part of a job page shows. */
  async function liveProps(job: JobRow, csrfToken: string): Promise<JobLiveProps> {
    const spec = parseJson<PublicJobSpec>(job.spec_json);
    const status = job.status as JobStatus;
    const upcoming =
      status === 'draft' || status === 'running' || status === 'awaiting_approval'
        ? ['verify', 'preflight', 'render', 'init', 'plan', ...(spec?.options?.requireApproval ? ['approval'] : []), 'apply', 'output', 'ready', 'notify']
        : status === 'destroying'
          ? ['destroy']
          : [];
    const [steps, audit, notifications] = await Promise.all([
      listSteps(db, job.id),
      listAudit(db, { jobId: job.id, limit: 100 }),
      listJobNotifications(db, job.id),
    ]);
    return {
      job,
      spec,
      timeline: timelineFromRows(steps, upcoming),
      actions: allowedActions(status, { hasResources: job.has_resources === 1 }),
      outputs: parseJson<Record<string, unknown>>(job.outputs_json),
      plan: parseJson<PlanSummaryView>(job.plan_summary_json),
      audit,
      notifications,
      csrfToken,
    };
  }

  async function renderLive(props: JobLiveProps): Promise<{ html: string; version: string }> {
    const html = String(await (<JobLive {...props} />).toString());
    return { html, version: crypto.createHash('sha1').update(html).digest('base64url').slice(0, 16) };
  }

  // --- dashboard ---

  /**
   * The filter's per-status counts, at most STATUS_COUNTS_MAX_AGE_MS old.
   * Counting every job is the dashboard's largest cost and grows with the
   * table, while the counts are no live part of the page (only rows refresh);
   * concurrent views share one count.
   */
  let cachedCounts: { at: number; value: Promise<Record<string, number>> } | undefined;
  const statusCounts = (): Promise<Record<string, number>> => {
    const now = Date.now();
    if (!cachedCounts || now - cachedCounts.at > STATUS_COUNTS_MAX_AGE_MS) {
      const entry = { at: now, value: countJobsByStatus(db) };
      cachedCounts = entry;
      // A failed count is not kept: the next view asks again.
      entry.value.catch(() => {
        if (cachedCounts === entry) cachedCounts = undefined;
      });
    }
    return cachedCounts.value;
  };

  app.get('/', async (c) => {
    const statusParam = c.req.query('status') ?? '';
    const status = (JOB_STATUSES as readonly string[]).includes(statusParam) ? statusParam : '';
    const search = (c.req.query('q') ?? '').trim().slice(0, 100);
    const cursor = c.req.query('cursor') || undefined;
    const [page, counts] = await Promise.all([
      listJobSummaries(db, { status: status || undefined, search: search || undefined, cursor, limit: PAGE_SIZE }),
      statusCounts(),
    ]);
    return c.render(
      <DashboardPage
        jobs={page.jobs}
        status={status}
        search={search}
        nextCursor={page.nextCursor}
        paged={Boolean(cursor)}
        counts={counts}
      />,
      { title: 'Jobs' },
    );
  });

  /** Rows of the given jobs, for the dashboard's live refresh. */
  app.get('/jobs/rows', async (c) => {
    const ids = (c.req.query('ids') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => /^[A-Za-z0-9_-]{1,64}$/.test(s))
      .slice(0, 100);
    const jobs = (await Promise.all(ids.map((id) => getJob(db, id)))).filter((j): j is JobRow => Boolean(j));
    c.header('Cache-Control', 'no-store');
    return c.html(
      <table>
        <tbody>
          <JobRows jobs={jobs} />
        </tbody>
      </table>,
    );
  });

  // --- new job ---

  app.get('/jobs/new', async (c) => {
    const cloneId = c.req.query('clone');
    if (cloneId) {
      const job = await getJob(db, cloneId);
      if (!job) return notFound(c, `There is no job ${cloneId} to clone.`);
      const spec = parseJson<PublicJobSpec>(job.spec_json);
      if (!spec) return notFound(c, `The configuration of job ${cloneId} could not be read.`);
      const props = formProps(c, valuesFromSpec(deps, job, spec), []);
      return c.render(<JobForm {...props} clonedFrom={{ id: job.id, name: job.name }} />, { title: 'New job' });
    }
    return c.render(<JobForm {...formProps(c, defaultValues(deps), [])} />, { title: 'New job' });
  });

  app.post('/jobs', async (c) => {
    const body = (await c.req.parseBody()) as Record<string, unknown>;
    const intent = body.intent === 'start' ? 'start' : body.intent === 'check' ? 'check' : 'create';
    const form = await readJobForm(body);
    const parsed = deps.specSchema.safeParse(form.input);
    const errors = [...form.early, ...(parsed.success ? [] : schemaErrors(zodIssuesToFields(parsed.error), form.containersUnreadable))];
    // Order the summary as the form is ordered.
    const order = Object.keys(FIELD_LABELS);
    errors.sort((a, b) => (a.field ? order.indexOf(a.field) : -1) - (b.field ? order.indexOf(b.field) : -1));

    if (errors.length > 0 || intent === 'check' || !parsed.success) {
      c.status(errors.length > 0 ? 422 : 200);
      return c.render(<JobForm {...formProps(c, form.values, errors)} checked={errors.length === 0} />, {
        title: errors.length ? 'Fix the new job' : 'New job',
      });
    }

    const actor = actorOf(c, config.TRUST_PROXY);
    let job: JobRow;
    try {
      job = await createJob(deps.commands, parsed.data, actor);
    } catch (err) {
      if (!(err instanceof JobCommandError)) throw err;
      // Access-key jobs start at once; the keys are not kept, so the user gives them again.
      c.status(err.code === 'unavailable' ? 503 : 409);
      return c.render(<JobForm {...formProps(c, form.values, [{ field: null, message: err.message }])} />, {
        title: 'New job',
      });
    }
    let flash: Flash = {
      kind: 'ok',
      message: job.status === 'draft' ? 'Job created. Start it when you are ready.' : 'Job created and started.',
    };
    if (intent === 'start' && job.status === 'draft') {
      try {
        await startJob(deps.commands, job.id, parsed.data, actor);
        flash = { kind: 'ok', message: 'Job created and started.' };
      } catch (err) {
        if (!(err instanceof JobCommandError)) throw err;
        flash = { kind: 'error', message: `The job was created but not started: ${err.message}` };
      }
    }
    setFlash(c, job.id, flash, secureCookies);
    return c.redirect(`/jobs/${encodeURIComponent(job.id)}`, 303);
  });

  // --- one job ---

  /**
   * The users a job page lists, by a digest of the CSV they come from.
   * Parsing the CSV is a noticeable part of every view of a job page (far
   * more with a big CSV) and a job's CSV does not change; only what the page
   * shows is kept, for a bounded number of CSVs.
   */
  const usersByCsv = boundedMemo<{ users: AppUser[]; total: number }>(JOB_USERS_MEMO_CSVS);
  const jobUsers = (csv: string | undefined): { users: AppUser[]; total: number } => {
    if (!csv) return { users: [], total: 0 };
    const key = crypto.createHash('sha256').update(csv).digest('base64url');
    return usersByCsv(key, () => {
      const all = parseUsersCsv(csv).users;
      return { users: all.slice(0, JOB_USERS_SHOWN), total: all.length };
    })!;
  };

  app.get('/jobs/:id', async (c) => {
    const job = await getJob(db, c.req.param('id'));
    if (!job) return notFound(c, `There is no job ${c.req.param('id')}.`);
    const live = await liveProps(job, c.get('csrfToken'));
    const { html: liveHtml, version } = await renderLive(live);
    const status = job.status as JobStatus;
    const { users, total: usersTotal } = jobUsers(live.spec?.usersCsv);
    const temporalUrl = job.workflow_id
      ? `${config.temporalUiUrl}/namespaces/${encodeURIComponent(config.TEMPORAL_NAMESPACE)}/workflows/${encodeURIComponent(job.workflow_id)}`
      : null;
    c.header('Cache-Control', 'no-store');
    return c.render(
      <JobPage
        {...live}
        users={users}
        usersTotal={usersTotal}
        logLines={tailWithin(await logTail(db, job.id, LOG_TAIL_LINES), LOG_TAIL_BYTES)}
        logLive={status !== 'draft' && !FINAL_STATUSES.includes(status)}
        temporalUrl={temporalUrl}
        flash={takeFlash(c, job.id)}
        liveVersion={version}
        liveActive={isActive(status)}
        liveHtml={liveHtml}
      />,
      { title: job.name },
    );
  });

  /** The live part of a job page; 204 when it has not changed since `v`. */
  app.get('/jobs/:id/parts', async (c) => {
    const job = await getJob(db, c.req.param('id'));
    if (!job) return c.text('not found', 404);
    const { html, version } = await renderLive(await liveProps(job, c.get('csrfToken')));
    c.header('Cache-Control', 'no-store');
    c.header('X-Live-Version', version);
    c.header('X-Job-Status', job.status);
    c.header('X-Live-Active', isActive(job.status as JobStatus) ? '1' : '0');
    if (c.req.query('v') === version) return c.body(null, 204);
    return c.html(html);
  });

  app.post('/jobs/:id/:action{run|cancel|approve|reject|destroy}', async (c) => {
    const id = c.req.param('id');
    const action = c.req.param('action') as JobAction;
    const body = (await c.req.parseBody()) as Record<string, unknown>;
    const job = await getJob(db, id);
    if (!job) return notFound(c, `There is no job ${id}.`);
    const back = () => c.redirect(`/jobs/${encodeURIComponent(id)}`, 303);

    if ((action === 'cancel' || action === 'destroy') && body.confirmed !== 'yes') {
      if (!actionAllowed(action, job.status as JobStatus, { hasResources: job.has_resources === 1 })) {
        setFlash(c, id, { kind: 'error', message: `Cannot ${action} this job: it is ${job.status.replace(/_/g, ' ')}.` }, secureCookies);
        return back();
      }
      // Without JavaScript there was no confirm() dialog: ask on a page of its own.
      return c.render(<ConfirmPage job={job} action={action} csrfToken={c.get('csrfToken')} />, {
        title: `${action === 'cancel' ? 'Cancel' : 'Destroy'} ${job.name}?`,
      });
    }
    try {
      if (action === 'run') await startJob(deps.commands, id, undefined, actorOf(c, config.TRUST_PROXY));
      else {
        await signalJob(deps.commands, id, action, actorOf(c, config.TRUST_PROXY), {
          reason: str(body.reason).trim().slice(0, 500) || undefined,
          comment: str(body.comment).trim().slice(0, 500) || undefined,
        });
      }
      setFlash(c, id, { kind: 'ok', message: DONE[action] }, secureCookies);
    } catch (err) {
      if (!(err instanceof JobCommandError)) throw err;
      if (err.code === 'not_found') return notFound(c, err.message);
      setFlash(c, id, { kind: 'error', message: err.message }, secureCookies);
    }
    return back();
  });

  // --- outbox ---

  app.get('/outbox', async (c) => {
    const before = Number(c.req.query('before'));
    const limit = 50;
    const items = await listNotifications(db, { limit, before: Number.isInteger(before) && before > 0 ? before : undefined });
    return c.render(
      <OutboxPage
        items={items}
        provider={config.EMAIL_PROVIDER}
        olderBefore={items.length === limit ? items[items.length - 1].id : null}
        paged={Number.isInteger(before) && before > 0}
      />,
      { title: 'Outbox' },
    );
  });

  app.get('/outbox/:id{[0-9]+}', async (c) => {
    const n = await getNotification(db, Number(c.req.param('id')));
    if (!n) return notFound(c, `There is no notification ${c.req.param('id')}.`);
    const job = await getJob(db, n.job_id);
    c.set('cspStyleHashes', inlineStyleHashes(n.html));
    return c.render(<NotificationPage n={n} jobName={job?.name ?? null} />, { title: n.subject });
  });

  // --- audit ---

  app.get('/audit', async (c) => {
    const before = Number(c.req.query('before'));
    const paged = Number.isInteger(before) && before > 0;
    const limit = 100;
    const entries = await listAudit(db, { limit, beforeId: paged ? before : undefined });
    const ids = [...new Set(entries.map((e) => e.job_id).filter((id): id is string => Boolean(id)))];
    const jobs = ids.length ? await db.selectFrom('jobs').select(['id', 'name']).where('id', 'in', ids).execute() : [];
    return c.render(
      <AuditPage
        entries={entries}
        jobNames={Object.fromEntries(jobs.map((j) => [j.id, j.name]))}
        olderBefore={entries.length === limit ? entries[entries.length - 1].id : null}
        paged={paged}
      />,
      { title: 'Audit log' },
    );
  });

  return app;
}
