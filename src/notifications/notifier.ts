import type { Db } from '../db/database.js';
import { getJob, listSteps } from '../db/jobs.js';
import { getJobNotification, insertNotificationIfAbsent, transitionNotification } from '../db/notifications.js';
import { getRevision } from '../db/revisions.js';
import type { JobRow, NotificationRow } from '../db/schema.js';
import { type NotificationEvent, parseEvent } from '../domain/notifications.js';
import type { RevisionFacts } from './emailModel.js';
import { MAX_LOG_LINES, renderEmail } from './emailContent.js';
import { createEmailProvider, isEmailRejected, type EmailProvider } from './providers.js';
import type { Config } from '../config.js';

/**
 * Sends each (job, event) email at most once, and records what happened.
 *
 * The notifications row is written before anything is sent and moves
 * pending → sending → sent (or stored, for the outbox). A retry that finds
 * the row in `sending` knows an earlier attempt died mid-send: it cannot know
 * whether the email left, so it marks the row `unconfirmed` instead of
 * risking a duplicate. A permanent failure marks the row `failed` and is
 * returned, never thrown: an email must never fail the job.
 */

export type NotifyStatus = 'sent' | 'stored' | 'already_sent' | 'failed' | 'unconfirmed';

export interface NotifyOptions {
  /** The activity's attempt number, from 1. */
  attempt: number;
  /** On this attempt a transient failure is recorded as `failed` instead of thrown. */
  maxAttempts?: number;
}

export interface Notifier {
  notify(jobId: string, event: NotificationEvent, opts: NotifyOptions): Promise<{ status: NotifyStatus }>;
}

export interface NotifierDeps {
  db: Db;
  provider: EmailProvider;
  from: string;
  publicBaseUrl: string;
  now?: () => Date;
}

export class NotificationJobNotFound extends Error {
  override name = 'NotificationJobNotFound';
  readonly type = 'InvalidInput';
}

const LOG_EVENTS: ReadonlySet<NotificationEvent> = new Set(['failed', 'destroy_failed']);

function messageDomain(from: string): string {
  const addr = /<([^>]+)>/.exec(from)?.[1] ?? from;
  const domain = addr.split('@')[1]?.trim().toLowerCase() ?? '';
  return /^[a-z0-9.-]+$/.test(domain) ? domain : 'provisioning.invalid';
}

function errorText(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.length > 2000 ? `${msg.slice(0, 2000)}…` : msg;
}

