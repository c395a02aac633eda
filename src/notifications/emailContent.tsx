import type { FC } from 'hono/jsx';
import type { Child } from 'hono/jsx';
import type { JobRow, JobStepRow } from '../db/schema.js';
import type { NotificationEvent } from '../domain/notifications.js';

/**
 * The requester's emails: one subject, an HTML part (hono/jsx, escaped by
 * construction, inline styles only, no script) and a plain-text part per
 * event. Everything here is pure: the caller reads the job, its steps and its
 * last log lines and passes them in.
 */

/** The job columns an email needs; a full `JobRow` fits. */
export type EmailJob = Pick<
  JobRow,
  'id' | 'name' | 'status' | 'step' | 'requester_email' | 'region' | 'spec_json' | 'outputs_json' | 'error' | 'destroy_at'
> &
  Partial<Pick<JobRow, 'instance_type' | 'account_id' | 'plan_summary_json' | 'finished_at'>>;

export type EmailStep = Pick<JobStepRow, 'step' | 'attempt' | 'state'> &
  Partial<Pick<JobStepRow, 'error' | 'started_at' | 'finished_at'>>;

export type EmailLogLine = string | { line: string; step?: string; stream?: string; ts?: string };

export interface RenderEmailInput {
  job: EmailJob;
  event: NotificationEvent;
  steps?: EmailStep[];
  /** The job's last log lines, oldest first; only the last 20 are shown. */
  lastLogLines?: EmailLogLine[];
  publicBaseUrl: string;
}

export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
}

export const MAX_LOG_LINES = 20;
const SUBJECT_PREFIX = '[provisioning]';

// --- data helpers ----------------------------------------------------------------------------

interface SpecView {
  containers: Array<{ name: string; image?: string; ports: unknown[] }>;
  instanceType?: string;
  ttlHours?: number;
}

function parseSpec(specJson: string): SpecView {
  try {
    const spec = JSON.parse(specJson) as Record<string, any>;
    const containers = Array.isArray(spec?.containers)
      ? spec.containers
          .filter((c: unknown) => c && typeof c === 'object')
          .map((c: Record<string, unknown>) => ({
            name: typeof c.name === 'string' ? c.name : 'container',
            image: typeof c.image === 'string' ? c.image : undefined,
            ports: Array.isArray(c.ports) ? c.ports : [],
          }))
      : [];
    return {
      containers,
      instanceType: typeof spec?.instance?.type === 'string' ? spec.instance.type : undefined,
      ttlHours: typeof spec?.options?.ttlHours === 'number' ? spec.options.ttlHours : undefined,
    };
  } catch {
    return { containers: [] };
  }
}

export interface JobOutputsView {
  instance_id?: string | null;
  public_ip?: string | null;
  private_ip?: string | null;
  public_dns?: string | null;
  ami_id?: string | null;
  security_group_id?: string | null;
}

function parseOutputs(outputsJson: string | null): JobOutputsView {
  if (!outputsJson) return {};
  try {
    const raw = JSON.parse(outputsJson) as Record<string, unknown>;
    const out: Record<string, string | null> = {};
    for (const [k, v] of Object.entries(raw ?? {})) {
      // Terraform's `output -json` shape ({ value }) or plain values both read well.
      const value = v && typeof v === 'object' && 'value' in (v as object) ? (v as { value: unknown }).value : v;
      out[k] = value === null || value === undefined || value === '' ? null : String(value);
    }
    return out;
  } catch {
    return {};
  }
}

function parsePlanSummary(json: string | null | undefined): { add: number; change: number; destroy: number } | null {
  if (!json) return null;
  try {
    const p = JSON.parse(json) as Record<string, unknown>;
    const n = (k: string) => (typeof p[k] === 'number' ? (p[k] as number) : undefined);
    const add = n('add');
    const change = n('change');
    const destroy = n('destroy');
    if (add === undefined && change === undefined && destroy === undefined) return null;
    return { add: add ?? 0, change: change ?? 0, destroy: destroy ?? 0 };
  } catch {
    return null;
  }
}

