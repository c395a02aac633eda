import { type JobEvent, type NotificationEvent, parseEvent, type ParsedEvent } from '../domain/notifications.js';
import {
  failedAttempt,
  jobView,
  OUTPUT_LABELS,
  type HostView,
  type JobFacts,
  type JobView,
  type PortView,
  type StepAttemptFacts,
} from '../domain/jobView.js';

/**
 * What one email says, as data: its subject, heading, the sections of
 * details for its event, and the link. The HTML and the plain-text bodies
 * are two renderings of this one model (emailHtml.tsx, emailText.ts), so they
 * always say the same thing.
 */

export type EmailLogLine = string | { line: string; step?: string; stream?: string; ts?: string };

export interface EmailInput {
  job: JobFacts;
  event: NotificationEvent;
  steps?: readonly StepAttemptFacts[];
  /** The job's last log lines, oldest first; only the last MAX_LOG_LINES are shown. */
  lastLogLines?: readonly EmailLogLine[];
  publicBaseUrl: string;
  /** For a revision's events: the revision as recorded. */
  revision?: RevisionFacts;
  /** For a drift event: what drifted. */
  drift?: { items: string[] };
}

export interface RevisionFacts {
  number: number;
  kind: string;
  requestedBy: string;
  differences: string[];
  /** "1 to add, 2 to change, 0 to destroy" once planned. */
  plan?: string | null;
  error?: string | null;
  decidedBy?: string | null;
}

export const MAX_LOG_LINES = 20;
const SUBJECT_PREFIX = '[provisioning]';

export type KeyValue = readonly [string, string | null | undefined];

export type EmailBlock =
  | { kind: 'paragraph'; text: string }
  | { kind: 'host'; host: HostView }
  | { kind: 'keyValues'; rows: KeyValue[] }
  | { kind: 'log'; lines: string[] }
  | { kind: 'ports'; ports: PortView[] };

export interface EmailSection {
  title: string;
  blocks: EmailBlock[];
}

export interface EmailModel {
  subject: string;
  jobId: string;
  jobName: string;
  requesterEmail: string;
  /** What follows `Job "name"`: "succeeded", "awaiting approval"… */
  statusText: string;
  heading: string;
  intro: string;
  sections: EmailSection[];
  linkLabel: string;
  jobUrl: string;
  /** The event's colour in the HTML part. */
  accent: string;
}