export function createNotifier(deps: NotifierDeps): Notifier {
  const { db, provider, from, publicBaseUrl } = deps;
  const now = () => (deps.now ? deps.now() : new Date()).toISOString();

  /** Renders and stores the email once; later calls reuse the stored copy, so every retry sends the same bytes. */
  async function ensureRow(jobId: string, event: NotificationEvent): Promise<NotificationRow> {
    const existing = await getJobNotification(db, jobId, event);
    if (existing) return existing;
    const job = await getJob(db, jobId);
    if (!job) throw new NotificationJobNotFound(`cannot notify "${event}": job ${jobId} does not exist`);
    const steps = await listSteps(db, jobId);
    const lastLogLines = LOG_EVENTS.has(event)
      ? (
          await db
            .selectFrom('job_logs')
            .select(['step', 'stream', 'line', 'ts'])
            .where('job_id', '=', jobId)
            .orderBy('seq', 'desc')
            .limit(MAX_LOG_LINES)
            .execute()
        ).reverse()
      : [];
    const content = renderEmail({ job, event, steps, lastLogLines, publicBaseUrl, ...(await dayTwoFacts(db, job, event)) });
    await insertNotificationIfAbsent(db, {
      job_id: jobId,
      event,
      recipient: job.requester_email,
      subject: content.subject,
      html: content.html,
      text: content.text,
      provider: provider.name,
      created_at: now(),
    });
    const row = await getJobNotification(db, jobId, event);
    if (!row) throw new Error(`notification row for job ${jobId} and event ${event} vanished after insert`);
    return row;
  }

  async function notify(jobId: string, event: NotificationEvent, opts: NotifyOptions): Promise<{ status: NotifyStatus }> {
    // A few rounds at most: each round either acts or sees another process's change.
    for (let round = 0; round < 5; round++) {
      const row = await ensureRow(jobId, event);
      switch (row.status) {
        case 'sent':
        case 'stored':
          return { status: 'already_sent' };
        case 'failed':
          return { status: 'failed' };
        case 'unconfirmed':
          return { status: 'unconfirmed' };
        case 'sending': {
          const marked = await transitionNotification(db, row.id, ['sending'], {
            status: 'unconfirmed',
            error:
              `delivery unconfirmed: an earlier attempt stopped while sending through ${row.provider} ` +
              `(found on attempt ${opts.attempt}); not sent again to avoid a duplicate email. ` +
              `Check the provider's logs to see whether it was delivered.`,
          });
          if (marked) return { status: 'unconfirmed' };
          continue;
        }
        case 'pending':
          break;
        default:
          return { status: 'failed' };
      }

      if (provider.name === 'outbox') {
        const stored = await transitionNotification(db, row.id, ['pending'], {
          status: 'stored',
          provider: 'outbox',
          error: null,
        });
        if (stored) return { status: 'stored' };
        continue;
      }

      const claimed = await transitionNotification(db, row.id, ['pending'], { status: 'sending', provider: provider.name });
      if (!claimed) continue;

      let providerMessageId: string | null;
      try {
        ({ providerMessageId } = await provider.send({
          to: row.recipient,
          from,
          subject: row.subject,
          html: row.html,
          text: row.text,
          messageId: `<notification-${row.id}.${event}@${messageDomain(from)}>`,
        }));
      } catch (err) {
        const lastAttempt = opts.maxAttempts !== undefined && opts.attempt >= opts.maxAttempts;
        if (isEmailRejected(err) || lastAttempt) {
          const error = isEmailRejected(err)
            ? errorText(err)
            : `gave up after ${opts.attempt} attempt${opts.attempt === 1 ? '' : 's'}: ${errorText(err)}`;
          await transitionNotification(db, row.id, ['sending'], { status: 'failed', error });
          return { status: 'failed' };
        }
        await transitionNotification(db, row.id, ['sending'], {
          status: 'pending',
          error: `attempt ${opts.attempt}${opts.maxAttempts ? ` of ${opts.maxAttempts}` : ''}: ${errorText(err)}`,
        });
        throw err;
      }
      // A late success also settles a row a retry had to mark unconfirmed: the email did leave.
      await transitionNotification(db, row.id, ['sending', 'unconfirmed'], {
        status: 'sent',
        sent_at: now(),
        provider_message_id: providerMessageId,
        error: null,
      });
      return { status: 'sent' };
    }
    throw new Error(`notification for job ${jobId} and event ${event} kept changing under this attempt`);
  }

  return { notify };
}

/** The notifier a process builds from its settings (the worker for its steps, the web for the reconciler). */
export function notifierFromConfig(config: Config, db: Db): Notifier {
  return createNotifier({
    db,
    provider: createEmailProvider(config),
    from: config.EMAIL_PROVIDER === 'ses' ? config.SES_FROM_EMAIL! : config.EMAIL_FROM,
    publicBaseUrl: config.publicBaseUrl,
  });
}

/** A revision's or a drift's email says what changed: read from its row, never from the workflow's input. */
async function dayTwoFacts(
  db: Db,
  job: JobRow,
  event: NotificationEvent,
): Promise<{ revision?: RevisionFacts; drift?: { items: string[] } }> {
  const parsed = parseEvent(event);
  if (parsed?.kind === 'drift') {
    return { drift: { items: job.drift_json ? (JSON.parse(job.drift_json) as string[]) : [] } };
  }
  if (parsed?.kind !== 'revision') return {};
  const row = await getRevision(db, job.id, parsed.number);
  if (!row) return {};
  const plan = row.plan_json ? (JSON.parse(row.plan_json) as { add: number; change: number; destroy: number }) : null;
  return {
    revision: {
      number: row.number,
      kind: row.kind,
      requestedBy: row.requested_by,
      differences: (JSON.parse(row.differences_json) as { text: string }[]).map((d) => d.text),
      plan: plan ? `${plan.add} to add, ${plan.change} to change, ${plan.destroy} to destroy` : null,
      error: row.error,
      decidedBy: row.decided_by,
    },
  };
}