export interface PublishedPort {
  container: string;
  /** Host port or range as written, e.g. "8080" or "9000-9005". */
  hostPort: string;
  containerPort: string;
  protocol: 'tcp' | 'udp' | 'sctp';
  hostIp?: string;
}

/**
 * Compose short-syntax port mappings that publish a fixed host port:
 * "8080:80", "127.0.0.1:8080:80", "[::1]:8080:80", "53:53/udp", "9000-9001:9000-9001".
 * A bare "80" publishes an ephemeral host port, which no email can name.
 */
export function publishedPortsOf(containers: SpecView['containers']): PublishedPort[] {
  const result: PublishedPort[] = [];
  for (const c of containers) {
    for (const raw of c.ports) {
      if (typeof raw !== 'string') continue;
      let rest = raw.trim();
      let protocol: PublishedPort['protocol'] = 'tcp';
      const slash = rest.lastIndexOf('/');
      if (slash >= 0) {
        const proto = rest.slice(slash + 1).toLowerCase();
        if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp') continue;
        protocol = proto;
        rest = rest.slice(0, slash);
      }
      let hostIp: string | undefined;
      if (rest.startsWith('[')) {
        const end = rest.indexOf(']:');
        if (end < 0) continue;
        hostIp = rest.slice(1, end);
        rest = rest.slice(end + 2);
      }
      const parts = rest.split(':');
      if (parts.length === 3 && hostIp === undefined) {
        hostIp = parts.shift();
      }
      if (parts.length !== 2) continue;
      const [hostPort, containerPort] = parts;
      if (!/^\d+(-\d+)?$/.test(hostPort) || !/^\d+(-\d+)?$/.test(containerPort)) continue;
      result.push({ container: c.name, hostPort, containerPort, protocol, ...(hostIp ? { hostIp } : {}) });
    }
  }
  return result;
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function isLinkableHost(host: string | null | undefined): host is string {
  return !!host && HOSTNAME.test(host);
}

function isLoopback(ip: string | undefined): boolean {
  return !!ip && (ip.startsWith('127.') || ip === '::1' || ip === 'localhost');
}

function portUrl(host: string, port: string): string {
  return port === '443' ? `https://${host}` : `http://${host}:${port}`;
}

interface PortLine {
  label: string;
  url?: string;
  note?: string;
}

function portLines(ports: PublishedPort[], host: string | undefined): PortLine[] {
  return ports.map((p) => {
    const label = `${p.container}: ${p.hostPort} → ${p.containerPort}/${p.protocol}`;
    if (isLoopback(p.hostIp)) return { label, note: `bound to ${p.hostIp} only, not reachable from outside the instance` };
    if (p.protocol !== 'tcp') return { label, note: host ? `${p.protocol} on ${host}:${p.hostPort}` : undefined };
    if (p.hostPort.includes('-')) return { label, note: host ? `ports ${p.hostPort} on ${host}` : undefined };
    return { label, url: host ? portUrl(host, p.hostPort) : undefined };
  });
}

function formatUtc(iso: string | null | undefined): string | null {
  if (!iso) return null;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function logText(l: EmailLogLine): string {
  if (typeof l === 'string') return l;
  return l.step ? `[${l.step}] ${l.line}` : l.line;
}

/** A subject is one header line: no control characters, a bounded length. */
function subjectName(name: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = name.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return clean.length > 80 ? `${clean.slice(0, 79)}…` : clean;
}

function jobUrlOf(publicBaseUrl: string, jobId: string): string {
  return `${publicBaseUrl.replace(/\/+$/, '')}/jobs/${encodeURIComponent(jobId)}`;
}

// --- what each event says --------------------------------------------------------------------

interface EventCopy {
  /** What follows `Job "name"` in the subject. */
  subjectStatus: string;
  heading: string;
  intro: string;
  linkLabel: string;
  accent: string;
}

function copyFor(event: NotificationEvent, job: EmailJob): EventCopy {
  const when = formatUtc(job.destroy_at);
  switch (event) {
    case 'succeeded':
      return {
        subjectStatus: 'succeeded',
        heading: 'Your environment is ready',
        intro: 'The instance was provisioned and its containers were deployed.',
        linkLabel: 'Open the job',
        accent: '#1a7f37',
      };
    case 'failed':
      return {
        subjectStatus: 'failed',
        heading: 'Provisioning failed',
        intro: `The job failed${job.step ? ` at step "${job.step}"` : ''}. If it created anything, you can destroy it from the job page.`,
        linkLabel: 'Open the job and its logs',
        accent: '#cf222e',
      };
    case 'cancelled':
      return {
        subjectStatus: 'cancelled',
        heading: 'Job cancelled',
        intro: 'The job was cancelled on request; whatever it had already created was destroyed.',
        linkLabel: 'Open the job',
        accent: '#6e7781',
      };
    case 'rejected':
      return {
        subjectStatus: 'rejected',
        heading: 'Plan rejected',
        intro: 'The Terraform plan was not approved, so nothing was created.',
        linkLabel: 'Open the job',
        accent: '#9a6700',
      };
    case 'destroyed':
      return {
        subjectStatus: 'destroyed',
        heading: 'Environment destroyed',
        intro: 'Every resource the job created has been destroyed.',
        linkLabel: 'Open the job',
        accent: '#6e7781',
      };
    case 'destroy_failed':
      return {
        subjectStatus: 'destroy failed',
        heading: 'Destroy failed',
        intro: 'Destroying the environment failed; some resources may still exist (and cost money). You can retry from the job page.',
        linkLabel: 'Open the job to retry',
        accent: '#cf222e',
      };
    case 'approval_needed':
      return {
        subjectStatus: 'awaiting approval',
        heading: 'Approval needed',
        intro: 'The Terraform plan is ready and waits for an approval before anything is created.',
        linkLabel: 'Review the plan and approve or reject',
        accent: '#0969da',
      };
    case 'ttl_warning_24h':
    case 'ttl_warning_1h': {
      const span = event === 'ttl_warning_24h' ? '24 hours' : '1 hour';
      return {
        subjectStatus: `will be destroyed in ${span}`,
        heading: `Environment expires in about ${span}`,
        intro: when
          ? `Its time-to-live ends at ${when}; the environment will then be destroyed automatically. Save anything you need before then.`
          : 'Its time-to-live ends soon; the environment will then be destroyed automatically. Save anything you need before then.',
        linkLabel: 'Open the job',
        accent: '#9a6700',
      };
    }
  }
}

export function emailSubject(event: NotificationEvent, job: Pick<EmailJob, 'name' | 'step' | 'destroy_at'>): string {
  return `${SUBJECT_PREFIX} Job "${subjectName(job.name)}" ${copyFor(event, job as EmailJob).subjectStatus}`;
}

// --- components (props only) -----------------------------------------------------------------

const font = 'font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;';
const mono = 'font-family:SFMono-Regular,Consolas,Menlo,monospace;font-size:12px;';

const Section: FC<{ title: string; children?: Child }> = ({ title, children }) => (
  <tr>
    <td style="padding:16px 24px 0 24px;">
      <h2 style={`${font}font-size:15px;margin:0 0 8px 0;color:#24292f;`}>{title}</h2>
      {children}
    </td>
  </tr>
);

const KeyValues: FC<{ rows: Array<[string, string | null | undefined]> }> = ({ rows }) => (
  <table role="presentation" cellpadding="0" cellspacing="0" style="border-collapse:collapse;width:100%;">
    {rows
      .filter(([, v]) => v !== null && v !== undefined && v !== '')
      .map(([k, v]) => (
        <tr>
          <td style={`${font}font-size:13px;color:#57606a;padding:3px 12px 3px 0;white-space:nowrap;vertical-align:top;`}>{k}</td>
          <td style={`${mono}color:#24292f;padding:3px 0;word-break:break-all;`}>{v}</td>
        </tr>
      ))}
  </table>
);

const LogBlock: FC<{ lines: string[] }> = ({ lines }) => (
  <pre
    style={`${mono}background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:12px;margin:0;white-space:pre-wrap;word-break:break-all;color:#24292f;`}
  >
    {lines.join('\n')}
  </pre>
);

const Paragraph: FC<{ children?: Child }> = ({ children }) => (
  <p style={`${font}font-size:14px;line-height:1.5;color:#24292f;margin:0 0 8px 0;`}>{children}</p>
);

const PortList: FC<{ lines: PortLine[] }> = ({ lines }) => (
  <ul style={`${font}font-size:14px;line-height:1.6;color:#24292f;margin:0;padding-left:20px;`}>
    {lines.map((p) => (
      <li>
        {p.label}
        {p.url ? (
          <>
            {' — '}
            <a href={p.url} style="color:#0969da;">
              {p.url}
            </a>
          </>
        ) : null}
        {p.note ? ` (${p.note})` : null}
      </li>
    ))}
  </ul>
);

interface BodyProps {
  job: EmailJob;
  event: NotificationEvent;
  outputs: JobOutputsView;
  spec: SpecView;
  steps: EmailStep[];
  logLines: string[];
  reach: ReachView;
  failedStep?: EmailStep;
}

interface ReachView {
  host?: string;
  hostKind?: 'public DNS' | 'public IP' | 'private IP';
  ports: PortLine[];
}

function reachOf(outputs: JobOutputsView, spec: SpecView): ReachView {
  const candidates: Array<[string | null | undefined, ReachView['hostKind']]> = [
    [outputs.public_dns, 'public DNS'],
    [outputs.public_ip, 'public IP'],
    [outputs.private_ip, 'private IP'],
  ];
  const found = candidates.find(([h]) => isLinkableHost(h));
  const host = found?.[0] ?? undefined;
  return { host: host ?? undefined, hostKind: found?.[1], ports: portLines(publishedPortsOf(spec.containers), host ?? undefined) };
}

const EventDetails: FC<BodyProps> = (p) => {
  const { job, event, outputs, reach, logLines, failedStep } = p;
  switch (event) {
    case 'succeeded':
      return (
        <>
          <Section title="How to reach it">
            {reach.host ? (
              <Paragraph>
                Host ({reach.hostKind}): <span style={mono}>{reach.host}</span>
                {reach.hostKind === 'private IP' ? ' — the instance has no public address; use it from inside the VPC.' : null}
              </Paragraph>
            ) : (
              <Paragraph>The instance reported no address yet; see the job page.</Paragraph>
            )}
            {reach.ports.length ? <PortList lines={reach.ports} /> : <Paragraph>No container publishes a port.</Paragraph>}
          </Section>
          <Section title="Outputs">
            <KeyValues
              rows={[
                ['Instance ID', outputs.instance_id],
                ['Public DNS', outputs.public_dns],
                ['Public IP', outputs.public_ip],
                ['Private IP', outputs.private_ip],
                ['AMI', outputs.ami_id],
                ['Security group', outputs.security_group_id],
                ['Region', job.region],
                ['Account', job.account_id],
                ['Auto-destroy at', formatUtc(job.destroy_at)],
              ]}
            />
          </Section>
        </>
      );
    case 'failed':
    case 'destroy_failed':
      return (
        <>
          <Section title="What failed">
            <KeyValues
              rows={[
                ['Step', failedStep?.step ?? job.step],
                ['Attempt', failedStep ? String(failedStep.attempt) : null],
                ['Error', job.error ?? failedStep?.error ?? 'unknown error'],
              ]}
            />
          </Section>
          <Section title={`Last ${logLines.length} log lines`}>
            {logLines.length ? <LogBlock lines={logLines} /> : <Paragraph>No log lines were recorded.</Paragraph>}
          </Section>
        </>
      );
    case 'approval_needed': {
      const plan = parsePlanSummary(job.plan_summary_json);
      return (
        <Section title="Plan">
          <KeyValues
            rows={[
              ['Changes', plan ? `${plan.add} to add, ${plan.change} to change, ${plan.destroy} to destroy` : null],
              ['Region', job.region],
              ['Account', job.account_id],
              ['Instance type', job.instance_type ?? p.spec.instanceType],
            ]}
          />
        </Section>
      );
    }
    case 'ttl_warning_24h':
    case 'ttl_warning_1h':
      return (
        <Section title="Scheduled destroy">
          <KeyValues
            rows={[
              ['Destroy at', formatUtc(job.destroy_at) ?? 'soon'],
              ['Instance ID', outputs.instance_id],
              ['Public DNS', outputs.public_dns ?? outputs.public_ip],
            ]}
          />
        </Section>
      );
    case 'cancelled':
    case 'rejected':
    case 'destroyed':
      return job.error && event !== 'destroyed' ? (
        <Section title="Reason">
          <Paragraph>{job.error}</Paragraph>
        </Section>
      ) : null;
  }
};

interface EmailDocumentProps extends BodyProps {
  subject: string;
  copy: EventCopy;
  jobUrl: string;
}

export const EmailDocument: FC<EmailDocumentProps> = (p) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>{p.subject}</title>
    </head>
    <body style="margin:0;padding:0;background:#f6f8fa;">
      <table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f6f8fa;padding:24px 0;">
        <tr>
          <td align="center">
            <table
              role="presentation"
              width="600"
              cellpadding="0"
              cellspacing="0"
              style="max-width:600px;width:100%;background:#ffffff;border:1px solid #d0d7de;border-radius:6px;border-collapse:separate;"
            >
              <tr>
                <td style={`padding:20px 24px 0 24px;border-top:4px solid ${p.copy.accent};border-radius:6px 6px 0 0;`}>
                  <div style={`${font}font-size:12px;color:#57606a;text-transform:uppercase;letter-spacing:0.5px;`}>
                    Provisioning · job {p.job.id}
                  </div>
                  <h1 style={`${font}font-size:20px;margin:6px 0 4px 0;color:#24292f;`}>{p.copy.heading}</h1>
                  <div style={`${font}font-size:15px;color:#24292f;margin:0 0 12px 0;`}>
                    Job <strong>“{p.job.name}”</strong> · {p.copy.subjectStatus}
                  </div>
                  <Paragraph>{p.copy.intro}</Paragraph>
                </td>
              </tr>
              <EventDetails {...p} />
              <tr>
                <td style="padding:20px 24px 8px 24px;">
                  <a
                    href={p.jobUrl}
                    style={`${font}display:inline-block;background:${p.copy.accent};color:#ffffff;text-decoration:none;font-size:14px;font-weight:600;padding:10px 16px;border-radius:6px;`}
                  >
                    {p.copy.linkLabel}
                  </a>
                </td>
              </tr>
              <tr>
                <td style={`${font}padding:8px 24px 20px 24px;font-size:12px;color:#57606a;`}>
                  Job page: <a href={p.jobUrl} style="color:#0969da;">{p.jobUrl}</a>
                  <br />
                  You receive this because you requested this environment ({p.job.requester_email}).
                </td>
              </tr>
            </table>
          </td>
        </tr>
      </table>
    </body>
  </html>
);

// --- plain text ------------------------------------------------------------------------------

function kvText(rows: Array<[string, string | null | undefined]>): string[] {
  const shown = rows.filter(([, v]) => v !== null && v !== undefined && v !== '') as Array<[string, string]>;
  const width = Math.max(0, ...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `  ${`${k}:`.padEnd(width + 1)} ${v}`);
}

function detailsText(p: BodyProps): string[] {
  const { job, event, outputs, reach, logLines, failedStep } = p;
  switch (event) {
    case 'succeeded': {
      const lines = ['How to reach it'];
      if (reach.host) {
        lines.push(`  Host (${reach.hostKind}): ${reach.host}`);
        if (reach.hostKind === 'private IP') lines.push('  The instance has no public address; use it from inside the VPC.');
      } else lines.push('  The instance reported no address yet; see the job page.');
      if (reach.ports.length) {
        for (const port of reach.ports)
          lines.push(`  - ${port.label}${port.url ? `  ${port.url}` : ''}${port.note ? ` (${port.note})` : ''}`);
      } else lines.push('  No container publishes a port.');
      lines.push(
        '',
        'Outputs',
        ...kvText([
          ['Instance ID', outputs.instance_id],
          ['Public DNS', outputs.public_dns],
          ['Public IP', outputs.public_ip],
          ['Private IP', outputs.private_ip],
          ['AMI', outputs.ami_id],
          ['Security group', outputs.security_group_id],
          ['Region', job.region],
          ['Account', job.account_id],
          ['Auto-destroy at', formatUtc(job.destroy_at)],
        ]),
      );
      return lines;
    }
    case 'failed':
    case 'destroy_failed':
      return [
        'What failed',
        ...kvText([
          ['Step', failedStep?.step ?? job.step],
          ['Attempt', failedStep ? String(failedStep.attempt) : null],
          ['Error', job.error ?? failedStep?.error ?? 'unknown error'],
        ]),
        '',
        `Last ${logLines.length} log lines`,
        ...(logLines.length ? logLines.map((l) => `  | ${l}`) : ['  No log lines were recorded.']),
      ];
    case 'approval_needed': {
      const plan = parsePlanSummary(job.plan_summary_json);
      return [
        'Plan',
        ...kvText([
          ['Changes', plan ? `${plan.add} to add, ${plan.change} to change, ${plan.destroy} to destroy` : null],
          ['Region', job.region],
          ['Account', job.account_id],
          ['Instance type', job.instance_type ?? p.spec.instanceType],
        ]),
      ];
    }
    case 'ttl_warning_24h':
    case 'ttl_warning_1h':
      return [
        'Scheduled destroy',
        ...kvText([
          ['Destroy at', formatUtc(job.destroy_at) ?? 'soon'],
          ['Instance ID', outputs.instance_id],
          ['Public DNS', outputs.public_dns ?? outputs.public_ip],
        ]),
      ];
    case 'cancelled':
    case 'rejected':
    case 'destroyed':
      return job.error && event !== 'destroyed' ? ['Reason', `  ${job.error}`] : [];
  }
}

// --- entry point -----------------------------------------------------------------------------

export function renderEmail(input: RenderEmailInput): RenderedEmail {
  const { job, event, publicBaseUrl } = input;
  const steps = input.steps ?? [];
  const logLines = (input.lastLogLines ?? []).slice(-MAX_LOG_LINES).map(logText);
  const outputs = parseOutputs(job.outputs_json);
  const spec = parseSpec(job.spec_json);
  const copy = copyFor(event, job);
  const subject = emailSubject(event, job);
  const jobUrl = jobUrlOf(publicBaseUrl, job.id);
  const failedStep = [...steps].reverse().find((s) => (s.state === 'failed' || s.state === 'interrupted') && (event !== 'destroy_failed' || s.step === 'destroy'));
  const body: BodyProps = { job, event, outputs, spec, steps, logLines, reach: reachOf(outputs, spec), failedStep };

  const rendered = (<EmailDocument {...body} subject={subject} copy={copy} jobUrl={jobUrl} />).toString();
  if (typeof rendered !== 'string') throw new Error('email components must render synchronously');
  const html = `<!DOCTYPE html>${rendered}`;

  const details = detailsText(body);
  const text = [
    copy.heading,
    '',
    `Job "${job.name}" (${job.id}): ${copy.subjectStatus}`,
    copy.intro,
    ...(details.length ? ['', ...details] : []),
    '',
    `${copy.linkLabel}: ${jobUrl}`,
    '',
    '--',
    `You receive this because you requested this environment (${job.requester_email}).`,
    '',
  ].join('\n');

  return { subject, html, text };
}