/** "2031-05-06 07:08 UTC", or null without a time. */
export function formatUtc(iso: string | null | undefined): string | null {
  if (!iso) return null;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** A subject is one header line: no control characters, a bounded length. */
function subjectName(name: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
  const clean = name.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return clean.length > 80 ? `${clean.slice(0, 79)}…` : clean;
}

interface EventCopy {
  statusText: string;
  heading: string;
  intro: string;
  linkLabel: string;
  accent: string;
}

function copyFor(event: NotificationEvent, job: Pick<JobFacts, 'step' | 'destroy_at'>): EventCopy {
  const parsed = parseEvent(event);
  if (parsed?.kind === 'revision' || parsed?.kind === 'drift') return dayTwoCopy(parsed);
  return jobCopy(event as JobEvent, job);
}

/** Revisions and drift: the environment lives on, and the email says what happened to it. */
function dayTwoCopy(parsed: Exclude<ParsedEvent, { kind: 'job' }>): EventCopy {
  if (parsed.kind === 'drift') {
    return {
      statusText: 'drifted from its declared state',
      heading: 'Your environment drifted',
      intro:
        'Something changed the environment outside this service (by hand in the AWS console, or another tool). Reconcile it from the job page to put back what the job declares.',
      linkLabel: 'Open the job to reconcile',
      accent: '#9a6700',
    };
  }
  const n = `revision ${parsed.number}`;
  switch (parsed.outcome) {
    case 'approval_needed':
      return {
        statusText: `${n} awaits approval`,
        heading: 'Approval needed for a change',
        intro: 'A change to the live environment is planned and waits for an approval before anything is applied.',
        linkLabel: 'Review the change and approve or reject',
        accent: '#0969da',
      };
    case 'succeeded':
      return {
        statusText: `${n} applied`,
        heading: 'Your environment was changed',
        intro: 'The change was applied, and the instance reported its containers running again.',
        linkLabel: 'Open the job',
        accent: '#1a7f37',
      };
    case 'failed':
      return {
        statusText: `${n} failed`,
        heading: 'A change failed',
        intro: 'The change could not be completed. The environment keeps running; the job page shows what it runs now.',
        linkLabel: 'Open the job and its logs',
        accent: '#cf222e',
      };
    case 'cancelled':
      return {
        statusText: `${n} cancelled`,
        heading: 'Change cancelled',
        intro: 'The change was cancelled on request; the environment keeps running.',
        linkLabel: 'Open the job',
        accent: '#6e7781',
      };
    case 'rejected':
      return {
        statusText: `${n} rejected`,
        heading: 'Change rejected',
        intro: 'The plan of the change was not approved, so nothing changed.',
        linkLabel: 'Open the job',
        accent: '#9a6700',
      };
  }
}

function jobCopy(event: JobEvent, job: Pick<JobFacts, 'step' | 'destroy_at'>): EventCopy {
  const when = formatUtc(job.destroy_at);
  switch (event) {
    case 'succeeded':
      return {
        statusText: 'succeeded',
        heading: 'Your environment is ready',
        intro: 'The instance was provisioned and its containers were deployed.',
        linkLabel: 'Open the job',
        accent: '#1a7f37',
      };
    case 'failed':
      return {
        statusText: 'failed',
        heading: 'Provisioning failed',
        intro: `The job failed${job.step ? ` at step "${job.step}"` : ''}. If it created anything, you can destroy it from the job page.`,
        linkLabel: 'Open the job and its logs',
        accent: '#cf222e',
      };
    case 'cancelled':
      return {
        statusText: 'cancelled',
        heading: 'Job cancelled',
        intro: 'The job was cancelled on request; whatever it had already created was destroyed.',
        linkLabel: 'Open the job',
        accent: '#6e7781',
      };
    case 'rejected':
      return {
        statusText: 'rejected',
        heading: 'Plan rejected',
        intro: 'The Terraform plan was not approved, so nothing was created.',
        linkLabel: 'Open the job',
        accent: '#9a6700',
      };
    case 'destroyed':
      return {
        statusText: 'destroyed',
        heading: 'Environment destroyed',
        intro: 'Every resource the job created has been destroyed.',
        linkLabel: 'Open the job',
        accent: '#6e7781',
      };
    case 'destroy_failed':
      return {
        statusText: 'destroy failed',
        heading: 'Destroy failed',
        intro:
          'Destroying the environment failed; some resources may still exist (and cost money). You can retry from the job page.',
        linkLabel: 'Open the job to retry',
        accent: '#cf222e',
      };
    case 'approval_needed':
      return {
        statusText: 'awaiting approval',
        heading: 'Approval needed',
        intro: 'The Terraform plan is ready and waits for an approval before anything is created.',
        linkLabel: 'Review the plan and approve or reject',
        accent: '#0969da',
      };
    case 'ttl_warning_24h':
    case 'ttl_warning_1h': {
      const span = event === 'ttl_warning_24h' ? '24 hours' : '1 hour';
      return {
        statusText: `will be destroyed in ${span}`,
        heading: `Environment expires in about ${span}`,
        intro: `${when ? `Its time-to-live ends at ${when}` : 'Its time-to-live ends soon'}; the environment will then be destroyed automatically. Save anything you need before then.`,
        linkLabel: 'Open the job',
        accent: '#9a6700',
      };
    }
  }
}

export function emailSubject(event: NotificationEvent, job: Pick<JobFacts, 'name' | 'step' | 'destroy_at'>): string {
  return `${SUBJECT_PREFIX} Job "${subjectName(job.name)}" ${copyFor(event, job).statusText}`;
}

function logText(l: EmailLogLine): string {
  if (typeof l === 'string') return l;
  return l.step ? `[${l.step}] ${l.line}` : l.line;
}

const outputValue = (view: JobView, key: string) => view.outputs?.[key] ?? null;
const outputLabel = (key: string) => OUTPUT_LABELS.find(([k]) => k === key)?.[1] ?? key;

function dayTwoSections(input: EmailInput): EmailSection[] {
  if (input.drift) {
    return [{ title: 'What drifted', blocks: input.drift.items.map((text) => ({ kind: 'paragraph' as const, text })) }];
  }
  const r = input.revision;
  if (!r) return [];
  const rows: KeyValue[] = [
    ['Revision', `${r.number}${r.kind === 'reconcile' ? ' (reconcile)' : ''}`],
    ['Asked by', r.requestedBy],
    ['Plan', r.plan],
    ['Decision', r.decidedBy],
    ['Error', r.error],
  ];
  return [
    { title: 'The change', blocks: [{ kind: 'keyValues', rows }] },
    {
      title: 'What changes',
      blocks: r.differences.length
        ? r.differences.map((text) => ({ kind: 'paragraph' as const, text }))
        : [{ kind: 'paragraph', text: 'The declared state again, nothing new.' }],
    },
  ];
}

function sectionsFor(input: EmailInput, view: JobView): EmailSection[] {
  const { job } = input;
  if (parseEvent(input.event)?.kind !== 'job') return dayTwoSections(input);
  const event = input.event as JobEvent;
  switch (event) {
    case 'succeeded':
      return [
        {
          title: 'How to reach it',
          blocks: [
            view.host
              ? { kind: 'host', host: view.host }
              : { kind: 'paragraph', text: 'The instance reported no address yet; see the job page.' },
            view.ports.length
              ? { kind: 'ports', ports: view.ports }
              : { kind: 'paragraph', text: 'No container publishes a port.' },
          ],
        },
        {
          title: 'Outputs',
          blocks: [
            {
              kind: 'keyValues',
              rows: [
                ...OUTPUT_LABELS.map(([key, label]): KeyValue => [label, outputValue(view, key)]),
                ['Region', job.region],
                ['Account', job.account_id],
                ['Auto-destroy at', formatUtc(job.destroy_at)],
              ],
            },
          ],
        },
      ];
    case 'failed':
    case 'destroy_failed': {
      const failed = failedAttempt(input.steps ?? [], event === 'destroy_failed' ? 'destroy' : undefined);
      const lines = (input.lastLogLines ?? []).slice(-MAX_LOG_LINES).map(logText);
      return [
        {
          title: 'What failed',
          blocks: [
            {
              kind: 'keyValues',
              rows: [
                ['Step', failed?.step ?? job.step],
                ['Attempt', failed ? String(failed.attempt) : null],
                ['Error', job.error ?? failed?.error ?? 'unknown error'],
              ],
            },
          ],
        },
        {
          title: `Last ${lines.length} log lines`,
          blocks: [lines.length ? { kind: 'log', lines } : { kind: 'paragraph', text: 'No log lines were recorded.' }],
        },
      ];
    }
    case 'approval_needed':
      return [
        {
          title: 'Plan',
          blocks: [
            {
              kind: 'keyValues',
              rows: [
                ['Changes', view.plan?.counts],
                ['Region', job.region],
                ['Account', job.account_id],
                ['Instance type', job.instance_type ?? view.spec?.instance?.type],
              ],
            },
          ],
        },
      ];
    case 'ttl_warning_24h':
    case 'ttl_warning_1h':
      return [
        {
          title: 'Scheduled destroy',
          blocks: [
            {
              kind: 'keyValues',
              rows: [
                ['Destroy at', formatUtc(job.destroy_at) ?? 'soon'],
                [outputLabel('instance_id'), outputValue(view, 'instance_id')],
                [outputLabel('public_dns'), outputValue(view, 'public_dns') ?? outputValue(view, 'public_ip')],
              ],
            },
          ],
        },
      ];
    case 'cancelled':
    case 'rejected':
      return job.error ? [{ title: 'Reason', blocks: [{ kind: 'paragraph', text: job.error }] }] : [];
    case 'destroyed':
      return [];
  }
}

export function emailModel(input: EmailInput): EmailModel {
  const { job, event } = input;
  const baseUrl = input.publicBaseUrl.replace(/\/+$/, '');
  const view = jobView(job, { links: { publicBaseUrl: baseUrl, temporalUiUrl: '', namespace: '' } });
  const copy = copyFor(event, job);
  return {
    subject: emailSubject(event, job),
    jobId: job.id,
    jobName: job.name,
    requesterEmail: job.requester_email,
    ...copy,
    sections: sectionsFor(input, view),
    jobUrl: view.links.ui,
  };
}
