/** The events a requester is emailed about; one email per job and event, ever. */
export const NOTIFICATION_EVENTS = [
  'succeeded',
  'failed',
  'cancelled',
  'rejected',
  'destroyed',
  'destroy_failed',
  'approval_needed',
  'ttl_warning_24h',
  'ttl_warning_1h',
] as const;
export type JobEvent = (typeof NOTIFICATION_EVENTS)[number];

/** What a revision tells its job's requester: once per revision and outcome. */
export const REVISION_OUTCOMES = ['approval_needed', 'succeeded', 'failed', 'cancelled', 'rejected'] as const;
export type RevisionOutcome = (typeof REVISION_OUTCOMES)[number];
export type RevisionEvent = `revision_${number}_${RevisionOutcome}`;
/** A drift found by the check that started at this time (ms since the epoch): one email per drift found. */
export type DriftEvent = `drift_${number}`;

export type NotificationEvent = JobEvent | RevisionEvent | DriftEvent;

export type ParsedEvent =
  | { kind: 'job'; event: JobEvent }
  | { kind: 'revision'; number: number; outcome: RevisionOutcome }
  | { kind: 'drift'; at: number };

const REVISION_EVENT = /^revision_(\d{1,9})_([a-z_]+)$/;
const DRIFT_EVENT = /^drift_(\d{1,15})$/;

/** The event an outbox row names, or null for one this code does not know. */
export function parseEvent(event: string): ParsedEvent | null {
  if ((NOTIFICATION_EVENTS as readonly string[]).includes(event)) return { kind: 'job', event: event as JobEvent };
  const rev = REVISION_EVENT.exec(event);
  if (rev && (REVISION_OUTCOMES as readonly string[]).includes(rev[2]!)) {
    return { kind: 'revision', number: Number(rev[1]), outcome: rev[2] as RevisionOutcome };
  }
  const drift = DRIFT_EVENT.exec(event);
  if (drift) return { kind: 'drift', at: Number(drift[1]) };
  return null;
}
